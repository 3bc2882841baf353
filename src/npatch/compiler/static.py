"""Static name resolution: find ``module:qual.name`` in source files with ``ast``.

Nothing is imported or executed.  Modules are looked up as files under the
search paths (``--path`` directories first, then ``sys.path``); names are
looked up in the module's top-level bindings (through ``if``/``try``/``with``
blocks; a name bound in several branches is looked up in each), in class
bodies and their statically known bases, and through
``import`` / ``from ... import`` chains and star imports.

A name whose existence depends on code that only runs (a C extension, a
module ``__getattr__``, a base class from an extension, an attribute of an
assigned value) is *unverifiable*, never *missing*: "missing" means we could
see everything and the name is not there.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from npatch.outfiles import read_input

EXTENSION_SUFFIXES = (".so", ".pyd")


@dataclass(frozen=True)
class Lookup:
    """The outcome of a static lookup: ``found``, ``missing`` or ``unverifiable``."""

    status: str
    detail: str = ""
    file: str = ""
    #: the ``def``/``class`` found (``found`` only), and whether it sits in a class body
    node: ast.AST | None = field(default=None, compare=False)
    in_class: bool = False
    #: the top-level package that is not installed here (``unverifiable`` only)
    package: str = ""


def _from_builtin_type(cls: type, parts: list[str]) -> Lookup:
    """``parts`` looked up in the built-in base ``cls`` of a class (its MRO, as
    the runtime looks): a name it has is defined in C, so ``unverifiable``."""
    if len(parts) == 1 and any(parts[0] in vars(klass) for klass in cls.__mro__):
        return Lookup("unverifiable", f"{parts[0]!r} is inherited from the built-in {cls.__name__}")
    return Lookup("missing", "")


def not_installed(package: str) -> Lookup:
    """A path under a top-level package this machine does not have (an NPU
    package on an x86 box, or a user's module outside the search path)."""
    return Lookup("unverifiable", f"package {package!r} is not installed here "
                                  "(if it is your own code, pass --path DIR)", package=package)


@dataclass
class _Scope:
    """Top-level bindings of a module or a class body."""

    defs: dict[str, ast.AST] = field(default_factory=dict)
    #: earlier ``def``/``class`` statements of a name bound again (``if``/``else`` branches, redefinitions)
    earlier: dict[str, list[ast.AST]] = field(default_factory=dict)
    assigned: set[str] = field(default_factory=set)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (module, attr or None)
    star: list[str] = field(default_factory=list)
    dynamic: str = ""
    #: names listed in a literal ``__all__`` (a name listed but bound nowhere in source is set at run time)
    exported: set[str] = field(default_factory=set)
    #: modules its import statements may load (``from m import n`` adds ``m`` and ``m.n``)
    loads: set[str] = field(default_factory=set)


class StaticIndex:
    """Caches module files and their parsed scopes for a set of search paths.

    ``any_submodule``: a submodule that exists counts as an attribute of its
    package (names as code sees them once everything has been imported).  By
    default only one the package imports while it executes does: that is when
    a patch waiting for the package applies."""

    def __init__(self, paths: list[str] | None = None, any_submodule: bool = False) -> None:
        self.any_submodule = any_submodule
        self.paths = [Path(p) for p in (paths or [])] + [Path(p or ".") for p in sys.path]
        self._files: dict[str, Path | str | None] = {}
        self._scopes: dict[Path, _Scope | None] = {}
        self._unread: dict[Path, str] = {}  # source files that could not be parsed -> why
        self._listings: dict[Path, dict[str, bool]] = {}
        self._executed: dict[tuple[str, str], bool] = {}

    def _listing(self, folder: Path) -> dict[str, bool]:
        """A directory's entries (name -> is a directory), read once: one
        ``scandir`` instead of a few ``stat`` calls per module and search path."""
        if folder not in self._listings:
            entries: dict[str, bool] = {}
            try:
                with os.scandir(folder) as scan:
                    for entry in scan:
                        try:
                            entries[entry.name] = entry.is_dir()
                        except OSError:
                            continue
            except OSError:
                pass
            self._listings[folder] = entries
        return self._listings[folder]

    # -- modules ---------------------------------------------------------
    def module_file(self, module: str) -> Path | str | None:
        """The module's source file; ``"extension"``/``"builtin"``/``"namespace"``; or None."""
        if module in self._files:
            return self._files[module]
        result: Path | str | None = None
        if module in sys.builtin_module_names:
            result = "builtin"
        else:
            parts = module.split(".")
            name = parts[-1]
            for root in self.paths:
                folder = root.joinpath(*parts[:-1])
                entries = self._listing(folder)
                if name in entries and "__init__.py" in self._listing(folder / name):
                    result = folder / name / "__init__.py"
                elif entries.get(name + ".py") is False:
                    result = folder / (name + ".py")
                elif any(e.startswith(name + ".") and e.endswith(EXTENSION_SUFFIXES) for e in entries):
                    result = "extension"
                elif entries.get(name) is True and not name.startswith("."):
                    result = result or "namespace"
                    continue
                else:
                    continue
                break
        self._files[module] = result
        return result

    def scope(self, module: str) -> _Scope | None:
        """The top-level bindings of ``module``'s source file; None without one."""
        found = self.module_file(module)
        return self._scope(found) if isinstance(found, Path) else None

    def is_module(self, module: str) -> bool:
        return self.module_file(module) is not None

    def split(self, dotted: str) -> tuple[str, str] | None:
        """Split ``a.b.C.f`` at the longest prefix that is a module."""
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            found = self.module_file(module)
            if found is not None and found != "namespace" or (found == "namespace" and cut == len(parts)):
                return module, ".".join(parts[cut:])
        return None

    # -- names -----------------------------------------------------------
    def lookup(self, module: str, qualname: str) -> Lookup:
        return self._lookup(module, qualname.split(".") if qualname else [], set())

    def _lookup(self, module: str, parts: list[str], seen: set[tuple[str, str]]) -> Lookup:
        key = (module, ".".join(parts))
        if key in seen:
            return Lookup("unverifiable", f"import cycle through {module}")
        seen = seen | {key}
        found = self.module_file(module)
        if found is None:
            parent, _, last = module.rpartition(".")
            if parent and self._binds(parent, last):
                # a module set up at run time under its parent's name (os.path is posixpath)
                return self._lookup(parent, [last, *parts], seen)
            if parent and self.module_file(parent) in ("extension", "builtin"):
                return Lookup("unverifiable", f"{module} would come from the C extension {parent}")
            top = module.partition(".")[0]
            if self.module_file(top) is None:
                return not_installed(top)
            return Lookup("missing", f"no module named {module!r}")
        if not parts:
            return Lookup("found", file=str(found))
        if isinstance(found, str):
            if found == "namespace":
                sub = f"{module}.{parts[0]}"
                if self.is_module(sub):
                    return self._lookup(sub, parts[1:], seen)
                return Lookup("missing", f"namespace package {module} has no {parts[0]!r}")
            return Lookup("unverifiable", f"{module} is a C extension ({found})")
        scope = self._scope(found)
        if scope is None:
            return Lookup("unverifiable", self._unread[found])
        return self._in_scope(scope, module, parts, seen, found)

    def _in_scope(self, scope: _Scope, module: str, parts: list[str], seen: set, file: Path) -> Lookup:
        name, rest = parts[0], parts[1:]
        if name in scope.defs:
            # which of several definitions runs is decided at run time: a name
            # found in any of them is found, missing only when missing in all
            results = [self._in_def(node, module, rest, seen, file)
                       for node in [scope.defs[name], *reversed(scope.earlier.get(name, []))]]
            return min(results, key=lambda r: ("found", "unverifiable", "missing").index(r.status))
        if name in scope.imports:
            target_module, attr = scope.imports[name]
            if attr is None:
                return self._lookup(target_module, rest, seen)
            if self.is_module(f"{target_module}.{attr}") and (target_module == module or not self._binds(target_module, attr)):
                return self._lookup(f"{target_module}.{attr}", rest, seen)
            return self._lookup(target_module, [attr, *rest], seen)
        if name in scope.assigned:
            if not rest:
                return Lookup("found", file=str(file))
            return Lookup("unverifiable", f"{name} is assigned at run time; its attributes cannot be seen")
        if module and self.is_module(f"{module}.{name}"):
            if self.any_submodule or self._loads_own(module, name):
                return self._lookup(f"{module}.{name}", rest, seen)
            if not scope.dynamic:
                where = f"{module}.{name}:{'.'.join(rest)}" if rest else f"{module}:{name} as a module target"
                return Lookup("missing", f"{module} does not import its submodule {name!r} ({file}), so "
                                         f"{module}.{name} is no attribute of it when {module} has been imported "
                                         f"and a patch waiting for it applies; name the submodule: {where}")
        for star in scope.star:
            result = self._lookup(star, parts, seen)
            if result.status != "missing":
                return result
        if scope.dynamic:
            return Lookup("unverifiable", f"{module or 'class'} defines names at run time ({scope.dynamic})")
        if name in scope.exported:
            return Lookup("unverifiable", f"{name!r} is in {module}.__all__ but bound at run time ({file})")
        where = f"module {module}" if module else "class body"
        return Lookup("missing", f"{name!r} is not defined in {where} ({file})")

    def _in_def(self, node: ast.AST, module: str, rest: list[str], seen: set, file: Path) -> Lookup:
        if not rest:
            return Lookup("found", file=f"{file}:{getattr(node, 'lineno', 0)}", node=node)
        if isinstance(node, ast.ClassDef):
            return self._in_class(node, module, rest, seen, file)
        return Lookup("unverifiable", f"{getattr(node, 'name', '')} is a function; attributes of it are set at run time")

    def _loads_own(self, package: str, name: str) -> bool:
        """Whether executing ``package`` imports its submodule ``name``, which
        makes it an attribute of ``package``: ``from . import name``, ``import
        package.name``, ``from .name import x``, or an import of it in another
        module that ``package`` imports.  A patch on ``package:name.x`` applies
        right after ``package`` executes, before any later ``import
        package.name`` of the program.  The modules under ``package`` are
        searched first, then those of its whole top-level package (only
        modules whose source is here are followed)."""
        key = (package, name)
        if key not in self._executed:
            wanted = f"{package}.{name}"
            self._executed[key] = any(self._reaches(package, wanted, within)
                                      for within in (package + ".", package.partition(".")[0] + "."))
        return self._executed[key]

    def _reaches(self, start: str, wanted: str, within: str) -> bool:
        """Whether executing ``start`` imports ``wanted``, following imports of modules named ``within...``."""
        done = {start}
        todo = [start]
        while todo:
            scope = self.scope(todo.pop())
            for loaded in scope.loads if scope else ():
                if loaded == wanted or loaded.startswith(wanted + "."):
                    return True
                parts = loaded.split(".")
                for cut in range(1, len(parts) + 1):
                    module = ".".join(parts[:cut])
                    if module.startswith(within) and module not in done:
                        done.add(module)
                        todo.append(module)
        return False

    def _binds(self, module: str, name: str) -> bool:
        found = self.module_file(module)
        if not isinstance(found, Path):
            return False
        scope = self._scope(found)
        return bool(scope) and (name in scope.defs or name in scope.assigned or name in scope.imports)

    def _in_class(self, node: ast.ClassDef, module: str, parts: list[str], seen: set, file: Path) -> Lookup:
        scope = _collect(node.body, module, is_package=False)
        result = self._in_scope(scope, "", parts, seen, file)
        if result.status == "found":
            return replace(result, in_class=True)
        if result.status != "missing":
            return result
        for base in node.bases:
            dotted = dotted_name(base)
            if dotted is None:
                return Lookup("unverifiable", f"base class {ast.unparse(base)} of {node.name} is computed")
            base_result = self._resolve_base(module, dotted, parts, seen)
            if base_result.status == "found":
                return replace(base_result, in_class=True)
            if base_result.status != "missing":
                return base_result
            if "metaclass" in base_result.detail:
                return base_result
        if not node.bases:     # every class inherits object's names (__init_subclass__, __repr__)
            inherited = _from_builtin_type(object, parts)
            if inherited.status != "missing":
                return inherited
        hint = self._metaclass_hint(node, module, parts, seen) if len(parts) == 1 else ""
        return Lookup("missing", f"{parts[0]!r} is not defined in class {node.name} or its bases ({file}:{node.lineno})"
                                 f"{hint}")

    def _metaclass_hint(self, node: ast.ClassDef, module: str, parts: list[str], seen: set) -> str:
        """Where ``parts[0]`` is an attribute of the class's own metaclass: a
        target through the class does not reach it (the runtime looks in the
        class's MRO), through the metaclass does."""
        meta = next((dotted_name(k.value) for k in node.keywords if k.arg == "metaclass"), None)
        if not module or meta is None or self._lookup(module, [*meta.split("."), *parts], seen).status != "found":
            return ""
        return (f"; {parts[0]!r} is an attribute of the metaclass {meta} of {node.name}, not of the class: "
                f"target {module}:{meta}.{parts[0]}")

    def _resolve_base(self, module: str, dotted: str, parts: list[str], seen: set) -> Lookup:
        builtin = getattr(builtins, dotted, None)
        if isinstance(builtin, type) and not (module and self._binds(module, dotted)):
            return _from_builtin_type(builtin, parts)
        head, _, tail = dotted.partition(".")
        qual = [*([tail] if tail else []), *parts]
        qual = ".".join(qual).split(".")
        return self._lookup(module, [head, *qual], seen)

    def _scope(self, file: Path) -> _Scope | None:
        """The top-level bindings of the source ``file``; None (and the reason in
        ``_unread``) where it cannot be read or parsed.  Read without blocking:
        a FIFO or a device where a source should be is no hang."""
        if file not in self._scopes:
            try:
                tree = ast.parse(read_input(str(file)), filename=str(file))
            except OSError as exc:
                self._unread[file] = f"cannot read {file}: {exc.strerror or exc}"
                self._scopes[file] = None
                return None
            except (SyntaxError, ValueError):
                self._unread[file] = f"cannot parse {file}"
                self._scopes[file] = None
                return None
            module = self._module_name(file)
            self._scopes[file] = _collect(tree.body, module, is_package=file.name == "__init__.py")
        return self._scopes[file]

    def _module_name(self, file: Path) -> str:
        """The dotted name under the deepest search path holding ``file``: a
        site-packages directory is itself under the standard library's, and
        ``site-packages.torch`` is no module name."""
        resolved = file.resolve()
        names = []
        for root in self.paths:
            try:
                rel = resolved.relative_to(root.resolve())
            except ValueError:
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(parts)
        return ".".join(min(names, key=len)) if names else ""


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted_name(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _collect(body: list[ast.stmt], module: str, is_package: bool) -> _Scope:
    scope = _Scope()
    package = module if is_package else module.rpartition(".")[0]
    _walk(body, scope, package)
    return scope


def _walk(body: list[ast.stmt], scope: _Scope, package: str) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if stmt.name in scope.defs:
                scope.earlier.setdefault(stmt.name, []).append(scope.defs[stmt.name])
            scope.defs[stmt.name] = stmt
            if stmt.name == "__getattr__":
                scope.dynamic = "module __getattr__"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        scope.assigned.add(name.id)
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                scope.exported |= _literal_strings(stmt.value)
        elif isinstance(stmt, ast.Import):
            scope.loads.update(alias.name for alias in stmt.names)
            for alias in stmt.names:
                if alias.asname:
                    scope.imports[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.partition(".")[0]
                    scope.imports.setdefault(top, (top, None))
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt, package)
            scope.loads.add(base)
            scope.loads.update(f"{base}.{alias.name}" for alias in stmt.names if alias.name != "*")
            for alias in stmt.names:
                if alias.name == "*":
                    scope.star.append(base)
                else:
                    scope.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(stmt, ast.Expr):
            if _is_dynamic_call(stmt.value):
                scope.dynamic = ast.unparse(stmt.value)[:60]
        else:       # if/try/with/for/while/match and whatever compound statement comes next
            for block in _blocks(stmt):
                _walk(block, scope, package)


def _blocks(node: ast.AST) -> list[list[ast.stmt]]:
    """The statement lists inside a compound statement, found generically:
    ``body``/``orelse``/``finalbody``, and those of its handlers, ``match``
    cases or whatever a later Python adds (expressions are not entered)."""
    blocks = []
    for _, value in ast.iter_fields(node):
        if not isinstance(value, list):
            continue
        if value and all(isinstance(v, ast.stmt) for v in value):
            blocks.append(value)
        else:
            for item in value:
                if isinstance(item, ast.AST) and not isinstance(item, (ast.expr, ast.stmt)):
                    blocks += _blocks(item)
    return blocks


def _literal_strings(node: ast.expr | None) -> set[str]:
    """The strings of a list or tuple literal (``__all__ = [...]``, ``__all__ += (...)``)."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return set()
    return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}


def _absolute(stmt: ast.ImportFrom, package: str) -> str:
    if not stmt.level:
        return stmt.module or ""
    parts = package.split(".") if package else []
    if stmt.level > 1:
        parts = parts[: len(parts) - (stmt.level - 1)]
    return ".".join(parts + ([stmt.module] if stmt.module else []))


def _is_dynamic_call(node: ast.expr) -> bool:
    """``globals().update(...)``, ``setattr(sys.modules[__name__], ...)`` and friends."""
    if not isinstance(node, ast.Call):
        return False
    return ast.unparse(node.func).startswith("globals")


#: decorators that leave a function's signature as it is
_TRANSPARENT = {"staticmethod", "classmethod", "abstractmethod", "abc.abstractmethod", "override",
                "typing.override", "no_grad", "torch.no_grad", "inference_mode", "torch.inference_mode",
                "cache", "functools.cache", "lru_cache", "functools.lru_cache", "torch.jit.unused",
                "torch.jit.ignore", "typing.overload", "overload"}


def def_signature(node: ast.AST) -> tuple[inspect.Signature, str] | None:
    """The call signature of a ``def`` and its kind (``staticmethod``,
    ``classmethod`` or ``""``), or ``None`` when a decorator may change it.
    A ``@property``'s is its getter's: it is called with the instance alone."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    kind = ""
    for decorator in node.decorator_list:
        name = dotted_name(decorator.func if isinstance(decorator, ast.Call) else decorator)
        if name not in _TRANSPARENT and name != "property":
            return None
        if name in ("staticmethod", "classmethod"):
            kind = name
    param = inspect.Parameter
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [param.empty] * (len(positional) - len(args.defaults)) + [_Source(d) for d in args.defaults]
    params = [param(a.arg, param.POSITIONAL_ONLY if a in args.posonlyargs else param.POSITIONAL_OR_KEYWORD, default=d)
              for a, d in zip(positional, defaults)]
    if args.vararg:
        params.append(param(args.vararg.arg, param.VAR_POSITIONAL))
    params += [param(a.arg, param.KEYWORD_ONLY, default=param.empty if d is None else _Source(d))
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        params.append(param(args.kwarg.arg, param.VAR_KEYWORD))
    return inspect.Signature(params), kind


class _Source:
    """A default value as its source text (for messages)."""

    def __init__(self, node: ast.expr) -> None:
        self.text = ast.unparse(node)

    def __repr__(self) -> str:
        return self.text


__all__ = ["EXTENSION_SUFFIXES", "Lookup", "not_installed", "StaticIndex", "dotted_name", "def_signature"]
