"""``import``: add, remove or replace import statements.

``add``      ``import add`` (or ``from add import name``) after the first import
             of module ``after`` (module level first, then inside functions),
             or after the leading imports of the file when there is no ``after``.
             Nothing happens when the file already imports it.  With ``uses``,
             only files that contain one of those words, or get one from
             another rule's change, get it: ``import torch_npu`` where code
             now says ``.npu()`` or ``'npu:0'``.
``remove``   drop imports of a module and its submodules; a block left empty
             gets ``pass``, and the comments above a dropped line stay.
``from/to``  replace a module in import statements, keeping what they bind.
"""
from __future__ import annotations

import re
from typing import Any

import libcst as cst

from npatch.rewrite.importutil import (
    dotted, drop_trailing_comma, import_line, imports, insert_after_first, insert_at_top,
    iter_small_statements, rename_import_line, under,
)
from npatch.rewrite.rules.base import Rule, rule


@rule("import")
class ImportRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        self.add: str | None = params.get("add")
        self.name: str | None = params.get("name")
        self.after: str | None = params.get("after")
        self.uses: tuple[str, ...] = tuple(params.get("uses", ()))
        self._uses_pattern = re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, self.uses)))  # once, not per file
        self.remove: str | None = params.get("remove")
        self.old: str | None = params.get("from")
        self.new: str | None = params.get("to")
        self.follows = bool(self.add and self.uses)

    def describe(self) -> str:
        if self.add:
            what = f"from {self.add} import {self.name}" if self.name else f"import {self.add}"
            return f"add `{what}`" + (f" after `import {self.after}`" if self.after else "")
        if self.remove:
            return f"remove imports of {self.remove}"
        return f"import {self.old} -> import {self.new}"

    def needles(self) -> tuple[str, ...]:
        if self.add:
            if self.uses:
                return self.uses
            return (self.after.split(".", 1)[0],) if self.after else ()
        return ((self.remove or self.old or "").rsplit(".", 1)[-1],)

    def may_change(self, facts, others: bool) -> bool:
        def imported(module: str) -> bool:
            return any(under(m, module) for m in facts.modules)

        if self.remove:
            return imported(self.remove)
        if self.old:
            return imported(self.old) or any(under(n, self.old) for n in facts.from_names)
        if self.name is None and imported(self.add):
            return False
        if self.name is not None and f"{self.add}.{self.name}" in facts.from_names:
            return False
        if self.after and not imported(self.after):
            return False
        return not self.uses or others or not facts.words.isdisjoint(self.uses)

    # -- add ---------------------------------------------------------------------------
    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        if self.remove:
            return self._strip_block(original, updated)
        if not self.add or self._already_imported(updated):
            return updated
        if self.uses and not self._uses():
            return updated
        line = import_line(self.add, self.name)
        if self.after is None:
            new = insert_at_top(updated, line)
            anchor: cst.CSTNode = original
        else:
            pred = lambda s: imports(s, self.after)  # noqa: E731
            new = (insert_after_first(updated, pred, line, enter_defs=False)
                   or insert_after_first(updated, pred, line, enter_defs=True))
            if new is None:
                return updated
            anchor = next((s for s in iter_small_statements(original) if pred(s)), original)
        self.ctx.change(self, anchor, cst.Module([]).code_for_node(line), before="")
        return new

    def _uses(self) -> bool:
        """The file mentions a ``uses`` word, or another rule's change brought one in."""
        pattern = self._uses_pattern
        return bool(pattern.search(self.ctx.text)) or any(
            e.type == "change" and pattern.search(e.after) for e in self.ctx.events)

    def _already_imported(self, module: cst.Module) -> bool:
        if not self._may_be_imported():
            return False
        for stmt in iter_small_statements(module):
            if self.name is None and imports(stmt, self.add):
                return True
            if (self.name is not None and isinstance(stmt, cst.ImportFrom) and not stmt.relative
                    and dotted(stmt.module) == self.add and not isinstance(stmt.names, cst.ImportStar)
                    and any(dotted(a.name) == self.name for a in stmt.names)):
                return True
        return False

    def _may_be_imported(self) -> bool:
        """Could ``module`` import ``add`` (or ``add.name``)?  No when the scan
        saw no such import in the text (imports are never hollowed) and no
        change brought in text naming ``add``: walking every statement of a
        large module costs more than the rest of this rule."""
        facts = self.ctx.facts
        if facts is None or facts.tree is None:
            return True
        if self.name is None:
            seen = any(under(m, self.add) for m in facts.modules)
        else:
            seen = f"{self.add}.{self.name}" in facts.from_names
        return seen or any(e.type == "change" and self.add in e.after for e in self.ctx.events)

    # -- replace -------------------------------------------------------------------------
    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine):
        if self.old is None:
            return updated
        return rename_import_line(self, original, updated, self.old, self.new)

    # -- remove --------------------------------------------------------------------------
    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock):
        return self._strip_block(original, updated) if self.remove else updated

    def leave_SimpleStatementSuite(self, original: cst.SimpleStatementSuite,
                                   updated: cst.SimpleStatementSuite):
        if not self.remove:
            return updated
        kept = [s for s in updated.body if self._strip_small(s) is not None]
        if len(kept) == len(updated.body):
            return updated
        self.ctx.change(self, original, "pass" if not kept else "")
        return updated.with_changes(body=[self._strip_small(s) for s in kept] or [cst.Pass()])

    def _strip_small(self, small: cst.BaseSmallStatement) -> cst.BaseSmallStatement | None:
        """The statement without imports of ``remove``; None when nothing is left."""
        if isinstance(small, cst.ImportFrom):
            return None if imports(small, self.remove) else small
        if isinstance(small, cst.Import):
            kept = [a for a in small.names if not under(dotted(a.name) or "", self.remove)]
            if not kept:
                return None
            if len(kept) == len(small.names):
                return small
            return small.with_changes(names=drop_trailing_comma(kept, small))
        return small

    def _strip_block(self, original, updated):
        body: list[cst.CSTNode] = []
        carry: list[cst.EmptyLine] = []
        same = len(original.body) == len(updated.body)
        for i, stmt in enumerate(updated.body):
            if carry:
                stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
                carry = []
            if not isinstance(stmt, cst.SimpleStatementLine):
                body.append(stmt)
                continue
            smalls = [s for s in (self._strip_small(s) for s in stmt.body) if s is not None]
            if smalls == list(stmt.body):
                body.append(stmt)
                continue
            self.ctx.change(self, original.body[i] if same else original, "")
            if smalls:
                smalls[-1] = smalls[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                body.append(stmt.with_changes(body=smalls))
            else:
                carry = list(stmt.leading_lines)
        if body == list(updated.body):
            return updated
        footer = [*carry, *updated.footer]
        if isinstance(updated, cst.IndentedBlock) and not body:
            body = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return updated.with_changes(body=body, footer=footer)


__all__ = ["ImportRule"]
