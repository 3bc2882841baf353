"""``unsupported``: report uses of APIs that have no replacement; change nothing.

A use is a reference whose qualified name is one of ``names`` or inside one
(``torch.cuda.nvtx.range_push`` is a use of ``torch.cuda.nvtx``), reported
once at the outermost matching expression, an import of such a name, or a
call of a method in ``methods`` on any receiver.
"""
from __future__ import annotations

from typing import Any

import libcst as cst

from npatch.rewrite.importutil import dotted, imports, under
from npatch.rewrite.rules.base import Rule, rule


@rule("unsupported")
class UnsupportedRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        self.names: tuple[str, ...] = tuple(params.get("names", ()))
        self.methods: frozenset[str] = frozenset(params.get("methods", ()))

    def describe(self) -> str:
        return "no replacement for " + ", ".join([*self.names, *(f".{m}()" for m in sorted(self.methods))])

    def needles(self) -> tuple[str, ...]:
        return tuple(n.rsplit(".", 1)[-1] for n in self.names) + tuple(self.methods)

    def targets(self) -> tuple[str, ...]:
        return self.names

    def word_groups(self) -> tuple[tuple[str, ...], ...]:
        # a use of a name spells every part after the first (in the chain or in an import)
        return (*(tuple(n.split(".")[1:]) for n in self.names), *((m,) for m in sorted(self.methods)))

    def may_change(self, facts, others: bool) -> bool:
        return not facts.hits.isdisjoint(self.names) or not facts.call_attrs.isdisjoint(self.methods)

    def begin(self, ctx) -> None:
        super().begin(ctx)
        self._inside: cst.CSTNode | None = None

    def _match(self, node: cst.CSTNode) -> str | None:
        for qname in self.ctx.qualified_names(node):
            for name in self.names:
                if under(qname, name):
                    return name
        return None

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._visit_reference(node)

    def visit_Name(self, node: cst.Name) -> None:
        self._visit_reference(node)

    def _visit_reference(self, node: cst.CSTNode) -> None:
        if self._inside is None and self.names and self._match(node):
            self._inside = node
            self.ctx.unsupported(self, node)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        if original is self._inside:
            self._inside = None
        return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        if original is self._inside:
            self._inside = None
        return updated

    def visit_Import(self, node: cst.Import) -> None:
        if any(imports(node, n) for n in self.names):
            self.ctx.unsupported(self, node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or not self.names:
            return
        module = dotted(node.module) or ""
        names = [] if isinstance(node.names, cst.ImportStar) else [dotted(a.name) for a in node.names]
        full = [module, *(f"{module}.{n}" for n in names)]
        if any(under(f, n) for f in full for n in self.names):
            self.ctx.unsupported(self, node)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in self.methods:
            self.ctx.unsupported(self, func)


__all__ = ["UnsupportedRule"]
