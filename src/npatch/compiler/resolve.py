"""Resolve the paths of a plan in one of three modes.

``import``  imports each module and checks the attribute exists; checks that
            a replacement accepts every call its target accepts (when both
            are Python functions).
``static``  finds source files and checks names with ``ast``; executes nothing.
            Names that come from C extensions are *unverifiable*, not missing.
``none``    checks nothing beyond syntax.

Each mode is a class registered in :data:`RESOLVERS`; each check gives a
:class:`Diagnostic`.  Splitting a dotted path (``a.b.C.f``) at the longest
module is done the same way in every mode: by looking for the module's
file, which executes nothing.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from npatch.compiler.static import Lookup, StaticIndex
from npatch.plan import Origin, Plan


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the compiler.

    severity: ``error`` (exit 1), ``warning``, ``info``.
    code: ``missing``, ``unverifiable``, ``import-error``, ``incompatible``,
    ``assumed``, ``not-checked``.
    """

    severity: str
    code: str
    message: str
    origin: Origin | None = None
    op: str = ""

    def __str__(self) -> str:
        where = f"{self.origin.file}:{self.origin.line}:{self.origin.col}: {self.origin.key}: " if self.origin else ""
        return f"{where}{self.severity}: {self.message}"


class Resolver:
    """Checks ``module:qualname`` paths; subclasses implement :meth:`check`."""

    name = ""

    def __init__(self, paths: list[str] | None = None) -> None:
        self.index = StaticIndex(paths)

    def split(self, dotted: str) -> tuple[str, str] | None:
        return self.index.split(dotted)

    def check(self, module: str, qualname: str) -> Lookup:
        raise NotImplementedError

    def compatible(self, target: tuple[str, str], replacement: tuple[str, str]) -> str:
        """Why a replacement cannot stand in for a target, or ``""``."""
        return ""

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


@resolver("import")
class ImportResolver(Resolver):
    """Imports for real, under the plan's own aliases and stubs (a target such as
    ``mmcv.ops.nms`` only imports once ``mmcv._ext`` is stubbed)."""

    _session = None

    def prepare(self, prelude: Plan) -> None:
        if prelude.ops:
            from npatch.runtime.session import Session

            self._session = Session(prelude, label="compile --resolve import").start()

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None

    def check(self, module: str, qualname: str) -> Lookup:
        obj = self._get(module, qualname)
        return obj if isinstance(obj, Lookup) else Lookup("found")

    def _get(self, module: str, qualname: str) -> object:
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
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
                return Lookup("missing", f"{module}:{qualname}: {type(obj).__name__} {getattr(obj, '__name__', '')!r} has no attribute {part!r}")
            except Exception as exc:
                return Lookup("import-error", f"reading {part!r} raised {type(exc).__name__}: {exc}")
        return obj

    def compatible(self, target: tuple[str, str], replacement: tuple[str, str]) -> str:
        original, new = self._get(*target), self._get(*replacement)
        if isinstance(original, Lookup) or isinstance(new, Lookup):
            return ""
        if not (inspect.isfunction(original) and inspect.isfunction(new)):
            return ""
        return call_incompatibility(inspect.signature(original), inspect.signature(new))


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
    for p in new_params:
        if p.default is not p.empty or p.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD):
            continue
        if p.name not in required_old:
            return f"the replacement requires {p.name!r}, which callers of the target may omit"
    return ""
