"""Where qualified names are needed: a fast :mod:`ast` scan, and pruning.

``QualifiedNameProvider`` costs several times a libcst parse, and most files
that mention ``cuda`` never reference ``torch.cuda``.  Before computing it:

* :func:`scan` parses with :mod:`ast` (a C parser) and finds every place that
  could refer to a target: import statements naming it (or something inside
  it), uses of names such imports bind, and attribute chains that resolve to
  it through any import binding of the file.  Scopes are ignored, so this
  over-approximates what the provider can report: nothing found means the
  provider would find nothing, and the file needs no metadata at all.
* :func:`prune` gives the provider a copy of the module in which the bodies
  of functions holding none of those places are replaced by ``...``.  Every
  other node is the very same object as in the real module, and no binding
  that a kept node can see is lost (a body with ``global``/``nonlocal`` is
  kept), so the metadata for kept nodes is what the full module would give.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from npatch.rewrite.importutil import under

_COMPOUND = tuple(getattr(ast, n) for n in (
    "FunctionDef", "AsyncFunctionDef", "ClassDef", "If", "For", "AsyncFor", "While",
    "With", "AsyncWith", "Try", "TryStar", "Match") if hasattr(ast, n))
_STUB = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Expr(cst.Ellipsis())])])


@dataclass
class ScanResult:
    found: bool
    tree: ast.Module | None = None
    #: lines holding a possible reference, or a ``global``/``nonlocal`` statement
    lines: set[int] = field(default_factory=set)


def scan(text: str, targets: set[str]) -> ScanResult:
    """Possible references to ``targets`` in ``text`` (see the module docstring)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ScanResult(True)
    lasts = {t.rsplit(".", 1)[-1] for t in targets}
    bindings: dict[str, set[str]] = {}
    chains: list[tuple[str, str, int]] = []
    names: list[ast.Name] = []
    lines: set[int] = set()
    keep: set[int] = set()
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            names.append(node)
        elif kind is ast.Attribute:
            if node.attr in lasts:
                chain = _dotted(node)
                if chain is not None:
                    chains.append(chain)
        elif kind is ast.Import:
            for alias in node.names:
                if any(under(alias.name, t) for t in targets):
                    lines.add(node.lineno)
                top = alias.name.split(".", 1)[0]
                bindings.setdefault(alias.asname or top, set()).add(alias.name if alias.asname else top)
        elif kind is ast.ImportFrom:
            if node.level or not node.module:
                continue
            if any(under(node.module, t) for t in targets):
                lines.add(node.lineno)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if any(under(full, t) for t in targets):
                    lines.add(node.lineno)
                bindings.setdefault(alias.asname or alias.name, set()).add(full)
        elif kind is ast.Global or kind is ast.Nonlocal:
            keep.add(node.lineno)
    for head, rest, line in chains:
        if any(f"{q}.{rest}" in targets for q in bindings.get(head, ())):
            lines.add(line)
    bound = {local for local, qs in bindings.items() if any(under(q, t) for q in qs for t in targets)}
    lines.update(n.lineno for n in names if n.id in bound)
    return ScanResult(bool(lines), tree, lines | keep)


def _dotted(node: ast.Attribute) -> tuple[str, str, int] | None:
    parts = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return current.id, ".".join(reversed(parts)), node.lineno


def prune(module: cst.Module, result: ScanResult) -> cst.Module:
    """The module for the metadata pass: unneeded function bodies become ``...``."""
    if result.tree is None:
        return module
    body = _prune_body(module.body, result.tree.body, result.lines)
    return module if body is None else module.with_changes(body=body)


def _prune_body(body, ast_body, lines: set[int]):
    compound = [s for s in body if isinstance(s, cst.BaseCompoundStatement)]
    ast_compound = [s for s in ast_body if isinstance(s, _COMPOUND)]
    if len(compound) != len(ast_compound):
        return None
    replace: dict[int, cst.CSTNode] = {}
    for node, ast_node in zip(compound, ast_compound):
        if isinstance(node, cst.FunctionDef):
            if not isinstance(ast_node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.value != ast_node.name:
                return None
            start, end = ast_node.body[0].lineno, ast_node.end_lineno or ast_node.lineno
            if not any(start <= line <= end for line in lines):
                replace[id(node)] = node.with_changes(body=_STUB)
        elif isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
            if not isinstance(ast_node, ast.ClassDef) or node.name.value != ast_node.name:
                return None
            inner = _prune_body(node.body.body, ast_node.body, lines)
            if inner is not None:
                replace[id(node)] = node.with_changes(body=node.body.with_changes(body=inner))
    if not replace:
        return None
    return [replace.get(id(s), s) for s in body]
