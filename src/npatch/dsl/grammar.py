"""Parse ``when`` conditions and target paths with the lark grammar.

The grammar (``npatch/grammar/npatch.lark``) ships inside the package and is
loaded once, on first use, with the LALR parser.  Conditions become the
plain tuples that :mod:`npatch.conditions` evaluates at run time (which is
why that module never needs lark).  Everything a manifest author can get
wrong is reported as a :class:`ConditionError` whose span marks the bad
token, call or name, with a message that says what would have been valid.

Checks made here, at compile time, so that a run never meets them: unknown
function and variable names (with a did-you-mean), the number of arguments,
``option()`` names against the declared options, and literals compared with
``version()`` / ``python_version`` (or with ``<``, ``>``...) that are not
PEP 440 versions.
"""
from __future__ import annotations

import keyword
import os
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from npatch.conditions import FUNCTIONS, VARIABLES, is_version_node
from npatch.errors import ConditionError, Span, did_you_mean
from npatch.outfiles import owned_regular, user_cache_dir

__all__ = ["ParsedTarget", "parse_condition", "parse_target"]

Node = tuple[Any, ...]


@dataclass(frozen=True)
class ParsedTarget:
    """A target path as written: ``explicit`` when a colon fixed the module/attribute split."""

    module: str
    qualname: str
    explicit: bool


def _cache_file() -> str | bool:
    """A private per-user file for lark's parser cache, or False when none is safe.

    The cache is a pickle, so loading one that someone else could write would
    run their code: lark's own default (a name in the shared temp dir) is not
    used, nor a file at our name that is a link or not ours alone.  The file lives in npatch's cache directory, the plan cache's
    (:func:`npatch.outfiles.user_cache_dir`: ours, closed to group and others).  Building
    the parser takes about 20 ms; loading the cache about 2 ms.
    """
    if os.environ.get("NPATCH_NO_GRAMMAR_CACHE") or not hasattr(os, "getuid"):
        return False
    folder = user_cache_dir()
    if folder is None or not os.access(folder, os.W_OK):
        return False
    from lark import __version__ as lark_version

    path = os.path.join(folder, f"grammar-lark{lark_version}-py{sys.version_info[0]}{sys.version_info[1]}.cache")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path  # lark makes it, in our private folder
    except OSError:
        return False
    # lark opens the name following links: a link or a file someone else made there
    # (while the folder was open to others) would be unpickled, or written through
    return path if owned_regular(info) else False


@lru_cache(maxsize=1)
def _parser() -> Any:
    """The LALR parser for both start rules, built once per process.

    Trees carry no positions (propagating them would cost a third of each
    parse): tokens always do, and :meth:`_Builder.span` finds a value's span
    from its tokens.
    """
    from lark import Lark

    return Lark.open_from_package(
        "npatch",
        "npatch.lark",
        ("grammar",),
        parser="lalr",
        start=["condition", "target"],
        maybe_placeholders=True,
        cache=_cache_file(),
    )


# ---------------------------------------------------------------- errors

#: How terminals read in "expected ..." messages; comparison operators are grouped.
_TERMINAL_NAMES = {
    "_OR": "`or`",
    "_AND": "`and`",
    "_NOT": "`not`",
    "IN": "`in`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "CMP_OP": "a comparison operator",
    "STRING": "a quoted string",
    "NUMBER": "a number",
    "NAME": "a name",
    "_LPAR": "`(`",
    "_RPAR": "`)`",
    "_COMMA": "`,`",
    "COLON": "`:`",
    "_DOT": "`.`",
    "$END": "the end",
}

def _expected(terminals: Collection[str]) -> str:
    """Lark terminal names in words: "`or`, `and`, a comparison operator or the end"."""
    order = list(_TERMINAL_NAMES)  # values first, then operators, then closers
    names: list[str] = []
    if {"STRING", "NAME"} <= set(terminals) and "CMP_OP" not in terminals:
        names.append("a condition" if "_NOT" in terminals else "a value")
        terminals = [t for t in terminals if t not in ("STRING", "NUMBER", "NAME", "TRUE", "FALSE", "_NOT", "_LPAR")]
    ordered = sorted(set(terminals), key=lambda t: order.index(t) if t in order else len(order))
    if "CMP_OP" in ordered and "IN" in ordered:
        ordered.remove("IN")
        ordered = [t for t in ordered if t != "_NOT"]
    for t in ordered:
        name = _TERMINAL_NAMES.get(t, f"`{t}`")
        if name not in names:
            names.append(name)
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _bad_run(text: str, pos: int) -> Span:
    """The span of the unlexable run at ``pos``: a word, a run of punctuation, or an open string."""
    if text[pos] in "'\"":
        return Span(pos, len(text))
    word = re.compile(r"[\w.+*-]") if re.match(r"[\w.]", text[pos]) else re.compile(r"[^\w\s()'\",]")
    end = pos + 1
    while end < len(text) and word.match(text[end]):
        end += 1
    return Span(pos, end)


#: Characters users bring from Python, shell or C, with what npatch wants instead.
_CHAR_HINTS = (
    (re.compile(r"&&?"), "use `and`"),
    (re.compile(r"\|\|?"), "use `or`"),
    (re.compile(r"!"), "use `not`"),
    (re.compile(r"="), "compare with `==`"),
    (re.compile(r"[\d.][\w.+*-]*"), "quote literals: versions are strings, e.g. '2.0'"),
    (re.compile(r"[\"'].*"), "a string is missing its closing quote"),
)


def _accepts(text: str, exc: Any, pos: int, start: str) -> set[str]:
    """The terminals really acceptable at ``pos``.

    LALR merges states, so ``exc.expected`` may list `)` at the top level;
    replaying the text before the error in an interactive parser gives the
    exact set.
    """
    parser = getattr(exc, "interactive_parser", None)
    try:
        if parser is None:
            parser = _parser().parse_interactive(text[:pos], start=start)
            parser.exhaust_lexer()
        return set(parser.accepts())
    except Exception:  # noqa: BLE001 - any failure: fall back to lark's own guess
        return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _syntax_error(text: str, exc: Any) -> ConditionError:
    """A friendly :class:`ConditionError` for a lark parse failure of a condition."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        span = _bad_run(text, exc.pos_in_stream)
        bad = text[span.start:span.end]
        hint = next((h for rx, h in _CHAR_HINTS if rx.fullmatch(bad)), "")
        expected = _expected(_accepts(text, exc, span.start, "condition"))
        return ConditionError(f"unexpected `{bad}`: expected {expected}", text, span, hint)
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        tok = exc.token
        span = Span(tok.start_pos, tok.end_pos)
        accepts = _accepts(text, exc, tok.start_pos, "condition")
        hint = ""
        before = text[:tok.start_pos]
        if tok.type == "NAME" and re.search(r"[0-9.]$", before) and not re.search(r"['\"]\s*$", before):
            hint = "quote a version that is more than numbers: '2.0a1'"
        elif tok.type in ("CMP_OP", "IN") and "CMP_OP" not in accepts:
            hint = "a comparison has one operator; combine comparisons with `and`"
        elif tok.type in ("STRING", "NAME", "TRUE", "FALSE") and "_AND" in accepts and "_COMMA" not in accepts:
            hint = "join conditions with `and` / `or`"
        return ConditionError(f"unexpected `{tok}`: expected {_expected(accepts)}", text, span, hint)
    end = len(text.rstrip())
    accepts = _accepts(text, exc, len(text), "condition")
    what = "a condition" if not text.strip() else _expected(accepts)
    hint = "an unclosed `(`?" if "_RPAR" in accepts else ""
    return ConditionError(f"condition ends too early: expected {what}", text, Span(end, end), hint)


# ---------------------------------------------------------------- conditions

_ESCAPE = re.compile(r"\\(.)")


def _unescape(token: str) -> str:
    body = token[1:-1]
    return _ESCAPE.sub(r"\1", body) if "\\" in body else body


class _Builder:
    """Turns a lark tree into condition tuples, checking names as it goes."""

    def __init__(self, text: str, options: Collection[str] | None) -> None:
        self.text = text
        self.options = options

    def error(self, message: str, span: Span, hint: str = "") -> ConditionError:
        return ConditionError(message, self.text, span, hint)

    def span(self, tree: Any) -> Span:
        """Where a value is written: its one token, or a call from its name to its `)`
        (after the last argument come only blanks, a comma and the `)`)."""
        first = tree.children[0]
        if tree.data != "call":
            return Span(first.start_pos, first.end_pos)
        arguments = tree.children[1]
        last = self.span(arguments.children[-1]).end if arguments is not None else first.end_pos
        return Span(first.start_pos, self.text.index(")", last) + 1)

    def build(self, tree: Any) -> Node:
        return getattr(self, "_" + tree.data)(tree)

    def _condition(self, tree: Any) -> Node:
        return self.build(tree.children[0])

    def _fold(self, op: str, tree: Any) -> Node:
        node = self.build(tree.children[0])
        for child in tree.children[1:]:
            node = (op, node, self.build(child))
        return node

    def _or_expr(self, tree: Any) -> Node:
        return self._fold("or", tree)

    def _and_expr(self, tree: Any) -> Node:
        return self._fold("and", tree)

    def _not_(self, tree: Any) -> Node:
        return ("not", self.build(tree.children[0]))

    def _string(self, tree: Any) -> Node:
        token = tree.children[0]  # the tree may be a masked text's: the value is read from ours
        return ("str", _unescape(self.text[token.start_pos:token.end_pos]))

    def _number(self, tree: Any) -> Node:
        return ("num", str(tree.children[0]))

    def _true(self, tree: Any) -> Node:
        return ("bool", True)

    def _false(self, tree: Any) -> Node:
        return ("bool", False)

    def _var(self, tree: Any) -> Node:
        name = str(tree.children[0])
        if name not in VARIABLES:
            known = [*VARIABLES, "true", "false"]
            hint = did_you_mean(name.lower() if name in ("True", "False") else name, known)
            if not hint:
                hint = f"variables are {', '.join(VARIABLES)}; quote text: '{name}'"
            raise self.error(f"unknown name `{name}`", self.span(tree), hint)
        return ("var", name)

    def _call(self, tree: Any) -> Node:
        name_tok, arguments = tree.children
        name = str(name_tok)
        fn = FUNCTIONS.get(name)
        if fn is None:
            hint = did_you_mean(name, FUNCTIONS) or f"functions are {', '.join(sorted(FUNCTIONS))}"
            raise self.error(f"unknown function `{name}`",
                             Span(name_tok.start_pos, name_tok.end_pos), hint)
        args = tuple(self.build(a) for a in arguments.children) if arguments is not None else ()
        if not fn.min_args <= len(args) <= fn.max_args:
            want = (f"{fn.min_args}" if fn.min_args == fn.max_args
                    else f"{fn.min_args} to {fn.max_args}")
            raise self.error(f"{name}() takes {want} argument{'s' * (fn.max_args != 1)}, got {len(args)}",
                             self.span(tree), f"usage: {fn.signature}")
        if name == "option":
            self._check_option(tree, args)
        elif fn.takes_name and args and args[0][0] in ("num", "bool"):
            raise self.error(f"{name}() takes a name as a quoted string", self.span(tree.children[1].children[0]),
                             f"usage: {fn.signature}")
        return ("call", name, args)

    def _check_option(self, tree: Any, args: tuple[Node, ...]) -> None:
        arg_span = self.span(tree.children[1].children[0])
        if args[0][0] != "str":
            raise self.error("option() takes the option name as a quoted string", arg_span,
                             "e.g. option('allow_internal_format')")
        if self.options is not None and args[0][1] not in self.options:
            declared = ", ".join(sorted(self.options)) or "none"
            hint = did_you_mean(args[0][1], self.options) or f"declared options: {declared}"
            raise self.error(f"option {args[0][1]!r} is not declared in [options]", arg_span, hint)

    def _cmp(self, tree: Any) -> Node:
        left_tree, op_tree, right_tree = tree.children
        left, right = self.build(left_tree), self.build(right_tree)
        op = "not in" if op_tree.data == "not_in" else str(op_tree.children[0])
        if op not in ("in", "not in"):
            self._check_versions(op, (left, left_tree), (right, right_tree))
        return ("cmp", op, left, right)

    def _check_versions(self, op: str, *sides: tuple[Node, Any]) -> None:
        """Literals compared as versions must make PEP 440 specifiers (``==`` also
        takes ``2.*``); a number compared with a non-version must be a number."""
        from npatch import pep440

        versioned = any(is_version_node(node) for node, _ in sides)
        numeric = not versioned and op != "~=" and any(node[0] == "num" for node, _ in sides)
        if numeric:
            for node, tree in sides:
                if node[0] == "num" and node[1].count(".") > 1:
                    raise self.error(f"{node[1]} is not a number", self.span(tree),
                                     "quote a version compared with something other than version(): '1.2.3'")
            return
        if not versioned and op in ("==", "!="):
            return
        for node, tree in sides:
            if node[0] == "bool":
                raise self.error(f"`{op}` compares versions, not true/false", self.span(tree))
            if node[0] not in ("str", "num"):
                continue
            why = pep440.check(op, node[1])
            if why is not None:
                wildcard = " (or a prefix like '2.*' with == / !=)" if op in ("==", "!=") else ""
                raise self.error(f"{node[1]!r} is not a valid version for `{op}`: {why}", self.span(tree),
                                 f"versions follow PEP 440, e.g. '2.1', '2.6.0a0+git1234'{wildcard}") from None


def parse_condition(text: str, options: Collection[str] | None = None) -> Node:
    """Parse a ``when`` condition into nested tuples (see :mod:`npatch.conditions`).

    Manifests repeat conditions (``installed('mx_driving')`` on every op), so
    results are cached by text and declared options.
    """
    if not isinstance(text, str):
        return _parse_condition(text, None)
    return _parse_condition_cached(text, None if options is None else frozenset(options))


@lru_cache(maxsize=1024)
def _parse_condition_cached(text: str, options: frozenset[str] | None) -> Node:
    return _parse_condition(text, options)


def _parse_condition(text: str, options: Collection[str] | None) -> Node:
    """Parse a ``when`` condition into nested tuples (see :mod:`npatch.conditions`).

    ``options`` are the names declared in ``[options]``; ``option('x')`` of
    any other name is an error.  None skips that check.  Raises
    :class:`ConditionError` with the span of the offending token, call or name.
    """
    from lark.exceptions import UnexpectedInput

    if not isinstance(text, str):
        raise ConditionError(f"a condition is a string, not {type(text).__name__}", repr(text), Span(0, 0),
                             "write e.g. when = \"installed('mmcv')\"")
    _check_size(text)
    try:
        tree = _masked_tree(_mask_strings(text))
    except UnexpectedInput:  # the error is reported on the text as written
        try:
            tree = _parser().parse(text, start="condition")
        except UnexpectedInput as exc:
            raise _syntax_error(text, exc) from None
    return _Builder(text, options).build(tree)


@lru_cache(maxsize=1)
def _string_literal() -> re.Pattern[str]:
    """The grammar's own STRING terminal, as a regular expression."""
    return re.compile(_parser().get_terminal("STRING").pattern.to_regexp())


def _mask_strings(text: str) -> str:
    """``text`` with the inside of every string literal blanked to ``_``.

    Conditions differ mostly in their strings (``env('A')``, ``env('B')``):
    masked, they share one parse.  Lengths are kept, so every token keeps its
    position, and the builder reads each string's value from the real text.
    Only a STRING holds a quote, so the literals found here (with the grammar's
    own pattern) are the lexer's STRING tokens, and no other token reaches into
    one: the masked text parses to the same tree as the text, or fails, and
    then the text is parsed as written.
    """
    return _string_literal().sub(lambda m: f"{m[0][0]}{'_' * (len(m[0]) - 2)}{m[0][0]}", text)


@lru_cache(maxsize=1024)
def _masked_tree(masked: str) -> Any:
    """The parse tree of a masked condition, shared by the conditions that mask to it."""
    return _parser().parse(masked, start="condition")


#: limits checked before parsing: the parser and the tree builder recurse
MAX_CONDITION_TERMS = 100
MAX_CONDITION_NESTING = 30
_SIZE_TOKENS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\b(and|or|not)\b|([()])")


def _check_size(text: str) -> None:
    """At most :data:`MAX_CONDITION_TERMS` operands joined by ``and``/``or``
    and :data:`MAX_CONDITION_NESTING` levels of parentheses and ``not``."""
    if (text.count("and") + text.count("or") < MAX_CONDITION_TERMS
            and text.count("(") + text.count("not") <= MAX_CONDITION_NESTING):
        return  # too few of them anywhere in the text (strings included) to pass a limit
    terms, runs = 1, [0]
    for match in _SIZE_TOKENS.finditer(text):
        word, paren = match.group(1), match.group(2)
        if word in ("and", "or"):
            terms, runs[-1] = terms + 1, 0
            problem = f"more than {MAX_CONDITION_TERMS} terms" if terms > MAX_CONDITION_TERMS else ""
        else:
            if word == "not":
                runs[-1] += 1
            elif paren == "(":
                runs.append(0)
            elif paren == ")" and len(runs) > 1:
                runs.pop()
            deep = len(runs) - 1 + sum(runs) > MAX_CONDITION_NESTING
            problem = f"nested more than {MAX_CONDITION_NESTING} levels deep (parentheses and `not`)" if deep else ""
        if problem:
            raise ConditionError(f"condition too large: {problem}", text, Span(match.start(), match.end()),
                                 "split it, or compute it in an option")


# ---------------------------------------------------------------- targets

_TARGET_HINT = "write `package.module:Qual.name`, `package.module:` or `package.module.name`"


def parse_target(text: str) -> ParsedTarget:
    """Split a target path: ``pkg.mod:Qual.name``, ``pkg.mod:`` or dotted ``a.b.c``.

    A dotted path without a colon is ``explicit=False``: the compiler decides
    where the module ends.  Raises :class:`ConditionError` with the span of
    the first bad part (empty part, non-identifier, second colon...).
    """
    if isinstance(text, str):
        return _parse_target_cached(text)
    return _parse_target_slow(text)


@lru_cache(maxsize=8192)
def _parse_target_cached(text: str) -> ParsedTarget:
    """A path is read twice (checking the manifest, then compiling it), often more:
    room for every path of a few thousand ops, read in the same order twice."""
    match = _WELL_FORMED_TARGET.match(text)
    if match and not any(keyword.iskeyword(part) for part in re.split(r"[.:]", text)):
        # the common case, decided without the parser (a 1,000-op manifest has 2,000 paths)
        return ParsedTarget(match.group(1), match.group(3) or "", match.group(2) is not None)
    return _parse_target_slow(text)


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_WELL_FORMED_TARGET = re.compile(rf"({_IDENTIFIER}(?:\.{_IDENTIFIER})*)(:({_IDENTIFIER}(?:\.{_IDENTIFIER})*)?)?\Z")


def _parse_target_slow(text: str) -> ParsedTarget:
    """The grammar's answer, with the located error for a malformed path."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

    if not isinstance(text, str):
        raise ConditionError(f"a target is a string, not {type(text).__name__}", repr(text), Span(0, 0), _TARGET_HINT)
    space = re.search(r"\s+", text)
    if space:
        raise ConditionError("a target path has no spaces", text, Span(space.start(), space.end()),
                             _TARGET_HINT)
    try:
        tree = _parser().parse(text, start="target")
    except UnexpectedCharacters as exc:
        raise _not_identifier(text, exc.pos_in_stream) from None
    except UnexpectedToken as exc:
        if exc.token.type == "NUMBER":  # `a.1b`: a name cannot start with a digit
            raise _not_identifier(text, exc.token.start_pos) from None
        raise _target_error(text, exc) from None
    except UnexpectedInput as exc:  # pragma: no cover - lark raises one of the above for LALR
        raise ConditionError(str(exc), text, Span(0, len(text)), _TARGET_HINT) from None
    dotted = tree.children[0]
    explicit = len(tree.children) > 1
    qual_tree = tree.children[2] if explicit else None
    for tok in [*dotted.children, *(qual_tree.children if qual_tree is not None else ())]:
        if keyword.iskeyword(tok):
            raise ConditionError(f"`{tok}` is a Python keyword, not a name", text,
                                 Span(tok.start_pos, tok.end_pos), _TARGET_HINT)
    module = ".".join(dotted.children)
    qualname = ".".join(qual_tree.children) if qual_tree is not None else ""
    return ParsedTarget(module, qualname, explicit)


def _not_identifier(text: str, pos: int) -> ConditionError:
    """Point at the whole dotted part that holds the bad character: `a-b`, `1x`."""
    start = max(text.rfind(".", 0, pos), text.rfind(":", 0, pos)) + 1
    end = re.compile(r"[.:]|$").search(text, pos).start()
    bad = text[start:end]
    hint = "module names use `_`, not `-`" if "-" in bad else _TARGET_HINT
    return ConditionError(f"`{bad}` is not a Python identifier", text, Span(start, end), hint)


def _target_error(text: str, exc: Any) -> ConditionError:
    tok = exc.token
    if tok.type == "$END":
        end = len(text)
        if not text:
            return ConditionError("empty target", text, Span(0, 0), _TARGET_HINT)
        return ConditionError(f"a name must follow `{text[-1]}`", text, Span(end - 1, end), _TARGET_HINT)
    span = Span(tok.start_pos, tok.end_pos)
    if tok.type == "COLON" and ":" in text[:tok.start_pos]:
        return ConditionError("a target has at most one `:`", text, span, _TARGET_HINT)
    return ConditionError(f"empty name before `{tok}`", text, span, _TARGET_HINT)
