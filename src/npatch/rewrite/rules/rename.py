"""``rename``: a qualified name becomes another, however the file spells it.

Matching is by what a name refers to (``QualifiedNameProvider``), at the node
whose qualified name is exactly ``from``: with ``from = "torch.cuda"``,
``T.cuda.synchronize()`` (``import torch as T``) has the node ``T.cuda``.

* The head of the spelling is kept when the new name is reachable from it:
  ``T.cuda`` -> ``T.npu``.
* Otherwise the new name is spelled out and its import added when the name
  is not bound there: ``from torch import cuda; cuda.synchronize()`` with a
  rename of ``torch.cuda.synchronize`` gives ``torch.npu.synchronize()`` and
  ``import torch``.  If the first component is bound to something else at
  that point, the use is left alone and recorded as skipped.
* Import statements of the old name are rewritten keeping their bindings
  (``from torch.cuda import synchronize as s`` -> ``from torch.npu import
  synchronize as s``), so bare uses (``s()``) need no change.
"""
from __future__ import annotations

from typing import Any

import libcst as cst

from npatch.rewrite.importutil import dotted, dotted_node, rename_import_line, under
from npatch.rewrite.rules import Rule, rule


@rule("rename")
class RenameRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        self.old: str = params["from"]
        self.new: str = params["to"]
        self.module_to_import: str = params.get("import") or self.new.split(".", 1)[0]

    def describe(self) -> str:
        return f"{self.old} -> {self.new}"

    def needles(self) -> tuple[str, ...]:
        return (self.old.rsplit(".", 1)[-1],)

    def targets(self) -> tuple[str, ...]:
        return (self.old,)

    def may_change(self, facts, others: bool) -> bool:
        return self.old in facts.hits

    # -- import statements: syntactic, no metadata needed ---------------------------
    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine):
        return rename_import_line(self, original, updated, self.old, self.new)

    # -- uses --------------------------------------------------------------------------
    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        return self._use(original, updated)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return self._use(original, updated)

    def _use(self, original, updated):
        if self.old not in self.ctx.qualified_names(original):
            return updated
        written = dotted(original)
        if written is None or "." not in written:
            return updated          # a bare name bound by an import: the import is rewritten
        head, _, rest = written.partition(".")
        if not self.old.endswith("." + rest):
            return updated
        base = self.old[: -len(rest) - 1]          # what `head` refers to
        if under(self.new, base):
            new_text = head + self.new[len(base):]
        else:
            top = self.new.split(".", 1)[0]
            bound = self.ctx.binding_of(original, top)
            if bound is not None and bound != {top}:
                self.ctx.skipped(self, original, f"cannot spell out {self.new}: `{top}` is "
                                 f"bound to {', '.join(sorted(bound))} here")
                return updated
            if bound is None:
                self.ctx.need_import(self.module_to_import, self)
            new_text = self.new
        replacement = _respell(updated, written, new_text)
        self.ctx.change(self, original, new_text)
        return replacement


def _respell(node: cst.BaseExpression, old_text: str, new_text: str) -> cst.BaseExpression:
    """``new_text`` as an expression; keeps the node's own spacing when only names change."""
    old_parts, new_parts = old_text.split("."), new_text.split(".")
    if len(old_parts) == len(new_parts):
        return _rename_parts(node, new_parts)
    return dotted_node(new_text).with_changes(lpar=node.lpar, rpar=node.rpar)


def _rename_parts(node: cst.BaseExpression, parts: list[str]) -> cst.BaseExpression:
    if isinstance(node, cst.Attribute):
        value = _rename_parts(node.value, parts[:-1])
        return node.with_changes(value=value, attr=node.attr.with_changes(value=parts[-1]))
    return node.with_changes(value=parts[0])
