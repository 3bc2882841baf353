"""Evaluate parsed ``when`` conditions at run time, without the grammar.

A condition is parsed once, at compile time, by
:func:`npatch.dsl.grammar.parse_condition` into nested tuples (lists after a
JSON round trip; both are accepted here)::

    ("or", a, b)   ("and", a, b)   ("not", a)
    ("cmp", op, left, right)        op: == != < <= > >= ~= in "not in"
    ("str", "text")  ("num", "3.5")  ("bool", True)  ("var", "python_version" | "platform")
    ("call", name, (arg, ...))

This module runs inside every patched process (it is imported by the
runtime's bootstrap), so it imports nothing heavy: no lark, no tomli, no
``packaging`` (versions are :mod:`npatch.pep440`'s, which imports ``re`` when
first used).

Semantics, chosen on purpose:

* ``and`` / ``or`` short-circuit, so ``importable('x') and version('x') > '1'``
  never looks at ``x`` when it cannot be imported.
* A comparison is a *version comparison* when either side is ``version(...)``
  or ``python_version``, when it uses ``~=``, and for every ordering
  comparison (``< <= > >=``) without a number literal.  A literal side is a
  PEP 440 specifier, exactly as ``packaging.specifiers.SpecifierSet(op +
  literal, prereleases=True)`` reads it (:mod:`npatch.pep440`, which needs
  no ``packaging``): pre-releases take part (``'2.6.0a0+git1234' >= '2.0'``),
  a local build is not greater than its public version
  (``version('torch') > '2.13.0'`` is false and ``<= '2.13.0'`` true for
  ``2.13.0+cpu``), ``== '2.13.0'`` ignores the other side's local label,
  ``'2.*'`` matches by prefix and ``~= '2.1'`` means ``>= 2.1, == 2.*``.
  Two run-time versions compare by plain PEP 440 order.
* An unquoted number (``option('level') >= 3``) compares numerically with
  the other side (a value that is no number is missing), unless that side is
  a version.
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
from npatch.extensions import CONDITIONS_GROUP, ExtensionError, Registry, distribution, unusable
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
    "findable",
    "module_spec",
    "is_version_node",
    "Remembering",
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
    #: the first argument names something (a distribution, a module, a variable): a number or
    #: boolean written there is a compile error, and one another function returns is read as its text
    takes_name: bool = False

    @property
    def signature(self) -> str:
        """``env(name, [default])`` style (the function's own parameter names), for error messages."""
        code = getattr(self.func, "__code__", None)
        names = list(code.co_varnames[:self.max_args]) if code is not None and code.co_argcount >= self.max_args \
            else [chr(ord("a") + i) for i in range(self.max_args)]
        args = ", ".join(n if i < self.min_args else f"[{n}]" for i, n in enumerate(names))
        return f"{self.name}({args})"


def adopt_condition_function(registry: Any, name: str, obj: Any, ep: Any) -> None:
    """Register an ``npatch.conditions`` entry point's object as function ``name``."""
    if isinstance(obj, ConditionFunction):
        registry[name] = obj if obj.name == name else ConditionFunction(
            name, obj.func, obj.min_args, obj.max_args, obj.takes_options, obj.returns_version, obj.takes_name)
    elif callable(obj) and not isinstance(obj, type):
        low, high = _arity(obj, ep)
        registry[name] = ConditionFunction(name, obj, low, high)
    else:
        raise unusable(ep, CONDITIONS_GROUP, obj,
                        f"a function, a ConditionFunction, or a module that registers @condition_function({name!r}, ...)")


def _arity(func: Any, ep: Any) -> tuple[int, int]:
    """Least and most positional arguments ``func`` takes (conditions pass strings only)."""
    import inspect

    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        raise ExtensionError(f"condition function {ep.name!r} of {distribution(ep)}: cannot read its signature") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    low = sum(1 for p in positional if p.default is p.empty)
    high = 8 if any(p.kind == p.VAR_POSITIONAL for p in params) else len(positional)
    return low, high


def _builtin(name: str, function: Any) -> bool:
    return getattr(getattr(function, "func", None), "__module__", "") == __name__


#: Every function a condition may call, by name (filled by :func:`condition_function`;
#: a name not registered here is looked up among the ``npatch.conditions`` entry
#: points of installed packages, see :mod:`npatch.extensions`).
FUNCTIONS: dict[str, ConditionFunction] = Registry(CONDITIONS_GROUP, adopt_condition_function, _builtin)

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
    takes_name: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func`` as the condition function ``name`` (arity checked at parse time)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name] = ConditionFunction(
            name, func, min_args, min_args if max_args is None else max_args,
            takes_options, returns_version, takes_name,
        )
        return func

    return register


# ---------------------------------------------------------------- built-ins

def _providing_distribution_version(module: str) -> str | None:
    """Version of the distribution that installs top-level module ``module`` (mmcv -> mmcv-lite)."""
    found = _version_from_named_dist_info(module)
    if found is not None or not findable(module):  # nothing to scan for a module that is not there
        return found
    import npatch.distributions as distributions

    for dist in _top_level_distributions().get(module, ()):
        found = distributions.version(dist)
        if found is not None:
            return found
    return None


def _version_from_named_dist_info(module: str) -> str | None:
    """The common case without scanning every distribution: a ``MODULE_*.dist-info``
    directory on sys.path (``mmcv_lite-2.2.0.dist-info``) whose ``top_level.txt``
    or ``RECORD`` shows that it installs ``module``.  Scanning all ~150
    distributions (``packages_distributions``) costs 100 ms or more per process."""
    import npatch.distributions as distributions  # only a condition that reads the installation needs it

    for path in distributions.dist_info_dirs(module.lower().replace("-", "_") + "_"):
        provided = distributions.read_text(path, "top_level.txt")
        if provided is not None:
            if module in provided.split():
                return distributions.version_at(path)
            continue
        record = distributions.read_text(path, "RECORD") or ""
        if f"\n{module}/__init__.py," in "\n" + record or f"\n{module}.py," in "\n" + record:
            return distributions.version_at(path)
    return None


@functools.lru_cache(maxsize=1)
def _top_level_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions; scanning every installed one takes ~100 ms, so once."""
    from importlib import metadata

    return metadata.packages_distributions()


def findable(module: str) -> bool:
    """True if ``module`` could be imported, found without executing it or its parents."""
    return module_spec(module) is not None


def module_spec(module: str) -> Any:
    """The spec ``module`` would be imported from, found without executing it
    or its parents; None when it is not found.

    ``importlib.util.find_spec('a.b')`` imports ``a``; for a dotted name whose
    parent is not loaded yet we ask the meta path finders ourselves with the
    parent's search locations, the way the import system would.
    """
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None
    parent, _, _ = module.rpartition(".")
    if not parent or parent in sys.modules:
        try:
            return importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
    path: list[str] | None = None
    parts = module.split(".")
    spec = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        spec = _meta_path_spec(name, path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
        if i < len(parts) - 1 and spec.submodule_search_locations is None:
            return None
    return spec


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


@condition_function("installed", 1, takes_name=True)
def _installed(name: str) -> bool:
    """A distribution called ``name`` is installed, or a module ``name`` is findable."""
    if findable(name):
        return True
    import npatch.distributions as distributions

    return distributions.present(name)


@condition_function("version", 1, returns_version=True, takes_name=True)
def _version(name: str) -> str | None:
    """Installed version of distribution ``name`` (or of the one providing module ``name``)."""
    import npatch.distributions as distributions

    return distributions.version(name) or _providing_distribution_version(name)


@condition_function("importable", 1, takes_name=True)
def _importable(module: str) -> bool:
    """``module`` can be found by the import system; it is not imported."""
    return findable(module)


@condition_function("env", 1, 2, takes_name=True)
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
    if kind in ("str", "num"):
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
        if fn.takes_name and isinstance(args[0], (bool, int, float)):  # installed(option('flag'))
            args[0] = _text(args[0])
        if fn.takes_options:
            return fn.func(*args, options=options)
        if type(options) is not Remembering or node[1] not in _REMEMBERED or \
                not all(type(arg) is str for arg in args):
            return fn.func(*args)
        key = (node[1], *args)
        calls = options.calls
        if key not in calls:
            calls[key] = fn.func(*args)
        return calls[key]
    return evaluate(node, options)


#: the built-in functions whose answers :class:`Remembering` keeps (they read the installation)
_REMEMBERED = frozenset(("installed", "importable", "version"))


class Remembering(dict):
    """Manifest options for :func:`evaluate` that also keep the answers of the
    built-in ``installed``, ``importable`` and ``version`` calls made with them:
    a plan's conditions repeat those atoms (mmcv-npu's 8 start-time conditions
    ask ``importable('torch_npu')`` 4 times), and each asks the import system
    or reads ``sys.path``'s listings.  A session keeps one for its lifetime, as
    it keeps each condition's verdict."""

    __slots__ = ("calls",)

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.calls: dict[tuple, Any] = {}


def is_version_node(node: Node) -> bool:
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


_LITERALS = ("str", "bool", "num")
#: ``literal OP x`` is ``x MIRROR[OP] literal``
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "~=": "~="}


def _version(value: Any, node: Node, text: str) -> Any:
    """The parsed version of ``value``, or None; raises for a literal that is not one."""
    from npatch import pep440

    found = pep440.parse(_text(value))
    if found is None and node[0] in _LITERALS:
        raise NpatchError(f"{_text(value)!r} is not a valid version (PEP 440) in {text}")
    return found


def _version_compare(op: str, left: Any, right: Any, lnode: Node, rnode: Node, text: str) -> bool | None:
    """PEP 440: a literal side is the specifier (``version('torch') > '2.13.0'``
    reads as ``SpecifierSet('>2.13.0', prereleases=True)``, see :mod:`npatch.pep440`);
    two run-time versions compare by plain version order."""
    from npatch import pep440

    if lnode[0] in _LITERALS and rnode[0] not in _LITERALS:
        left, right, lnode, rnode, op = right, left, rnode, lnode, _MIRROR[op]
    if rnode[0] in _LITERALS:
        literal = _text(right)
        why = pep440.check(op, literal)
        if why is not None:
            raise NpatchError(f"{literal!r} is not a valid version for {op} (PEP 440: {why}) in {text}")
        candidate = _version(left, lnode, text)
        return None if candidate is None else pep440.contains(op, literal, candidate)
    lv, rv = _version(left, lnode, text), _version(right, rnode, text)
    if lv is None or rv is None:
        return None
    if op == "~=":
        return pep440.check(op, _text(right)) is None and pep440.contains(op, _text(right), lv)
    return _ORDER[op](lv.key, rv.key)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(_text(value))
    except ValueError:
        return None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}

#: Operators that are the negation of another one: a missing operand makes them true.
_NEGATED = {"!=": "==", "not in": "in"}

_OPERATORS = frozenset({*_ORDER, *_NEGATED, "in", "~="})


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
    """``op`` in ``== in < <= > >= ~=``; None when a side is missing or not comparable."""
    left, right = _value(lnode, options), _value(rnode, options)
    if left is None or right is None:
        return None
    if op == "in":
        return _text(left) in _text(right)
    versioned = is_version_node(lnode) or is_version_node(rnode)
    if not versioned and op != "~=" and "num" in (lnode[0], rnode[0]):
        lv, rv = _number(left), _number(right)
        return None if lv is None or rv is None else _ORDER[op](lv, rv)
    if not versioned and op == "==":
        if isinstance(left, bool) and isinstance(right, bool):
            return left == right
        return _text(left) == _text(right)
    return _version_compare(op, left, right, lnode, rnode, describe(("cmp", op, lnode, rnode)))


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
    "num": _truth,
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
    if kind == "num":
        return tree[1]
    if kind == "bool":
        return "true" if tree[1] else "false"
    if kind == "var":
        return tree[1]
    if kind == "call":
        return f"{tree[1]}({', '.join(describe(arg, 4) for arg in tree[2])})"
    raise NpatchError(f"not a condition tree: {tree!r}")


def _plain(node: Node) -> str:
    """A literal as a person writes it in prose: ``3.0`` rather than ``'3.0'``."""
    return node[1] if node[0] in ("str", "num") and node[1] else describe(node)


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
        if lnode[0] in ("call", "var") and rnode[0] in _LITERALS:
            verdict = "so" if result else "not"
            if is_version_node(lnode) or op in ("<", "<=", ">", ">="):  # versions read best without quotes
                return [f"{describe(lnode)} is {_show(lnode, options)}, {verdict} {op} {_plain(rnode)}"]
            return [f"{describe(lnode)} is {_show(lnode, options, quoted=True)}, {verdict} {op} {describe(rnode)}"]
        seen = [f"{describe(side)} is {_show(side, options)}"
                for side in (lnode, rnode) if side[0] in ("call", "var")]
        suffix = f" ({', '.join(seen)})" if seen else ""
        return [f"{describe(tree)} is {'true' if result else 'false'}{suffix}"]
    if kind in ("call", "var"):
        return [f"{describe(tree)} is {_show(tree, options)}"]
    return [f"{describe(tree)} is {'true' if result else 'false'}"]
