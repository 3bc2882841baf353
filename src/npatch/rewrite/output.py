"""What ``npatch diff`` leaves behind: diffs, written files, reports, a summary.

Writing is careful (:mod:`npatch.rewrite.safefile`): a file is replaced only
if it is still the regular file, with the bytes, that was read, through a
temporary file beside it keeping owner, group and mode; files without changes
are never touched.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from npatch.errors import UsageError
from npatch.outfiles import write_file
from npatch.rewrite import safefile
from npatch.rewrite.engine import git_quote
from npatch.rewrite.runner import RunResult

REPORT_FIELDS = ("type", "file", "line", "column", "rule", "kind", "message", "before", "after")


@dataclass
class WriteResult:
    """Files written; refused on purpose (a reason each); failed (an OS error each)."""

    written: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def write_changes(result: RunResult, *, force: bool = False) -> WriteResult:
    """Replace every changed file (see :mod:`npatch.rewrite.safefile`); refuse
    those changed since they were read, read-only or hard-linked ones (unless
    ``force``), and any that is no longer the regular file that was read."""
    out = WriteResult()
    for outcome in result.changed:
        try:
            safefile.replace(outcome.path, outcome.old_data, outcome.new_data or b"", force=force)
        except safefile.Refused as exc:
            out.refused.append((outcome.display, str(exc)))
        except OSError as exc:
            out.failed.append((outcome.display, exc.strerror or str(exc)))
        else:
            out.written.append(outcome.display)
    return out


def report_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise UsageError(f"--report {path}: the file name must end in .csv or .json")
    return suffix[1:]


def write_report(path: str, result: RunResult, manifest: str) -> None:
    """Every change and unsupported-API use (and skipped match), one row each."""
    records = sorted(result.records, key=lambda r: (r.file, r.line, r.column))
    errors = [{"file": o.display, "error": o.error} for o in result.errors]
    if report_format(path) == "json":
        data = {
            "manifest": manifest,
            "files": result.files,
            "changed_files": [o.display for o in result.changed],
            "changes": [r.to_dict() for r in records if r.type == "change"],
            "unsupported": [r.to_dict() for r in records if r.type == "unsupported"],
            "skipped": [r.to_dict() for r in records if r.type == "skipped"],
            "errors": errors,
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        handle = io.StringIO(newline="")
        writer = csv.DictWriter(handle, REPORT_FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.to_dict())
        for error in errors:
            writer.writerow({"type": "error", "file": error["file"], "message": error["error"]})
        text = handle.getvalue()
    write_file(path, text.encode("utf-8", "surrogateescape"))


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 file``, ``2 files``; ``many`` for irregular plurals (``processes``)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def summary(result: RunResult, *, written: WriteResult | None = None, check: bool = False) -> str:
    """The closing lines: files, changes per rule, unsupported uses, errors, time.

    With ``written``, files are counted as changed (written), refused (left
    alone on purpose) and failed (an OS error while writing) separately."""
    changes = Counter(r.rule for r in result.records if r.type == "change")
    files_per_rule = Counter(rule for o in result.changed for rule in {r.rule for r in o.records
                                                                         if r.type == "change"})
    unsupported = [r for r in result.records if r.type == "unsupported"]
    skipped = [r for r in result.records if r.type == "skipped"]
    parsed = sum(o.parsed for o in result.outcomes)
    if written is None:
        done = f"{len(result.changed)} {'would change' if check else 'to change'}"
    else:
        done = f"{len(written.written)} changed, {len(written.refused)} refused, {len(written.failed)} failed"
    lines = [
        f"npatch diff: {plural(result.files, 'file')}, {parsed} parsed, {done} "
        f"({plural(sum(changes.values()), 'edit')}), {plural(len(unsupported), 'unsupported use')}, "
        f"{plural(len(result.errors), 'error')}, {result.seconds:.2f} s with "
        f"{plural(result.jobs, 'process', 'processes')}"
    ]
    width = max((len(r.id) for r in [*result.rules, *result.off_by_condition]), default=0)
    for rewrite in result.rules:
        count = changes.get(rewrite.id, 0)
        uses = sum(1 for r in unsupported if r.rule == rewrite.id)
        detail = (plural(uses, "unsupported use") if rewrite.kind == "unsupported"
                  else f"{plural(count, 'edit')} in {plural(files_per_rule.get(rewrite.id, 0), 'file')}")
        lines.append(f"  {rewrite.id:<{width}}  {detail}")
    for rewrite in result.off_by_condition:
        lines.append(f"  {rewrite.id:<{width}}  off: when = \"{rewrite.when_text or rewrite.when}\"")
    for record in skipped[:20]:
        lines.append(f"  skipped {git_quote(record.file)}:{record.line or '?'}: {record.rule}: {record.message}")
    if len(skipped) > 20:
        lines.append(f"  ... {len(skipped) - 20} more skipped matches (see --report)")
    for display, reason in result.skipped:
        lines.append(f"  skipped {git_quote(display)}: {reason}")
    for outcome in result.errors:
        lines.append(f"  error {git_quote(outcome.display)}: {outcome.error}")
    if written is not None:
        for display, reason in written.refused:
            lines.append(f"  refused {git_quote(display)}: {reason}")
        for display, reason in written.failed:
            lines.append(f"  failed {git_quote(display)}: {reason}")
    return "\n".join(lines)


__all__ = ["REPORT_FIELDS", "WriteResult", "write_changes", "report_format", "write_report", "plural", "summary"]
