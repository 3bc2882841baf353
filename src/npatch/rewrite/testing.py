"""Rule tests: every rule's ``examples`` and ``valid`` snippets, as ast-grep does.

Per rule, each case ends as one of

``validated``  an example rewrote to exactly its ``after``; a valid snippet
               stayed unchanged
``missing``    an example was not rewritten (or, for ``unsupported``, not reported)
``wrong``      an example was rewritten, but not to its ``after``
``noisy``      a valid snippet was changed or reported
``error``      a snippet does not parse

Each rule runs alone, with its include/exclude globs ignored.  A snippet with
no import statement runs as if the rule's root packages were imported
(``import torch`` is put in front and taken off again), so a one-line example
like ``torch.cuda.synchronize()`` works.
"""
from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass, field

import libcst as cst

from npatch.plan import Rewrite
from npatch.rewrite.engine import Engine
from npatch.rewrite.rules import build_rules

_IMPORT = re.compile(r"^\s*(import|from)\s", re.MULTILINE)


@dataclass
class CaseResult:
    status: str              # validated | missing | wrong | noisy | error
    label: str               # "example 2", "valid 1"
    source: str
    expected: str = ""
    got: str = ""
    detail: str = ""


@dataclass
class RuleResult:
    rewrite: Rewrite
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status != "validated"]

    @property
    def status(self) -> str:
        if not self.cases:
            return "untested"
        return "validated" if not self.failures else "failed"


def normalize(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


def check_rewrite(rewrite: Rewrite) -> RuleResult:
    """Run one rule's examples and valid snippets."""
    rule = build_rules([rewrite])[0]
    engine = Engine([rule], use_globs=False)
    prefix = "".join(f"import {root}\n" for root in rule.roots())
    result = RuleResult(rewrite)
    for i, (before, after) in enumerate(rewrite.examples, 1):
        result.cases.append(_example(engine, rewrite, prefix, f"example {i}", normalize(before), normalize(after)))
    for i, code in enumerate(rewrite.valid, 1):
        result.cases.append(_valid(engine, prefix, f"valid {i}", normalize(code)))
    return result


def _run(engine: Engine, prefix: str, source: str):
    if _IMPORT.search(source):
        prefix = ""
    got, records = engine.transform_text(prefix + source, "example.py")
    if prefix and got.startswith(prefix):
        got = got[len(prefix):]
    return got, records


def _example(engine, rewrite, prefix, label, before, after) -> CaseResult:
    try:
        got, records = _run(engine, prefix, before)
    except cst.ParserSyntaxError as exc:
        return CaseResult("error", label, before, after, detail=f"does not parse: {exc.message}")
    if rewrite.kind == "unsupported":
        if not any(r.type == "unsupported" for r in records):
            return CaseResult("missing", label, before, after, got, "no unsupported use reported")
    elif got == before:
        return CaseResult("missing", label, before, after, got, "the rule did not change it")
    if normalize(got) != after:
        return CaseResult("wrong", label, before, after, got, _diff(after, normalize(got)))
    return CaseResult("validated", label, before, after, got)


def _valid(engine, prefix, label, code) -> CaseResult:
    try:
        got, records = _run(engine, prefix, code)
    except cst.ParserSyntaxError as exc:
        return CaseResult("error", label, code, detail=f"does not parse: {exc.message}")
    if got != code:
        return CaseResult("noisy", label, code, code, got, _diff(code, got))
    if any(r.type == "unsupported" for r in records):
        return CaseResult("noisy", label, code, code, got, "reported as an unsupported use")
    return CaseResult("validated", label, code, code, got)


def _diff(expected: str, got: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(True), got.splitlines(True), "expected", "got")
    return "".join(lines).rstrip("\n")


def check_rewrites(rewrites: tuple[Rewrite, ...] | list[Rewrite]) -> list[RuleResult]:
    return [check_rewrite(r) for r in rewrites]


def format_results(results: list[RuleResult], verbose: bool = False) -> str:
    """One line per rule, then the failing cases with what was expected and what came out."""
    lines = []
    width = max((len(r.rewrite.id) for r in results), default=0)
    for result in results:
        cases = len(result.cases)
        if result.status == "failed":
            kinds = sorted({c.status for c in result.failures})
            lines.append(f"FAIL       {result.rewrite.id:<{width}}  {', '.join(kinds)} "
                         f"({len(result.failures)} of {cases} cases)")
        else:
            lines.append(f"{result.status:<10} {result.rewrite.id:<{width}}  {cases} cases")
        for case in result.cases:
            if case.status == "validated" and not verbose:
                continue
            lines.append(f"    {case.status:<9} {case.label}: {case.detail.splitlines()[0] if case.detail else ''}")
            body = case.detail if "\n" in case.detail else ""
            if case.status in ("missing", "noisy") and not body:
                body = case.source.rstrip("\n")
            lines += [f"        {line}" for line in body.splitlines()]
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    lines.append(f"{len(results)} rules: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


__all__ = ["CaseResult", "RuleResult", "normalize", "check_rewrite", "check_rewrites", "format_results"]
