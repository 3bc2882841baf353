"""What a fast :mod:`ast` scan tells before libcst: whether to parse, where
qualified names are needed, and pruning.

``QualifiedNameProvider`` costs several times a libcst parse, and most files
that mention ``cuda`` never reference ``torch.cuda``.  Before computing it:

* :func:`scan` parses with :mod:`ast` (a C parser) and finds every place that
  could refer to a target: import statements naming it (or something inside
  it), uses of names such imports bind, and attribute chains that resolve to
  it through any import binding of the file.  Scopes are ignored, so this
  over-approximates what the provider can report: nothing found means the
  provider would find nothing, and the file needs no metadata at all.
* the same walk collects the facts that rules' ``may_change`` checks use
  (methods called, string arguments, imported modules), so a file in which
  no rule can change anything is not parsed with libcst at all;
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
    """What one :mod:`ast` walk over a file found.

    ``tree`` is None when :mod:`ast` cannot parse the text; then nothing is
    known and every question must be answered "maybe".
    """

    tree: ast.Module | None = None
    #: targets possibly referenced, and the lines of those places (plus lines
    #: of ``global``/``nonlocal`` statements, which pruning must keep)
    hits: set[str] = field(default_factory=set)
    lines: set[int] = field(default_factory=set)
    #: method names called on something (``x.cuda()`` gives ``cuda``)
    call_attrs: set[str] = field(default_factory=set)
    #: string literals passed to calls (an f-string by its leading text)
    call_strings: set[str] = field(default_factory=set)
    #: modules named by import statements, and ``module.name`` of from-imports
    modules: set[str] = field(default_factory=set)
    from_names: set[str] = field(default_factory=set)
    #: the needle words the text prefilter found
    words: set[str] = field(default_factory=set)
    #: lines of import statements, ``global``/``nonlocal`` and ``:=`` (never hollowed)
    pinned: set[int] = field(default_factory=set)

    @property
    def found(self) -> bool:
        return self.tree is None or bool(self.hits)


def scan(text: str, targets: set[str], words: set[str] | None = None) -> ScanResult:
    """Possible references to ``targets`` and the call/import facts rules ask about."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ScanResult(words=words or set())
    result = ScanResult(tree=tree, words=words or set())
    lasts = {t.rsplit(".", 1)[-1] for t in targets}
    bindings: dict[str, set[str]] = {}
    chains: list[tuple[str, str, int]] = []
    names: list[ast.Name] = []
    places: dict[str, set[int]] = {}
    keep: set[int] = set()

    def hit(name: str, line: int) -> None:
        for target in targets:
            if under(name, target):
                places.setdefault(target, set()).add(line)

    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            names.append(node)
        elif kind is ast.Attribute:
            if node.attr in lasts:
                chain = _dotted(node)
                if chain is not None:
                    chains.append(chain)
        elif kind is ast.Call:
            _call_facts(node, result)
        elif kind is ast.Import:
            _pin(node, result)
            for alias in node.names:
                result.modules.add(alias.name)
                hit(alias.name, node.lineno)
                top = alias.name.split(".", 1)[0]
                bindings.setdefault(alias.asname or top, set()).add(alias.name if alias.asname else top)
        elif kind is ast.ImportFrom:
            _pin(node, result)
            if node.level or not node.module:
                continue
            result.modules.add(node.module)
            hit(node.module, node.lineno)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                result.from_names.add(full)
                hit(full, node.lineno)
                bindings.setdefault(alias.asname or alias.name, set()).add(full)
        elif kind is ast.Global or kind is ast.Nonlocal:
            keep.add(node.lineno)
            _pin(node, result)
        elif kind is ast.NamedExpr:
            _pin(node, result)
    for head, rest, line in chains:
        for qualified in bindings.get(head, ()):
            if f"{qualified}.{rest}" in targets:
                places.setdefault(f"{qualified}.{rest}", set()).add(line)
    bound: dict[str, set[str]] = {}
    for local, qualified_names in bindings.items():
        for target in targets:
            if any(under(q, target) for q in qualified_names):
                bound.setdefault(local, set()).add(target)
    for name in names:
        for target in bound.get(name.id, ()):
            places.setdefault(target, set()).add(name.lineno)
    result.hits = set(places)
    result.lines = set().union(*places.values(), keep) if places else set()
    return result


def _pin(node: ast.stmt | ast.expr, result: ScanResult) -> None:
    result.pinned.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))


def _call_facts(node: ast.Call, result: ScanResult) -> None:
    if isinstance(node.func, ast.Attribute):
        result.call_attrs.add(node.func.attr)
    for value in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            result.call_strings.add(value.value)
        elif isinstance(value, ast.JoinedStr) and value.values:
            first = value.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                result.call_strings.add(first.value)


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
    if result.tree is None or not result.lines:
        return module
    body = _prune_body(module.body, result.tree.body, result.lines)
    return module if body is None else module.with_changes(body=body)


def _prune_body(body, ast_body, lines: set[int]):
    compound = [s for s in body if isinstance(s, cst.BaseCompoundStatement)]
    ast_compound = [s for s in ast_body if isinstance(s, _COMPOUND)]
    if len(compound) != len(ast_compound):
        return None
    replace: dict[int, cst.CSTNode] = {}
    for node, ast_node in zip(compound, ast_compound, strict=True):
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
