"""The manifest language, as data.

One description of every table and key drives three things, so they cannot
drift apart: validation (:mod:`npatch.dsl.manifest`), the JSON Schema that
editors use (:mod:`npatch.dsl.schema`), and the manifest reference in the
README (``npatch schema --markdown``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from npatch.opkinds import BUILTIN_OP_KINDS

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
PATCH_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]*$"

#: the keys of a ``[[patch]]`` of which exactly one must be present: the op
#: kinds of the plan's table that a ``[[patch]]`` declares
PATCH_ACTIONS = tuple(name for name, info in BUILTIN_OP_KINDS.items() if info.table == "patch")


@dataclass(frozen=True)
class Key:
    """One key of a table.

    type: ``str``, ``int``, ``bool``, ``number``, ``list[str]``, ``table``
    (a table of free keys), ``any`` (any TOML value), ``examples``
    (list of ``{before, after}`` tables).
    form: what a string must look like: ``condition``, ``target``,
    ``object`` (``module:qualname``), ``module``, ``name``; drives extra checks.
    """

    name: str
    type: str
    doc: str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    form: str = ""
    #: the smallest value an ``int`` key accepts
    minimum: int | None = None


@dataclass(frozen=True)
class Table:
    """A top-level table: ``[name]`` or, with ``array``, ``[[name]]``.

    ``free`` tables (``[options]``) take any key; ``extra`` names keys whose
    set is defined elsewhere (the rewrite kinds of :mod:`npatch.rewrite_kinds`).
    """

    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False
    free: bool = False
    extra: str = ""

    def key(self, name: str) -> Key | None:
        for key in self.keys:
            if key.name == name:
                return key
        return None


def _action_key(kind: str) -> Key:
    """A ``[[patch]]`` action key, as the plan's op-kind table describes it."""
    toml_type, form, doc = BUILTIN_OP_KINDS[kind].action
    return Key(kind, toml_type, doc, form=form, choices=(True,) if toml_type == "bool" else ())


_WHEN = Key("when", "str", "Condition; the entry applies only where it is true (e.g. `installed('mmcv')`).", form="condition")
_PRIORITY = Key("priority", "int", "Lower applies first (a later `replace` or `value` wins; a later `wrap` wraps what "
                "is there); ties keep declaration order, but two patches of one target at one priority are an error.",
                default=0)

TABLES: dict[str, Table] = {}


def _table(table: Table) -> None:
    TABLES[table.name] = table


_table(Table("manifest", "Who this manifest is and what it builds on.", (
    Key("name", "str", "Unique name: lower case, digits, `.`, `_`, `-`.", required=True, form="name"),
    Key("description", "str", "One line shown by `npatch list` and `npatch show`.", default=""),
    Key("include", "list[str]", "Manifests applied first: built-in names, entry-point names, or paths relative to this file.", default=[]),
    Key("when", "str", "Condition for this manifest's own entries, combined with each entry's own `when`; "
        "the entries of an included manifest keep only their own conditions.", form="condition"),
    Key("disable", "list[str]", "Names of included patches to switch off.", default=[]),
)))

_table(Table("options", "Declared options and their defaults; `--set KEY=VALUE` overrides; conditions read them with "
             "`option('KEY')`. A manifest may change the default of an option an included one declares, not its type.",
             (), free=True))

_table(Table("alias", "Module alias: importers of `target` get the module `source` (the live module object); `target.sub` is the real `source.sub`, the same object under both names.", (
    Key("target", "str", "Module name that importers use.", required=True, form="module"),
    Key("source", "str", "Module that is really loaded.", required=True, form="module"),
    Key("replace", "bool", "Alias even when `target` really exists.", default=False),
    Key("name", "str", "Name for reports and `--disable` (default `alias:TARGET`).", form="opname"),
    _WHEN,
), array=True))

_table(Table("stub", "A module that is not installed, or must not load, replaced by a stub package (names under it are stubs too).", (
    Key("module", "str", "Module name to stub.", required=True, form="module"),
    Key("on-use", "str", "`error`: any use of an attribute (call, attribute, subclassing, `isinstance`) raises `NpatchStubError` naming the stub, the manifest and its line; `none`: attributes are `None`.",
        default="error", choices=("error", "none")),
    Key("force", "bool", "Stub even when a real module is installed (by default a real module wins), and everything under it.", default=False),
    Key("name", "str", "Name for reports and `--disable` (default `stub:MODULE`).", form="opname"),
    _WHEN,
), array=True))

_table(Table("patch", "One change to an attribute of a module or class.", (
    Key("name", "str", "Unique name, used by `disable` and `--disable`.", required=True, form="opname"),
    Key("target", "str", "`pkg.mod:Qual.name` (exact) or a dotted path split at the longest importable module.", required=True, form="target"),
    Key("also", "list[str]", "Re-export paths that get the same treatment (e.g. `mmcv.ops:nms`).", default=[], form="target"),
    *(_action_key(name) for name in PATCH_ACTIONS),
    _PRIORITY,
    _WHEN,
    Key("guard", "str", "`module:qualname` of `pred(*args, **kwargs)`: the replacement runs only when it is true.", form="object"),
    Key("on-missing", "str", "What a missing target does at run time: `warn`, `error`, `ignore`, or (for `replace` "
                             "and `value`) `create` it, deleted again on restore.",
        default="warn", choices=("warn", "error", "ignore", "create")),
    Key("options", "table", "Per-patch options passed to `call` and `wrap` functions.", default={}),
    Key("during", "str", "Apply only while this module is being imported, then restore.", form="module"),
    Key("rebind", "bool", "Also replace `from x import f` copies held by already-loaded modules.", default=False),
), array=True))

_table(Table("register", "An entry in an OpenMMLab `Registry`.", (
    Key("registry", "str", "`module:NAME` of the registry (e.g. `mmengine.registry:MODELS`).", required=True, form="target"),
    Key("name", "str", "Entry name in the registry.", required=True),
    Key("object", "str", "`module:qualname` of the class or function to register.", required=True, form="object"),
    Key("force", "bool", "Override an existing entry.", default=True),
    Key("op-name", "str", "Name for reports and `--disable` (default `register:REGISTRY:NAME`).", form="opname"),
    _PRIORITY,
    _WHEN,
), array=True))

_table(Table("op", "An op of a kind that has no table of its own: one that an installed package registers "
                  "through the `npatch.ops` entry-point group (`npatch list --ops` shows them).", (
    Key("kind", "str", "The op kind, as `npatch list --ops` names it.", required=True, form="opname"),
    Key("name", "str", "Unique name, used by `disable` and `--disable`.", required=True, form="opname"),
    Key("target", "str", "`pkg.mod:Qual.name`, or a module name for kinds that act on a whole module.", required=True, form="target"),
    Key("also", "list[str]", "More targets that get the same treatment.", default=[], form="target"),
    Key("source", "str", "`module:qualname` of an object the kind uses (a replacement, a factory...).", form="object"),
    Key("value", "any", "A TOML value the kind uses."),
    Key("options", "table", "Options for the kind.", default={}),
    Key("force", "bool", "Passed to the kind as `op.force`; its meaning is the kind's.", default=False),
    _PRIORITY,
    _WHEN,
    Key("on-missing", "str", "What a missing target does at run time.", default="warn", choices=("warn", "error", "ignore")),
), array=True))

_table(Table("brake", "Stop training cleanly at a step (mmengine loops, mmcv runners, or `Optimizer.step`).", (
    Key("step", "int", "Step at which training stops (exit status 0); at least 1.", required=True, minimum=1),
    _WHEN,
)))

_table(Table("profile", "Record a `torch.profiler` trace for a window of steps.", (
    Key("path", "str", "Directory the trace is written to.", required=True),
    Key("level", "int", "0: device activity, 1: + CPU, 2: + stacks.", default=0, choices=(0, 1, 2)),
    Key("start", "int", "First profiled step; at least 0.", default=1, minimum=0),
    Key("steps", "int", "Number of profiled steps; at least 1.", default=1, minimum=1),
    _WHEN,
)))

_table(Table("rewrite", "A static rewrite rule for `npatch diff` (exactly one kind key).", (
    Key("id", "str", "Unique rule id.", required=True, form="opname"),
    Key("message", "str", "Shown next to each change in reports.", default=""),
    Key("include", "list[str]", "Glob patterns of files the rule applies to.", default=[]),
    Key("exclude", "list[str]", "Glob patterns of files the rule skips.", default=[]),
    Key("examples", "examples", "`{ before, after }` pairs that `npatch test` checks.", default=[]),
    Key("valid", "list[str]", "Code that the rule must leave unchanged.", default=[]),
    _WHEN,
), array=True, extra="rewrite-kinds"))


__all__ = ["NAME_PATTERN", "PATCH_NAME_PATTERN", "PATCH_ACTIONS", "Key", "Table", "TABLES"]
