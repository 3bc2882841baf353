"""Module kinds: call, register, alias, stub.

*call*: ``func(module, options)`` runs once, right after the target module
has executed, in the style of the patcher functions this project replaces.
If it returns a callable, that callable is the undo and runs on restore;
otherwise restore does nothing (a call op is not reversible by itself).

*register*: adds (or, with ``force``, overrides) an entry in an OpenMMLab
``Registry`` (mmengine's or mmcv's: anything with a ``_module_dict``).
Restore puts the previous entry back or removes the new one.

*alias*: importers of ``target`` get the ``source`` module object itself
(live, not a copy).  A target that really exists (already imported, or found
by the other finders when first imported) is kept unless the op has
``force`` (manifest: ``replace = true``).  Restore removes the alias from
``sys.modules`` and from its parent package.

*stub*: a module that is not installed or must not load.  On use of an
attribute (``value`` is the ``on-use`` policy): ``"error"`` gives a callable
that raises :class:`~npatch.runtime.errors.NpatchStubError` naming the
manifest and the stub; ``"none"`` gives None.  A real installed module wins
unless ``force``.
"""
from __future__ import annotations

import sys
import types
from importlib.machinery import ModuleSpec

from npatch.plan import Op, Target
from npatch.runtime.errors import NpatchStubError
from npatch.runtime.ops import ApplyContext, op_kind
from npatch.runtime.resolve import MISSING, Skipped, TargetMissing, import_object, locate, own_dict

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any


# -- call ---------------------------------------------------------------------
class CallUndo:
    __slots__ = ("undo",)

    def __init__(self, undo: Any) -> None:
        self.undo = undo if callable(undo) else None

    def restore(self) -> None:
        if self.undo is not None:
            self.undo()


def _attribute(module: Any, target: Target) -> Any:
    """What ``target.qualname`` names in ``module``; missing is :class:`TargetMissing`."""
    parent, name = locate(module, target.qualname)
    obj = getattr(parent, name, MISSING)
    if obj is MISSING:
        raise TargetMissing(f"{target.module!r} has no attribute {target.qualname!r}")
    return obj


@op_kind("call")
def apply_call(ctx: ApplyContext, op: Op, target: Target, module: Any) -> CallUndo:
    """Run ``func(module, options)``; a callable result is kept as the undo."""
    obj = _attribute(module, target) if target.qualname else module
    func = ctx.resolve(op.source)
    return CallUndo(func(obj, op.options_dict))


# -- register -----------------------------------------------------------------
class EntryUndo:
    """An entry of a registry's ``_module_dict`` as it was, and, while the op is
    applied, the registry's own ``_register_module`` watching later registrations
    of the same name (see :func:`apply_register`)."""

    __slots__ = ("registry", "entries", "key", "old", "obj", "keep", "hook_old")

    def __init__(self, registry: Any, entries: dict, key: str, obj: Any, keep: bool) -> None:
        self.registry = registry
        self.entries = entries
        self.key = key
        self.old = entries.get(key, MISSING)
        self.obj = obj
        self.keep = keep  # force: the entry stays ours when the library registers the name later
        own = own_dict(registry)
        self.hook_old = own.get("_register_module", MISSING) if isinstance(own, dict) else None

    def install(self) -> None:
        self.entries[self.key] = self.obj
        if self.hook_old is None:  # no instance dict: later registrations are not watched
            return
        register = self.registry._register_module

        def _register_module(module: Any, module_name: Any = None, force: bool = False) -> Any:
            ours = self.entries.get(self.key, MISSING) is self.obj
            if not ours:
                return register(module, module_name, force)
            self._put(self.old)  # the library registers against what it would have found
            try:
                return register(module, module_name, force)
            finally:
                self.old = self.entries.get(self.key, MISSING)  # restore gives back the library's entry
                if self.keep or self.old is MISSING:
                    self.entries[self.key] = self.obj

        _register_module.__wrapped__ = register
        self.registry._register_module = _register_module

    def _put(self, value: Any) -> None:
        if value is MISSING:
            self.entries.pop(self.key, None)
        else:
            self.entries[self.key] = value

    def restore(self) -> None:
        if self.hook_old is not None:
            if self.hook_old is MISSING:
                self.registry.__dict__.pop("_register_module", None)
            else:
                self.registry._register_module = self.hook_old
        if self.entries.get(self.key, MISSING) is self.obj:
            self._put(self.old)


@op_kind("register")
def apply_register(ctx: ApplyContext, op: Op, target: Target, module: Any) -> EntryUndo:
    """Put ``source`` in the registry at ``target`` under the name ``value``.

    The library may register that name itself later, while its own modules
    import (``mmdet.models`` registers ``ResNet`` after ``mmdet.registry``
    made ``MODELS``): until restore, the registry's ``_register_module`` lets
    that registration happen against the entry as it was, records it as the
    entry to put back, and (with ``force``) keeps this op's object in place,
    so the override holds and the library sees no "already registered".
    """
    registry = _attribute(module, target)
    entries = getattr(registry, "_module_dict", None)
    if not isinstance(entries, dict):
        raise TypeError(f"{target} is a {type(registry).__name__}, not an OpenMMLab Registry (no _module_dict)")
    obj = ctx.resolve(op.source)
    key = op.value or getattr(obj, "__name__", None)
    if not isinstance(key, str):
        raise TypeError(f"register op needs an entry name (value) for {op.source!r}")
    if key in entries and not op.force:
        raise Skipped(f"{target} already has {key!r} (force = true overrides it)")
    undo = EntryUndo(registry, entries, key, obj, op.force)
    ctx.changing(undo)
    undo.install()
    return undo


# -- alias and stub: whole modules --------------------------------------------
class ModuleUndo:
    """A ``sys.modules`` entry and the parent package's attribute, as they were."""

    __slots__ = ("name", "module", "old", "parent_name", "child", "parent_old")

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.module = module
        self.old = sys.modules.get(name, MISSING)
        self.parent_name, _, self.child = name.rpartition(".")
        parent = sys.modules.get(self.parent_name) if self.parent_name else None
        entries = own_dict(parent) if parent is not None else None
        self.parent_old = entries.get(self.child, MISSING) if isinstance(entries, dict) else MISSING

    def install(self) -> None:
        sys.modules[self.name] = self.module
        parent = sys.modules.get(self.parent_name) if self.parent_name else None
        if parent is not None:
            setattr(parent, self.child, self.module)

    def restore(self) -> None:
        if sys.modules.get(self.name) is self.module:
            if self.old is MISSING:
                del sys.modules[self.name]
            else:
                sys.modules[self.name] = self.old
        parent = sys.modules.get(self.parent_name) if self.parent_name else None
        if parent is not None and getattr(parent, self.child, None) is self.module:
            if self.parent_old is MISSING:
                delattr(parent, self.child)
            else:
                setattr(parent, self.child, self.parent_old)


class _SubstituteLoader:
    """Loader of an alias or stub spec: puts the substitute in place and
    records the undo with the session (through ``ctx.served``)."""

    def __init__(self, ctx: ApplyContext, make: Any) -> None:
        self.ctx = ctx
        self.make = make

    def create_module(self, spec: ModuleSpec) -> Any:
        return None

    def exec_module(self, module: Any) -> None:
        name = module.__name__
        try:
            substitute = self.make()
        except BaseException as exc:
            self.ctx.serve_failed(exc)
            raise
        # the import system already put the placeholder in sys.modules; the
        # undo must remember what was there before it (nothing), and the
        # import system sets the parent attribute only after this returns
        if isinstance(substitute, StubModule):
            substitute.__spec__ = module.__spec__
            substitute.__loader__ = self
        undo = ModuleUndo(name, substitute)
        undo.old = MISSING
        sys.modules[name] = substitute
        self.ctx.served(undo)


def _existing_or_force(op: Op, target: Target, real_spec: Any, what: str) -> bool:
    if real_spec is None or op.force:
        return True
    where = getattr(real_spec, "origin", None) or "a namespace package"
    raise Skipped(f"{target.module} really exists ({where}); {what}")


def _module_ref(source: str | None) -> str:
    """An alias source is a module name; as a reference it ends with a colon."""
    if not source:
        raise ValueError("alias op has no source module")
    return source.rstrip(":") + ":"


def _alias_substitute(ctx: ApplyContext, op: Op, target: Target, real_spec: Any) -> ModuleSpec:
    _existing_or_force(op, target, real_spec, "replace = true aliases it anyway")
    return ModuleSpec(target.module, _SubstituteLoader(ctx, lambda: import_object(_module_ref(op.source))))


@op_kind("alias", substitute=_alias_substitute)
def apply_alias(ctx: ApplyContext, op: Op, target: Target, module: Any) -> ModuleUndo:
    """``target`` is already imported: alias it only with ``force``."""
    if module is not None and not op.force:
        raise Skipped(f"{target.module} is already imported; replace = true aliases it anyway")
    undo = ModuleUndo(target.module, ctx.resolve(_module_ref(op.source)))
    undo.install()
    return undo


class StubModule(types.ModuleType):
    """A stand-in module: every public attribute follows the on-use policy."""

    def __init__(self, name: str, op_name: str, manifest: str, on_use: str) -> None:
        super().__init__(name, f"npatch stub ({manifest or 'plan'}: {op_name})")
        self.__npatch_stub__ = (op_name, manifest, on_use)
        self.__file__ = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        op_name, manifest, on_use = self.__npatch_stub__
        if on_use == "none":
            return None
        name = f"{self.__name__}.{attr}"

        def stub(*args: Any, **kwargs: Any) -> Any:
            raise NpatchStubError(
                f"{name} is not available: {self.__name__!r} is a stub "
                f"(stub {op_name!r} in manifest {manifest or '<plan>'!r}); "
                "install the real module or patch the code that calls it"
            )

        stub.__name__ = stub.__qualname__ = attr
        stub.__module__ = self.__name__
        return stub


def _make_stub(op: Op, target: Target) -> StubModule:
    on_use = op.value or "error"
    if on_use not in ("error", "none"):
        raise ValueError(f"stub on-use must be 'error' or 'none', not {on_use!r}")
    stub = StubModule(target.module, op.name, op.manifest, on_use)
    stub.__spec__ = ModuleSpec(target.module, None, origin="npatch stub")
    return stub


def _stub_substitute(ctx: ApplyContext, op: Op, target: Target, real_spec: Any) -> ModuleSpec:
    _existing_or_force(op, target, real_spec, "the real module wins (force = true stubs it anyway)")
    return ModuleSpec(target.module, _SubstituteLoader(ctx, lambda: _make_stub(op, target)))


@op_kind("stub", substitute=_stub_substitute)
def apply_stub(ctx: ApplyContext, op: Op, target: Target, module: Any) -> ModuleUndo:
    """``target`` is already imported: the real module wins unless ``force``."""
    if module is not None and not op.force:
        raise Skipped(f"{target.module} is already imported; the real module wins (force = true stubs it)")
    undo = ModuleUndo(target.module, _make_stub(op, target))
    undo.install()
    return undo
