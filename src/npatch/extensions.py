"""Third-party op kinds and condition functions, from entry points.

An installed package extends npatch through three entry-point groups::

    [project.entry-points."npatch.manifests"]    # manifests `npatch apply NAME` finds
    my-manifest = "my_pkg.manifests"             #   (see npatch.dsl.discovery)

    [project.entry-points."npatch.ops"]          # op kinds, used by [[op]] kind = "NAME"
    count-calls = "my_pkg.npatch_ext:apply_count_calls"

    [project.entry-points."npatch.conditions"]   # functions for `when` conditions
    has-gpu = "my_pkg.npatch_ext:has_gpu"

Entries land in the same registries as the built-ins
(:data:`npatch.runtime.ops.OP_KINDS`, :data:`npatch.conditions.FUNCTIONS`),
so the runtime and the condition evaluator treat them alike.

Why lazily: scanning installed distributions for entry points costs several
milliseconds, and every child process of ``npatch apply`` pays for what it
does at start-up.  So entry points are read only when a name is *not*
found among the built-ins (and by ``npatch list --ops``), and each entry
point is loaded only when its own name is needed.

What an entry point may name:

``npatch.ops``
    a module whose import registers the kind with
    :func:`npatch.runtime.ops.op_kind` under the entry-point name; an
    :class:`~npatch.runtime.ops.OpKind`; or the apply function itself
    (``apply(ctx, op, target, module) -> undo``, ``undo.restore()`` puts
    things back), registered with the default restore.
``npatch.conditions``
    a module whose import registers the function with
    :func:`npatch.conditions.condition_function`; a
    :class:`~npatch.conditions.ConditionFunction`; or a plain function, whose
    number of arguments is read from its signature.

A broken entry point (it does not import, or names something else) raises
:class:`ExtensionError` naming the distribution and the entry point.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~3 ms in a child process that has not imported it
    from collections.abc import Callable
    from typing import Any

from npatch import log
from npatch.errors import NpatchError

OPS_GROUP = "npatch.ops"
CONDITIONS_GROUP = "npatch.conditions"
MANIFESTS_GROUP = "npatch.manifests"

#: group -> {name: EntryPoint}, read once per process
_ENTRY_POINTS: dict[str, dict[str, Any]] = {}


class ExtensionError(NpatchError):
    """An entry point that cannot be used; the message names its distribution."""


def entry_points(group: str) -> dict[str, Any]:
    """The entry points of ``group`` by name (first distribution wins), without loading them."""
    found = _ENTRY_POINTS.get(group)
    if found is None:
        from importlib.metadata import entry_points as scan

        found = {}
        for ep in scan(group=group):
            found.setdefault(ep.name, ep)
        _ENTRY_POINTS[group] = found
        log.debug("extensions", "%s: %d entry point(s): %s", group, len(found), ", ".join(sorted(found)) or "-")
    return found


def distribution(ep: Any) -> str:
    """``name version`` of the distribution that declares ``ep``, for messages."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.name} {dist.version}"


def _load(ep: Any, group: str) -> Any:
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised
        raise ExtensionError(
            f"entry point {ep.name!r} in group {group!r} of {distribution(ep)} ({ep.value}) "
            f"cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    log.debug("extensions", "loaded %s entry point %r = %s from %s", group, ep.name, ep.value, distribution(ep))
    return obj


class Registry(dict):
    """A ``name -> object`` registry that looks a missing name up among the
    entry points of ``group`` (once per name), loads it and keeps it.

    ``registry[name]`` raises :class:`KeyError` for a name nobody provides
    and :class:`ExtensionError` for a broken entry point.  ``get(name)``
    returns the default in both cases and reports a broken entry point as
    an :class:`~npatch.errors.NpatchWarning`, so a caller that only asks
    "is there such a kind?" (the runtime, the condition evaluator) keeps
    going and the user still learns the real cause.  ``in`` and iteration
    see only what is registered so far: nothing is scanned for them.
    """

    def __init__(self, group: str, adopt: Callable[["Registry", str, Any, Any], None]) -> None:
        super().__init__()
        self.group = group
        self._adopt = adopt

    def __missing__(self, name: str) -> Any:
        found = self.load(name)
        if found is None:
            raise KeyError(name)
        return found

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if name in self:
            return dict.__getitem__(self, name)
        try:
            found = self.load(name)
        except ExtensionError as exc:
            import warnings

            from npatch.errors import NpatchWarning

            warnings.warn(str(exc), NpatchWarning, stacklevel=2)
            return default
        return default if found is None else found

    def load(self, name: str) -> Any:
        """The entry registered as ``name``, loading entry point ``name`` of the
        group when there is none yet; None when no package provides it."""
        if name in self:
            return dict.__getitem__(self, name)
        ep = entry_points(self.group).get(name)
        if ep is None:
            return None
        obj = _load(ep, self.group)
        if name not in self:  # a module registers itself with the decorator on import
            self._adopt(self, name, obj, ep)
        return dict.__getitem__(self, name)


def _unusable(ep: Any, group: str, obj: Any, expected: str) -> ExtensionError:
    return ExtensionError(
        f"entry point {ep.name!r} in group {group!r} of {distribution(ep)} ({ep.value}) names "
        f"{type(obj).__name__}, not {expected}"
    )


def adopt_op_kind(registry: Registry, name: str, obj: Any, ep: Any) -> None:
    """Register an ``npatch.ops`` entry point's object as op kind ``name``."""
    from npatch.runtime.ops import OpKind, op_kind

    if isinstance(obj, OpKind):
        registry[name] = obj if obj.name == name else OpKind(name, obj.apply, obj.restore, obj.substitute, obj.tree)
    elif callable(obj) and not isinstance(obj, type):
        op_kind(name)(obj)
    else:
        raise _unusable(ep, OPS_GROUP, obj, f"an apply function, an OpKind, or a module that registers @op_kind({name!r})")


def adopt_condition_function(registry: Registry, name: str, obj: Any, ep: Any) -> None:
    """Register an ``npatch.conditions`` entry point's object as function ``name``."""
    from npatch.conditions import ConditionFunction

    if isinstance(obj, ConditionFunction):
        registry[name] = obj if obj.name == name else ConditionFunction(
            name, obj.func, obj.min_args, obj.max_args, obj.takes_options, obj.returns_version)
    elif callable(obj) and not isinstance(obj, type):
        low, high = _arity(obj, ep)
        registry[name] = ConditionFunction(name, obj, low, high)
    else:
        raise _unusable(ep, CONDITIONS_GROUP, obj,
                        f"a function, a ConditionFunction, or a module that registers @condition_function({name!r}, ...)")


def load_op_kind(name: str) -> Any:
    """The :class:`~npatch.runtime.ops.OpKind` named ``name`` (built-in or from
    an installed package), None when there is none; raises :class:`ExtensionError`."""
    from npatch.runtime.ops import OP_KINDS

    return OP_KINDS.load(name)


def load_condition_function(name: str) -> Any:
    """The :class:`~npatch.conditions.ConditionFunction` named ``name``, None
    when there is none; raises :class:`ExtensionError`."""
    from npatch.conditions import FUNCTIONS

    return FUNCTIONS.load(name)


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


def names(group: str) -> list[str]:
    """Entry-point names of ``group``, sorted; nothing is loaded."""
    return sorted(entry_points(group))


def load_all() -> list[tuple[str, str, str, str]]:
    """Load every op-kind and condition entry point, for ``npatch list --ops``.

    Returns ``(group, name, distribution, problem)`` rows; ``problem`` is
    empty when the entry point loaded.  A broken package shows up as a row,
    it does not stop the listing.
    """
    rows = []
    for group, loader in ((OPS_GROUP, load_op_kind), (CONDITIONS_GROUP, load_condition_function)):
        for name, ep in sorted(entry_points(group).items()):
            try:
                found = loader(name)
                problem = ""
            except ExtensionError as exc:
                problem = str(exc)
            else:
                if _is_builtin(group, name, found):
                    problem = "shadowed by the built-in of the same name"
            rows.append((group, name, distribution(ep), problem))
    return rows


def _is_builtin(group: str, name: str, found: Any) -> bool:
    if group == OPS_GROUP:
        from npatch.plan import OP_KINDS

        return name in OP_KINDS
    return getattr(getattr(found, "func", None), "__module__", "") == "npatch.conditions"


__all__ = [
    "OPS_GROUP", "CONDITIONS_GROUP", "MANIFESTS_GROUP", "ExtensionError",
    "Registry", "entry_points", "names", "load_op_kind", "load_condition_function", "load_all",
]
