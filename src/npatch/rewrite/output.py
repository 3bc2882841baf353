"""What ``npatch diff`` leaves behind: diffs, written files, reports, a summary.

Writing is careful: a file is replaced only if its bytes are still the ones
that were read (otherwise it is refused and reported), through a temporary
file in the same directory and ``os.replace`` so a reader never sees half a
file, with the original permission bits; files without changes are never
touched.
"""
from __future__ import annotations

import csv
import json
import os
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from npatch.errors import UsageError
from npatch.rewrite.runner import RunResult

REPORT_FIELDS = ("type", "file", "line", "column", "rule", "kind", "message", "before", "after")


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def write_changes(result: RunResult) -> WriteResult:
    """Write every changed file atomically; refuse those changed since they were read."""
    out = WriteResult()
    for outcome in result.changed:
        try:
            target = os.path.realpath(outcome.path)
            if Path(target).read_bytes() != outcome.old_data:
                out.refused.append((outcome.display, "changed since it was read; run again"))
                continue
            _atomic_write(target, outcome.new_data or b"")
        except OSError as exc:
            out.refused.append((outcome.display, exc.strerror or str(exc)))
            continue
        out.written.append(outcome.display)
    return out


def _atomic_write(path: str, data: bytes) -> None:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".npatch")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, REPORT_FIELDS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.to_dict())
        for error in errors:
            writer.writerow({"type": "error", "file": error["file"], "message": error["error"]})


def summary(result: RunResult, *, written: WriteResult | None = None, check: bool = False) -> str:
    """The closing lines: files, changes per rule, unsupported uses, errors, time."""
    changes = Counter(r.rule for r in result.records if r.type == "change")
    files_per_rule = Counter(rule for o in result.changed for rule in {r.rule for r in o.records
                                                                         if r.type == "change"})
    unsupported = [r for r in result.records if r.type == "unsupported"]
    skipped = [r for r in result.records if r.type == "skipped"]
    parsed = sum(o.parsed for o in result.outcomes)
    verb = "would change" if check else ("changed" if written is not None else "to change")
    lines = [
        f"npatch diff: {result.files} files, {parsed} parsed, {len(result.changed)} {verb} "
        f"({sum(changes.values())} edits), {len(unsupported)} unsupported uses, "
        f"{len(result.errors)} errors, {result.seconds:.2f} s with {result.jobs} process"
        f"{'es' if result.jobs > 1 else ''}"
    ]
    width = max((len(r.id) for r in [*result.rules, *result.off_by_condition]), default=0)
    for rewrite in result.rules:
        count = changes.get(rewrite.id, 0)
        uses = sum(1 for r in unsupported if r.rule == rewrite.id)
        detail = (f"{uses} unsupported uses" if rewrite.kind == "unsupported"
                  else f"{count} edits in {files_per_rule.get(rewrite.id, 0)} files")
        lines.append(f"  {rewrite.id:<{width}}  {detail}")
    for rewrite in result.off_by_condition:
        lines.append(f"  {rewrite.id:<{width}}  off: when = \"{rewrite.when_text or rewrite.when}\"")
    for record in skipped[:20]:
        lines.append(f"  skipped {record.file}:{record.line or '?'}: {record.rule}: {record.message}")
    if len(skipped) > 20:
        lines.append(f"  ... {len(skipped) - 20} more skipped matches (see --report)")
    for outcome in result.errors:
        lines.append(f"  error {outcome.display}: {outcome.error}")
    if written is not None:
        for display, reason in written.refused:
            lines.append(f"  not written {display}: {reason}")
    return "\n".join(lines)

