"""Code of a parsed module, each top-level part generated once, and the
positions of a few nodes without a pass over the whole module.

libcst generates a module's code part by part (header lines, statements,
footer lines), each part from its own nodes only; a top-level statement
starts at column 0 with no indentation, so ``module.code_for_node(stmt)``
is exactly the text the module's code holds for it.  The engine needs the
code of the parsed module (to check that libcst gives the text back) and of
the rewritten one, which shares every statement the pass did not enter
(:func:`npatch.rewrite.hollow.untouched`): :class:`ModuleCode` generates each
part once and both codes from the parts.

Positions: ``PositionProvider`` generates the code of the whole module while
recording every node's position.  A report needs the positions of the nodes
its events name; each lies in one top-level statement, whose first line is
known from the spans below (else from the code of the parts before it), so
only that statement is generated with positions (the same
``PositionProvidingCodegenState`` libcst uses, started on that line), and its
code is kept for the splice.  That state is libcst's internal; when it is
missing or changed (``AttributeError``/``TypeError``), or a node is not found
where the pass saw it, the positions come from ``PositionProvider``.

Splicing: most top-level statements come out of the pass as the very same
objects or as unchanged copies (the pass says which), so the new code is the parsed text with only the replaced
statements' spans swapped for their new code (:meth:`ModuleCode.splice`).  A
statement's span starts on its first line by :mod:`ast` (its first decorator's)
less its ``leading_lines``; the spans must tile the text between the header and
the footer, and each replaced statement's old code must be its span's text
exactly (the round trip of the parts that change).  A text libcst may not
give back, or whose lines libcst and :mod:`ast` may count differently (a
``\r``, a form feed, a line holding only a backslash continuation), has no
spans, and when anything else fails (no :mod:`ast` tree, a changed header or
footer, a replaced statement's code not its span's text), the whole module's
code is generated and compared, as before.  Positions use the same first
lines, and fall back to ``PositionProvider`` when a statement's code does not
end where the next one starts.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

import libcst as cst
from libcst.metadata import CodePosition, MetadataWrapper, PositionProvider, position_provider

from npatch.rewrite.hollow import same_kind

#: libcst's internal codegen state that records positions (None in a libcst without it)
_State = getattr(position_provider, "PositionProvidingCodegenState", None)


class ModuleCode:
    """The code of ``module`` and of rewritten copies of it, each part generated once."""

    def __init__(self, module: cst.Module, text: str | None = None, tree: ast.Module | None = None) -> None:
        """``text``: what ``module`` was parsed from; ``tree``: :mod:`ast`'s module of
        a text with the same lines (without both, nothing is spliced)."""
        self.module = module
        #: id of a part -> (the part, its code): the part is kept, so the id stays its own
        self._parts: dict[int, tuple[cst.CSTNode, str]] = {}
        #: offset of the start of each line of ``text`` (line 1 at index 0) and, per
        #: top-level statement, its first line; None: not known
        self._text = text
        self._firsts: list[int] | None = None
        self._offsets: list[int] = []
        if text is not None and tree is not None and not _UNSPLICEABLE.search(text):
            self._firsts = _first_lines(module, tree, text.count("\n"))
            if self._firsts is not None:
                self._offsets = [0, *(m.end() for m in _NEWLINE.finditer(text))]

    def part(self, node: cst.CSTNode) -> str:
        """The code of a header line, statement or footer line of a module."""
        got = self._parts.get(id(node))
        if got is None or got[0] is not node:
            got = self._parts[id(node)] = (node, self.module.code_for_node(node))
        return got[1]

    def code(self, module: cst.Module | None = None) -> str:
        """What ``module.code`` gives (default: the parsed module); the parts
        it shares with the parsed module are not generated again."""
        module = self.module if module is None else module
        if not module.has_trailing_newline or (module.default_indent, module.default_newline) != (
                self.module.default_indent, self.module.default_newline):
            return module.code     # libcst drops the last newline token: let it
        code = "".join(map(self.part, (*module.header, *module.body, *module.footer)))
        return code or module.default_newline

    def starts(self, wanted: Iterable[tuple[cst.CSTNode, int | None]]) -> dict[cst.CSTNode, CodePosition]:
        """Where ``PositionProvider`` says the ``wanted`` nodes start, each given with
        the index of the top-level statement the pass saw it in (None: not in one).
        A top-level statement, or a small statement of one, needs no index: the
        module-level handlers that run after the statements name those."""
        module = self.module
        found = {module: CodePosition(1, 0)}         # the module's range starts before its header
        tops: dict[int, list[cst.CSTNode]] = {}
        index = {}          # top-level statements and their small statements (where imports are added)
        for i, stmt in enumerate(module.body):
            index[id(stmt)] = i
            if isinstance(stmt, cst.SimpleStatementLine):
                index.update(dict.fromkeys(map(id, stmt.body), i))
        for node, top in wanted:
            top = index.get(id(node), top)
            if node is not module:
                if top is None:
                    return self._all()
                tops.setdefault(top, []).append(node)
        if _State is None:
            return self._all()
        try:
            done, before = 0, list(module.header)
            line = 1
            for top in sorted(tops):
                if self._firsts is not None:
                    line = self._firsts[top]
                else:
                    before += module.body[done:top]
                    text = "".join(map(self.part, before))
                    if "\r" in text:
                        return self._all()      # PositionProvider counts `\r` and `\r\n` too
                    line, done, before = line + text.count("\n"), top, []
                provider = PositionProvider()
                state = _State(default_indent=module.default_indent,
                               default_newline=module.default_newline, provider=provider, line=line)
                stmt = module.body[top]
                stmt._codegen(state)
                if self._firsts is not None and (state.line, state.column) != (self._line(top + 1), 0):
                    return self._all()
                if isinstance(state.tokens, list):      # the statement's code, as `part` gives it
                    self._parts[id(stmt)] = (stmt, "".join(state.tokens))
                for node in tops[top]:
                    if node not in provider._computed:
                        return self._all()
                    found[node] = provider._computed[node].start
        except (AttributeError, TypeError):
            return self._all()
        return found

    def splice(self, module: cst.Module, copies: dict[int, int]) -> str | None:
        """The code of ``module``, a rewritten copy of the parsed one: the parsed
        text with the spans of the statements ``module`` replaced swapped for the
        code of those that took their place; None when that cannot be known
        (then generate and compare the whole code).  A statement of ``module`` is
        the parsed one (the pass did not enter it) or, by ``copies`` (its id ->
        the parsed one's index), an unchanged copy of it."""
        old = self.module
        if self._firsts is None or not _same(module.header, old.header) or not _same(module.footer, old.footer) \
                or (module.default_indent, module.default_newline, module.has_trailing_newline) != (
                    old.default_indent, old.default_newline, old.has_trailing_newline):
            return None
        index = {id(stmt): i for i, stmt in enumerate(old.body)}
        index.update(copies)
        kept = [(index[id(stmt)], j) for j, stmt in enumerate(module.body) if id(stmt) in index]
        if any(a[0] >= b[0] for a, b in zip(kept, kept[1:])):
            return None
        out, last = [], 0           # `last`: the offset up to which the text is copied
        bounds = [(-1, -1), *kept, (len(old.body), len(module.body))]
        for (i0, j0), (i1, j1) in zip(bounds, bounds[1:]):
            if i1 - i0 == 1 and j1 - j0 == 1:
                continue            # nothing replaced between two kept statements
            start, end = self._span(i0 + 1), self._span(i1)
            if "".join(map(self.part, old.body[i0 + 1:i1])) != self._text[start:end]:
                return None
            out += [self._text[last:start], *map(module.code_for_node, module.body[j0 + 1:j1])]
            last = end
        out.append(self._text[last:])
        return "".join(out)

    def _line(self, i: int) -> int:
        """First line of top-level statement ``i`` (one past the last: of the footer)."""
        assert self._firsts is not None
        return self._firsts[i] if i < len(self._firsts) else len(self._offsets) - len(self.module.footer)

    def _span(self, i: int) -> int:
        """Offset where top-level statement ``i`` starts (one past the last: the footer)."""
        return self._offsets[self._line(i) - 1]

    def _all(self) -> dict[cst.CSTNode, CodePosition]:
        ranges = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        return {node: where.start for node, where in ranges.items()}


_NEWLINE = re.compile("\n")
#: what libcst may not give back, or counts as a line break where :mod:`ast` does not: a carriage
#: return, a form feed, a line holding only a backslash continuation (libcst drops those)
_UNSPLICEABLE = re.compile(r"[\r\f]|^[ \t]*\\$", re.MULTILINE)


def _same(a: Sequence[cst.CSTNode], b: Sequence[cst.CSTNode]) -> bool:
    """The same header or footer lines (a pass that visits them copies them)."""
    return len(a) == len(b) and all(x is y or x.deep_equals(y) for x, y in zip(a, b))


def _first_lines(module: cst.Module, tree: ast.Module, newlines: int) -> list[int] | None:
    """The first line of each top-level statement of ``module`` (its leading
    lines included), paired with ``tree``'s statements (a line of statements
    joined by ``;`` with as many); None unless they pair up, kind by kind,
    and tile the lines between the header and the footer."""
    firsts, k = [], 0
    for node in module.body:
        count = len(node.body) if isinstance(node, cst.SimpleStatementLine) else 1
        group = tree.body[k:k + count]
        k += count
        parts = node.body if isinstance(node, cst.SimpleStatementLine) else [node]
        if len(group) != count or not all(map(same_kind, parts, group)):
            return None
        stmt = group[0]
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        firsts.append(first - len(node.leading_lines))
    if k != len(tree.body) or not module.has_trailing_newline:
        return None
    ends = [*firsts, newlines + 1 - len(module.footer)]
    if ends[0] != len(module.header) + 1 or any(a >= b for a, b in zip(ends, ends[1:])):
        return None
    return firsts


__all__ = ["ModuleCode"]
