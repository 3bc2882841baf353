"""Hollowing: a smaller text for libcst, with the same lines, and the way back.

libcst parses several times slower than :mod:`ast`, and the combined pass
visits every node it built, so a large file costs seconds even when the rules
touch three lines of it.  Before libcst sees a file, :func:`hollow` replaces
the regions that no rule can touch by a placeholder spanning the same number
of lines:

* a whole ``def`` or ``class`` (at any depth), decorators and signature too,
  becomes ``def name(): ...  #<tag><n>`` (``class name: ...``) and blank
  lines: it binds the same name, and its decorators, defaults, annotations
  and bases only read names;
* else the body of a function or class becomes ``...  #<tag><n>`` and blank
  lines;
* the right-hand side of an assignment, the value of a ``return`` and an
  expression statement other than a string (a docstring), when they span
  several lines, become ``(...  #<tag><n>``, blank lines, and ``)`` in the
  column of the last character; when such a value cannot go whole, the
  elements of a list, tuple, set or dict and the arguments of a call that
  span several lines are tried one by one (``op_db = [OpInfo(...), ...]``).

A region is touchable, and kept, when one of its lines holds a needle word of
any rule (:class:`~npatch.rewrite.prefilter.Words`), a place the
:mod:`~npatch.rewrite.scan` marks as a possible reference to a rule's target,
an import statement, a ``global``/``nonlocal`` statement or an assignment
expression (``:=``).  That is enough because a rule changes or reports only
import statements, references to its targets, nodes whose text holds one of
its needles, and the top of the module (see :class:`npatch.rewrite.rules.Rule`);
and what a hollowed region could tell the rest of the file (the names it
binds) stays: a function or class body binds nothing outside itself without
``global``/``nonlocal``, and a right-hand side without ``:=`` binds nothing.

The same promise lets the combined pass skip statements that were not
hollowed (one-line ones, those around a kept line): :func:`untouched` names
those whose lines hold no touchable line, and the pass does not enter them.

Lines keep their numbers and kept lines their columns, so positions in
reports are those of the original text.  :meth:`Hollowed.restore` puts the
original text back into the generated code and says None when a placeholder
did not come back exactly once (the engine then runs on the whole text).
"""
from __future__ import annotations

import ast
import re
from bisect import bisect_left
from dataclasses import dataclass, field

import libcst as cst

from npatch.rewrite.prefilter import Words

#: regions shorter than this many lines are not worth a placeholder
MIN_LINES = 2

_VALUED = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return, ast.Expr)
#: statements whose body binds nothing the rest of the file sees (a class body: only the class's own scope)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Hollowed:
    """The text libcst parses, and each placeholder with the text it stands for."""

    text: str
    tag: str = ""
    #: placeholder number -> (placeholder, original text)
    pieces: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: the lines a rule may touch, sorted (None: not known, nothing may be skipped)
    blocked: list[int] | None = None

    def restore(self, code: str) -> str | None:
        """``code`` with every placeholder replaced by its original text; None
        unless every placeholder occurs exactly once."""
        out, seen = self._replace(code)
        return out if seen == len(self.pieces) else None

    def restore_part(self, code: str) -> str:
        """The placeholders found in ``code`` (the text of one node) replaced."""
        return self._replace(code)[0] if self.pieces and self.tag in code else code

    def _replace(self, code: str) -> tuple[str, int]:
        if not self.pieces:
            return code, 0
        out, last, seen = [], 0, set()
        for match in re.finditer(re.escape(self.tag) + r"(\d+)\n", code):
            number = int(match.group(1))
            placeholder, original = self.pieces.get(number, ("", ""))
            start = match.start() - 1 - placeholder.index("#")
            if not placeholder or number in seen or start < last \
                    or not code.startswith(placeholder, start):
                return code, -1
            seen.add(number)
            out += [code[last:start], original]
            last = start + len(placeholder)
        out.append(code[last:])
        return "".join(out), len(seen)


def hollow(text: str, tree: ast.Module, words: Words, touched: set[int]) -> Hollowed:
    """``text`` with the regions no rule can touch hollowed out.

    ``tree`` is ``ast.parse(text)``; ``touched`` holds the lines that must stay
    (scan hits, imports, ``global``/``nonlocal``, ``:=``); lines with needle
    words are added here.  A text with carriage returns is left whole (the
    line arithmetic below counts ``\\n`` only)."""
    if "\r" in text:
        return Hollowed(text)
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    blocked = set(touched)
    if words.pattern is not None:
        for match in words.pattern.finditer(text):
            blocked.add(bisect_left(starts, match.start() + 1))
    finder = _Regions(text, lines, starts, sorted(blocked))
    finder.block(tree.body)
    if not finder.regions:
        return Hollowed(text, blocked=finder.blocked)
    tag = "npatch-hollow-"
    while tag in text:
        tag += "x"
    out, last, pieces = [], 0, {}
    for number, (start, end, make) in enumerate(sorted(finder.regions)):
        placeholder = make(f"{tag}{number}")
        pieces[number] = (placeholder, text[start:end])
        out += [text[last:start], placeholder]
        last = end
    out.append(text[last:])
    return Hollowed("".join(out), tag, pieces, finder.blocked)


def untouched(module: cst.Module, tree: ast.Module, blocked: list[int]) -> frozenset[int]:
    """Ids of the statements of ``module`` (parsed from the hollowed text of
    ``tree``'s source) whose lines, decorators included, hold no ``blocked``
    line: no rule changes or reports anything inside them, so the combined
    pass need not enter them (the statement itself is still visited and left).

    The libcst statements are paired with the :mod:`ast` statements of the
    same body, in order; a body whose statements do not pair up one for one
    (a hollowed function body, ``...`` for many) gives nothing."""
    return frozenset(_untouched(module.body, tree.body, lambda first, last: _free(blocked, first, last)) or ())


def _free(blocked: list[int], first: int, last: int) -> bool:
    """No line of the sorted ``blocked`` in ``first..last`` (1-based, inclusive)."""
    i = bisect_left(blocked, first)
    return i == len(blocked) or blocked[i] > last


def _untouched(body, ast_body: list[ast.stmt], free) -> set[int] | None:
    out: set[int] = set()
    k = 0
    for node in body:
        if isinstance(node, cst.SimpleStatementLine):
            group = ast_body[k:k + len(node.body)]
            k += len(node.body)
            if len(group) != len(node.body) or not all(map(same_kind, node.body, group)):
                return None
            if free(group[0].lineno, max(a.end_lineno or a.lineno for a in group)):
                out.add(id(node))
            continue
        if k >= len(ast_body) or not same_kind(node, ast_body[k]):
            return None
        stmt = ast_body[k]
        k += 1
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        if free(first, stmt.end_lineno or stmt.lineno):
            out.add(id(node))
        elif isinstance(getattr(node, "body", None), cst.IndentedBlock):
            out |= _untouched(node.body.body, stmt.body, free) or set()
    return out if k == len(ast_body) else None


#: libcst statement kinds whose :mod:`ast` kind has another name (``async`` ones aside)
_AST_KIND = {"Del": "Delete"}


def same_kind(node: cst.CSTNode, stmt: ast.stmt) -> bool:
    """A libcst statement and an :mod:`ast` one of the same kind (and name, for a ``def``/``class``)."""
    kind = type(node).__name__
    if _AST_KIND.get(kind, kind) != type(stmt).__name__.removeprefix("Async"):
        return False
    return not isinstance(node, cst.FunctionDef | cst.ClassDef) or node.name.value == stmt.name


class _Regions:
    """Find the hollowable regions: ``(start, end, placeholder maker)`` offsets."""

    def __init__(self, text: str, lines: list[str], starts: list[int], blocked: list[int]) -> None:
        self.text, self.lines, self.starts, self.blocked = text, lines, starts, blocked
        self.regions: list[tuple[int, int, object]] = []

    def free(self, first: int, last: int) -> bool:
        return _free(self.blocked, first, last)

    def offset(self, line: int, col: int) -> int:
        """Text offset of an ast position (``col`` counts UTF-8 bytes)."""
        text = self.lines[line - 1]
        if not text.isascii():
            col = len(text.encode("utf-8")[:col].decode("utf-8", "replace"))
        return self.starts[line - 1] + col

    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, _SCOPES):
                if not (self.definition(stmt) or self.function(stmt)):
                    self.block(stmt.body)
            elif isinstance(stmt, _VALUED):
                self.value(stmt)
            else:
                for name in ("body", "orelse", "finalbody"):
                    self.block(getattr(stmt, name, []))
                for part in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
                    self.block(part.body)

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
        """The whole ``def``/``class``, decorators and signature too, as one that binds the same name."""
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        last = node.end_lineno or node.lineno
        if last - first + 1 < MIN_LINES or not self.free(first, last) or last >= len(self.lines):
            return False
        line = self.lines[first - 1]
        indent = line[:len(line) - len(line.lstrip(" \t"))]
        start = self.starts[first - 1] + len(indent)
        if node.decorator_list:
            if not line.lstrip(" \t").startswith("@"):
                return False
        elif self.offset(first, node.col_offset) != start:
            return False            # not the first statement on its line
        head = f"class {node.name}" if isinstance(node, ast.ClassDef) else f"def {node.name}()"
        gap = "\n" * (last - first)
        self.regions.append((start, self.starts[last], lambda mark: f"{head}: ...  #{mark}\n{gap}"))
        return True

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
        head = node.body[0]
        decorators = getattr(head, "decorator_list", [])
        first = min([head.lineno, *(d.lineno for d in decorators)])
        last = node.end_lineno or node.lineno
        if last - first + 1 < MIN_LINES or not self.free(first, last) or last >= len(self.lines):
            return False
        start = self.starts[first - 1]
        if decorators:          # a decorator line starts with `@` after the indentation
            indent = self.lines[first - 1][:len(self.lines[first - 1]) - len(self.lines[first - 1].lstrip(" \t"))]
        else:
            indent = self.text[start:self.offset(first, head.col_offset)]
        if indent.strip(" \t"):
            return False            # the body starts on the line of the `def`
        end = self.starts[last]     # the start of the line after the body
        gap = "\n" * (last - first)
        self.regions.append((start, end, lambda mark: f"{indent}...  #{mark}\n{gap}"))
        return True

    def value(self, stmt: ast.stmt) -> None:
        value = getattr(stmt, "value", None)
        if value is None or (isinstance(stmt, ast.Expr) and isinstance(value, ast.Constant)
                             and isinstance(value.value, str)):
            return                  # a docstring stays one
        self.expr(value)

    def expr(self, node: ast.expr) -> None:
        """Hollow ``node``, or else the parts of a literal or call that span lines."""
        if isinstance(node, (ast.JoinedStr, ast.GeneratorExp)):
            return                  # positions of f-strings and lone generators are unreliable
        first, last = node.lineno, node.end_lineno or node.lineno
        if last - first + 1 < MIN_LINES:
            return
        if self.free(first, last):
            start, end = self.offset(first, node.col_offset), self.offset(last, node.end_col_offset or 0)
            if _is_expression(self.text[start:end]):
                # `)` where the last character was: what follows keeps its column
                tail = " " * (end - self.starts[last - 1] - 1) + ")"
                gap = "\n" * (last - first)
                self.regions.append((start, end, lambda mark: f"(...  #{mark}{gap}{tail}"))
                return
        for part in _parts(node):
            self.expr(part)


def _parts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return node.elts
    if isinstance(node, ast.Dict):
        return [*(k for k in node.keys if k is not None), *node.values]
    if isinstance(node, ast.Call):
        return [*node.args, *(k.value for k in node.keywords)]
    return []


def _is_expression(piece: str) -> bool:
    """``piece`` is one whole expression (a guard against a wrong position)."""
    try:
        ast.parse(f"({piece})", mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


__all__ = ["MIN_LINES", "Hollowed", "hollow", "untouched", "same_kind"]
