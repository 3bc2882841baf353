"""Read TOML with the position of every key and value.

``tomli`` gives values and, on a syntax error, the line and column; it does
not say where a key is.  Errors about *content* ("unknown key", "bad
condition") must point at the key or value itself, not at the table header
(ruff #9719), so this module scans the already-valid text a second time and
records, for each key path, where its key and its value start.

Key paths are tuples: ``("patch", 3, "when")`` for the ``when`` key of the
fourth ``[[patch]]`` table, ``("patch", 3, "also", 1)`` for an array item.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from npatch.errors import ManifestError, Span

KeyPath = tuple[Any, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_VALUE_ATOM = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d[^\s,\]\}#]*|[^\s,\]\}#]+")
#: a string, multi-line or not, by its opening quote (the text is valid TOML: tomli read
#: it first); a multi-line one ends at the first three quotes not escaped, and may add two
_STRING = {
    '"': re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"{3,5}|"[^"\\]*(?:\\.[^"\\]*)*"', re.S),
    "'": re.compile(r"'''(?:[^']|'(?!''))*'{3,5}|'[^']*'"),
}
#: blanks and comments, without and with line ends
_BLANKS = (re.compile(r"(?:[ \t\r]|#[^\n]*)*"), re.compile(r"(?:[ \t\r\n]|#[^\n]*)*"))
#: ``key =`` with a bare key, the common case of a key/value line
_BARE_KEY_EQUALS = re.compile(rf"({_BARE_KEY.pattern}){_BLANKS[0].pattern}={_BLANKS[0].pattern}")


@dataclass
class Located:
    """A parsed TOML document with positions (1-based line and column)."""

    data: dict[str, Any]
    file: str
    text: str
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    #: offset in ``text`` just after each value
    value_ends: dict[KeyPath, int] = field(default_factory=dict)
    #: offset of each line's first character in ``text``, built once per source
    line_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", self.text)]

    def position(self, path: KeyPath, *, value: bool = False) -> tuple[int, int]:
        """Where ``path`` is: its value (``value=True``) or its key; falls back to
        the nearest enclosing path that has a position, then to line 1."""
        table = self.values if value else self.keys
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.keys:
                return self.keys[probe]
            probe = probe[:-1]
        return (1, 1)

    def string_position(self, path: KeyPath, index: int) -> tuple[int, int]:
        """Where character ``index`` of the string value at ``path`` is written:
        escapes, a multi-line string's lines and its trimmed first newline counted
        as the source has them."""
        line, col = self.position(path, value=True)
        starts = self.line_starts
        start = starts[line - 1] + col - 1 if line <= len(starts) else len(self.text)
        if self.text[start:start + 1] not in ("\"", "'"):
            return line, col
        offset = _string_offset(self.text, start, index)
        found = bisect_right(starts, offset) - 1
        return found + 1, offset - starts[found] + 1

    def value_line(self, path: KeyPath) -> tuple[str, Span] | None:
        """The source line where the value at ``path`` begins, without its
        indentation, and the span of the value on it (up to the line's end
        for a value that goes on); ``None`` when ``path`` has no value of its own."""
        if path not in self.values or path not in self.value_ends:
            return None
        line, col = self.values[path]
        begin = self.line_starts[line - 1]
        end = self.text.find("\n", begin)
        shown = self.text[begin:end if end >= 0 else len(self.text)].rstrip()
        indent = len(shown) - len(shown.lstrip())
        start = begin + col - 1
        stop = min(self.value_ends[path], begin + len(shown))
        return shown[indent:], Span(start - begin - indent, stop - begin - indent)

    def error(self, path: KeyPath, message: str, *, value: bool = False, hint: str = "", **kw: Any) -> ManifestError:
        """A :class:`ManifestError` at ``path``'s key, or its value (``value``:
        then its source line is shown with the value underlined, unless ``kw``
        brings a text and span of its own)."""
        line, col = self.position(path, value=value)
        shown = self.value_line(path) if value and "text" not in kw else None
        if shown is not None:
            kw["text"], kw["span"] = shown
        return ManifestError(message, file=self.file, line=line, col=col, key=format_path(path), hint=hint, **kw)


_ESCAPE_LENGTHS = {"u": 6, "U": 10}
_LINE_END_ESCAPE = re.compile(r"\\[ \t]*\r?\n[ \t\r\n]*")


def _string_offset(text: str, start: int, index: int) -> int:
    """Offset in ``text`` of character ``index`` of the TOML string whose opening
    quote is at ``start`` (basic or literal, single- or multi-line)."""
    quote = text[start]
    triple = text.startswith(quote * 3, start)
    basic = quote == '"'
    pos = start + (3 if triple else 1)
    if triple:                          # a newline right after the opening quotes is trimmed
        pos += 2 if text.startswith("\r\n", pos) else 1 if text.startswith("\n", pos) else 0

    def skip_line_end_escapes(pos: int) -> int:
        while triple and basic and (match := _LINE_END_ESCAPE.match(text, pos)):
            pos = match.end()
        return pos

    pos = skip_line_end_escapes(pos)
    for _ in range(index):
        if basic and text.startswith("\\", pos):
            pos += _ESCAPE_LENGTHS.get(text[pos + 1:pos + 2], 2)
        else:
            pos += 2 if text.startswith("\r\n", pos) else 1
        pos = skip_line_end_escapes(pos)
    return pos


def format_path(path: KeyPath) -> str:
    """``("patch", 3, "when")`` -> ``patch[3].when``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load(text: str, file: str) -> Located:
    """Parse ``text``; a syntax error keeps tomli's line and column."""
    import tomli

    try:
        data = tomli.loads(text)
    except RecursionError:          # tomli stops inline arrays/tables nested too deep
        line, col = _too_deep(text)
        raise ManifestError(f"invalid TOML: arrays or inline tables nested more than {MAX_NESTING} levels deep",
                            file=file, line=line, col=col, hint="flatten the value") from None
    except tomli.TOMLDecodeError as exc:
        message = getattr(exc, "msg", str(exc))
        raise ManifestError(
            f"invalid TOML: {message}",
            file=file,
            line=getattr(exc, "lineno", 0) or 0,
            col=getattr(exc, "colno", 0) or 0,
            hint="see https://toml.io for the syntax",
        ) from None
    located = Located(data, file, text)
    _Scanner(text, located).run()
    return located


#: tomli's limit on nested inline arrays and tables
MAX_NESTING = 400


def _too_deep(text: str) -> tuple[int, int]:
    """Line and column of the first ``[``/``{`` nested deeper than
    :data:`MAX_NESTING` (strings and comments skipped); 1, 1 if none."""
    depth, line, start, i = 0, 1, 0, 0
    while i < len(text):
        char = text[i]
        if char == "\n":
            line, start = line + 1, i + 1
        elif char == "#":
            i = text.find("\n", i) - 1 if "\n" in text[i:] else len(text)
        elif char in "\"'":
            end = text.find(char, i + 1)
            while char == '"' and end > 0 and text[end - 1] == "\\":
                end = text.find(char, end + 1)
            i = end if end > 0 else len(text)
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line, i - start + 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return 1, 1


class _Scanner:
    """Walks valid TOML text and records key/value positions (no value parsing)."""

    def __init__(self, text: str, out: Located) -> None:
        self.text = text
        self.pos = 0
        self.out = out
        self.array_counts: dict[KeyPath, int] = {}
        self.line_starts = out.line_starts

    # -- positions -------------------------------------------------------
    def where(self, pos: int) -> tuple[int, int]:
        line = bisect_right(self.line_starts, pos) - 1  # the last line starting at or before pos
        return line + 1, pos - self.line_starts[line] + 1

    # -- lexing helpers --------------------------------------------------
    def skip_ws(self, newlines: bool) -> None:
        self.pos = _BLANKS[newlines].match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def read_key_part(self) -> str:
        ch = self.peek()
        if ch in "\"'":
            return self.read_string()
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group()

    def read_dotted_key(self) -> list[str]:
        parts = [self.read_key_part()]
        while True:
            self.skip_ws(False)
            if self.peek() != ".":
                return parts
            self.pos += 1
            self.skip_ws(False)
            parts.append(self.read_key_part())

    def read_string(self) -> str:
        import tomli

        return tomli.loads(f"k = {self.skip_string()}")["k"]

    def skip_string(self) -> str:
        """Step over the string at ``pos``; its source text, quotes included."""
        start = self.pos
        self.pos = _STRING[self.text[start]].match(self.text, start).end()
        return self.text[start:self.pos]

    # -- structure -------------------------------------------------------
    def run(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_ws(True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                table = self.read_header()
            else:
                self.read_keyval(table)

    def read_header(self) -> KeyPath:
        start = self.pos
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        self.skip_ws(False)
        parts = tuple(self.read_dotted_key())
        self.pos = self.text.index("]]" if is_array else "]", self.pos) + (2 if is_array else 1)
        table = self.in_arrays(parts[:-1]) + parts[-1:]
        if is_array:
            index = self.array_counts.get(table, 0)
            self.array_counts[table] = index + 1
            path = table + (index,)
            self.out.keys.setdefault(table, self.where(start))
        else:
            path = table
        self.out.keys.setdefault(path, self.where(start))
        return path

    def in_arrays(self, parts: tuple[str, ...]) -> KeyPath:
        """The key path of a header's parent tables: a name that is an array of
        tables stands for its last entry (``[patch.options]`` is ``patch[-1]``'s)."""
        path: KeyPath = ()
        for part in parts:
            path += (part,)
            count = self.array_counts.get(path)
            if count:
                path += (count - 1,)
        return path

    def read_keyval(self, table: KeyPath) -> None:
        key_start = self.pos
        bare = _BARE_KEY_EQUALS.match(self.text, self.pos)
        if bare:
            path = table + (bare[1],)
            self.pos = bare.end()
        else:
            path = table + tuple(self.read_dotted_key())
            self.skip_ws(False)
            self.pos += 1  # '='
            self.skip_ws(False)
        self.out.keys.setdefault(path, self.where(key_start))
        self.read_value(path)

    def read_value(self, path: KeyPath) -> None:
        self.out.values.setdefault(path, self.where(self.pos))
        self.skip_value(path)
        self.out.value_ends.setdefault(path, self.pos)

    def skip_value(self, path: KeyPath) -> None:
        ch = self.peek()
        if ch in "\"'":
            self.skip_string()
        elif ch == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip_ws(True)
                if self.peek() == "]":
                    self.pos += 1
                    return
                self.read_value(path + (index,))
                self.out.keys.setdefault(path + (index,), self.out.values[path + (index,)])
                index += 1
                self.skip_ws(True)
                if self.peek() == ",":
                    self.pos += 1
        elif ch == "{":
            self.pos += 1
            while True:
                self.skip_ws(False)
                if self.peek() == "}":
                    self.pos += 1
                    return
                self.read_keyval(path)
                self.skip_ws(False)
                if self.peek() == ",":
                    self.pos += 1
        else:
            match = _VALUE_ATOM.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1


__all__ = ["KeyPath", "Located", "format_path", "load", "MAX_NESTING"]
