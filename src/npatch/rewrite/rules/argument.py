"""``argument``: string literal arguments of given callables get new values.

``callables`` are qualified names (``torch.device``: matched through imports,
needs ``QualifiedNameProvider``), ``*.name`` (method ``name`` on any receiver)
or ``*`` (any call).  The arguments looked at are the keyword arguments named
in ``keywords`` and the positional ones at ``positions`` (counting stops at a
``*args``).  Values map with prefix semantics (:func:`npatch.rewrite_kinds.map_string`):
``'cuda'`` -> ``'npu'`` also maps ``'cuda:0'`` and ``f'cuda:{rank}'``; quotes and
string prefixes are kept.  Strings with escapes, bytes and concatenations are
left alone.
"""
from __future__ import annotations

from typing import Any

import libcst as cst

from npatch.rewrite_kinds import map_string, values_map
from npatch.rewrite.rules.base import Rule, rule


@rule("argument")
class ArgumentRule(Rule):
    def setup(self, params: dict[str, Any]) -> None:
        callables = tuple(params["callables"])
        self.any_call = "*" in callables
        self.methods = frozenset(c[2:] for c in callables if c.startswith("*."))
        self.qualified = tuple(c for c in callables if not c.startswith("*"))
        self.keywords = frozenset(params.get("keywords", ()))
        self.positions = frozenset(params.get("positions", ()))
        self.values = values_map(params["values"])

    def describe(self) -> str:
        return ", ".join(f"'{k}' -> '{v}'" for k, v in self.values.items())

    def needles(self) -> tuple[str, ...]:
        return tuple(self.values)

    def targets(self) -> tuple[str, ...]:
        return self.qualified

    def may_change(self, facts, others: bool) -> bool:
        callee = (self.any_call or not facts.call_attrs.isdisjoint(self.methods)
                  or not facts.hits.isdisjoint(self.qualified))
        return callee and any(map_string(s, self.values) is not None for s in facts.call_strings)

    def _callee_matches(self, call: cst.Call) -> bool:
        if self.any_call:
            return True
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in self.methods:
            return True
        return bool(self.qualified) and not self.ctx.qualified_names(func).isdisjoint(self.qualified)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if not self._callee_matches(original):
            return updated
        args = list(updated.args)
        position: int | None = 0
        changed = False
        for i, arg in enumerate(args):
            if arg.star:
                if arg.star == "*":
                    position = None
                continue
            if arg.keyword is None:
                hit = position is not None and position in self.positions
                position = None if position is None else position + 1
            else:
                hit = arg.keyword.value in self.keywords
            if not hit:
                continue
            new_value = self._map(arg.value)
            if new_value is not None:
                self.ctx.change(self, original.args[i].value, new_value)
                args[i] = arg.with_changes(value=new_value)
                changed = True
        return updated.with_changes(args=args) if changed else updated

    def _map(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        if isinstance(node, cst.SimpleString):
            if "b" in node.prefix.lower():
                return None
            body = node.value[len(node.prefix) + len(node.quote): -len(node.quote)]
            if body != node.evaluated_value:
                return None
            new = map_string(body, self.values)
            if new is None or not _plain(new, node.quote):
                return None
            return node.with_changes(value=f"{node.prefix}{node.quote}{new}{node.quote}")
        if isinstance(node, cst.FormattedString) and node.parts:
            first = node.parts[0]
            if not isinstance(first, cst.FormattedStringText):
                return None
            if len(node.parts) > 1 and first.value in self.values:
                return None      # f'cuda{x}': the value depends on x
            new = map_string(first.value, self.values)
            if new is None or not _plain(new, node.end) or "{" in new or "}" in new:
                return None
            return node.with_changes(parts=[first.with_changes(value=new), *node.parts[1:]])
        return None


def _plain(text: str, quote: str) -> bool:
    return "\\" not in text and "\n" not in text and quote[0] not in text


__all__ = ["ArgumentRule"]
