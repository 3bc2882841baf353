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

A wrapper that carries a borrowed name (``functools.wraps``; so do the guard
and the coverage counter) but is not found under that name (the original is a builtin such as ``torch.zeros``, whose
qualname is ``_VariableFunctionsClass.zeros``, a method descriptor, or a
function re-exported from another module) takes the name of the place it is
installed at, so that pickle finds it by reference as it found the original
(``multiprocessing`` spawn and DataLoader workers pickle the functions a
program hands them).  A function with a name of its own keeps it.

One replacement function for several distinct originals (``cuda-to-cpu``'s
``current_stream`` for ``torch.cuda.current_stream`` and
``torch.accelerator.current_stream``) is installed itself for the first and
as a copy (same code, globals, defaults and closure: still nothing per call)
for each other, so that distinct functions stay distinct: tables keyed by
function identity, such as ``torch.compile``'s handlers, keep one entry per
original.  Targets that held one original (``also`` re-exports) get one object.
"""
from __future__ import annotations

import functools
import os
import sys
from types import FunctionType

from npatch.plan import Op, Target
from npatch.runtime.resolve import MISSING, AttrUndo, TargetMissing, locate, raw_lookup

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from collections.abc import Callable
    from typing import Any

    from npatch.runtime.ops import ApplyContext

_DESCRIPTORS = (staticmethod, classmethod)
_C_CLASSMETHOD = type(dict.__dict__["fromkeys"])  # classmethod_descriptor


def _split_descriptor(obj: Any) -> tuple[Callable[[Any], Any] | None, Any]:
    """``(staticmethod, f)`` for ``staticmethod(f)``; ``(classmethod, obj)`` for
    a C type's classmethod (``object.__init_subclass__``, ``dict.fromkeys``:
    a ``def`` in a class body would have been one); for a property its getter
    and a maker of the same property around another getter; ``(None, obj)``
    otherwise."""
    if isinstance(obj, _DESCRIPTORS):
        return type(obj), obj.__func__
    if isinstance(obj, _C_CLASSMETHOD):    # called with the class first, as the replacement will be
        return classmethod, obj
    if isinstance(obj, property):
        return (lambda getter: property(getter, obj.fset, obj.fdel, obj.__doc__)), obj.fget
    return None, obj


def _existing(module: Any, target: Target) -> tuple[Any, str, Any, Any]:
    """``(parent, name, owner, raw)``: the raw entry and the class (or object) whose dict holds it."""
    parent, name = locate(module, target.qualname)
    owner, raw = raw_lookup(parent, name)
    if raw is MISSING:
        raise _no_attribute(parent, name)
    return parent, name, owner, raw


def _no_attribute(parent: Any, name: str) -> TargetMissing:
    """"no attribute", saying so where ``name`` is on the class's metaclass
    (reached by ``getattr`` but not in the class's MRO, where ops look)."""
    meta = type(parent)
    hint = ""
    if isinstance(parent, type) and meta is not type and any(name in vars(k) for k in meta.__mro__[:-2]):
        hint = (f"; {name!r} is an attribute of the metaclass {meta.__qualname__} of {_where(parent)}, "
                f"not of the class: target {meta.__qualname__}.{name}")
    return TargetMissing(f"{_where(parent)} has no attribute {name!r}{hint}")


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


def _found_at(func: Any, module: Any, qualname: Any) -> bool:
    """Whether pickle's lookup of ``module`` and ``qualname`` gives ``func`` itself."""
    found = sys.modules.get(module) if isinstance(module, str) else None
    try:
        for part in str(qualname).split("."):
            found = getattr(found, part)
    except Exception:  # a lookup that fails in any way: not found there
        return False
    return found is func


def _name_where_installed(func: Any, original: Any, target: Target) -> None:
    """Give a wrapper installed at ``target`` that carries a borrowed name
    (``functools.wraps``: ``__wrapped__``; or ``original``'s qualname: a method
    descriptor has no ``__module__`` to copy), which does not find it, the
    target's name (see the module docstring)."""
    if not isinstance(func, FunctionType):
        return
    borrowed = hasattr(func, "__wrapped__") or func.__qualname__ == getattr(original, "__qualname__", None)
    if borrowed and not _found_at(func, func.__module__, func.__qualname__):
        func.__module__ = target.module
        func.__qualname__ = target.qualname


def _stand_in(ctx: ApplyContext, func: Any, original: Any, target: Target) -> Any:
    """``func`` for the first original it replaces in this session, a copy of it
    for each other (see the module docstring); the same object again for the
    same original (an ``also`` re-export) or the same target (a reloaded module)."""
    if not isinstance(func, FunctionType) or func is original:
        return func
    seen = ctx.session.stand_ins  # id(replacement) -> [(replacement, original, target, installed)]
    entries = [entry for entry in seen.get(id(func), ()) if entry[0] is func]
    for _func, replaced, where, installed in entries:
        if replaced is original or where == target:
            return installed
    installed = func
    if entries:
        installed = FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
        installed.__kwdefaults__ = func.__kwdefaults__
        installed.__annotations__ = func.__annotations__
        installed.__doc__ = func.__doc__
        installed.__dict__.update(func.__dict__)
        installed.__module__, installed.__qualname__ = target.module, target.qualname
    seen[id(func)] = [*entries, (func, original, target, installed)]
    return installed


def _counted(ctx: ApplyContext, op: Op, func: Any) -> Any:
    """``func`` behind :func:`npatch.runtime.coverage.counting` under ``--coverage``
    (``NPATCH_COVERAGE``, :data:`npatch.runtime.coverage.ENV_COVERAGE`); else ``func``
    itself, and the coverage module is not imported (~0.7 M instructions in each child)."""
    if os.environ.get("NPATCH_COVERAGE") != "1":
        return func
    from npatch.runtime.coverage import counting

    return counting(ctx.session, op.name, func)


def _install(ctx: ApplyContext, op: Op, target: Target, parent: Any, name: str, raw: Any, func: Any) -> AttrUndo:
    """Put ``func`` at ``parent.name`` in ``raw``'s descriptor kind, with the guard."""
    descriptor, original = _split_descriptor(raw)
    if isinstance(func, _DESCRIPTORS + (property,)):  # a descriptor of its own keeps its kind
        own_descriptor, func = _split_descriptor(func)
        descriptor = own_descriptor
    func = _counted(ctx, op, _stand_in(ctx, func, original, target))
    if op.guard:
        func = _guarded(ctx.resolve(op.guard), func, original)
    if descriptor in (None, staticmethod):  # where ``parent.name`` gives the function itself
        _name_where_installed(func, original, target)
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
            source = _counted(ctx, op, ctx.resolve(op.source))
            undo = AttrUndo(parent, name)
            ctx.changing(undo)
            setattr(parent, name, source)
            return undo
    parent, name, owner, raw = _existing(module, target)
    if _copied_from_a_sibling(ctx, parent, owner, raw):
        return _keep(ctx, parent, name)
    return _install(ctx, op, target, parent, name, raw, ctx.resolve(op.source))


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
    return _install(ctx, op, target, parent, name, raw, wrapper)


def apply_value(ctx: ApplyContext, op: Op, target: Target, module: Any) -> AttrUndo:
    """Set the attribute to the op's JSON value; a missing attribute is
    created only with ``on-missing = "create"`` (and deleted again on restore)."""
    if op.guard:
        raise TypeError("a guard applies to replace and wrap ops, not to a value")
    parent, name = locate(module, target.qualname)
    _owner, raw = raw_lookup(parent, name)
    if raw is MISSING and op.on_missing != "create":
        raise _no_attribute(parent, name)
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
