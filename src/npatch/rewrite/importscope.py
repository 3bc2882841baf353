"""Qualified names from the module's import table, without ``ScopeProvider``.

The rules ask one question of libcst's scope analysis: the import-sourced
qualified names of a ``Name``/``Attribute`` (and, for the rename rule, what a
bare name is bound to).  ``ScopeProvider`` answers it after a pass over the
whole module that costs more than the parse.  In most files the answer needs
no scopes at all: every binding of each name that matters is a module-level
import (in the module's own scope, ``if``/``try`` blocks included), no other
statement anywhere binds it, and no use of it comes before one of its imports.
:func:`build` checks exactly that on the :mod:`ast` tree and gives an
:class:`ImportScope` that answers from the import statements with libcst's own
rules, or None (then the engine computes ``ScopeProvider`` as before).

Why the answer is then libcst's for every node it has a scope for:

* every scope's lookup of such a name falls through to the module scope
  (nothing binds it in a function, class or comprehension; no
  ``global``/``nonlocal``/``del`` names it), so the scope of a node does not
  matter;
* libcst filters a use's bindings by order only within the same scope, and
  only when the node is the use itself; every use comes after every import of
  its name here, so nothing is filtered;
* a dotted use (``a.b.c``) is resolved by the longest prefix some import binds
  (``import a.b`` binds ``a.b`` and ``a``), through libcst's own
  ``ImportAssignment`` for each import statement that binds it.

Nodes libcst's scope pass never visits have no scope, so no names: the
``attr`` of an ``Attribute``, a keyword's name, and everything inside import
statements (the pipeline reports its walk, :meth:`ImportScope.enter` and
:meth:`ImportScope.leave`; the rename rule's pre-pass skips import
statements).  ``global``/``nonlocal`` name only names that are not
checked, or :func:`build` gives None.

``NPATCH_SCOPE_CHECK=1`` (or ``Engine(scope_check=True)``) computes both
answers for every node the rules ask about and counts the differences
(``bench/scope_check.py`` runs it over a whole package).
"""
from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Iterable, Iterator

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata.scope_provider import ImportAssignment, QualifiedNameSource

from npatch.rewrite.importutil import under
from npatch.rewrite.scan import ScanResult

_BLOCKS = ("body", "orelse", "handlers", "finalbody", "cases")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class ImportScope:
    """Answers for one file in which every relevant name is bound by module-level imports only."""

    def __init__(self, bindings: dict[str, list[ImportAssignment]]) -> None:
        #: dotted name an import binds (``a.b`` and ``a`` for ``import a.b``) -> its assignments
        self.bindings = bindings
        #: ids of nodes libcst's scope pass does not visit, and how many import statements the walk is in
        self._hidden: set[int] = set()
        self._imports = 0

    # -- the pipeline's walk -----------------------------------------------------------
    def enter(self, node: cst.CSTNode) -> None:
        """The pipeline visits ``node`` (before its children)."""
        kind = type(node)
        if kind is cst.Attribute:
            self._hidden.add(id(node.attr))
        elif kind is cst.Arg and node.keyword is not None:
            self._hidden.add(id(node.keyword))
        elif kind is cst.Import or kind is cst.ImportFrom:
            self._imports += 1

    def leave(self, node: cst.CSTNode) -> None:
        """The pipeline leaves ``node``."""
        kind = type(node)
        if kind is cst.Import or kind is cst.ImportFrom:
            self._imports -= 1

    # -- answers -------------------------------------------------------------------------
    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        """What ``scope.get_qualified_names_for(node)`` gives, import-sourced names only."""
        if self._imports or id(node) in self._hidden:
            return frozenset()
        full = get_full_name_for_node(node)
        prefix = full
        while prefix and prefix not in self.bindings:
            prefix = prefix.rpartition(".")[0]
        if not prefix:
            return frozenset()
        return frozenset(q.name for a in self.bindings[prefix] for q in a.get_qualified_names_for(full)
                         if q.source is QualifiedNameSource.IMPORT)

    def binding_of(self, name: str) -> set[str] | None:
        """What ``name`` is bound to (only asked of names :func:`build` checked)."""
        if name not in self.bindings:
            return None
        return {q.name for a in self.bindings[name] for q in a.get_qualified_names_for(name)}


def build(module: cst.Module, facts: ScanResult, names: Iterable[str], order: bool = True) -> ImportScope | None:
    """An :class:`ImportScope` for ``module`` (whose scan is ``facts``) when each
    of ``names`` is bound only by module-level imports, none is a builtin
    without such an import, and (``order``) no use of one comes before its
    last import; else None."""
    names = set(names)
    if not names.isdisjoint(facts.bound):
        return None
    top = [node for node in _module_statements(facts.tree.body) if isinstance(node, (ast.Import, ast.ImportFrom))]
    inner = {id(node) for node in facts.imports}.difference(map(id, top))
    if any(b.split(".", 1)[0] in names for node in facts.imports if id(node) in inner for b in _bound_by(node)):
        return None
    last: dict[str, tuple[int, int]] = {}
    for node in top:
        for bound in _bound_by(node):
            head = bound.split(".", 1)[0]
            if head in names:
                last[head] = max(last.get(head, (0, 0)), (node.end_lineno, node.end_col_offset))
    if any(name not in last and hasattr(builtins, name) for name in names):
        return None
    for node in facts.names if order else ():
        end = last.get(node.id)
        if end is not None and (node.lineno, node.col_offset) < end:
            return None
    bindings: dict[str, list[ImportAssignment]] = {}
    for statement in _imports(module.body):
        for bound, as_name in _cst_bound_by(statement):
            bindings.setdefault(bound, []).append(ImportAssignment(bound, None, statement, 0, as_name))
    return ImportScope(bindings)


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements in the module's own scope: into ``if``/``try``/``with``/loop/``match`` blocks, not ``def``/``class``."""
    for node in body:
        yield node
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            continue
        for block in _BLOCKS:
            for child in getattr(node, block, ()):
                if isinstance(child, ast.stmt):
                    yield from _module_statements([child])
                else:       # an except handler or a match case
                    yield from _module_statements(child.body)


def _bound_by(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names an import statement binds, as libcst records them."""
    for alias in node.names:
        if alias.name == "*":
            continue
        if alias.asname:
            yield alias.asname
        elif isinstance(node, ast.Import):
            parts = alias.name.split(".")
            yield from (".".join(parts[:i]) for i in range(len(parts), 0, -1))
        else:
            yield alias.name


def _imports(body: Iterable[cst.CSTNode]) -> Iterator[cst.Import | cst.ImportFrom]:
    """libcst's import statements in the module's own scope."""
    for node in body:
        if isinstance(node, cst.SimpleStatementLine):
            yield from (s for s in node.body if isinstance(s, (cst.Import, cst.ImportFrom)))
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        elif isinstance(node, cst.BaseCompoundStatement):
            for block in _cst_blocks(node):
                yield from _imports(block)


def _cst_blocks(node: cst.BaseCompoundStatement) -> Iterator[Iterable[cst.CSTNode]]:
    parts = [node]
    while parts:
        part = parts.pop()
        if part is None:
            continue
        body = getattr(part, "body", None)
        if isinstance(body, cst.IndentedBlock):
            yield body.body
        elif isinstance(body, cst.SimpleStatementSuite):
            yield [cst.SimpleStatementLine(body=body.body)]
        orelse = getattr(part, "orelse", None)
        parts.append(orelse)
        parts.extend(getattr(part, "handlers", ()))
        parts.extend(getattr(part, "cases", ()))
        parts.append(getattr(part, "finalbody", None))


def _cst_bound_by(node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, cst.CSTNode]]:
    """(dotted name, the node libcst calls ``as_name``) as libcst's scope visitor records them."""
    if isinstance(node.names, cst.ImportStar):
        return
    for alias in node.names:
        named = alias.asname.name if alias.asname is not None else alias.name
        chain = named
        while True:
            yield get_full_name_for_node(chain), named
            if not isinstance(chain, cst.Attribute):
                break
            chain = chain.value




class ScopeCheck:
    """Both answers for every node asked, compared (``NPATCH_SCOPE_CHECK=1``).

    A node whose head imports bind only to names not comparable with a target
    is not asked in earnest: libcst must give no name at or under a target.
    Where libcst has a scope for the node the answers must be equal; where it
    has none (a node its pass skips, or one the engine pruned from its copy of
    the module), the names at or under the rules' targets must be (the only
    names a rule acts on; the scan guarantees pruning drops none of those)."""

    def __init__(self, report: bool = False) -> None:
        self.report = report
        self.files = 0          # files with metadata
        self.answered = 0       # of those, files the import table answers
        self.nodes = 0
        self.exact = 0
        self.bindings = 0
        self.others = 0         # nodes whose head is bound by imports of other names only
        self.differences: list[str] = []

    def file(self, answered: bool) -> None:
        self.files += 1
        self.answered += answered

    def names(self, where: str, node: cst.CSTNode, scoped: bool, libcst: frozenset[str],
              ours: frozenset[str], targets: Iterable[str]) -> None:
        self.nodes += 1
        self.exact += scoped
        if not scoped:
            libcst, ours = (frozenset(q for q in names if any(under(q, t) for t in targets))
                            for names in (libcst, ours))
        if libcst != ours:
            self._differ(f"{where}: {get_full_name_for_node(node)}: libcst {sorted(libcst)}, ours {sorted(ours)}")

    def outside(self, where: str, node: cst.CSTNode, libcst: frozenset[str], targets: Iterable[str]) -> None:
        """A node whose head no import binds to a name comparable with a target: libcst must give none there."""
        self.others += 1
        if any(under(q, t) for q in libcst for t in targets):
            self._differ(f"{where}: {get_full_name_for_node(node)}: libcst {sorted(libcst)}, not asked")

    def binding(self, where: str, name: str, libcst: set[str] | None, ours: set[str] | None) -> None:
        self.bindings += 1
        if libcst != ours:
            self._differ(f"{where}: binding of {name}: libcst {libcst}, ours {ours}")

    def _differ(self, line: str) -> None:
        self.differences.append(line)
        if self.report:
            print(f"npatch scope check: {line}", file=sys.stderr)

    def summary(self) -> dict[str, int]:
        return {"files_with_metadata": self.files, "files_answered_by_imports": self.answered,
                "nodes_compared": self.nodes, "nodes_with_a_libcst_scope": self.exact,
                "bindings_compared": self.bindings, "nodes_with_other_heads": self.others, "differences": len(self.differences)}


__all__ = ["ImportScope", "ScopeCheck", "build"]
