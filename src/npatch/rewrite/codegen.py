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
known from the code of the parts before it, so only that statement is
generated with positions (the same ``PositionProvidingCodegenState`` libcst
uses, started on that line).  That state is libcst's internal; when it is
missing or changed (``AttributeError``/``TypeError``), or a node is not found
where the pass saw it, the positions come from ``PositionProvider``.
"""
from __future__ import annotations

from collections.abc import Iterable

import libcst as cst
from libcst.metadata import CodePosition, MetadataWrapper, PositionProvider, position_provider

#: libcst's internal codegen state that records positions (None in a libcst without it)
_State = getattr(position_provider, "PositionProvidingCodegenState", None)


class ModuleCode:
    """The code of ``module`` and of rewritten copies of it, each part generated once."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        #: id of a part -> (the part, its code): the part is kept, so the id stays its own
        self._parts: dict[int, tuple[cst.CSTNode, str]] = {}

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
                before += module.body[done:top]
                text = "".join(map(self.part, before))
                if "\r" in text:
                    return self._all()      # PositionProvider counts `\r` and `\r\n` too
                line, done, before = line + text.count("\n"), top, []
                provider = PositionProvider()
                state = _State(default_indent=module.default_indent,
                               default_newline=module.default_newline, provider=provider, line=line)
                module.body[top]._codegen(state)
                for node in tops[top]:
                    if node not in provider._computed:
                        return self._all()
                    found[node] = provider._computed[node].start
        except (AttributeError, TypeError):
            return self._all()
        return found

    def _all(self) -> dict[cst.CSTNode, CodePosition]:
        ranges = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        return {node: where.start for node, where in ranges.items()}


__all__ = ["ModuleCode"]
