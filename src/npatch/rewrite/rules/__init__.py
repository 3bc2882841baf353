"""Rule classes: one small libcst visitor per rewrite kind, registered by name.

The base class, the registry and what a rule tells the engine are in
:mod:`npatch.rewrite.rules.base`; each kind's rule is a module here that
registers itself with :func:`~npatch.rewrite.rules.base.rule`.
"""
from __future__ import annotations

from npatch.plan import Rewrite
from npatch.rewrite.rules.base import RULES, Rule, rule


def build_rules(rewrites: tuple[Rewrite, ...] | list[Rewrite]) -> list[Rule]:
    """One rule object per rewrite, in plan order."""
    _load_rule_modules()
    rules = []
    for rewrite in rewrites:
        cls = RULES.get(rewrite.kind)
        if cls is None:
            from npatch.errors import NpatchError

            raise NpatchError(f"rewrite {rewrite.id!r}: no rule for kind {rewrite.kind!r} "
                              f"(known: {', '.join(sorted(RULES))})")
        rules.append(cls(rewrite))
    return rules


def _load_rule_modules() -> None:
    from npatch.rewrite.rules import argument, imports, method, rename, unsupported  # noqa: F401


__all__ = ["RULES", "Rule", "build_rules", "rule"]
