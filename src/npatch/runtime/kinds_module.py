"""Module kinds: call, register, alias, stub.

*call*: ``func(module, options)`` runs once, right after the target module
has executed, in the style of the patcher functions this project replaces.
If it returns a callable, that callable is the undo and runs on restore;
otherwise restore does nothing (a call op is not reversible by itself).  The
undo record is on the session's stack before ``func`` runs and receives the
result in C (``list.extend``), so an interrupt as ``func`` returns cannot lose
it; a ``func`` that raises returned no undo: what it changed before raising is
its own to put back (as ``npatch.library.npu.torch_api.set_attributes`` does).

*register*: adds (or, with ``force``, overrides) an entry in an OpenMMLab
``Registry`` (mmengine's or mmcv's: anything with a ``_module_dict``).
Restore puts the previous entry back or removes the new one.

*alias*: importers of ``target`` get the ``source`` module object itself
(live, not a copy).  A target that really exists (already imported, or found
by the other finders when first imported) is kept unless the op has
``force`` (manifest: ``replace = true``).  Names under the target are served
by the import hook too: ``import old.sub`` imports the real ``new.sub`` and
puts that very object under ``old.sub`` (one module per file, so classes,
registries and pickles agree under both names); a name with no module under
the source is a plain ``ModuleNotFoundError``.  A source that is not
installed raises :class:`~npatch.runtime.errors.NpatchAliasError` (a
``ModuleNotFoundError``) from the import of the target.  A forced alias (or
stub) of an imported package takes its imported submodules out of
``sys.modules`` until restore, so the hook serves those names as well.
Restore removes the alias and every ``old.*`` entry it served, from
``sys.modules`` and from the parent packages, and puts back what it took out;
the source's own modules stay.

*stub*: a module that is not installed or must not load, replaced by a
:class:`~npatch.runtime.stubs.StubModule`, a package under which every name
is a stub too (see :mod:`npatch.runtime.stubs` for what raises).  ``value``
is the ``on-use`` policy (``"error"``; ``"none"``: public attributes are
None).  A real installed module wins unless ``force``; an already imported
module of the interpreter (standard library, built-in) is never replaced.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec

from npatch.errors import NpatchWarning
from npatch.plan import Op, Target
from npatch.runtime.errors import NpatchAliasError, declared_at
from npatch.runtime.resolve import MISSING, Skipped, TargetMissing, locate, own_dict

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from collections.abc import Callable
    from typing import Any

    from npatch.runtime.ops import ApplyContext
    from npatch.runtime.stubs import StubModule


# -- call ---------------------------------------------------------------------
class CallUndo:
    """What a call op's function returned (empty until it has returned); a
    callable result is the undo."""

    __slots__ = ("results",)

    def __init__(self) -> None:
        self.results: list[Any] = []

    def restore(self) -> None:
        for result in self.results:
            if callable(result):
                result()


def _attribute(module: Any, target: Target) -> Any:
    """What ``target.qualname`` names in ``module``; missing is :class:`TargetMissing`."""
    parent, name = locate(module, target.qualname)
    obj = getattr(parent, name, MISSING)
    if obj is MISSING:
        raise TargetMissing(f"{target.module!r} has no attribute {target.qualname!r}")
    return obj


def skips_when(check: Callable[[Any, dict[str, Any]], str]) -> Callable[[Any], Any]:
    """Declare the skip check of a ``call`` op's function: ``check(module,
    options)`` returns why the op does nothing here (``""``: it applies).  The
    run asks it before calling the function and reports the op skipped with
    that text; ``npatch explain`` asks it too (:func:`skip_here`), so both say
    the same.  The check only looks: it changes nothing."""
    def declare(func: Any) -> Any:
        func.npatch_skip_check = check
        return func

    return declare


def _call_skip(func: Any, obj: Any, options: dict[str, Any]) -> str:
    check = getattr(func, "npatch_skip_check", None)
    return check(obj, options) if check is not None else ""


def apply_call(ctx: ApplyContext, op: Op, target: Target, module: Any) -> CallUndo:
    """Run ``func(module, options)`` unless its skip check (:func:`skips_when`)
    gives a reason; a callable result is kept as the undo."""
    obj = _attribute(module, target) if target.qualname else module
    func = ctx.resolve(op.source)
    options = op.options_dict
    why = _call_skip(func, obj, options)
    if why:
        raise Skipped(why)
    undo = CallUndo()
    ctx.changing(undo)
    # map and list.extend call func and store its result in C: no point in between
    # raises a pending KeyboardInterrupt (``append(func(...))`` has one when func is
    # a C callable: the check after a call returns)
    undo.results.extend(map(func, (obj,), (options,)))
    return undo


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
    """A ``sys.modules`` entry and the parent package's attribute, as they were,
    and the modules already imported under the name that :meth:`install` took
    out of ``sys.modules`` (``taken``)."""

    __slots__ = ("name", "module", "old", "parent_name", "child", "parent_old", "taken")

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.module = module
        self.old = sys.modules.get(name, MISSING)
        self.parent_name, _, self.child = name.rpartition(".")
        parent = sys.modules.get(self.parent_name) if self.parent_name else None
        entries = own_dict(parent) if parent is not None else None
        self.parent_old = entries.get(self.child, MISSING) if isinstance(entries, dict) else MISSING
        self.taken: dict[str, Any] = {}

    def install(self) -> None:
        """Put the substitute in place of an imported module, and take that
        module's imported submodules out of ``sys.modules``, so that the
        import hook serves those names from the substitute too (each is
        recorded before it leaves; a ``None`` entry, the program's block of
        an import, stays)."""
        sys.modules[self.name] = self.module
        parent = sys.modules.get(self.parent_name) if self.parent_name else None
        if parent is not None:
            setattr(parent, self.child, self.module)
        prefix = self.name + "."
        for name in [name for name in list(sys.modules) if name.startswith(prefix)]:
            module = sys.modules.get(name)
            if module is not None:
                self.taken[name] = module
                sys.modules.pop(name, None)

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
        for name, module in self.taken.items():
            sys.modules.setdefault(name, module)


class _SubstituteLoader:
    """Loader of an alias or stub spec: puts the substitute in place and
    records the undo with the session (through ``ctx.served``).

    ``root`` is false for a name under an alias or stub (``old.sub``): a
    failure there is that import's own, not the op's.  ``source`` is the
    module whose code ``python -m`` runs (an alias's), None for a stub."""

    def __init__(self, ctx: ApplyContext, make: Any, root: bool = True, source: str | None = None) -> None:
        self.ctx = ctx
        self.make = make
        self.root = root
        self.source = source

    def create_module(self, spec: ModuleSpec) -> Any:
        return None

    def get_code(self, fullname: str) -> Any:
        """The code ``runpy`` (``python -m old.tool``) runs: the source's."""
        if self.source is None:
            raise ImportError(f"{fullname} is an npatch stub: it has no code to run", name=fullname)
        import importlib.util

        spec = importlib.util.find_spec(self.source)
        get_code = getattr(spec.loader, "get_code", None) if spec is not None else None
        if get_code is None:
            raise ImportError(f"{fullname} is an alias of {self.source!r}, which has no code to run", name=fullname)
        return get_code(self.source)

    def exec_module(self, module: Any) -> None:
        name = module.__name__
        try:
            substitute = self.make()
        except BaseException as exc:
            if self.root:
                self.ctx.serve_failed(exc)
            raise
        # the import system already put the placeholder in sys.modules; the
        # undo must remember what was there before it (nothing), and the
        # import system sets the parent attribute only after this returns
        if _is_stub(substitute):
            substitute.__spec__ = module.__spec__
            substitute.__loader__ = self
        undo = ModuleUndo(name, substitute)
        undo.old = MISSING
        self.ctx.changing(undo)
        sys.modules[name] = substitute
        self.ctx.served(undo)


#: what a module that really exists does to an alias or a stub of it without force (said at run time and by explain)
ALIAS_ANYWAY = "replace = true aliases it anyway"
STUB_ANYWAY = "the real module wins (force = true stubs it anyway)"


def _real_module_wins(op: Op, target: Target, real_spec: Any) -> str:
    """Why a stub or alias without force leaves ``target``'s real module (found
    at ``real_spec``) alone, or ``""``."""
    anyway = {"stub": STUB_ANYWAY, "alias": ALIAS_ANYWAY}.get(op.kind)
    if real_spec is None or op.force or anyway is None:
        return ""
    where = getattr(real_spec, "origin", None) or "a namespace package"
    return f"{target.module} really exists ({where}); {anyway}"


def _existing_or_force(op: Op, target: Target, real_spec: Any) -> bool:
    why = _real_module_wins(op, target, real_spec)
    if why:
        raise Skipped(why)
    return True


def skip_here(op: Op) -> str:
    """Why ``op``, whose condition holds, would still do nothing in this
    process, as the run would say it, or ``""``: a stub or alias without force
    whose module really exists; a ``call`` op whose function's skip check
    (:func:`skips_when`) gives a reason.  For that check the call function
    is loaded and its target module imported (only when the function's
    module declares the check and the target is installed); nothing is applied."""
    from npatch.conditions import module_spec

    if op.kind in ("stub", "alias"):
        return _real_module_wins(op, op.target, module_spec(op.target.module))
    if op.kind != "call" or not op.source or module_spec(op.target.module) is None:
        return ""
    from npatch.runtime.resolve import import_object

    func = import_object(op.source)
    if getattr(func, "npatch_skip_check", None) is None:
        return ""
    module = importlib.import_module(op.target.module)
    return _call_skip(func, _attribute(module, op.target) if op.target.qualname else module, op.options_dict)


def _below(op: Op, target: Target) -> str:
    """``.sub`` when ``target`` is a module under the op's own (``old.sub`` for ``old``), else ``""``."""
    return target.module[len(op.target.module):]


def _import_source(op: Op, target: Target, name: str) -> Any:
    """Import the alias source ``name`` for ``target``; a source that is not
    installed raises :class:`NpatchAliasError`, as importing ``target`` would;
    so does a source that leads back to an alias still being imported (a
    cycle in a plan built in code: the compiler rejects it in a manifest)."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name != missing and not name.startswith(missing + "."):
            raise  # the source itself imports something that is missing: its own error
        why = f"; {exc}" if isinstance(exc, NpatchAliasError) else f", and {missing!r} is not installed"
        raise NpatchAliasError(f"No module named {target.module!r}: it is an alias of {name!r} "
                               f"(alias {declared_at(op)}){why}", name=target.module) from exc
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    if isinstance(loader, _SubstituteLoader) and not _is_stub(module):  # a placeholder
        raise NpatchAliasError(f"No module named {target.module!r}: alias {declared_at(op)} leads back to "
                               f"itself through {name!r}", name=target.module)
    return module


def _alias_substitute(ctx: ApplyContext, op: Op, target: Target, real_spec: Any) -> ModuleSpec | None:
    below = _below(op, target)
    if not op.source:
        raise ValueError("alias op has no source module")
    source = op.source.rstrip(":") + below
    if below:
        # old.sub: the real source.sub, the very same module object under both
        # names; importlib keys modules by name, so a second spec would execute
        # the file again.  Searched along the source package's __path__ (what
        # real_spec is): nothing there and nothing in sys.modules -> not found.
        if real_spec is None and source not in sys.modules:
            return None
        like = real_spec
    else:
        _existing_or_force(op, target, real_spec)
        like = _source_spec(source)
    loader = _SubstituteLoader(ctx, lambda: _import_source(op, target, source), not below, source)
    spec = ModuleSpec(target.module, loader, origin=getattr(like, "origin", None))
    # a package stays a package before it is imported (`python -m old` runs old.__main__)
    spec.submodule_search_locations = getattr(like, "submodule_search_locations", None)
    return spec


def _source_spec(name: str) -> Any:
    """The spec of module ``name`` without importing anything (None when its
    package is not imported yet: then only the import itself can tell)."""
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__spec__", None)
    parent = name.rpartition(".")[0]
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and path is None:
        return None
    from npatch.runtime.finder import FINDER

    return FINDER.real_spec(name, path)


def apply_alias(ctx: ApplyContext, op: Op, target: Target, module: Any) -> ModuleUndo:
    """``target`` is already imported: alias it only with ``force``."""
    if module is not None and not op.force:
        raise Skipped(f"{target.module} is already imported; {ALIAS_ANYWAY}")
    if not op.source:
        raise ValueError("alias op has no source module")
    undo = ModuleUndo(target.module, ctx.resolve(op.source.rstrip(":") + ":"))
    ctx.changing(undo)
    undo.install()
    return undo


def _is_stub(module: Any) -> bool:
    """``module`` is a :class:`~npatch.runtime.stubs.StubModule`; none can exist
    before a stub op imported that module, which a process without one never does."""
    stubs = sys.modules.get("npatch.runtime.stubs")
    return stubs is not None and isinstance(module, stubs.StubModule)


def _make_stub(op: Op, target: Target) -> StubModule:
    if (op.value or "error") not in ("error", "none"):
        raise ValueError(f"stub on-use must be 'error' or 'none', not {op.value!r}")
    from npatch.runtime.stubs import StubInfo, StubModule

    stub = StubModule(target.module, StubInfo(op.target.module, op))
    stub.__spec__ = ModuleSpec(target.module, None, origin="npatch stub", is_package=True)
    return stub


def _stub_substitute(ctx: ApplyContext, op: Op, target: Target, real_spec: Any) -> ModuleSpec:
    below = _below(op, target)
    if not below:  # under a stub everything is stubbed: the package above is not real
        _existing_or_force(op, target, real_spec)
    return ModuleSpec(target.module, _SubstituteLoader(ctx, lambda: _make_stub(op, target), not below),
                      is_package=True)


def _needed_by_interpreter(name: str) -> bool:
    """A module of the standard library or built into the interpreter."""
    root = name.partition(".")[0]
    return name in sys.builtin_module_names or root in getattr(sys, "stdlib_module_names", ())


def apply_stub(ctx: ApplyContext, op: Op, target: Target, module: Any) -> ModuleUndo:
    """``target`` is already imported: the real module wins unless ``force``;
    a module of the interpreter itself is never replaced (a warning says so)."""
    if module is not None and not op.force:
        raise Skipped(f"{target.module} is already imported; the real module wins (force = true stubs it)")
    if module is not None and _needed_by_interpreter(target.module):
        message = (f"npatch: stub {declared_at(op)} not applied: {target.module!r} is part of the "
                   "interpreter and already imported, so it is never stubbed, even with force = true")
        warnings.warn(message, NpatchWarning, stacklevel=2)
        raise Skipped(message.partition("not applied: ")[2])
    undo = ModuleUndo(target.module, _make_stub(op, target))
    ctx.changing(undo)
    undo.install()
    return undo


#: the kinds this module provides, name -> (apply, substitute, tree) (see
#: :func:`npatch.runtime.ops.op_kind`); :mod:`npatch.runtime.ops` registers them
KINDS = {
    "call": (apply_call, None, False),
    "register": (apply_register, None, False),
    "alias": (apply_alias, _alias_substitute, True),
    "stub": (apply_stub, _stub_substitute, True),
}


__all__ = ["CallUndo", "skips_when", "apply_call", "skip_here", "EntryUndo", "apply_register", "ModuleUndo", "apply_alias", "apply_stub", "KINDS", "ALIAS_ANYWAY", "STUB_ANYWAY"]
