"""Rewrite one file: prefilter, parse, (maybe) qualified names, one combined pass.

The work per file, cheapest first:

1. text: the rules whose needle words occur (:mod:`npatch.rewrite.prefilter`);
   no rule left means no parse;
2. no rule whose word groups (:meth:`~npatch.rewrite.rules.base.Rule.word_groups`:
   a reference to ``torch.cuda.nvtx`` spells ``cuda`` and ``nvtx``) the text
   holds means no parse at all;
3. one walk with :mod:`ast` (a C parser, fast; :mod:`npatch.rewrite.scan`):
   the places that could refer to a rule's qualified-name target, and the
   facts each rule's ``may_change`` asks about (methods called, string
   arguments, imports); no rule that may change or report anything means no
   libcst parse;
4. hollow the text (:mod:`npatch.rewrite.hollow`): whole definitions,
   function and class bodies and multi-line values that hold no needle word,
   no possible reference and no import become placeholders of the same lines,
   put back after the pass;
5. parse that with libcst.  Qualified names (only of nodes whose head an
   import binds to a name comparable with a target) come from the module's
   import table (:mod:`npatch.rewrite.importscope`) when every binding of
   each such head is a module-level import and no use precedes one; else
   ``ScopeProvider`` is computed, only when the scan found such places, and
   then on a copy of the module whose other function bodies (and whole
   signatures), annotations, values and literal parts are pruned
   (``MetadataWrapper(pruned, unsafe_skip_copy=True)``); a rule asks the
   scope for the qualified names of the nodes it looks at (what
   ``QualifiedNameProvider`` gives, without its pass over every node);
   run every rule in one combined pass, which does not enter the statements
   whose lines hold nothing a rule can touch (:func:`~npatch.rewrite.hollow.untouched`).
   Without metadata a rule matches only what it can see syntactically
   (``*.to`` calls, import statements);
6. generate code only when some rule recorded a change, and then only of the
   top-level statements the pass replaced, spliced into the parsed text
   (:mod:`npatch.rewrite.codegen`: a statement the pass did not enter, or left
   as it was, keeps its text; the whole module's code where that cannot be
   known), and positions, when a report needs them, only of the statements
   that hold its events.

The scan over-approximates what the provider can report, so skipping,
hollowing or pruning never changes the output.  ``optimize=False`` turns all of this off: every file parsed, qualified names
everywhere, the straightforward codemod (the benchmark's baseline, and a
cross-check in tests).
"""
from __future__ import annotations

import difflib
import io
import os
import tokenize
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, ScopeProvider

from npatch.rewrite.codegen import ModuleCode
from npatch.rewrite.context import Event, FileContext, Record
from npatch.rewrite.hollow import Hollowed, hollow, untouched
from npatch.rewrite.importscope import ImportScope, ScopeCheck
from npatch.rewrite.importscope import build as build_imports
from npatch.rewrite.importutil import has_top_level_import, import_line, insert_at_top
from npatch.rewrite.prefilter import Words, selected
from npatch.rewrite.rules import Rule
from npatch.rewrite.scan import ScanResult, prune, scan


@dataclass
class FileOutcome:
    """What happened to one file; plain data, so it can come back from a worker process."""

    path: str
    display: str
    old_data: bytes
    new_data: bytes | None = None
    diff: str = ""
    records: list[Record] = field(default_factory=list)
    error: str | None = None
    parsed: bool = False
    metadata: bool = False

    @property
    def changed(self) -> bool:
        return self.new_data is not None


class InexactCode(ValueError):
    """libcst's code for a parsed file differs from the file's text (a file
    with old Mac ``\r`` line endings loses its last one): a rewrite would
    change bytes outside its edits."""


class Pipeline(cst.CSTTransformer):
    """All rules of a file in one traversal: each node goes through every rule
    that handles its type, in plan order, each building on the previous result."""

    def __init__(self, rules: list, ctx: FileContext) -> None:
        super().__init__()
        self.ctx = ctx
        ctx.transformer = self
        self._visit: dict[str, list] = {}
        self._leave: dict[str, list] = {}
        self._tops = {id(stmt): i for i, stmt in enumerate(ctx.module.body)}
        #: id of a new top-level statement -> index of the one it copies, unchanged (every node
        #: the pass left as libcst rebuilt it); what :meth:`ModuleCode.splice` need not generate
        self.copies: dict[int, int] = {}
        self._changed = False
        for r in rules:
            r.begin(ctx)
            for name in _handlers(type(r)):
                table = self._visit if name.startswith("visit_") else self._leave
                table.setdefault(name.split("_", 1)[1], []).append(getattr(r, name))

    def on_visit(self, node: cst.CSTNode) -> bool:
        top = self._tops.get(id(node))
        if top is not None:
            self.ctx.top = top
            self._changed = False
        for handler in self._visit.get(type(node).__name__, ()):
            handler(node)
        return id(node) not in self.ctx.skip

    def on_leave(self, original, updated):
        kind = type(original).__name__
        if kind == "Module":
            updated = self._add_needed_imports(updated)
        for handler in self._leave.get(kind, ()):
            result = handler(original, updated)
            self._changed = self._changed or result is not updated
            updated = result
            if isinstance(updated, (cst.RemovalSentinel, cst.FlattenSentinel)):
                break
        top = self._tops.get(id(original))
        if top is not None and not self._changed:
            self.copies[id(updated)] = top
        return updated

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        return None

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        return None

    def _add_needed_imports(self, module: cst.Module) -> cst.Module:
        for name, rule in self.ctx.needed_imports:
            if not has_top_level_import(module, name):
                line = import_line(name)
                module = insert_at_top(module, line)
                self.ctx.change(rule, self.ctx.module, f"import {name}", f"import {name} for {rule.new}", "")
        return module


class MetadataPipeline(Pipeline):
    METADATA_DEPENDENCIES = (ScopeProvider,)     # qualified names: asked of the scope per node


class ImportsPipeline(Pipeline):
    """Qualified names from the file's import table: tells it which nodes libcst's scope pass would skip."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.ctx.imports.enter(node)
        return super().on_visit(node)

    def on_leave(self, original, updated):
        updated = super().on_leave(original, updated)
        self.ctx.imports.leave(original)
        return updated


class CheckedPipeline(ImportsPipeline, MetadataPipeline):
    """Both: libcst's scope answers, the import table is compared with it."""


_HANDLERS: dict[type, tuple[str, ...]] = {}


def _handlers(cls: type) -> tuple[str, ...]:
    if cls not in _HANDLERS:
        _HANDLERS[cls] = tuple(n for n in dir(cls) if n.startswith(("visit_", "leave_"))
                               and callable(getattr(cls, n)))
    return _HANDLERS[cls]


class Engine:
    """Runs a fixed list of rules over files (one engine per process)."""

    def __init__(self, rules: list[Rule], *, optimize: bool = True, positions: bool = False,
                 use_globs: bool = True, hollowing: bool = True, scope_check: ScopeCheck | None = None) -> None:
        self.rules = rules
        #: compare the import table with libcst's scope on every node asked (``NPATCH_SCOPE_CHECK=1``)
        self.scope_check = scope_check
        if scope_check is None and os.environ.get("NPATCH_SCOPE_CHECK") == "1":
            self.scope_check = ScopeCheck(report=True)
        self.optimize = optimize
        self.hollowing = hollowing
        self.positions = positions
        self.use_globs = use_globs
        self.words = Words(w for r in rules for w in r.needles())

    # -- selection ----------------------------------------------------------------------
    def applicable(self, display: str) -> list[Rule]:
        if not self.use_globs:
            return list(self.rules)
        return [r for r in self.rules if selected(display, r.rewrite.include, r.rewrite.exclude)]

    def active(self, display: str, text: str) -> list[Rule]:
        """Rules whose needles occur in this text, in plan order (empty: skip the file)."""
        return self.triggered(display, self.words.found(text))

    def triggered(self, display: str, words: set[str]) -> list[Rule]:
        """Rules whose needles are among ``words`` (those of a text), in plan order."""
        rules = self.applicable(display)
        return self._triggered(rules, words) if self.optimize else rules

    @staticmethod
    def _triggered(rules: list[Rule], words: set[str]) -> list[Rule]:
        triggered = [r for r in rules if not r.needles() or not words.isdisjoint(r.needles())]
        return [r for r in rules if r in triggered or r.follows] if triggered else []

    def _spelled(self, rules: list[Rule], words: set[str]) -> bool:
        """Could a rule match, by the needle words of the text?  Each must find
        every needle word of one of its word groups; a rule that follows others
        and finds none of its own needles acts only after another's change."""
        known = self.words.words
        for rule in rules:
            if rule.follows and words.isdisjoint(rule.needles()):
                continue
            groups = rule.word_groups()
            if not groups or any(all(w in words for w in group if w in known) for group in groups):
                return True
        return False

    # -- one file --------------------------------------------------------------------------
    def process(self, path: str, display: str, data: bytes, words: set[str] | None = None) -> FileOutcome:
        """One file's outcome; ``words``: the needle words of ``data`` decoded as UTF-8, when
        already known (used only when that is its encoding)."""
        outcome = FileOutcome(path, display, data)
        try:
            encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
            text = data.decode(encoding)
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            outcome.error = f"cannot decode: {exc}"
            return outcome
        try:
            done = self._rewrite(text, display, outcome, words if encoding == "utf-8" else None)
        except cst.ParserSyntaxError as exc:
            outcome.error = f"cannot parse: line {exc.raw_line}, column {exc.raw_column}: {exc.message}"
            return outcome
        except InexactCode as exc:
            outcome.error = str(exc)
            return outcome
        if done is not None:
            new_text, ctx = done
            outcome.records = self._records(ctx, display)
            if new_text != text:
                outcome.new_data = new_text.encode(encoding)
                outcome.diff = unified_diff(text, new_text, display)
        return outcome

    def transform_text(self, text: str, display: str = "<string>") -> tuple[str, list[Record]]:
        """Rewrite source text with every rule (globs ignored); for rule tests and the API."""
        done = self._rewrite(text, display, FileOutcome(display, display, b""))
        if done is None:
            return text, []
        new_text, ctx = done
        return new_text, self._records(ctx, display)

    def _rewrite(self, text: str, display: str, outcome: FileOutcome, words: set[str] | None = None):
        """(new text, context), or None when the file need not be parsed; ``words``:
        the needle words of ``text`` when already known."""
        rules = self.applicable(display)
        if not self.optimize:
            wrapper = MetadataWrapper(cst.parse_module(text))
            outcome.parsed = outcome.metadata = True
            return self._run(wrapper.module, text, display, rules, wrapper, Hollowed(text), None)
        words = self.words.found(text) if words is None else words
        rules = self._triggered(rules, words)
        if not rules or not self._spelled(rules, words):
            return None
        facts = scan(text, {t for r in rules for t in r.targets()}, words, {a for r in rules for a in r.watched()})
        if facts.tree is not None and not _may_change(rules, facts):
            return None
        if self.hollowing and facts.tree is not None and all(r.needles() for r in rules):
            hollowed = hollow(text, facts.tree, self.words, facts.lines | facts.pinned)
            if hollowed.blocked is not None:
                try:
                    done = self._parse_and_run(text, display, outcome, rules, facts, hollowed)
                except cst.ParserSyntaxError:
                    if not hollowed.pieces:
                        raise
                    done = (None,)      # reported by the parse of the whole text below
                if done[0] is not None:
                    return done
        return self._parse_and_run(text, display, outcome, rules, facts, Hollowed(text))

    def _parse_and_run(self, text: str, display: str, outcome: FileOutcome, rules: list, facts,
                       hollowed: Hollowed):
        module = cst.parse_module(hollowed.text)
        outcome.parsed = True
        if not any(r.needs_metadata for r in rules) or not facts.found:
            return self._run(module, text, display, rules, None, hollowed, facts)
        outcome.metadata = True
        imports = None
        if facts.tree is not None:
            names = facts.target_heads.union(*(r.spelled() for r in rules))
            imports = build_imports(module, facts, names)
        if self.scope_check is not None:
            self.scope_check.file(imports is not None)
        elif imports is not None:
            return self._run(module, text, display, rules, None, hollowed, facts, imports)
        wrapper = MetadataWrapper(prune(module, facts), unsafe_skip_copy=True)
        return self._run(module, text, display, rules, wrapper, hollowed, facts, imports)

    def _run(self, module: cst.Module, text: str, display: str, rules: list,
             wrapper: MetadataWrapper | None, hollowed: Hollowed, facts: ScanResult | None,
             imports: ImportScope | None = None):
        """One combined pass over ``module``; qualified names (when asked for) come
        from ``imports`` or from ``wrapper``, whose module may be a pruned copy sharing
        ``module``'s nodes (with both and a scope check, both are compared).
        The new text is None when ``hollowed`` cannot restore the generated code."""
        ctx = FileContext(display, module, text, hollowed=hollowed, facts=facts, imports=imports)
        if hollowed.blocked is not None and facts is not None and facts.tree is not None:
            ctx.skip = untouched(module, facts.tree, hollowed.blocked)
        if wrapper is None and imports is None:
            pipeline = Pipeline(rules, ctx)
            new_module = module.visit(pipeline)
        elif wrapper is None:
            ctx.has_metadata = True
            pipeline = ImportsPipeline(rules, ctx)
            new_module = module.visit(pipeline)
        else:
            ctx.has_metadata = True
            if self.scope_check is not None:
                ctx.check = self.scope_check
                ctx.targets = tuple(t for r in rules for t in r.targets())
            checked = imports is not None and ctx.check is not None
            pipeline = (CheckedPipeline if checked else MetadataPipeline)(rules, ctx)
            with pipeline.resolve(wrapper):
                new_module = module.visit(pipeline)
        ctx.transformer = None      # no cycle: the trees go when the last reference does, not at a gc pass
        changed = any(e.type == "change" for e in ctx.events)
        ctx.generated = ModuleCode(module, hollowed.text, facts.tree if facts is not None else None)
        if ctx.events and (self.positions or any(e.type == "skipped" for e in ctx.events)):
            # the summary names skipped lines; asked first, as the statements generated
            # with positions give their code to the splice too
            ctx.starts = ctx.generated.starts((e.node, e.top) for e in ctx.events)
        if not changed:
            return (text if self.optimize else hollowed.restore(ctx.generated.code(new_module))), ctx
        code = ctx.generated.splice(new_module, pipeline.copies)
        if code is None:
            if ctx.generated.code() != hollowed.text:
                raise InexactCode("not rewritten: libcst does not give this file's text back byte for byte "
                                  "(line endings?), so the write would change more than the edits")
            code = ctx.generated.code(new_module)
        return hollowed.restore(code), ctx

    def _records(self, ctx: FileContext, display: str) -> list[Record]:
        return [_record(e, display, ctx.starts, ctx.hollowed) for e in ctx.events]


def _may_change(rules: list[Rule], facts) -> bool:
    """Could any rule change or report something?  (Rules that follow others'
    changes are asked with whether another rule may change the file.)"""
    others = any(r.may_change(facts, False) for r in rules if not r.follows)
    return others or any(r.may_change(facts, others) for r in rules if r.follows)


def _record(event: Event, display: str, starts, hollowed: Hollowed) -> Record:
    line = column = 0
    if starts is not None and event.node in starts:
        start = starts[event.node]
        line, column = start.line, start.column + 1
    return Record(event.type, display, event.rule, event.kind, event.message,
                  hollowed.restore_part(event.before), hollowed.restore_part(event.after), line, column)


def _lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only (``str.splitlines`` also splits on form feeds)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
            0x22: '\\"', 0x5C: "\\\\"}


def git_quote(name: str) -> str:
    """``name`` as git writes a path: unchanged when plain, else in double
    quotes with C escapes and octal bytes (``"a/new\\nline.py"``), which
    ``git apply`` reads back; undecodable names (surrogate escapes) too."""
    raw = os.fsencode(name)
    if not any(b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) for b in raw):
        return name
    body = "".join(_ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}") for b in raw)
    return f'"{body}"'


def unified_diff(old: str, new: str, display: str) -> str:
    """A diff ``git apply`` accepts: ``a/``/``b/`` headers (quoted the way git
    quotes odd names) and the missing-newline marker."""
    out = []
    for line in difflib.unified_diff(_lines(old), _lines(new), git_quote(f"a/{display}"),
                                     git_quote(f"b/{display}")):
        if line.startswith(("---", "+++")):
            out.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


__all__ = ["FileOutcome", "InexactCode", "Pipeline", "MetadataPipeline", "Engine", "git_quote", "unified_diff"]
