"""Rewrite rule kinds: which keys each ``[[rewrite]]`` kind table accepts,
and what its ``include`` / ``exclude`` globs mean.

This module is the contract between the compiler and the rewriter (it sits
in the plan layer, beside :mod:`npatch.plan`, so the dsl reads it without
importing the rewriter), and it imports nothing heavy (no libcst): the compiler validates ``[[rewrite]]``
tables with it, and the libcst visitors in :mod:`npatch.rewrite.rules` are
looked up by the same kind names.

A rewrite table names its kind by the one kind key it holds::

    [[rewrite]]
    id = "cuda-sync"
    rename = { from = "torch.cuda.synchronize", to = "torch.npu.synchronize" }

The common keys (``id``, ``when``, ``include``, ``exclude``, ``message``,
``examples``, ``valid``) are the compiler's; everything inside the kind table
is checked here by :meth:`RewriteKind.validate`, which returns
``(sub_key, message)`` pairs so errors can point at ``rewrite[2].rename.to``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Problem = tuple[str, str]
Validator = Callable[[dict[str, Any]], list[Problem]]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_IDENT}(\.{_IDENT})*\Z")
_IDENT_RE = re.compile(rf"{_IDENT}\Z")
_CALLABLE = re.compile(rf"(\*|\*\.{_IDENT}|{_IDENT}(\.{_IDENT})*)\Z")


@dataclass(frozen=True)
class Param:
    """One key of a kind table: its expected type (for messages) and checker."""

    name: str
    type: str
    doc: str
    required: bool = False
    check: Callable[[Any], str | None] | None = None


@dataclass
class RewriteKind:
    """A rule kind: accepted keys, required keys, and cross-key checks.

    The libcst side (what a rule matches, which words prefilter files) lives
    in the rule class of the same name in :mod:`npatch.rewrite.rules`.
    """

    name: str
    doc: str
    params: dict[str, Param]
    extra_check: Validator | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(k for k, p in self.params.items() if p.required)

    def validate(self, params: Any) -> list[Problem]:
        """Every problem in a kind table as ``(sub_key, message)``; ``""`` is the table itself."""
        if not isinstance(params, dict):
            return [("", f"`{self.name}` must be a table like {self.examples[0]}" if self.examples
                     else f"`{self.name}` must be a table")]
        problems: list[Problem] = []
        for key in params:
            if key not in self.params:
                problems.append((key, f"unknown key {key!r} in `{self.name}` "
                                      f"(accepted: {', '.join(self.params)})"))
        for key, spec in self.params.items():
            if key not in params:
                if spec.required:
                    problems.append(("", f"`{self.name}` needs `{key}` ({spec.doc})"))
                continue
            if spec.check is not None:
                message = spec.check(params[key])
                if message:
                    problems.append((key, message))
        if not problems and self.extra_check is not None:
            problems.extend(self.extra_check(params))
        return problems


#: kind name -> kind, filled by :func:`rewrite_kind`
REWRITE_KINDS: dict[str, RewriteKind] = {}


def rewrite_kind(kind: RewriteKind) -> RewriteKind:
    """Register a kind (a decorator-style call so adding a kind is one statement)."""
    REWRITE_KINDS[kind.name] = kind
    return kind


def kind_of(table: dict[str, Any]) -> list[str]:
    """The kind keys present in a ``[[rewrite]]`` table (exactly one is valid)."""
    return [key for key in table if key in REWRITE_KINDS]


# -- value checkers: return a message or None -----------------------------------
def _dotted(value: Any) -> str | None:
    if not isinstance(value, str) or not _DOTTED.match(value):
        return f"expected a dotted name like 'torch.cuda.synchronize', got {value!r}"
    return None


def _ident(value: Any) -> str | None:
    if not isinstance(value, str) or not _IDENT_RE.match(value):
        return f"expected an identifier like 'cuda', got {value!r}"
    return None


def _list_of(check: Callable[[Any], str | None], what: str) -> Callable[[Any], str | None]:
    def run(value: Any) -> str | None:
        if not isinstance(value, (list, tuple)) or not value:
            return f"expected a non-empty list of {what}, got {value!r}"
        for item in value:
            message = check(item)
            if message:
                return message
        return None

    return run


def _callable(value: Any) -> str | None:
    if not isinstance(value, str) or not _CALLABLE.match(value):
        return (f"expected a qualified name ('torch.device'), '*.method' (any receiver) "
                f"or '*' (any call), got {value!r}")
    return None


def _position(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"expected a positional index >= 0, got {value!r}"
    return None


def _values(value: Any) -> str | None:
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        return f"expected a table of old = new strings like {{ cuda = 'npu' }}, got {value!r}"
    if not pairs:
        return "expected at least one old = new pair"
    for old, new in pairs:
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            return f"expected non-empty string keys and string values, got {old!r} = {new!r}"
    return None


def values_map(value: Any) -> dict[str, str]:
    """The ``values`` table as a dict, whether it arrives as a dict or as (old, new) pairs."""
    return dict(value.items() if isinstance(value, dict) else value)


def map_string(value: str, mapping: dict[str, str]) -> str | None:
    """Prefix semantics: 'cuda' -> 'npu' maps 'cuda' and 'cuda:0' (not 'cudagraph').

    Returns the new value, or None when nothing maps.  A longer key wins
    ('cuda:1' = 'npu:0' beats 'cuda' = 'npu').
    """
    for old in sorted(mapping, key=len, reverse=True):
        if value == old or value.startswith(old + ":"):
            return mapping[old] + value[len(old):]
    return None


# -- the kinds ------------------------------------------------------------------
def _from_differs_from_to(p: dict[str, Any]) -> list[Problem]:
    if p["from"] == p["to"]:
        return [("to", "`to` is the same as `from`: the rule would change nothing")]
    return []


rewrite_kind(RewriteKind(
    name="rename",
    doc=("Rename a qualified name wherever it is referenced, through any import "
         "spelling (aliases, `from m import x`); locals that shadow it are left alone. "
         "Import statements of the old name are rewritten; uses that need a new binding "
         "get `import <import>` added."),
    params={
        "from": Param("from", "dotted name", "the qualified name to replace", True, _dotted),
        "to": Param("to", "dotted name", "the qualified name to use instead", True, _dotted),
        "import": Param("import", "dotted name",
                        "module to import when a use needs the new name spelled out "
                        "(default: the first component of `to`)", False, _dotted),
        "except": Param("except", "list of dotted names",
                        "names under `from` (`CUDAGraph`, `memory.list_gpu_processes`) that `to` lacks: "
                        "left alone, and their import statements too", False, _list_of(_dotted, "dotted names")),
    },
    extra_check=_from_differs_from_to,
    examples=['{ from = "torch.cuda.synchronize", to = "torch.npu.synchronize" }'],
))


rewrite_kind(RewriteKind(
    name="method",
    doc="Rename a method call on any receiver: `x.cuda(...)` -> `x.npu(...)`.",
    params={
        "from": Param("from", "identifier", "the method name to replace", True, _ident),
        "to": Param("to", "identifier", "the new method name", True, _ident),
    },
    extra_check=_from_differs_from_to,
    examples=['{ from = "cuda", to = "npu" }'],
))


def _argument_check(p: dict[str, Any]) -> list[Problem]:
    if "keywords" not in p and "positions" not in p:
        return [("", "an argument rule needs `keywords`, `positions` or both "
                     "(which arguments of the callables to look at)")]
    return []


rewrite_kind(RewriteKind(
    name="argument",
    doc=("Map string literal arguments of given callables: a value matches a key "
         "exactly or as 'key:...' ('cuda' -> 'npu' maps 'cuda:0' -> 'npu:0'); "
         "f-strings whose leading text matches are mapped too."),
    params={
        "callables": Param("callables", "list of strings",
                           "qualified names ('torch.device'), '*.name' (method `name` on any "
                           "receiver) or '*' (any call)", True, _list_of(_callable, "callables")),
        "keywords": Param("keywords", "list of identifiers", "keyword argument names",
                          False, _list_of(_ident, "keyword names")),
        "positions": Param("positions", "list of integers", "0-based positional indices",
                           False, _list_of(_position, "positions")),
        "values": Param("values", "table", "old = new string values", True, _values),
    },
    extra_check=_argument_check,
    examples=['{ callables = ["torch.device", "*.to"], positions = [0], values = { cuda = "npu" } }'],
))


def _import_check(p: dict[str, Any]) -> list[Problem]:
    modes = [m for m in ("add", "remove", "from") if m in p]
    if len(modes) != 1:
        return [("", "an import rule needs exactly one of `add`, `remove`, or `from` + `to` "
                     f"(found: {', '.join(modes) or 'none'})")]
    mode = modes[0]
    problems: list[Problem] = []
    if mode == "from" and "to" not in p:
        problems.append(("", "`from` needs `to` (the module that replaces it in import statements)"))
    if "to" in p and mode != "from":
        problems.append(("to", "`to` goes with `from` (replace an import)"))
    for key in ("after", "name", "uses"):
        if key in p and mode != "add":
            problems.append((key, f"`{key}` goes with `add`"))
    if mode == "from" and "to" in p:
        problems += _from_differs_from_to(p)
    return problems


rewrite_kind(RewriteKind(
    name="import",
    doc=("Add `import <add>` (or `from <add> import <name>`) after the first import of "
         "module `after` (or at the top import block), remove imports of a module, or "
         "replace module `from` by `to` in import statements."),
    params={
        "add": Param("add", "dotted name", "module to import", False, _dotted),
        "name": Param("name", "identifier", "with `add`: import this name from the module",
                      False, _ident),
        "after": Param("after", "dotted name",
                       "with `add`: only in files that import this module (or a submodule), "
                       "right after its first import", False, _dotted),
        "uses": Param("uses", "list of identifiers",
                      "with `add`: only in files that contain one of these words, or get one "
                      "from another rule's change", False,
                      _list_of(_ident, "words")),
        "remove": Param("remove", "dotted name", "module whose imports are removed "
                        "(submodules too)", False, _dotted),
        "from": Param("from", "dotted name", "module to replace in import statements", False, _dotted),
        "to": Param("to", "dotted name", "module that replaces `from`", False, _dotted),
    },
    extra_check=_import_check,
    examples=['{ add = "torch_npu", after = "torch", uses = ["npu"] }', '{ remove = "apex" }',
              '{ from = "apex.amp", to = "torch_npu.npu.amp" }'],
))


def _unsupported_check(p: dict[str, Any]) -> list[Problem]:
    if "names" not in p and "methods" not in p:
        return [("", "an unsupported rule needs `names`, `methods` or both")]
    return []


rewrite_kind(RewriteKind(
    name="unsupported",
    doc=("Report uses of APIs that have no replacement (nothing is rewritten): qualified "
         "`names` (a name covers everything under it) and `methods` called on any receiver."),
    params={
        "names": Param("names", "list of dotted names", "qualified names to report",
                       False, _list_of(_dotted, "dotted names")),
        "methods": Param("methods", "list of identifiers", "method names to report",
                         False, _list_of(_ident, "method names")),
    },
    extra_check=_unsupported_check,
    examples=['{ names = ["torch.cuda.nvtx"] }'],
))


def validate(kind: str, params: Any) -> list[Problem]:
    """Validate one kind table; an unknown kind is reported on the table itself."""
    spec = REWRITE_KINDS.get(kind)
    if spec is None:
        return [("", f"unknown rewrite kind {kind!r} (known: {', '.join(sorted(REWRITE_KINDS))})")]
    return spec.validate(params)


# -- include / exclude globs ---------------------------------------------------
@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like glob: ``*`` and ``?`` stay in one path segment, ``**`` spans
    segments, a pattern with no ``/`` but a trailing one matches at any depth
    (``*.py``, ``tests/``), and a trailing ``/`` matches everything below.
    :class:`ValueError` for an invalid bracket expression (``[z-a]``)."""
    pattern = pattern.removeprefix("./")
    if "/" not in pattern.rstrip("/"):
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body in ("", "!"):
                    raise ValueError(f"invalid glob {pattern.removeprefix('**/')!r}: empty [...]")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    if pattern.endswith("/"):
        out.append(".*")
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as exc:     # a bracket expression such as [z-a]
        raise ValueError(f"invalid glob {pattern.removeprefix('**/')!r}: {exc.msg}") from None


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid glob, or None."""
    try:
        glob_regex(pattern)
    except ValueError as exc:
        return str(exc)
    return None


__all__ = ["Param", "RewriteKind", "REWRITE_KINDS", "rewrite_kind", "kind_of", "validate",
           "values_map", "map_string", "glob_regex", "glob_problem"]
