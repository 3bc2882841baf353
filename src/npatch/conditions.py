"""Evaluate parsed ``when`` conditions at run time, without the grammar.

A condition is parsed once, at compile time, by
:func:`npatch.dsl.grammar.parse_condition` into nested tuples (lists after a
JSON round trip; both are accepted here)::

    ("or", a, b)   ("and", a, b)   ("not", a)
    ("cmp", op, left, right)        op: == != < <= > >= in "not in"
    ("str", "text")  ("bool", True)  ("var", "python_version" | "platform")
    ("call", name, (arg, ...))

This module runs inside every patched process (it is imported by the
runtime's bootstrap), so it imports nothing heavy: no lark, no tomli, and
``packaging`` only when a version comparison actually happens.

Semantics, chosen on purpose:

* ``and`` / ``or`` short-circuit, so ``importable('x') and version('x') > '1'``
  never looks at ``x`` when it cannot be imported.
* A comparison is a *version comparison* when either side is ``version(...)``
  or ``python_version``, and every ordering comparison (``< <= > >=``) is one.
  Ordering is plain :class:`packaging.version.Version` ordering: pre-releases
  and local builds take part (``'2.6.0a0+git1234' >= '2.0'`` and ``< '3'`` are
  both true, and ``'3.0.0a0' < '3'`` is true, unlike a ``SpecifierSet``).
  ``==`` / ``!=`` follow PEP 440's ``==`` specifier: a literal without a local
  label ignores the other side's (``version('torch') == '2.13.0'`` is true
  for ``2.13.0+cpu``) and ``'2.*'`` matches by prefix.
* A missing value (``version()`` of something not installed, ``env()`` of an
  unset variable without a default) compares false with ``== < <= > >= in``
  and true with ``!=`` and ``not in``, the negations.  A run-time value that is
  not a valid version (a legacy version string, a junk environment variable)
  is treated like a missing one.  A *literal* that is not a valid version is
  a mistake in the manifest and raises :class:`NpatchError`.
* ``in`` / ``not in`` are substring tests on the text of both sides.
"""
from __future__ import annotations

import functools
import importlib.util
import operator
import os
import sys

from npatch.errors import NpatchError
from npatch.extensions import CONDITIONS_GROUP, Registry, adopt_condition_function
from npatch.plan import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # dataclasses and typing cost a child ~8 ms at its plan's start: annotations only
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    Node = Sequence[Any]

__all__ = [
    "FUNCTIONS",
    "VARIABLES",
    "ConditionFunction",
    "condition_function",
    "describe",
    "evaluate",
    "explain",
]


class ConditionFunction(Record):
    """One function callable from a condition; ``func(*args)`` or ``func(*args, options=...)``."""

    name: str
    func: Callable[..., Any]
    min_args: int
    max_args: int
    takes_options: bool = False
    #: ``version()`` results compare as versions, whatever the other side is.
    returns_version: bool = False

    @property
    def signature(self) -> str:
        """``env(a, [b])`` style, for error messages."""
        names = [chr(ord("a") + i) for i in range(self.max_args)]
        args = ", ".join(n if i < self.min_args else f"[{n}]" for i, n in enumerate(names))
        return f"{self.name}({args})"


#: Every function a condition may call, by name (filled by :func:`condition_function`;
#: a name not registered here is looked up among the ``npatch.conditions`` entry
#: points of installed packages, see :mod:`npatch.extensions`).
FUNCTIONS: dict[str, ConditionFunction] = Registry(CONDITIONS_GROUP, adopt_condition_function)

#: Bare variables, by name; values are computed when read.
def _python_version() -> str:
    import platform  # 1-2 ms to import: only when a condition reads python_version

    return platform.python_version()


VARIABLES: dict[str, Callable[[], str]] = {
    "python_version": _python_version,
    "platform": lambda: sys.platform,
}

#: Variables whose value is a version (compare as PEP 440 versions).
VERSION_VARIABLES = frozenset({"python_version"})


def condition_function(
    name: str,
    min_args: int,
    max_args: int | None = None,
    *,
    takes_options: bool = False,
    returns_version: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func`` as the condition function ``name`` (arity checked at parse time)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name] = ConditionFunction(
            name, func, min_args, min_args if max_args is None else max_args,
            takes_options, returns_version,
        )
        return func

    return register


# ---------------------------------------------------------------- built-ins

def _distribution_version(name: str) -> str | None:
    """Version of the distribution ``name`` (``-``/``_``/``.``/case-insensitive), else None."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _providing_distribution_version(module: str) -> str | None:
    """Version of the distribution that installs top-level module ``module`` (mmcv -> mmcv-lite)."""
    found = _version_from_named_dist_info(module)
    if found is not None:
        return found
    for dist in _top_level_distributions().get(module, ()):
        found = _distribution_version(dist)
        if found is not None:
            return found
    return None


def _version_from_named_dist_info(module: str) -> str | None:
    """The common case without scanning every distribution: a ``MODULE_*.dist-info``
    directory on sys.path (``mmcv_lite-2.2.0.dist-info``) whose ``top_level.txt``
    or ``RECORD`` shows that it installs ``module``.  Scanning all ~150
    distributions (``packages_distributions``) costs 100 ms or more per process."""
    from importlib import metadata
    from pathlib import Path

    prefix = module.lower().replace("-", "_") + "_"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not (name.endswith(".dist-info") and name.lower().startswith(prefix)):
                continue
            dist = metadata.PathDistribution(Path(entry or ".", name))
            provided = dist.read_text("top_level.txt")
            if provided is not None:
                if module in provided.split():
                    return dist.version
                continue
            record = dist.read_text("RECORD") or ""
            if f"\n{module}/__init__.py," in "\n" + record or f"\n{module}.py," in "\n" + record:
                return dist.version
    return None


@functools.lru_cache(maxsize=1)
def _top_level_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions; scanning every installed one takes ~100 ms, so once."""
    from importlib import metadata

    return metadata.packages_distributions()


def _findable(module: str) -> bool:
    """True if ``module`` could be imported, found without executing it or its parents.

    ``importlib.util.find_spec('a.b')`` imports ``a``; for a dotted name whose
    parent is not loaded yet we ask the meta path finders ourselves with the
    parent's search locations, the way the import system would.
    """
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return False
    parent, _, _ = module.rpartition(".")
    if not parent or parent in sys.modules:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False
    path: list[str] | None = None
    parts = module.split(".")
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        spec = _meta_path_spec(name, path)
        if spec is None:
            return False
        path = list(spec.submodule_search_locations or [])
        if i < len(parts) - 1 and spec.submodule_search_locations is None:
            return False
    return True


def _meta_path_spec(name: str, path: list[str] | None) -> Any:
    """First spec any ``sys.meta_path`` finder gives for ``name`` (already loaded: its spec)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return getattr(loaded, "__spec__", None) or importlib.util.spec_from_loader(name, None)
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(name, path)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            return spec
    return None


@condition_function("installed", 1)
def _installed(name: str) -> bool:
    """A distribution called ``name`` is installed, or a module ``name`` is findable."""
    return _findable(name) or _distribution_version(name) is not None


@condition_function("version", 1, returns_version=True)
def _version(name: str) -> str | None:
    """Installed version of distribution ``name`` (or of the one providing module ``name``)."""
    return _distribution_version(name) or _providing_distribution_version(name)


@condition_function("importable", 1)
def _importable(module: str) -> bool:
    """``module`` can be found by the import system; it is not imported."""
    return _findable(module)


@condition_function("env", 1, 2)
def _env(name: str, default: str | None = None) -> str | None:
    """The environment variable ``name``, else ``default`` (None: missing)."""
    return os.environ.get(name, default)


@condition_function("option", 1, takes_options=True)
def _option(name: str, *, options: Mapping[str, Any] | None) -> Any:
    """The value of manifest option ``name`` (defaults merged with ``--set``)."""
    if options is None or name not in options:
        known = ", ".join(sorted(options or ())) or "none"
        raise NpatchError(f"condition uses option({name!r}), which is not set (options: {known})")
    return options[name]


# ---------------------------------------------------------------- evaluation

def _value(node: Node, options: Mapping[str, Any] | None) -> Any:
    """The value of a value node (str, bool, var, call)."""
    kind = node[0]
    if kind == "str":
        return node[1]
    if kind == "bool":
        return bool(node[1])
    if kind == "var":
        if node[1] not in VARIABLES:
            raise NpatchError(f"unknown condition variable {node[1]!r}")
        return VARIABLES[node[1]]()
    if kind == "call":
        fn = FUNCTIONS.get(node[1])
        if fn is None or len(node) != 3:
            raise NpatchError(f"unknown condition function in {node!r}")
        args = [_value(arg, options) for arg in node[2]]
        if fn.takes_options:
            return fn.func(*args, options=options)
        return fn.func(*args)
    return evaluate(node, options)


def _is_version_node(node: Node) -> bool:
    if node[0] == "var":
        return node[1] in VERSION_VARIABLES
    if node[0] == "call":
        fn = FUNCTIONS.get(node[1])
        return fn is not None and fn.returns_version
    return False


def _text(value: Any) -> str:
    """How a run-time value reads in a comparison: TOML ``true`` compares equal to ``'true'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_version(value: Any, node: Node, text: str) -> Any:
    """A :class:`Version` for ``value``, or None; raises for a bad literal."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(_text(value))
    except InvalidVersion:
        if node[0] in ("str", "bool"):
            raise NpatchError(
                f"{_text(value)!r} is not a valid version (PEP 440) in {text}"
            ) from None
        return None


def _version_equal(left: Any, right: Any, lnode: Node, rnode: Node, text: str) -> bool | None:
    """PEP 440 ``==``: a literal side acts as the specifier (``2.*``, local labels ignored)."""
    from packaging.specifiers import InvalidSpecifier, Specifier

    for lit, lit_node, other, other_node in ((right, rnode, left, lnode), (left, lnode, right, rnode)):
        if lit_node[0] == "str" and other_node[0] != "str":
            try:
                spec = Specifier("==" + _text(lit))
            except InvalidSpecifier:
                raise NpatchError(f"{_text(lit)!r} is not a valid version (PEP 440) in {text}") from None
            if _as_version(other, other_node, text) is None:
                return None
            return spec.contains(_text(other), prereleases=True)
    lv, rv = _as_version(left, lnode, text), _as_version(right, rnode, text)
    if lv is None or rv is None:
        return None
    return lv == rv


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

#: Operators that are the negation of another one: a missing operand makes them true.
_NEGATED = {"!=": "==", "not in": "in"}

_OPERATORS = frozenset({*_ORDER, *_NEGATED, "==", "in"})


def _compare(node: Node, options: Mapping[str, Any] | None) -> bool:
    if len(node) != 4 or node[1] not in _OPERATORS:
        raise NpatchError(f"not a comparison: {node!r}")
    _, op, lnode, rnode = node
    positive = _NEGATED.get(op, op)
    result = _compare_positive(positive, lnode, rnode, options)
    if result is None:  # a side is missing or not a version
        result = False
    return not result if op in _NEGATED else result


def _compare_positive(op: str, lnode: Node, rnode: Node, options: Mapping[str, Any] | None) -> bool | None:
    """``op`` in ``== in < <= > >=``; None when a side is missing or not comparable."""
    left, right = _value(lnode, options), _value(rnode, options)
    if left is None or right is None:
        return None
    if op == "in":
        return _text(left) in _text(right)
    versions = op in _ORDER or _is_version_node(lnode) or _is_version_node(rnode)
    if not versions:
        if isinstance(left, bool) and isinstance(right, bool):
            return left == right
        return _text(left) == _text(right)
    text = describe(("cmp", op, lnode, rnode))
    if op == "==":
        return _version_equal(left, right, lnode, rnode, text)
    lv, rv = _as_version(left, lnode, text), _as_version(right, rnode, text)
    if lv is None or rv is None:
        return None
    return _ORDER[op](lv, rv)


def _and(node: Node, options: Mapping[str, Any] | None) -> bool:
    return evaluate(node[1], options) and evaluate(node[2], options)


def _or(node: Node, options: Mapping[str, Any] | None) -> bool:
    return evaluate(node[1], options) or evaluate(node[2], options)


def _not(node: Node, options: Mapping[str, Any] | None) -> bool:
    return not evaluate(node[1], options)


def _truth(node: Node, options: Mapping[str, Any] | None) -> bool:
    value = _value(node, options)
    return value is not None and bool(value)


_EVALUATORS: dict[str, Callable[[Node, Mapping[str, Any] | None], bool]] = {
    "and": _and,
    "or": _or,
    "not": _not,
    "cmp": _compare,
    "str": _truth,
    "bool": _truth,
    "var": _truth,
    "call": _truth,
}


def evaluate(tree: Node | None, options: Mapping[str, Any] | None = None) -> bool:
    """Whether condition ``tree`` holds now; None (no condition) holds.

    ``options`` are the manifest options (defaults merged with ``--set``),
    needed only by ``option()``.  Raises :class:`NpatchError` for a tree that
    is not a condition or a literal that is not a valid version.
    """
    if tree is None:
        return True
    if not isinstance(tree, (list, tuple)) or not tree or tree[0] not in _EVALUATORS:
        raise NpatchError(f"not a condition tree: {tree!r}")
    return _EVALUATORS[tree[0]](tree, options)


# ---------------------------------------------------------------- text

_PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def describe(tree: Node, _parent: int = 0) -> str:
    """Canonical text of ``tree``; ``parse_condition(describe(t)) == t``."""
    kind = tree[0]
    if kind in ("or", "and"):
        mine = _PRECEDENCE[kind]
        # Parsing folds to the left, so a right operand of the same operator needs parentheses.
        out = f"{describe(tree[1], mine)} {kind} {describe(tree[2], mine + 1)}"
        return f"({out})" if mine < _parent else out
    if kind == "not":
        out = f"not {describe(tree[1], _PRECEDENCE['not'])}"
        return f"({out})" if _PRECEDENCE["not"] < _parent else out
    if kind == "cmp":
        # Operands of a comparison are values, never compound conditions.
        return f"{describe(tree[2], 4)} {tree[1]} {describe(tree[3], 4)}"
    if kind == "str":
        return _quote(tree[1])
    if kind == "bool":
        return "true" if tree[1] else "false"
    if kind == "var":
        return tree[1]
    if kind == "call":
        return f"{tree[1]}({', '.join(describe(arg, 4) for arg in tree[2])})"
    raise NpatchError(f"not a condition tree: {tree!r}")


def _plain(node: Node) -> str:
    """A literal as a person writes it in prose: ``3.0`` rather than ``'3.0'``."""
    return node[1] if node[0] == "str" and node[1] else describe(node)


def _show(node: Node, options: Mapping[str, Any] | None, quoted: bool = False) -> str:
    """The value of a call or variable, in prose; ``quoted``: a string as a literal."""
    value = _value(node, options)
    if value is None:
        return "not installed" if node[0] == "call" and node[1] == "version" else "not set"
    if isinstance(value, str):
        return describe(("str", value)) if quoted or not value else value
    return _text(value)


def explain(tree: Node | None, options: Mapping[str, Any] | None = None) -> list[str]:
    """The atoms that decided ``evaluate(tree, options)``, as sentences.

    Following the same short-circuit as :func:`evaluate`: for a false ``and``
    the first false side, for a false ``or`` both sides, and so on.  Used by
    ``npatch explain``: ``version('mmcv') is 2.2.0, not >= 3.0``.
    """
    if tree is None:
        return ["no condition"]
    return _explain(tree, options, evaluate(tree, options))


def _explain(tree: Node, options: Mapping[str, Any] | None, result: bool) -> list[str]:
    kind = tree[0]
    if kind in ("and", "or"):
        # The side(s) that decided: `and` false / `or` true stop at the first deciding side.
        decisive = (kind == "and") != result
        lines: list[str] = []
        for side in tree[1:]:
            value = evaluate(side, options)
            if value == result:
                lines += _explain(side, options, value)
                if decisive:
                    return lines
        return lines
    if kind == "not":
        return _explain(tree[1], options, not result)
    if kind == "cmp":
        _, op, lnode, rnode = tree
        if lnode[0] in ("call", "var") and rnode[0] in ("str", "bool"):
            verdict = "so" if result else "not"
            if _is_version_node(lnode) or op in ("<", "<=", ">", ">="):  # versions read best without quotes
                return [f"{describe(lnode)} is {_show(lnode, options)}, {verdict} {op} {_plain(rnode)}"]
            return [f"{describe(lnode)} is {_show(lnode, options, quoted=True)}, {verdict} {op} {describe(rnode)}"]
        seen = [f"{describe(side)} is {_show(side, options)}"
                for side in (lnode, rnode) if side[0] in ("call", "var")]
        suffix = f" ({', '.join(seen)})" if seen else ""
        return [f"{describe(tree)} is {'true' if result else 'false'}{suffix}"]
    if kind in ("call", "var"):
        return [f"{describe(tree)} is {_show(tree, options)}"]
    return [f"{describe(tree)} is {'true' if result else 'false'}"]
