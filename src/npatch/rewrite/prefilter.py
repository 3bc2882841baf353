"""Cheap decisions before parsing: path globs and words a file must contain.

Parsing with libcst is the expensive step, so a file is parsed only when at
least one rule's needle words occur in its text (``\\bword\\b``), and only the
rules whose needles occur run on it.  Needles over-approximate: a rule can
match a file only if its needle is there, so skipping never changes output.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """gitignore-like glob: ``*`` and ``?`` stay in one path segment, ``**`` spans
    segments, a pattern with no ``/`` but a trailing one matches at any depth
    (``*.py``, ``tests/``), and a trailing ``/`` matches everything below.
    :class:`ValueError` for an invalid bracket expression (``[z-a]``)."""
    pattern = pattern.removeprefix("./")
    if "/" not in pattern.rstrip("/"):
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body in ("", "!"):
                    raise ValueError(f"invalid glob {pattern.removeprefix('**/')!r}: empty [...]")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    if pattern.endswith("/"):
        out.append(".*")
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as exc:     # a bracket expression such as [z-a]
        raise ValueError(f"invalid glob {pattern.removeprefix('**/')!r}: {exc.msg}") from None


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid glob, or None."""
    try:
        glob_regex(pattern)
    except ValueError as exc:
        return str(exc)
    return None


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
