"""One :mod:`ast` walk per file: names resolved through imports and scopes, and
the uses the table's patterns (:mod:`npatch.scan.patterns`) recognise.

A name is resolved the way Python binds it, without running anything:
``import torch as T`` makes ``T.cuda.x`` mean ``torch.cuda.x``, ``from torch
import cuda`` makes ``cuda.x`` mean the same, and a parameter, assignment,
loop variable or ``except ... as`` of the same name in a function hides the
import there (class bodies are not seen from their methods, ``global`` and
``nonlocal`` point outwards).  A name bound both by an import and by an
assignment in one scope keeps the import's meaning, as libcst's
``QualifiedNameProvider`` does.  Relative imports name the scanned project's
own code and resolve to nothing.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_NO_NAMES: frozenset[str] = frozenset()


@dataclass
class Use:
    """One place in a file that uses something the table lists.

    ``name`` is what the place refers to, resolved through imports
    (``torch.cuda.synchronize``), ``*.cuda`` for a method on any receiver, or
    the callee of a call whose argument matched.  The other fields say what
    was matched, for the coverage check: the callee's resolved names, the
    method or attribute, the keyword or position and the string value.
    """

    file: str
    line: int
    col: int
    api: str
    category: str
    kind: str
    name: str
    detail: str = ""
    text: str = ""
    callee: tuple[str, ...] = ()
    method: str = ""
    keyword: str = ""
    position: int = -1
    value: str = ""
    status: str = ""
    by: str = ""

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Scope:
    """The names one scope binds: each maps to the qualified names its imports
    give it (empty: bound to something else, which hides outer imports).

    Bindings are collected on the first lookup of a name that some import of
    the file binds (``imported``): most names in a file are never looked up.
    """

    __slots__ = ("names", "globals", "nonlocals", "parent", "is_class", "module", "imported", "_nodes")

    def __init__(self, nodes: Iterable[ast.AST], parent: Scope | None = None, is_class: bool = False,
                 imported: frozenset[str] = _NO_NAMES) -> None:
        self.names: dict[str, set[str]] | None = None
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.parent = parent
        self.is_class = is_class
        self.module: Scope = parent.module if parent is not None else self
        self.imported = imported if parent is None else parent.imported
        self._nodes = nodes

    def lookup(self, name: str) -> frozenset[str]:
        if name not in self.imported:
            return _NO_NAMES
        scope: Scope | None = self
        innermost = True
        while scope is not None:
            if scope.names is None:
                scope._bind(scope._nodes)
            if name in scope.globals:
                scope, innermost = scope.module, True
                continue
            if name in scope.nonlocals:
                scope, innermost = scope.parent, False
                continue
            if (innermost or not scope.is_class) and name in scope.names:
                return frozenset(scope.names[name])
            scope, innermost = scope.parent, False
        return _NO_NAMES

    def _bind(self, nodes: Iterable[ast.AST]) -> None:
        """Bindings of this scope: everything but nested scopes' insides."""
        names: dict[str, set[str]] = {}
        self.names = names
        stack = list(nodes)
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind in _DEFS:
                names.setdefault(node.name, set())
                continue
            if kind is ast.Lambda or kind in _COMPREHENSIONS:
                continue
            if kind is ast.Import:
                for alias in node.names:
                    top = alias.name.partition(".")[0]
                    names.setdefault(alias.asname or top, set()).add(alias.name if alias.asname else top)
            elif kind is ast.ImportFrom:
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    bound = names.setdefault(alias.asname or alias.name, set())
                    if not node.level and node.module:
                        bound.add(f"{node.module}.{alias.name}")
            elif kind is ast.Name:
                if type(node.ctx) is not ast.Load:
                    names.setdefault(node.id, set())
            elif kind is ast.arg:
                names.setdefault(node.arg, set())
            elif kind is ast.Global:
                self.globals.update(node.names)
            elif kind is ast.Nonlocal:
                self.nonlocals.update(node.names)
            elif kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
                if node.name:
                    names.setdefault(node.name, set())
            elif kind is ast.MatchMapping and node.rest:
                names.setdefault(node.rest, set())
            stack.extend(ast.iter_child_nodes(node))
        for name in self.globals | self.nonlocals:
            names.pop(name, None)


def _import_bound(body: list[ast.stmt]) -> frozenset[str]:
    """Every name an import statement anywhere in the file binds (statements
    only are walked: imports are never inside expressions)."""
    out: set[str] = set()
    stack = list(body)
    while stack:
        stmt = stack.pop()
        kind = type(stmt)
        if kind is ast.Import or kind is ast.ImportFrom:
            out.update((a.asname or a.name).partition(".")[0] for a in stmt.names)
            continue
        for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(stmt, attr, None)
            if isinstance(block, list):
                stack.extend(block)
    return frozenset(out)


def resolve(node: ast.AST, scope: Scope) -> frozenset[str]:
    """Qualified names a ``Name``/``Attribute`` chain refers to through imports."""
    if type(node) is ast.Name:
        return scope.lookup(node.id)
    if type(node) is ast.Attribute:
        inner = resolve(node.value, scope)
        return frozenset(f"{q}.{node.attr}" for q in inner) if inner else _NO_NAMES
    return _NO_NAMES


@dataclass
class Walk:
    """The state of one file's walk, handed to the patterns."""

    file: str
    lines: list[str]
    uses: list[Use] = field(default_factory=list)
    done: set[int] = field(default_factory=set)      # string nodes already reported

    def add(self, node: ast.AST, api, name: str, *, end: str = "", **extra) -> None:
        """Record a use at ``node`` (at the ``end`` attribute name when given:
        ``x.cuda`` is reported where ``cuda`` is written)."""
        line = getattr(node, "lineno", 1)
        offset = getattr(node, "col_offset", 0)
        if end and getattr(node, "end_lineno", None) is not None:
            line, offset = node.end_lineno, node.end_col_offset - len(end.encode())
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        col = len(text.encode()[:offset].decode("utf-8", "replace")) + 1
        self.uses.append(Use(self.file, line, col, api.id, api.category, api.kind, name,
                             text=text.strip(), **extra))


class Finder:
    """Finds the uses of a table's entries in source text (one per process):
    ``Finder(hooks(apis))``, the hooks of :mod:`npatch.scan.patterns`."""

    def __init__(self, hooks: dict[type, list[Any]]) -> None:
        #: per node type, the pattern hooks to call (:func:`npatch.scan.patterns.hooks`)
        self.hooks = hooks

    def find(self, text: str, file: str) -> list[Use]:
        """Every use in ``text``, in source order; SyntaxError when it does not parse."""
        tree = ast.parse(text, filename=file)
        walk = Walk(file, text.splitlines())
        self._visit(tree, Scope(tree.body, imported=_import_bound(tree.body)), walk)
        walk.uses.sort(key=lambda u: (u.line, u.col))
        return walk.uses

    def _visit(self, node: ast.AST, scope: Scope, walk: Walk) -> None:
        kind = type(node)
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.Lambda:
            args = node.args
            outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
            if kind is not ast.Lambda:
                outer += node.decorator_list
                outer += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                                   args.vararg, args.kwarg) if a is not None and a.annotation]
                outer += [node.returns] if node.returns else []
            for child in outer:
                self._visit(child, scope, walk)
            body = node.body if isinstance(node.body, list) else [node.body]
            inner = Scope([args, *body], scope)
            for child in body:
                self._visit(child, inner, walk)
            return
        if kind is ast.ClassDef:
            for child in (*node.decorator_list, *node.bases, *node.keywords):
                self._visit(child, scope, walk)
            inner = Scope(node.body, scope, is_class=True)
            for child in node.body:
                self._visit(child, inner, walk)
            return
        if kind in _COMPREHENSIONS:
            scope = Scope([g.target for g in node.generators], scope)
        for hook in self.hooks.get(kind, ()):
            if hook(node, scope, walk):
                return
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope, walk)


__all__ = ["Use", "Scope", "resolve", "Walk", "Finder"]
