"""Cheap decisions before parsing: path globs and words a file must contain.

Parsing with libcst is the expensive step, so a file is parsed only when at
least one rule's needle words occur in its text (``\\bword\\b``), and only the
rules whose needles occur run on it.  Needles over-approximate: a rule can
match a file only if its needle is there, so skipping never changes output.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from npatch.rewrite_kinds import glob_regex


def glob_match(path: str, patterns: Iterable[str]) -> bool:
    return any(glob_regex(p).match(path) for p in patterns)


def selected(path: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Included (no include patterns means everything) and not excluded."""
    include = tuple(include)
    return (not include or glob_match(path, include)) and not glob_match(path, exclude)


class Words:
    """Which of a fixed set of words occur in a text, in one regex pass."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w for w in words if w)
        alternatives = "|".join(sorted(map(re.escape, self.words), key=len, reverse=True))
        self.pattern = re.compile(rf"\b(?:{alternatives})\b") if self.words else None

    def found(self, text: str) -> set[str]:
        if self.pattern is None:
            return set()
        return set(self.pattern.findall(text))


__all__ = ["glob_match", "selected", "Words"]
