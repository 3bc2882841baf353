"""Turn manifest entries into drafts of ops and rewrite rules.

One builder per table, registered with :func:`builder`; a builder returns
:class:`Draft` objects (ops whose paths are not resolved yet).  ``[brake]``
and ``[profile]`` are sugar: they expand into ordinary ``wrap`` drafts (their
builders are in :mod:`npatch.compiler.sugar`), so the runtime has no special
case for them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, make_dataclass
from typing import Any

from npatch.dsl.locate import KeyPath, format_path
from npatch.dsl.manifest import Entry, Manifest
from npatch.dsl.model import PATCH_ACTIONS
from npatch.opkinds import BUILTIN_OP_KINDS
from npatch.plan import REQUIRED, Op, Origin, Rewrite, freeze


class _DraftMethods:
    """What a :class:`Draft` knows besides its fields: where its keys are."""

    manifest: Manifest
    entry_path: KeyPath
    target_key: str

    def origin(self, key: str | None = None, index: int | None = None) -> Origin:
        path = self.entry_path + ((key,) if key else ()) + ((index,) if index is not None else ())
        return _origin(self.manifest, path, value=key is not None)

    def target_origin(self, index: int) -> Origin:
        if index == 0:
            return self.origin(self.target_key)
        return self.origin("also", index - 1)


#: Op fields a Draft holds in another form: targets as written (``list[str]``),
#: options as a dict, the Manifest itself, and no origin yet (:meth:`origin` finds it)
_RESHAPED = {"targets", "options", "manifest", "origin"}

#: An op before path resolution: targets and source still as written.  Its
#: fields are the plan's :class:`~npatch.plan.Op` fields (same names and
#: defaults, derived here so the two cannot drift), the reshaped ones above,
#: and what only the compiler needs: ``entry_path`` of the manifest entry,
#: ``target_key`` (the key that holds the target: "target", "module", ...),
#: ``source_key``, ``source_is_module`` (alias sources are modules, not
#: objects) and ``targets_are_modules`` (the kind acts on a module).
Draft = make_dataclass("Draft", [
    *[(name, Any) for name, default in Op.field_defaults().items() if default is REQUIRED and name not in _RESHAPED],
    ("manifest", Manifest), ("entry_path", KeyPath), ("target_key", str), ("targets", list),
    *[(name, Any, default) for name, default in Op.field_defaults().items()
      if default is not REQUIRED and name not in _RESHAPED],
    ("options", dict, field(default_factory=dict)),
    ("source_key", str, ""), ("source_is_module", bool, False), ("targets_are_modules", bool, False),
], bases=(_DraftMethods,))
Draft.__module__ = __name__


def _origin(manifest: Manifest, path: KeyPath, value: bool = False) -> Origin:
    line, col = manifest.doc.position(path, value=value)
    return Origin(str(manifest.file), line, col, format_path(path))


Builder = Callable[[Manifest, Entry], list[Draft]]
BUILDERS: dict[str, Builder] = {}


def builder(table: str) -> Callable[[Builder], Builder]:
    def register(func: Builder) -> Builder:
        BUILDERS[table] = func
        return func

    return register


def common_keys(manifest: Manifest, entry: Entry) -> dict[str, Any]:
    """Keys every table's drafts share; the manifest's own ``when`` is and-ed
    in front of the entry's."""
    data = entry.data
    when, when_text = entry.conditions.get("when"), data.get("when")
    if manifest.when is not None:
        when = manifest.when if when is None else ("and", manifest.when, when)
        when_text = manifest.when_text if when_text is None else f"({manifest.when_text}) and ({when_text})"
    return {
        "manifest": manifest,
        "entry_path": entry.path,
        "priority": data.get("priority", 0),
        "when": when,
        "when_text": when_text,
    }


@builder("alias")
def _alias(manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    return [Draft(kind="alias", name=data.get("name", f"alias:{data['target']}"), target_key="target",
                  targets=[data["target"]], source=data["source"], source_key="source", source_is_module=True,
                  force=data.get("replace", False), targets_are_modules=True, **common_keys(manifest, entry))]


@builder("stub")
def _stub(manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    return [Draft(kind="stub", name=data.get("name", f"stub:{data['module']}"), target_key="module",
                  targets=[data["module"]], value=data.get("on-use", "error"), force=data.get("force", False),
                  targets_are_modules=True, **common_keys(manifest, entry))]


@builder("patch")
def _patch(manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    kind = next(k for k in PATCH_ACTIONS if k in data)
    info = BUILTIN_OP_KINDS[kind]
    draft = Draft(
        kind=kind, name=data["name"], target_key="target", targets=[data["target"], *data.get("also", [])],
        guard=data.get("guard"), on_missing=data.get("on-missing", "warn"), options=dict(data.get("options", {})),
        during=data.get("during"), rebind=data.get("rebind", False), targets_are_modules=info.acts_on != "attribute",
        **common_keys(manifest, entry),
    )
    if info.source:
        draft.source, draft.source_key = data[kind], kind
    elif info.value:
        draft.value = data[kind]
    return [draft]


@builder("register")
def _register(manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    name = data.get("op-name", f"register:{data['registry']}:{data['name']}")
    return [Draft(kind="register", name=name, target_key="registry", targets=[data["registry"]],
                  source=data["object"], source_key="object", value=data["name"], force=data.get("force", True),
                  **common_keys(manifest, entry))]


@builder("op")
def _op(manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    return [Draft(kind=data["kind"], name=data["name"], target_key="target", targets=[data["target"], *data.get("also", [])],
                  source=data.get("source"), source_key="source", value=data.get("value"),
                  on_missing=data.get("on-missing", "warn"), options=dict(data.get("options", {})),
                  force=data.get("force", False), **common_keys(manifest, entry))]


def build_rewrite(manifest: Manifest, entry: Entry) -> Rewrite:
    from npatch.rewrite_kinds import kind_of

    data = entry.data
    kind = kind_of(data)[0]
    params = data[kind]
    return Rewrite(
        id=data["id"], kind=kind, params=tuple((k, freeze(v)) for k, v in sorted(params.items())),
        when=entry.conditions.get("when"), when_text=data.get("when"),
        include=tuple(data.get("include", ())), exclude=tuple(data.get("exclude", ())),
        message=data.get("message", ""),
        examples=tuple((e["before"], e["after"]) for e in data.get("examples", ())),
        valid=tuple(data.get("valid", ())), manifest=manifest.name,
        origin=_origin(manifest, entry.path),
    )


__all__ = ["Draft", "Builder", "BUILDERS", "builder", "common_keys", "build_rewrite"]
