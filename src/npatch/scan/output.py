"""What ``npatch scan`` prints: every use, and a summary, as text, JSON or CSV."""
from __future__ import annotations

import csv
import json
from collections import Counter
from typing import TextIO

from npatch.scan import ScanResult
from npatch.scan.coverage import STATUSES

FIELDS = ("file", "line", "col", "status", "name", "api", "category", "detail", "by", "text")
FORMATS: dict[str, object] = {}


def output_format(name: str):
    def register(func):
        FORMATS[name] = func
        return func

    return register


def summary(result: ScanResult, manifests: list[str], top: int = 10) -> dict:
    """Counts per status and category, and the files with the most uses not covered."""
    statuses = Counter(u.status for u in result.uses)
    per_file: dict[str, Counter] = {}
    for use in result.uses:
        per_file.setdefault(use.file, Counter())[use.status] += 1
    ranked = sorted(per_file.items(), key=lambda kv: (-kv[1]["uncovered"], -sum(kv[1].values()), kv[0]))
    return {
        "manifests": manifests,
        "files": result.files,
        "files_with_uses": len(per_file),
        "uses": len(result.uses),
        "status": {key: statuses.get(key, 0) for key in STATUSES},
        "category": dict(sorted(Counter(u.category for u in result.uses).items())),
        "top_files": [{"file": f, "uses": sum(c.values()), "uncovered": c["uncovered"]} for f, c in ranked[:top]],
        "errors": [{"file": f, "line": line, "col": col, "error": e} for f, e, line, col in result.errors],
        "skipped": [{"file": f, "reason": r} for f, r in result.skipped],
    }


def _row(use) -> dict:
    return {k: STATUSES[use.status] if k == "status" else getattr(use, k) for k in FIELDS}


@output_format("text")
def write_text(result: ScanResult, manifests: list[str], out: TextIO, err: TextIO) -> None:
    for use in result.uses:
        by = f" ({use.by})" if use.by else ""
        detail = f" {use.detail}" if use.detail else ""
        out.write(f"{use.location}: {STATUSES[use.status]}: {use.name}{detail} [{use.api}]{by}\n")
    if result.uses:
        out.write("\n")
    write_summary(summary(result, manifests), out)


def write_summary(data: dict, out: TextIO) -> None:
    against = ", ".join(data["manifests"]) or "no manifest"
    out.write(f"{data['uses']} uses in {data['files_with_uses']} of {data['files']} files, against {against}:\n")
    width = max(len(label) for label in STATUSES.values())
    for key, label in STATUSES.items():
        out.write(f"  {label:<{width}}  {data['status'][key]}\n")
    if data["category"]:
        out.write("by category: " + ", ".join(f"{k} {v}" for k, v in data["category"].items()) + "\n")
    if data["top_files"]:
        out.write("top files (not covered / uses):\n")
        for entry in data["top_files"]:
            out.write(f"  {entry['uncovered']:>5} / {entry['uses']:<5} {entry['file']}\n")
    for error in data["errors"]:
        where = f":{error['line']}:{error['col']}" if error["line"] else ""
        out.write(f"{error['file']}{where}: {error['error']}\n")
    for skipped in data["skipped"]:
        out.write(f"skipped {skipped['file']}: {skipped['reason']}\n")


@output_format("json")
def write_json(result: ScanResult, manifests: list[str], out: TextIO, err: TextIO) -> None:
    data = {"summary": summary(result, manifests), "uses": [_row(u) for u in result.uses]}
    out.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


@output_format("csv")
def write_csv(result: ScanResult, manifests: list[str], out: TextIO, err: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for use in result.uses:
        writer.writerow(_row(use))
    write_summary(summary(result, manifests), err)


__all__ = ["FIELDS", "FORMATS", "output_format", "summary", "write_text", "write_summary", "write_json", "write_csv"]
