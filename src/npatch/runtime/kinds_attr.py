"""Attribute kinds: replace, wrap, value, delete.

All four set or delete ``parent.name`` where ``parent`` is what the target's
qualname names (a module, a class, any object) and save the raw own entry
first (:class:`~npatch.runtime.resolve.AttrUndo`).

Descriptor kind is kept: when the raw entry found through the MRO is a
``staticmethod`` or ``classmethod``, a plain replacement function is put in
the same descriptor, so ``Cls.f`` behaves as before; when it is a
``property``, the replacement becomes the getter of a new property that keeps
the original's setter, deleter and doc (``C().prop`` stays an attribute, not
a bound method).  Otherwise the replacement object itself is installed
(``Cls.__dict__["f"] is repl``): a replaced function costs nothing per call
(under ``npatch apply --coverage`` only, a counting closure stands in front
of it: :mod:`npatch.runtime.coverage`).
A replacement that is itself a descriptor (a property object, a
staticmethod) keeps its own kind.

A *wrap* op names a factory ``make_wrapper(original, options) -> callable``.
``original`` is the function as found: for a staticmethod or classmethod the
underlying function (the result is put back in the same descriptor, and a
classmethod's wrapper receives ``cls`` first), for a property its getter
(the result becomes the getter), for an inherited method the one the MRO
finds; ``options`` is the op's ``options`` table as a dict.

A *guard* (``guard = "pkg:pred"``) makes a replace or wrap conditional per
call: ``pred(*args, **kwargs)`` true runs the replacement, false the
original.  It is a plain closure; ``__wrapped__`` points at the original.
"""
from __future__ import annotations

import functools
import sys

from npatch.plan import Op, Target
from npatch.runtime.resolve import MISSING, AttrUndo, TargetMissing, locate, raw_lookup

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from collections.abc import Callable
    from typing import Any

    from npatch.runtime.ops import ApplyContext

_DESCRIPTORS = (staticmethod, classmethod)


def _split_descriptor(obj: Any) -> tuple[Callable[[Any], Any] | None, Any]:
    """``(staticmethod, f)`` for ``staticmethod(f)``; for a property its getter and
    a maker of the same property around another getter; ``(None, obj)`` otherwise."""
    if isinstance(obj, _DESCRIPTORS):
        return type(obj), obj.__func__
    if isinstance(obj, property):
        return (lambda getter: property(getter, obj.fset, obj.fdel, obj.__doc__)), obj.fget
    return None, obj


def _existing(module: Any, target: Target) -> tuple[Any, str, Any, Any]:
    """``(parent, name, owner, raw)``: the raw entry and the class (or object) whose dict holds it."""
    parent, name = locate(module, target.qualname)
    owner, raw = raw_lookup(parent, name)
    if raw is MISSING:
        raise TargetMissing(f"{_where(parent)} has no attribute {name!r}")
    return parent, name, owner, raw


def _where(parent: Any) -> str:
    return repr(getattr(parent, "__qualname__", None) or getattr(parent, "__name__", None) or type(parent).__name__)


def _guarded(guard: Callable[..., Any], replacement: Callable[..., Any],
             original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if guard(*args, **kwargs):
            return replacement(*args, **kwargs)
        return original(*args, **kwargs)

    functools.update_wrapper(guarded, original)
    return guarded


def _install(ctx: ApplyContext, op: Op, parent: Any, name: str, raw: Any, func: Any) -> AttrUndo:
    """Put ``func`` at ``parent.name`` in ``raw``'s descriptor kind, with the guard."""
    descriptor, original = _split_descriptor(raw)
    if isinstance(func, _DESCRIPTORS + (property,)):  # a descriptor of its own keeps its kind
        own_descriptor, func = _split_descriptor(func)
        descriptor = own_descriptor
    from npatch.runtime.coverage import counting  # a child that applies no replace or wrap never needs it

    func = counting(ctx.session, op.name, func)  # only under --coverage: else func itself
    if op.guard:
        func = _guarded(ctx.resolve(op.guard), func, original)
    new = descriptor(func) if descriptor is not None else func
    undo = AttrUndo(parent, name)
    ctx.changing(undo)
    setattr(parent, name, new)
    ctx.replaced(parent, name, raw, new)
    return undo


def _copied_from_a_sibling(ctx: ApplyContext, parent: Any, owner: Any, raw: Any) -> bool:
    """Whether ``raw`` is what another target of this op holds since the op
    applied there: an ``also`` re-export made afterwards copied it
    (``torch/__init__`` takes ``load`` from ``torch.serialization`` once that
    module is patched), so it already carries this op; changing it again would
    run a wrapper or a guard twice per call."""
    if owner is not parent:
        return False
    for sibling in ctx.slot.state.slots:
        if sibling is ctx.slot or sibling.status != "applied":
            continue
        module = sys.modules.get(sibling.target.module)
        try:
            there = raw_lookup(*locate(module, sibling.target.qualname))[1] if module is not None else MISSING
        except (TargetMissing, AttributeError):
            continue
        if there is raw:
            return True
    return False


def _keep(ctx: ApplyContext, parent: Any, name: str) -> AttrUndo:
    """Leave ``parent.name`` as it is, with an undo the session points at the
    original of the target it was copied from."""
    undo = AttrUndo(parent, name)
    ctx.changing(undo)
    return undo


def apply_replace(ctx: ApplyContext, op: Op, target: Target, module: Any) -> AttrUndo:
    """Install the ``source`` object itself (kept in the original's descriptor kind).

    With ``on-missing = "create"`` an absent attribute is created (and deleted
    again on restore); a guard then has no original to fall back on.
    """
    if op.on_missing == "create":
        parent, name = locate(module, target.qualname)
        if raw_lookup(parent, name)[1] is MISSING:
            if op.guard:
                raise TypeError("a guard needs an original; the target is absent (on-missing = create)")
            from npatch.runtime.coverage import counting

            source = counting(ctx.session, op.name, ctx.resolve(op.source))  # only under --coverage
            undo = AttrUndo(parent, name)
            ctx.changing(undo)
            setattr(parent, name, source)
            return undo
    parent, name, owner, raw = _existing(module, target)
    if _copied_from_a_sibling(ctx, parent, owner, raw):
        return _keep(ctx, parent, name)
    return _install(ctx, op, parent, name, raw, ctx.resolve(op.source))


def apply_wrap(ctx: ApplyContext, op: Op, target: Target, module: Any) -> AttrUndo:
    """Install ``make_wrapper(original, options)``; see the module docstring."""
    parent, name, owner, raw = _existing(module, target)
    if _copied_from_a_sibling(ctx, parent, owner, raw):
        return _keep(ctx, parent, name)
    make_wrapper = ctx.resolve(op.source)
    _descriptor, original = _split_descriptor(raw)
    wrapper = make_wrapper(original, op.options_dict)
    if not callable(wrapper) and not isinstance(wrapper, _DESCRIPTORS + (property,)):
        raise TypeError(f"wrapper factory {op.source!r} returned {type(wrapper).__name__}, not a callable")
    return _install(ctx, op, parent, name, raw, wrapper)


def apply_value(ctx: ApplyContext, op: Op, target: Target, module: Any) -> AttrUndo:
    """Set the attribute to the op's JSON value; a missing attribute is
    created only with ``on-missing = "create"`` (and deleted again on restore)."""
    if op.guard:
        raise TypeError("a guard applies to replace and wrap ops, not to a value")
    parent, name = locate(module, target.qualname)
    _owner, raw = raw_lookup(parent, name)
    if raw is MISSING and op.on_missing != "create":
        raise TargetMissing(f"{_where(parent)} has no attribute {name!r}")
    value = op.value
    if isinstance(value, (list, dict)):  # each session gets its own copy of a mutable value
        import copy  # only here: not worth its import in every patched child

        value = copy.deepcopy(value)
    undo = AttrUndo(parent, name)
    ctx.changing(undo)
    setattr(parent, name, value)
    if raw is not MISSING:
        ctx.replaced(parent, name, raw, value)
    return undo


def apply_delete(ctx: ApplyContext, op: Op, target: Target, module: Any) -> AttrUndo:
    """Delete the attribute from the object the target names.

    An attribute inherited from a base class cannot be deleted from the
    subclass alone; that is an error naming the base that holds it.
    """
    parent, name, owner, _raw = _existing(module, target)
    if isinstance(parent, type) and owner is not parent:
        raise TargetMissing(f"{_where(parent)}.{name} is inherited from {_where(owner)}; delete it there")
    undo = AttrUndo(parent, name)
    if undo.old is MISSING:
        raise TargetMissing(f"{_where(parent)}.{name} is not an attribute of its own")
    ctx.changing(undo)
    delattr(parent, name)
    return undo


#: the kinds this module provides, name -> (apply, substitute, tree) (see
#: :func:`npatch.runtime.ops.op_kind`); :mod:`npatch.runtime.ops` registers them
KINDS = {
    "replace": (apply_replace, None, False),
    "wrap": (apply_wrap, None, False),
    "value": (apply_value, None, False),
    "delete": (apply_delete, None, False),
}


__all__ = ["apply_replace", "apply_wrap", "apply_value", "apply_delete", "KINDS"]
