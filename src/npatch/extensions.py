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
so the runtime and the condition evaluator treat them alike.  This module
knows none of them: each is a :class:`Registry` made by its owner, which
also says how an entry point's object becomes an entry (``adopt``).

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
    from collections.abc import Callable, Iterable
    from typing import Any

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
        from npatch import log  # only where entry points are scanned: not on a child's start path

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
    from npatch import log

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

    def __init__(self, group: str, adopt: Callable[["Registry", str, Any, Any], None],
                 builtin: Callable[[str, Any], bool]) -> None:
        super().__init__()
        self.group = group
        self._adopt = adopt
        #: ``builtin(name, entry)``: is this entry npatch's own (an entry point of that name is shadowed)?
        self.builtin = builtin

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


def unusable(ep: Any, group: str, obj: Any, expected: str) -> ExtensionError:
    return ExtensionError(
        f"entry point {ep.name!r} in group {group!r} of {distribution(ep)} ({ep.value}) names "
        f"{type(obj).__name__}, not {expected}"
    )


def names(group: str) -> list[str]:
    """Entry-point names of ``group``, sorted; nothing is loaded."""
    return sorted(entry_points(group))


def load_all(registries: Iterable[Registry]) -> list[tuple[str, str, str, str]]:
    """Load every entry point of each registry's group, for ``npatch list --ops``.

    Returns ``(group, name, distribution, problem)`` rows; ``problem`` is
    empty when the entry point loaded.  A broken package shows up as a row,
    it does not stop the listing.
    """
    rows = []
    for registry in registries:
        for name, ep in sorted(entry_points(registry.group).items()):
            try:
                found = registry.load(name)
                problem = ""
            except ExtensionError as exc:
                problem = str(exc)
            else:
                if registry.builtin(name, found):
                    problem = "shadowed by the built-in of the same name"
            rows.append((registry.group, name, distribution(ep), problem))
    return rows


__all__ = [
    "OPS_GROUP", "CONDITIONS_GROUP", "MANIFESTS_GROUP", "ExtensionError",
    "Registry", "entry_points", "names", "distribution", "unusable", "load_all",
]
