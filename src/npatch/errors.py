"""Errors and warnings, shared by every layer.

A :class:`ManifestError` always knows where it is: file, 1-based line and
column, and the key path (``patch[3].when``).  The CLI prints it as
``file:line:col: key: message`` followed by a hint and, for conditions and
target paths, the text with the bad span underlined (for a bad value, its
source line with the value underlined).  Exit codes: 1 for a bad manifest, 2 for
a usage error.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class NpatchError(Exception):
    """Base of every error npatch raises on purpose (the CLI prints these, no traceback)."""

    exit_code = 1


class UsageError(NpatchError):
    """Wrong command line: unknown manifest name, bad ``--set``, missing file."""

    exit_code = 2


class PlanLoadError(NpatchError):
    """A saved plan that cannot be used: damaged, edited, or of another schema."""


#: ends each note of ``npatch apply`` that the static check found (``--strict`` refuses to start on one)
STATIC_CHECK_MARK = " [static check]"


class NpatchWarning(UserWarning):
    """The one warning category of npatch: a patch that could not apply, a stale reference."""


class Span:
    """A region of a single-line text (a condition, a target path), 0-based, end exclusive.

    A plain class, not a dataclass: this module is imported by every patched
    process, and ``dataclasses`` costs milliseconds there.
    """

    __slots__ = ("start", "end")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span) and (self.start, self.end) == (other.start, other.end)

    def __repr__(self) -> str:
        return f"Span(start={self.start}, end={self.end})"

    def underline(self, text: str) -> str:
        """``text`` and a line of carets under this span, both indented four spaces."""
        return f"    {text}\n    {' ' * self.start}{'^' * max(1, self.end - self.start)}"


class ManifestError(NpatchError):
    """One located problem in a manifest."""

    def __init__(
        self,
        message: str,
        *,
        file: str = "<string>",
        line: int = 0,
        col: int = 0,
        key: str = "",
        hint: str = "",
        text: str | None = None,
        span: Span | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.key = key
        self.hint = hint
        self.text = text
        self.span = span

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def __str__(self) -> str:
        head = f"{self.location}: "
        if self.key:
            head += f"{self.key}: "
        lines = [head + self.message]
        if self.text is not None and self.span is not None:
            lines.append(self.span.underline(self.text))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ManifestErrors(NpatchError):
    """Several manifest errors, reported together so users fix them in one pass."""

    def __init__(self, errors: list[ManifestError]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.col))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ConditionError(NpatchError):
    """A condition that does not parse or cannot be evaluated; ``span`` marks the bad part."""

    def __init__(self, message: str, text: str, span: Span, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        out = f"{self.message}\n{self.span.underline(self.text)}"
        return out + (f"\n  hint: {self.hint}" if self.hint else "")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``did you mean `x`?`` for the closest of ``choices`` to a misspelled ``word``, or ""."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


__all__ = ["NpatchError", "UsageError", "PlanLoadError", "STATIC_CHECK_MARK", "NpatchWarning", "Span", "ManifestError",
           "ManifestErrors", "ConditionError", "did_you_mean"]
