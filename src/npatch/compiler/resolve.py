"""Resolve the paths of a plan in one of three modes.

``static``  (what ``npatch compile`` does by default) finds source files and
            checks names with ``ast``; executes nothing.  Names that come
            from C extensions or from packages not installed here are
            *unverifiable*, not missing.
``import``  imports each module (under the plan's own aliases and stubs) and
            checks the attribute exists.
``none``    checks nothing beyond syntax.

Both checking modes also check that a ``replace`` (or ``guard``) accepts
every call its target accepts, from the ``def`` in source (``static``) or
the function object (``import``): :func:`call_incompatibility`.  Both search
the manifest's directory, the current directory and ``--path`` before the
installed packages.

Each mode is a class registered in :data:`RESOLVERS`; each check gives a
:class:`Diagnostic`.  Splitting a dotted path (``a.b.C.f``) at the longest
module is done the same way in every mode: by looking for the module's
file, which executes nothing.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass

from npatch.compiler.static import Lookup, StaticIndex, def_signature, not_installed
from npatch.errors import ManifestError
from npatch.plan import Origin, Plan


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the compiler.

    severity: ``error`` (exit 1), ``warning``, ``info``.
    code: ``missing``, ``unverifiable``, ``import-error``, ``incompatible``,
    ``assumed``, ``not-checked``.
    package: for ``unverifiable``, the top-level package not installed here.
    off_here: for ``unverifiable``, the op's condition is false here.
    """

    severity: str
    code: str
    message: str
    origin: Origin | None = None
    op: str = ""
    package: str = ""
    off_here: bool = False

    def __str__(self) -> str:
        where = f"{self.origin.file}:{self.origin.line}:{self.origin.col}: {self.origin.key}: " if self.origin else ""
        return f"{where}{self.severity}: {self.message}"

    def as_error(self) -> ManifestError:
        """The finding as a located :class:`~npatch.errors.ManifestError` (how an
        error-level finding stops ``npatch compile`` and ``npatch apply``)."""
        origin = self.origin
        if origin is None:
            return ManifestError(self.message)
        return ManifestError(self.message, file=origin.file, line=origin.line, col=origin.col, key=origin.key)


class Resolver:
    """Checks ``module:qualname`` paths; subclasses implement :meth:`check`."""

    name = ""

    def __init__(self, paths: list[str] | None = None) -> None:
        self.roots = [str(p) for p in paths or []]  # searched before sys.path
        self.index = StaticIndex(self.roots)

    def split(self, dotted: str) -> tuple[str, str] | None:
        return self.index.split(dotted)

    def check(self, module: str, qualname: str) -> Lookup:
        raise NotImplementedError

    def compatible(self, target: tuple[str, str], replacement: tuple[str, str]) -> str:
        """Why a replacement cannot stand in for a target (naming both
        signatures), or ``""`` (also when either signature cannot be known)."""
        old, new = self.callee(*target), self.callee(*replacement)
        if old is None or new is None:
            return ""
        why = call_incompatibility(*_aligned(old, new))
        return f"{why}; target{old.signature}, replacement{new.signature}" if why else ""

    def callee(self, module: str, qualname: str) -> Callee | None:
        """How the function at ``module:qualname`` is called, if it can be known."""
        return None

    def prepare(self, prelude: Plan) -> None:
        """Called before any check with the plan's aliases and stubs."""

    def close(self) -> None:
        """Called after the last check."""


RESOLVERS: dict[str, type[Resolver]] = {}


def resolver(name: str) -> Callable[[type[Resolver]], type[Resolver]]:
    def register(cls: type[Resolver]) -> type[Resolver]:
        cls.name = name
        RESOLVERS[name] = cls
        return cls

    return register


@resolver("none")
class NoResolver(Resolver):
    def check(self, module: str, qualname: str) -> Lookup:
        return Lookup("found")


@resolver("static")
class StaticResolver(Resolver):
    def check(self, module: str, qualname: str) -> Lookup:
        return self.index.lookup(module, qualname)

    def callee(self, module: str, qualname: str) -> Callee | None:
        found = self.index.lookup(module, qualname)
        described = def_signature(found.node) if found.status == "found" else None
        if described is None:
            return None
        signature, kind = described
        return Callee(signature, kind or ("method" if found.in_class else "function"))


@resolver("import")
class ImportResolver(Resolver):
    """Imports for real, under the plan's own aliases and stubs (a target such as
    ``mmcv.ops.nms`` only imports once ``mmcv._ext`` is stubbed)."""

    _session = None
    _added: list[str] = []

    def prepare(self, prelude: Plan) -> None:
        self._added = [p for p in self.roots if p not in sys.path]
        sys.path[:0] = self._added
        if prelude.ops:  # Plan.apply: the documented call into the runtime
            self._session = prelude.apply(label="compile --resolve import")

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None
        for path in self._added:
            if path in sys.path:
                sys.path.remove(path)
        self._added = []

    def check(self, module: str, qualname: str) -> Lookup:
        obj = self._get(module, qualname)
        if isinstance(obj, Lookup):
            return obj
        parent_name, _, name = qualname.rpartition(".")
        parent = self._get(module, parent_name) if parent_name else None
        if isinstance(parent, type) and not any(name in vars(klass) for klass in parent.__mro__):
            return Lookup("missing", _not_in_class(parent, name))
        return Lookup("found")

    def _get(self, module: str, qualname: str) -> object:
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
                if "." not in exc.name:
                    return not_installed(exc.name)
                return Lookup("missing", f"no module named {exc.name!r}")
            return Lookup("import-error", f"importing {module} failed: {type(exc).__name__}: {exc}")
        except BaseException as exc:  # the real cause, not "not found" (PITFALLS 7)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return Lookup("import-error", f"importing {module} failed: {type(exc).__name__}: {exc}")
        for part in qualname.split(".") if qualname else ():
            try:
                obj = getattr(obj, part)
            except AttributeError:
                return Lookup("missing", f"{type(obj).__name__} {getattr(obj, '__name__', '')!r} has no attribute {part!r}")
            except Exception as exc:
                return Lookup("import-error", f"reading {part!r} raised {type(exc).__name__}: {exc}")
        return obj

    def callee(self, module: str, qualname: str) -> Callee | None:
        parent_name, _, name = qualname.rpartition(".")
        parent = self._get(module, parent_name)
        if isinstance(parent, Lookup) or not name:
            return None
        try:
            raw = inspect.getattr_static(parent, name)
        except AttributeError:
            return None
        kind = type(raw).__name__ if isinstance(raw, (staticmethod, classmethod)) else ""
        func = raw.__func__ if kind else raw.fget if isinstance(raw, property) else raw
        if not inspect.isfunction(func):
            return None
        try:
            signature = inspect.signature(func, follow_wrapped=True)
        except (TypeError, ValueError):
            return None
        return Callee(signature, kind or ("method" if inspect.isclass(parent) else "function"))


def _not_in_class(klass: type, name: str) -> str:
    """Why ``klass.name``, which ``getattr`` finds, is no target: ops look in the
    class's MRO dicts (the runtime's ``raw_lookup``), and ``name`` is reached
    through the metaclass; the static check's words, with its hint."""
    why = f"{name!r} is not defined in class {klass.__qualname__} or its bases"
    meta = type(klass)
    owner = next((k for k in meta.__mro__[:-2] if name in vars(k)), None) if meta is not type else None
    if owner is None:
        return f"{why} (only the metaclass {meta.__qualname__} gives it)"
    return (f"{why}; {name!r} is an attribute of the metaclass {owner.__qualname__} of {klass.__qualname__}, "
            f"not of the class: target {owner.__module__}:{owner.__qualname__}.{name}")


@dataclass(frozen=True)
class Callee:
    """A function as its class dict (or module) holds it.

    kind: ``function`` (in a module), ``method`` (a plain function in a class
    body: called with the instance first), ``staticmethod``, ``classmethod``.
    """

    signature: inspect.Signature
    kind: str


def _aligned(target: Callee, replacement: Callee) -> tuple[inspect.Signature, inspect.Signature]:
    """The signatures as the calls of the target meet them once the
    replacement is installed in the target's descriptor kind (see
    :mod:`npatch.runtime.kinds_attr`): a classmethod replacement arrives bound
    to its own class; the instance or class a method target receives first
    is passed by position, whatever its name."""
    old, new = list(target.signature.parameters.values()), list(replacement.signature.parameters.values())
    if replacement.kind == "classmethod":
        new = new[1:]
        if target.kind == "method":  # a bound method in a class dict is not bound again
            old = old[1:]
    if target.kind in ("method", "classmethod") and old and replacement.kind != "classmethod":
        old = [_positional_only(old[0]), *old[1:]]
        if new and new[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD:
            new = [_positional_only(new[0]), *new[1:]]
    return inspect.Signature(old), inspect.Signature(new)


def _positional_only(param: inspect.Parameter) -> inspect.Parameter:
    if param.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return param.replace(kind=inspect.Parameter.POSITIONAL_ONLY)
    return param


def call_incompatibility(old: inspect.Signature, new: inspect.Signature) -> str:
    """Why some call that ``old`` accepts would fail on ``new`` (``""`` if none)."""
    kinds = inspect.Parameter
    new_params = list(new.parameters.values())
    has_var_pos = any(p.kind == kinds.VAR_POSITIONAL for p in new_params)
    has_var_kw = any(p.kind == kinds.VAR_KEYWORD for p in new_params)
    positional = [p for p in new_params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in new_params if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
    old_params = list(old.parameters.values())
    old_pos = [p for p in old_params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == kinds.VAR_POSITIONAL for p in old_params) and not has_var_pos:
        return "the target takes *args, the replacement does not"
    if any(p.kind == kinds.VAR_KEYWORD for p in old_params) and not has_var_kw:
        return "the target takes **kwargs, the replacement does not"
    if len(old_pos) > len(positional) and not has_var_pos:
        return f"the target takes {len(old_pos)} positional arguments, the replacement only {len(positional)}"
    for p in old_params:
        if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) and p.name not in by_name and not has_var_kw:
            return f"the replacement has no parameter {p.name!r}"
    required_old = {p.name for p in old_params if p.default is p.empty and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)}
    for index, p in enumerate(new_params):
        if p.default is not p.empty or p.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD):
            continue
        if p.kind == kinds.POSITIONAL_ONLY or (p.kind == kinds.POSITIONAL_OR_KEYWORD and p.name not in required_old):
            if index < len(old_pos) and old_pos[index].default is p.empty and old_pos[index].kind == kinds.POSITIONAL_ONLY:
                continue
        if p.name not in required_old:
            return f"the replacement requires {p.name!r}, which callers of the target may omit"
    return ""


__all__ = ["Diagnostic", "Resolver", "RESOLVERS", "resolver", "NoResolver", "StaticResolver", "ImportResolver",
           "Callee", "call_incompatibility"]
