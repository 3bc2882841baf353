"""``method``: ``x.cuda(...)`` -> ``x.npu(...)`` on any receiver.

Purely syntactic: a call whose callee is an attribute named ``from``.  No
qualified names are needed, so files pay only for the parse.
"""
from __future__ import annotations

from typing import Any

import libcst as cst

from npatch.rewrite.rules.base import Rule, rule


@rule("method")
class MethodRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        self.old: str = params["from"]
        self.new: str = params["to"]

    def describe(self) -> str:
        return f".{self.old}(...) -> .{self.new}(...)"

    def needles(self) -> tuple[str, ...]:
        return (self.old,)

    def may_change(self, facts, others: bool) -> bool:
        return self.old in facts.call_attrs

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        func = updated.func
        if not isinstance(func, cst.Attribute) or func.attr.value != self.old:
            return updated
        new_func = func.with_changes(attr=func.attr.with_changes(value=self.new))
        self.ctx.change(self, original.func, new_func)
        return updated.with_changes(func=new_func)


__all__ = ["MethodRule"]
