"""Rule classes: one small libcst visitor per rewrite kind, registered by name.

A rule is built from a :class:`npatch.plan.Rewrite` and handles the node
types it cares about with ``visit_<Type>(node)`` and
``leave_<Type>(original, updated) -> updated`` methods, like a libcst
transformer.  The engine runs every rule of a file in one combined pass
(:class:`npatch.rewrite.engine.Pipeline`), so a rule must build on
``updated`` and use ``original`` only to ask for metadata.

Besides the handlers a rule tells the engine how to skip work:

``needles``     words a file must contain for the rule to match at all
``targets``     qualified names it matches; non-empty means the rule needs
                ``QualifiedNameProvider``, which the engine computes only
                when a cheap scan of the file finds a possible reference
``follows``     run in every file that is parsed for another rule, even if
                the needles are missing (an import that depends on changes)
``spelled``     first parts of names it may spell out and asks
                ``ctx.binding_of`` about (checked by the import table)
``word_groups`` words that must all occur (one group of them) for the rule to
                change or report anything (none: no ast walk either)
``may_change``  from facts an :mod:`ast` walk collected, whether the rule
                could change or report anything (False: no libcst parse)

Hollowing (:mod:`npatch.rewrite.hollow`) relies on one promise of every rule:
it changes or reports only import statements, references to its targets (by
qualified name), nodes whose source text holds one of its needles, and the
module as a whole (``leave_Module``); a rule without needles turns hollowing off
(and the text prefilter), so it may act anywhere.
"""
from __future__ import annotations

from typing import Any, ClassVar

from npatch.plan import Rewrite
from npatch.rewrite.context import FileContext

#: kind name -> rule class, filled by :func:`rule`
RULES: dict[str, type["Rule"]] = {}


def rule(kind: str):
    """Register a rule class for a kind of :data:`npatch.rewrite_kinds.REWRITE_KINDS`."""

    def register(cls: type[Rule]) -> type[Rule]:
        cls.kind = kind
        RULES[kind] = cls
        return cls

    return register


class Rule:
    kind: ClassVar[str] = ""
    follows: ClassVar[bool] = False

    def __init__(self, rewrite: Rewrite) -> None:
        self.rewrite = rewrite
        self.id = rewrite.id
        self.params: dict[str, Any] = rewrite.params_dict
        self.ctx: FileContext | None = None
        self.setup(self.params)
        self.message = rewrite.message or self.describe()

    # -- to override ---------------------------------------------------------
    def setup(self, params: dict[str, Any]) -> None:
        """Read the kind's params (already validated by the compiler)."""

    def describe(self) -> str:
        """Default message for records when the manifest gives none."""
        return self.kind

    def needles(self) -> tuple[str, ...]:
        return ()

    def targets(self) -> tuple[str, ...]:
        return ()

    def watched(self) -> tuple[str, ...]:
        """Attribute names whose import-resolved chains the scan should report
        (``ScanResult.resolved``), for rules that ask about them in ``begin``."""
        return ()

    def spelled(self) -> tuple[str, ...]:
        """Names the rule asks ``ctx.binding_of`` about (a spelled-out name's first part)."""
        return ()

    def word_groups(self) -> tuple[tuple[str, ...], ...]:
        """Groups of words: the rule changes or reports something only in a text
        that holds every word of one group (the engine checks those of its
        needle words, before any parse); ``()``: no such condition."""
        return ()

    def may_change(self, facts: Any, others: bool) -> bool:
        """Could this rule change or report anything in a file with these
        :class:`~npatch.rewrite.scan.ScanResult` facts?  Must over-approximate
        (a False skips the libcst parse); ``others``: whether another rule may
        change the file.  The default, True, is always safe."""
        return True

    def begin(self, ctx: FileContext) -> None:
        """Start a file: per-file state is reset here."""
        self.ctx = ctx

    # -- derived -------------------------------------------------------------
    @property
    def needs_metadata(self) -> bool:
        return bool(self.targets())

    def roots(self) -> tuple[str, ...]:
        """Top-level packages the rule's targets live in (rule tests import them)."""
        return tuple(dict.fromkeys(t.split(".", 1)[0] for t in self.targets()))


__all__ = ["RULES", "rule", "Rule"]
