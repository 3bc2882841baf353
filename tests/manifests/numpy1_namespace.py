"""The public namespace of NumPy 1.26, read statically from its wheel's sources.

NumPy 1.26 (the last 1.x) cannot be installed beside NumPy 2, so the test
fixture downloads its wheel (``tests/npu_sources.py``) and this module reads
what ``import numpy`` would bind, without running any of it:

* the names ``numpy/__init__.py`` binds at module level (inside its
  ``if``/``try`` blocks too), following ``from .x import *`` into the
  submodule's ``__all__`` (evaluated from its literal lists, ``+=``,
  ``.extend``, ``.append``, ``.remove`` and other modules' ``__all__``);
* the names its type stub ``numpy/__init__.pyi`` exports (``def``, ``class``,
  assignments, and ``import X as X`` re-exports, the stub convention).

Names starting with ``_`` are not public; names ``del``-eted at module level
are gone.
"""
from __future__ import annotations

import ast
from pathlib import Path


class Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._all: dict[str, list[str]] = {}

    def path(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def resolve(self, module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = module if self.path(module) and self.path(module).name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        return f"{package}.{node.module}" if node.module else package

    def statements(self, module: str) -> list[ast.stmt]:
        path = self.path(module)
        return _flatten(ast.parse(path.read_text(encoding="utf-8")).body) if path else []

    def bound(self, module: str) -> set[str]:
        """The names bound at module level."""
        names = set()
        for node in self.statements(module):
            if isinstance(node, ast.Import):
                names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                source = self.resolve(module, node)
                for alias in node.names:
                    if alias.name == "*":
                        names |= set(self.exports(source))
                    else:
                        names.add(alias.asname or alias.name)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    names |= {t.id for t in ast.walk(target) if isinstance(t, ast.Name)}
            elif isinstance(node, ast.Delete):
                names -= {t.id for t in node.targets if isinstance(t, ast.Name)}
        return names

    def exports(self, module: str) -> list[str]:
        """What ``from module import *`` binds: its ``__all__``, else its public names."""
        if module not in self._all:
            self._all[module] = []  # a cycle ends here
            found = self._evaluate_all(module)
            self._all[module] = found if found is not None else sorted(n for n in self.bound(module) if not n.startswith("_"))
        return self._all[module]

    def _evaluate_all(self, module: str) -> list[str] | None:
        result: list[str] | None = None
        submodules = {}
        for node in self.statements(module):
            if isinstance(node, ast.ImportFrom):
                source = self.resolve(module, node)
                for alias in node.names:
                    if alias.name != "*":
                        full = f"{source}.{alias.name}"
                        submodules[alias.asname or alias.name] = full if self.path(full) else source
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                result = self._list(node.value, submodules) or []
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
                result = (result or []) + (self._list(node.value, submodules) or [])
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                func = node.value.func
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "__all__" and node.value.args:
                    arg = node.value.args[0]
                    if func.attr == "extend":
                        result = (result or []) + (self._list(arg, submodules) or [])
                    elif func.attr == "append" and isinstance(arg, ast.Constant):
                        result = (result or []) + [arg.value]
                    elif func.attr == "remove" and isinstance(arg, ast.Constant) and result and arg.value in result:
                        result.remove(arg.value)
        return result

    def _list(self, node: ast.expr, submodules: dict[str, str]) -> list[str] | None:
        if isinstance(node, (ast.List, ast.Tuple)):
            return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return (self._list(node.left, submodules) or []) + (self._list(node.right, submodules) or [])
        if isinstance(node, ast.Attribute) and node.attr == "__all__" and isinstance(node.value, ast.Name):
            target = submodules.get(node.value.id)
            return self.exports(target) if target else None
        return None


def _flatten(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, descending into ``if``/``try``/``with`` (not functions or classes)."""
    out = []
    for node in body:
        if isinstance(node, ast.If):
            out += _flatten(node.body) + _flatten(node.orelse)
        elif isinstance(node, ast.Try):
            out += _flatten(node.body) + [s for h in node.handlers for s in _flatten(h.body)] + _flatten(node.orelse)
        elif isinstance(node, ast.With):
            out += _flatten(node.body)
        else:
            out.append(node)
    return out


def stub_exports(path: Path) -> set[str]:
    """Names a ``.pyi`` stub exports: definitions, assignments and ``X as X`` re-exports."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.name for a in node.names if a.asname == a.name}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {t.id for t in ast.walk(target) if isinstance(t, ast.Name)}
    return names


def public_namespace(root: Path) -> set[str]:
    """The public names of ``numpy`` under ``root`` (an unpacked wheel)."""
    names = Reader(root).bound("numpy") | stub_exports(root / "numpy" / "__init__.pyi")
    return {n for n in names if not n.startswith("_")}
