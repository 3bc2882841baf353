"""Load one manifest file and check it against the model.

The result is a :class:`Manifest`: its header, its options and its entries
(one per ``[[alias]]``, ``[[stub]]``, ``[[patch]]``, ... table), each entry
still knowing where it is in the file.  Checks here are local to the file:
types, unknown keys (with a did-you-mean), required keys, choices, and the
syntax of conditions and paths.  Everything that needs several files
(includes, duplicates, options) is the compiler's.

All problems of a file are collected and raised together as
:class:`~npatch.errors.ManifestErrors`.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npatch.dsl.locate import KeyPath, Located, format_path, load
from npatch.dsl.model import NAME_PATTERN, PATCH_ACTIONS, PATCH_NAME_PATTERN, TABLES, Key, Table
from npatch.errors import ConditionError, ManifestError, ManifestErrors, Span, UsageError, did_you_mean
from npatch.opkinds import BUILTIN_OP_KINDS


@dataclass
class Entry:
    """One ``[[table]]`` (or ``[table]``) of a manifest, validated."""

    table: str
    path: KeyPath
    data: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> int | None:
        return self.path[1] if len(self.path) > 1 else None


@dataclass
class Manifest:
    name: str
    file: Path
    doc: Located
    description: str = ""
    include: list[str] = field(default_factory=list)
    when: Any = None
    when_text: str | None = None
    disable: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    def error(self, path: KeyPath, message: str, **kw: Any) -> ManifestError:
        return self.doc.error(path, message, **kw)


def load_manifest(file: Path) -> Manifest:
    """Read and check one manifest file (its includes are not followed here)."""
    data = read_manifest_bytes(file)
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")   # a BOM (Windows editors)
    except UnicodeDecodeError as exc:
        raise _not_utf8(file, data, exc) from None
    doc = load(text, str(file))
    checker = _Checker(doc)
    manifest = checker.run()
    if checker.errors:
        raise ManifestErrors(checker.errors)
    assert manifest is not None
    return manifest


def _not_utf8(file: Path, data: bytes, exc: UnicodeDecodeError) -> ManifestError:
    """The error at the first byte that is not UTF-8 (its column in characters)."""
    before = data[:exc.start]
    start = before.rfind(b"\n") + 1
    col = len(before[start:].removeprefix(b"\xef\xbb\xbf" if start == 0 else b"").decode("utf-8", "replace")) + 1
    hint = " (UTF-16? save it as UTF-8)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    return ManifestError(f"not UTF-8 text: {exc.reason} 0x{data[exc.start]:02x}{hint}", file=str(file),
                         line=before.count(b"\n") + 1, col=col)


#: a manifest is a few KiB; anything near this is not one
MAX_MANIFEST_BYTES = 4 << 20


def read_manifest_bytes(file: Path) -> bytes:
    """The bytes of a manifest file; :class:`UsageError` (one line) for a
    FIFO, device, directory or ``/proc`` file, an unreadable or over-long
    path, or a file larger than :data:`MAX_MANIFEST_BYTES` (never blocks:
    :func:`npatch.outfiles.read_input`)."""
    from npatch.outfiles import read_input

    try:
        return read_input(str(file), MAX_MANIFEST_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read manifest {file}: {exc.strerror or exc}") from None


_TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false", "number": "a number",
               "list[str]": "an array of strings", "table": "a table", "examples": "an array of { before, after } tables"}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "examples":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return True


class _Checker:
    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.errors: list[ManifestError] = []

    def fail(self, path: KeyPath, message: str, **kw: Any) -> None:
        self.errors.append(self.doc.error(path, message, **kw))

    def run(self) -> Manifest | None:
        data = self.doc.data
        for name in data:
            if name not in TABLES:
                hint = did_you_mean(name, tuple(TABLES)) or f"valid tables: {', '.join(TABLES)}"
                self.fail((name,), f"unknown table `{name}`", hint=hint)
        head = data.get("manifest")
        if not isinstance(head, dict):
            self.fail(("manifest",), "missing [manifest] table",
                      hint='every manifest starts with [manifest] and name = "..."')
            return None
        header = self.check_table(TABLES["manifest"], ("manifest",), head)
        manifest = Manifest(name=head.get("name", ""), file=Path(self.doc.file), doc=self.doc)
        manifest.description = head.get("description", "")
        manifest.include = list(head.get("include", []))
        manifest.disable = list(head.get("disable", []))
        if "when" in header.conditions:
            manifest.when = header.conditions["when"]
            manifest.when_text = head["when"]
        options = data.get("options", {})
        if not isinstance(options, dict):
            self.fail(("options",), "[options] must be a table of name = default value")
        else:
            manifest.options = dict(options)
            for name, value in options.items():
                self.check_option(name, value)
        for name, table in TABLES.items():
            if name in ("manifest", "options") or name not in data:
                continue
            raw = data[name]
            if table.array:
                if not isinstance(raw, list):
                    self.fail((name,), f"`{name}` must be an array of tables", hint=f"write [[{name}]]")
                    continue
                for index, item in enumerate(raw):
                    manifest.entries.append(self.check_table(table, (name, index), item))
            elif not isinstance(raw, dict):
                self.fail((name,), f"`{name}` must be a table", hint=f"write [{name}], not [[{name}]]")
            else:
                manifest.entries.append(self.check_table(table, (name,), raw))
        return manifest

    def check_table(self, table: Table, path: KeyPath, raw: Any) -> Entry:
        entry = Entry(table.name, path, raw if isinstance(raw, dict) else {})
        if not isinstance(raw, dict):
            self.fail(path, f"`{table.name}` entries must be tables")
            return entry
        extra = _extra_keys(table)
        for key, value in raw.items():
            spec = table.key(key)
            if spec is None:
                if key in extra:
                    continue
                valid = [k.name for k in table.keys] + sorted(extra)
                self.fail(path + (key,), f"unknown key `{key}` in [{'[' if table.array else ''}{table.name}{']' if table.array else ''}]",
                          hint=did_you_mean(key, valid) or f"valid keys: {', '.join(valid)}")
                continue
            self.check_value(spec, path + (key,), value, entry)
        for spec in table.keys:
            if spec.required and spec.name not in raw:
                self.fail(path, f"missing required key `{spec.name}`", hint=spec.doc)
        checker = _ENTRY_CHECKS.get(table.name)
        if checker:
            checker(self, entry)
        return entry

    def check_option(self, name: str, value: Any) -> None:
        """An ``[options]`` entry: an identifier naming a string, number or boolean."""
        if not name.isidentifier():
            self.fail(("options", name), f"invalid option name {name!r}",
                      hint="an option name is a Python identifier: letters, digits and `_`, not starting with a digit")
        elif not isinstance(value, (str, int, float)):
            self.fail(("options", name), f"option `{name}` must be a string, number or boolean, not {_toml_type(value)}",
                      value=True, hint="`--set` and `option()` work on scalar values")

    def check_value(self, spec: Key, path: KeyPath, value: Any, entry: Entry) -> None:
        if spec.type == "list[str]" and isinstance(value, list):
            bad = next((index for index, item in enumerate(value) if not isinstance(item, str)), None)
            if bad is not None:
                self.fail(path + (bad,), f"`{spec.name}` must be an array of strings; item {bad} is "
                          f"{_toml_type(value[bad])}", value=True, hint=spec.doc)
                return
        if not _type_ok(spec.type, value):
            self.fail(path, f"`{spec.name}` must be {_TYPE_NAMES.get(spec.type, spec.type)}, not {_toml_type(value)}",
                      value=True, hint=spec.doc)
            return
        if value == "" and spec.required and not spec.form:
            self.fail(path, f"`{spec.name}` is empty", value=True, hint=spec.doc)
            return
        dated = _find_datetime(value, path)
        if dated is not None:
            self.fail(dated[0], f"TOML dates and times are not supported here (found {_toml_type(dated[1])})", value=True,
                      hint="write it as a string, e.g. \"2024-05-27\"")
            return
        if spec.minimum is not None and value < spec.minimum:
            self.fail(path, f"`{spec.name}` must be at least {spec.minimum}, not {value}", value=True, hint=spec.doc)
            return
        if spec.choices and value not in spec.choices:
            shown = " | ".join(toml_repr(c) for c in spec.choices)
            hint = did_you_mean(value, [str(c) for c in spec.choices]) if isinstance(value, str) else ""
            self.fail(path, f"`{spec.name}` must be one of {shown}, not {toml_repr(value)}", value=True, hint=hint)
            return
        if spec.form:
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                where = path + (index,) if isinstance(value, list) else path
                parsed = self.check_form(spec, where, item)
                if spec.form == "condition" and parsed is not None:
                    entry.conditions[spec.name] = parsed

    def check_form(self, spec: Key, path: KeyPath, text: str) -> Any:
        if not text and spec.form != "condition":   # an empty condition is one that ends too early
            self.fail(path, f"`{spec.name}` is empty", value=True, hint=spec.doc)
            return None
        if spec.form == "name":
            if not re.match(NAME_PATTERN, text):
                self.fail(path, f"invalid manifest name {text!r}", value=True,
                          hint="use lower case letters, digits, `.`, `_` and `-`, starting with a letter or digit")
            return None
        if spec.form == "opname":
            if not re.match(PATCH_NAME_PATTERN, text):
                self.fail(path, f"invalid name {text!r}", value=True,
                          hint="use letters, digits, `_`, `.`, `-`, `:` and `@`")
            return None
        from npatch.dsl.grammar import parse_condition, parse_target

        try:
            if spec.form == "condition":
                return parse_condition(text)
            target = parse_target(text)
        except ConditionError as exc:
            self.fail_span(path, exc, spec)
            return None
        if spec.form == "module" and target.explicit:
            self.fail(path, f"`{spec.name}` is a module name, not {text!r}", value=True,
                      hint=f"write {target.module!r}")
        if spec.form == "object" and target.explicit and not target.qualname:
            self.fail(path, f"`{spec.name}` must name an object inside a module, not the module {target.module!r}",
                      value=True, hint="write module:qualname")
        return target

    def fail_span(self, path: KeyPath, exc: ConditionError, spec: Key) -> None:
        line, col = self.doc.string_position(path, exc.span.start)
        # a multi-line string shows the line of the bad part
        first = exc.text.rfind("\n", 0, exc.span.start) + 1
        last = exc.text.find("\n", exc.span.start)
        shown = exc.text[first:] if last < 0 else exc.text[first:last]
        span = Span(exc.span.start - first, min(exc.span.end - first, max(len(shown), exc.span.start - first + 1)))
        self.errors.append(ManifestError(
            exc.message, file=self.doc.file, line=line, col=col,
            key=format_path(path), hint=exc.hint or spec.doc, text=shown, span=span,
        ))


def _extra_keys(table: Table) -> set[str]:
    if table.extra == "rewrite-kinds":
        from npatch.rewrite_kinds import REWRITE_KINDS

        return set(REWRITE_KINDS)
    return set()


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return type(value).__name__


def _find_datetime(value: Any, path: KeyPath) -> tuple[KeyPath, Any] | None:
    """The key path and value of the first TOML date, time or date-time in ``value``."""
    if isinstance(value, (datetime.date, datetime.time)):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _find_datetime(item, path + (key,))
        if found is not None:
            return found
    return None


def toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


# -- checks that look at a whole entry ---------------------------------------
_ENTRY_CHECKS: dict[str, Any] = {}


def _entry_check(table: str):
    def register(func):
        _ENTRY_CHECKS[table] = func
        return func

    return register


@_entry_check("patch")
def _check_patch(checker: _Checker, entry: Entry) -> None:
    actions = sorted((k for k in PATCH_ACTIONS if k in entry.data), key=lambda k: checker.doc.position(entry.path + (k,)))
    if len(actions) != 1:
        listed = ", ".join(f"`{a}`" for a in actions) if actions else "none"
        checker.fail(entry.path + ((actions[1],) if len(actions) > 1 else ()),
                     f"a patch needs exactly one of {' / '.join(PATCH_ACTIONS)} (found {listed})",
                     hint=", ".join(f"`{a}` {BUILTIN_OP_KINDS[a].summary}" for a in PATCH_ACTIONS))
    for key in sorted({key for a in PATCH_ACTIONS for key in BUILTIN_OP_KINDS[a].keys}):
        takers = [a for a in PATCH_ACTIONS if key in BUILTIN_OP_KINDS[a].keys]
        if key in entry.data and not set(takers) & set(entry.data):
            checker.fail(entry.path + (key,), f"`{key}` only works with {_either(takers)}",
                         hint=_KEY_HINTS.get(key, ""))
    creators = [a for a in PATCH_ACTIONS if BUILTIN_OP_KINDS[a].creates]
    if entry.data.get("on-missing") == "create" and not set(creators) & set(entry.data):
        checker.fail(entry.path + ("on-missing",), f"`on-missing = \"create\"` only works with {_either(creators)}",
                     value=True, hint="only a replacement or a value is something to create")


#: why a kind-specific ``[[patch]]`` key needs its kind
_KEY_HINTS = {"guard": "the guard chooses between the replacement and the original"}


def _either(kinds: list[str]) -> str:
    return " or ".join(f"`{k}`" for k in kinds)


@_entry_check("op")
def _check_op(checker: _Checker, entry: Entry) -> None:
    """``kind`` names an extension kind.  One nobody provides here is an error,
    unless the op or the manifest has a ``when``: it may then come from a
    package that is only installed where the condition holds."""
    from npatch.extensions import OPS_GROUP, names

    kind = entry.data.get("kind")
    if not isinstance(kind, str):
        return
    if kind in BUILTIN_OP_KINDS:
        declared = BUILTIN_OP_KINDS[kind].table
        table = f"[[patch]] with `{kind} = ...`" if declared == "patch" else f"[[{declared}]]"
        checker.fail(entry.path + ("kind",), f"`{kind}` is a built-in kind: write it as {table}", value=True,
                     hint="[[op]] is for kinds that installed packages provide (`npatch list --ops`)")
        return
    provided = names(OPS_GROUP)
    head = checker.doc.data.get("manifest")
    conditional = "when" in entry.data or (isinstance(head, dict) and "when" in head)
    if kind not in provided and not conditional:
        hint = did_you_mean(kind, provided) or (
            f"installed packages provide: {', '.join(provided)}" if provided else
            "no installed package provides op kinds (entry-point group `npatch.ops`)")
        checker.fail(entry.path + ("kind",), f"unknown op kind {kind!r}", value=True,
                     hint=hint + "; add a `when` if the package that provides it is not always installed")


@_entry_check("rewrite")
def _check_rewrite(checker: _Checker, entry: Entry) -> None:
    from npatch.rewrite_kinds import REWRITE_KINDS

    kinds = [k for k in REWRITE_KINDS if k in entry.data]
    if len(kinds) != 1:
        checker.fail(entry.path, f"a rewrite needs exactly one rule kind (found {', '.join(kinds) or 'none'})",
                     hint=f"one of: {', '.join(REWRITE_KINDS)}")
        return
    from npatch.rewrite_kinds import glob_problem

    for key in ("include", "exclude"):
        patterns = entry.data.get(key)
        for index, pattern in enumerate(patterns if isinstance(patterns, list) else ()):
            problem = glob_problem(pattern) if isinstance(pattern, str) else None
            if problem:
                checker.fail(entry.path + (key, index), problem, value=True,
                             hint="`[...]` holds characters or ranges low-high, e.g. [a-z]; `[[]` matches a `[`")
    kind = kinds[0]
    for sub, message in REWRITE_KINDS[kind].validate(entry.data[kind]):
        checker.fail(entry.path + (kind,) + ((sub,) if sub else ()), message, value=True)
    for index, example in enumerate(entry.data.get("examples", [])):
        if not isinstance(example, dict):
            continue
        missing = {"before", "after"} - set(example)
        unknown = set(example) - {"before", "after"}
        if missing or unknown:
            checker.fail(entry.path + ("examples", index),
                         "each example is { before = \"...\", after = \"...\" }",
                         hint=f"missing: {', '.join(sorted(missing)) or '-'}; unknown: {', '.join(sorted(unknown)) or '-'}")


__all__ = ["Entry", "Manifest", "load_manifest", "MAX_MANIFEST_BYTES", "read_manifest_bytes", "toml_repr"]
