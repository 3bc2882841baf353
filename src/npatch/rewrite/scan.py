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
  of functions holding none of those places are replaced by ``...`` (and,
  when the whole function holds none, its decorators, parameters and return
  annotation go too), as do class-level annotations without one.  Every
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
#: node kinds that bind the name in one string field
_NAMED = {ast.FunctionDef: "name", ast.AsyncFunctionDef: "name", ast.ClassDef: "name", ast.arg: "arg",
          ast.ExceptHandler: "name", ast.MatchAs: "name", ast.MatchStar: "name", ast.MatchMapping: "rest"}
_STUB = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Expr(cst.Ellipsis())])])
_NO_PARAMS = cst.Parameters()
_ANY = cst.Annotation(cst.Ellipsis())


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
    #: every name some import statement binds (relative ones too; not ``*``):
    #: a reference whose head is none of these has no import-sourced qualified name
    import_heads: set[str] = field(default_factory=set)
    #: those that some import binds to a name a target is inside of, or inside a
    #: target (``torch`` for ``torch.cuda``; not ``dist`` for ``torch.distributed``):
    #: every qualified name libcst builds from a binding starts with such a name,
    #: so a head not among these has no name at or under a target
    target_heads: set[str] = field(default_factory=set)
    #: the needle words the text prefilter found
    words: set[str] = field(default_factory=set)
    #: lines of import statements, ``global``/``nonlocal`` and ``:=`` (never hollowed)
    pinned: set[int] = field(default_factory=set)
    #: qualified names an attribute chain ending in a watched name may have
    #: (through calls and subscripts too, as libcst's full names go), by every
    #: import binding of its head, scopes ignored
    resolved: set[str] = field(default_factory=set)
    #: every ``ast.Name`` of the file (:func:`npatch.rewrite.importscope.build` checks their order)
    names: list[ast.Name] = field(default_factory=list)
    #: names something other than an import binds, declares ``global``/``nonlocal`` or deletes
    bound: set[str] = field(default_factory=set)
    #: every import statement, at any depth
    imports: list[ast.Import | ast.ImportFrom] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.tree is None or bool(self.hits)


def scan(text: str, targets: set[str], words: set[str] | None = None,
         watched: set[str] | frozenset[str] = frozenset()) -> ScanResult:
    """Possible references to ``targets``, the call/import facts rules ask
    about, and what chains ending in a ``watched`` attribute name may resolve to."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ScanResult(words=words or set())
    result = ScanResult(tree=tree, words=words or set())
    lasts = {t.rsplit(".", 1)[-1] for t in targets}
    bindings: dict[str, set[str]] = {}
    chains: list[tuple[str, str, int]] = []
    watched_chains: list[tuple[str, str]] = []
    names = result.names
    places: dict[str, set[int]] = {}
    keep: set[int] = set()

    def hit(name: str, line: int) -> None:
        for target in targets:
            if under(name, target):
                places.setdefault(target, set()).add(line)

    for node in _nodes(tree):
        kind = type(node)
        if kind is ast.Name:
            names.append(node)
            if type(node.ctx) is not ast.Load:
                result.bound.add(node.id)
        elif kind is ast.Attribute:
            if node.attr in watched:
                full = _full_name(node)
                if full is not None:
                    watched_chains.append(full)
            if node.attr in lasts:
                chain = _dotted(node)
                if chain is not None:
                    chains.append(chain)
        elif kind is ast.Call:
            _call_facts(node, result)
        elif kind is ast.Import:
            _pin(node, result)
            result.imports.append(node)
            for alias in node.names:
                head = alias.asname or alias.name.split(".", 1)[0]
                result.import_heads.add(head)
                if _reaches([alias.name] if alias.asname else _prefixes(alias.name), targets):
                    result.target_heads.add(head)
                result.modules.add(alias.name)
                hit(alias.name, node.lineno)
                top = alias.name.split(".", 1)[0]
                bindings.setdefault(alias.asname or top, set()).add(alias.name if alias.asname else top)
        elif kind is ast.ImportFrom:
            _pin(node, result)
            result.imports.append(node)
            result.import_heads.update(a.asname or a.name for a in node.names if a.name != "*")
            if node.level or not node.module:
                continue
            result.modules.add(node.module)
            hit(node.module, node.lineno)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name != "*" and _reaches([full], targets):
                    result.target_heads.add(alias.asname or alias.name)
                result.from_names.add(full)
                hit(full, node.lineno)
                bindings.setdefault(alias.asname or alias.name, set()).add(full)
        elif kind is ast.Global or kind is ast.Nonlocal:
            keep.add(node.lineno)
            _pin(node, result)
            result.bound.update(node.names)
        elif kind in _NAMED:
            result.bound.add(getattr(node, _NAMED[kind]))
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
    result.resolved = {f"{qualified}.{rest}" for head, rest in watched_chains
                       for qualified in bindings.get(head, ())}
    result.hits = set(places)
    result.lines = set().union(*places.values(), keep) if places else set()
    return result


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` in the order ``ast.walk`` gives them (breadth first,
    fields in order), without its two generators per node."""
    out: list[ast.AST] = [tree]
    for node in out:            # grows while it is walked: breadth first
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                out.append(value)
            elif type(value) is list:
                out.extend([v for v in value if isinstance(v, ast.AST)])
    return out


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _reaches(names: list[str], targets: set[str]) -> bool:
    """Is one of ``names`` a target, inside one, or one that holds a target?"""
    return any(under(n, t) or under(t, n) for n in names for t in targets)


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


def _full_name(node: ast.Attribute) -> tuple[str, str] | None:
    """(head name, dotted rest) as libcst's ``get_full_name_for_node`` spells
    an attribute chain: calls and subscripts are looked through."""
    parts = []
    current: ast.expr = node
    while True:
        if isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        elif isinstance(current, ast.Call):
            current = current.func
        elif isinstance(current, ast.Subscript):
            current = current.value
        else:
            break
    if not isinstance(current, ast.Name):
        return None
    return current.id, ".".join(reversed(parts))


def prune(module: cst.Module, result: ScanResult) -> cst.Module:
    """The module for the metadata pass: unneeded function bodies become ``...``,
    and so do right-hand sides, expression statements and parts of literals
    and calls without a place the scan found (or a ``:=``)."""
    if result.tree is None or not result.lines:
        return module
    pruner = _Pruner(result.lines, result.pinned)
    body = pruner.body(module.body, result.tree.body)
    return module if body is None else module.with_changes(body=body)


_VALUED = {cst.Assign: ast.Assign, cst.AnnAssign: ast.AnnAssign, cst.AugAssign: ast.AugAssign,
           cst.Expr: ast.Expr, cst.Return: ast.Return}
_CONTAINERS = {cst.List: ast.List, cst.Tuple: ast.Tuple, cst.Set: ast.Set}


class _Pruner:
    """Walks a libcst body beside the :mod:`ast` body of the same code.  Names
    keep their bindings (assignment targets, ``def``/``class`` names, loop and
    ``with`` targets stay); what is dropped binds nothing."""

    def __init__(self, lines: set[int], pinned: set[int]) -> None:
        self.lines = lines
        self.pinned = pinned

    def free(self, node: ast.AST) -> bool:
        """Neither a possible reference nor a ``:=`` in ``node``'s lines."""
        return self.free_lines(node.lineno, node.end_lineno or node.lineno)

    def free_lines(self, first: int, last: int) -> bool:
        return not any(line in self.lines or line in self.pinned for line in range(first, last + 1))

    def body(self, body, ast_body):
        """The pruned statements, or None when nothing changes (or the two do not line up)."""
        out, k, changed = [], 0, False
        for node in body:
            if isinstance(node, cst.SimpleStatementLine):
                group = ast_body[k:k + len(node.body)]
                k += len(node.body)
                if len(group) != len(node.body):
                    return None
                small = [self.small(s, a) for s, a in zip(node.body, group, strict=True)]
                new = node if all(a is b for a, b in zip(small, node.body)) else node.with_changes(body=small)
            elif isinstance(node, cst.BaseCompoundStatement) and k < len(ast_body):
                new = self.compound(node, ast_body[k])
                k += 1
                if new is None:
                    return None
            else:
                return None
            changed = changed or new is not node
            out.append(new)
        return out if changed and k == len(ast_body) else None

    def compound(self, node, ast_node):
        if isinstance(node, cst.FunctionDef):
            if not isinstance(ast_node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.value != ast_node.name:
                return None
            start, end = ast_node.body[0].lineno, ast_node.end_lineno or ast_node.lineno
            if not any(start <= line <= end for line in self.lines):
                first = min([ast_node.lineno, *(d.lineno for d in ast_node.decorator_list)])
                if self.free_lines(first, end):
                    # decorators, defaults and annotations only read names; the parameters
                    # bind names in the stubbed body alone: only the name stays
                    return node.with_changes(body=_STUB, params=_NO_PARAMS, decorators=(), returns=None)
                return node.with_changes(body=_STUB)
        elif isinstance(node, cst.ClassDef):
            if not isinstance(ast_node, ast.ClassDef) or node.name.value != ast_node.name:
                return None
        elif type(node).__name__ != type(ast_node).__name__.removeprefix("Async"):
            return None
        if not isinstance(getattr(node, "body", None), cst.IndentedBlock) or not hasattr(ast_node, "body"):
            return node
        inner = self.body(node.body.body, ast_node.body)
        return node if inner is None else node.with_changes(body=node.body.with_changes(body=inner))

    def small(self, node, ast_node):
        """A small statement with its value pruned (targets and annotations stay)."""
        if isinstance(node, cst.AnnAssign) and isinstance(ast_node, ast.AnnAssign) and self.free(ast_node):
            # the annotation only reads names; the target keeps its binding
            return node.with_changes(annotation=_ANY, value=None if node.value is None else cst.Ellipsis())
        if _VALUED.get(type(node)) is not type(ast_node) or getattr(node, "value", None) is None:
            return node
        if ast_node.value is None:
            return node
        if self.free(ast_node):
            return node.with_changes(value=cst.Ellipsis())
        value = self.expr(node.value, ast_node.value)
        return node if value is node.value else node.with_changes(value=value)

    def expr(self, node, ast_node):
        """Parts of a literal or call without a possible reference become ``...``."""
        if _CONTAINERS.get(type(node)) is type(ast_node) and len(node.elements) == len(ast_node.elts):
            elements = [e if isinstance(e, cst.StarredElement) else _with_value(e, self.part(e.value, _unstar(a)))
                        for e, a in zip(node.elements, ast_node.elts)]
            return _with(node, "elements", elements)
        if isinstance(node, cst.Call) and isinstance(ast_node, ast.Call):
            positional = [a for a in node.args if a.keyword is None and a.star != "**"]
            named = [a for a in node.args if a.keyword is not None or a.star == "**"]
            if len(positional) != len(ast_node.args) or len(named) != len(ast_node.keywords):
                return node
            parts = dict(zip(map(id, positional), ast_node.args))
            parts.update(zip(map(id, named), (k.value for k in ast_node.keywords)))
            args = [_with_value(a, self.part(a.value, _unstar(parts[id(a)]))) for a in node.args]
            return _with(node, "args", args)
        return node

    def part(self, node, ast_node):
        return cst.Ellipsis() if self.free(ast_node) else self.expr(node, ast_node)


def _with_value(node, value):
    return node if value is node.value else node.with_changes(value=value)


def _with(node, name: str, parts: list):
    """``node`` itself when every part is the same object."""
    same = all(a is b for a, b in zip(parts, getattr(node, name)))
    return node if same else node.with_changes(**{name: parts})


def _unstar(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Starred) else node


__all__ = ["ScanResult", "scan", "prune"]
