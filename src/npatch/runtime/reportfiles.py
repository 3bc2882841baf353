"""The ``--report`` file and the ``-v`` tree of processes started under a plan.

Each process writes its own part, ``REPORT.d/<pid>.json``, at exit, then
merges every part present into ``REPORT`` while holding an exclusive lock on
``REPORT.d/.lock``.  Whichever process exits last leaves the complete file,
so the merge needs no coordinator and works when the launched command is not
Python itself (a shell script that starts Python programs).

The merged report::

    {
      "npatch": "0.1.0",
      "processes": [            # one record per process, by pid
        {"pid": 12, "ppid": 11, "argv": [...], "executable": "...",
         "rank": "0", "local_rank": "0",          # torchrun's RANK/LOCAL_RANK, or null
         "sessions": [{"plan_file": "/…/plan.json",   # one per plan started here
                      ...}]}                    # Session.report_dict(): plan hash, label, counts, ops
      ],
      "ops": [                  # each op of each plan (by content hash), over all processes
        {"plan", "name", "kind", "target", "manifest",
         "status": "applied",   # the first of failed, applied, skipped, disabled, waiting seen anywhere
         "reason": "...",       # reason of the process that gave that status
         "processes": {"12": "applied", "13": "waiting"}}
      ],
      "summary": {"processes": 2, "applied": 3, "waiting": 1, ...}
    }

The functions are bound when the module is imported, before any plan
starts, so a plan that patches ``json`` or ``os`` cannot break its own report.
"""
from __future__ import annotations

import os
import sys
from json import dumps as _dumps
from json import loads as _loads

from npatch.errors import UsageError
from npatch.outfiles import check_writable, private_dir, write_file

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported at start-up by every reporting child: no typing
    from typing import Any

#: the merged status of an op is the first of these that any process reports
STATUS_ORDER = ("failed", "applied", "skipped", "disabled", "waiting")


def _parts_dir(report: str) -> str:
    """``REPORT.d``, made or checked: owned by this user, writable by nobody else
    (:func:`npatch.outfiles.private_dir`); its temporary files are made there."""
    return private_dir(report + ".d")


def _is_part(name: str) -> bool:
    """``<pid>.json``: one process's part of the report."""
    return name.endswith(".json") and name[:-5].isdigit()


def prepare(report: str) -> str:
    """Check ``report`` can be written (:class:`~npatch.errors.UsageError`
    otherwise), remove the parts an earlier run left and write an empty
    report, so the file always reflects this run; returns the absolute path."""
    report = check_writable(report, "--report")
    try:
        parts = _parts_dir(report)
        for name in os.listdir(parts):
            if _is_part(name):
                os.unlink(os.path.join(parts, name))
        write_merged(report, [])
    except OSError as exc:
        raise UsageError(f"--report {report}: {exc.strerror or exc}") from None
    return report


def process_record(sessions: list[tuple[str, Any]]) -> dict[str, Any]:
    """This process and the status of every op of its sessions."""
    environ = os.environ
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "argv": list(sys.argv),
        "executable": sys.executable,
        "rank": environ.get("RANK"),
        "local_rank": environ.get("LOCAL_RANK"),
        "sessions": [dict(session.report_dict(), plan_file=path) for path, session in sessions],
    }


def _write_atomic(path: str, text: str, parts: str) -> None:
    write_file(path, text.encode("utf-8"), private=parts)


def write_part(report: str, sessions: list[tuple[str, Any]]) -> str:
    """Write this process's part; returns its path."""
    parts = _parts_dir(report)
    path = os.path.join(parts, f"{os.getpid()}.json")
    _write_atomic(path, _dumps(process_record(sessions), indent=1, default=str), parts)
    return path


def read_parts(report: str) -> list[dict[str, Any]]:
    """Every readable part, by pid; a damaged part is skipped."""
    records = []
    try:
        parts = _parts_dir(report)
        names = os.listdir(parts)
    except OSError:
        return []
    for name in names:
        if not _is_part(name):
            continue
        try:
            with open(os.path.join(parts, name), encoding="utf-8") as handle:
                records.append(_loads(handle.read()))
        except (OSError, ValueError):
            continue
    records.sort(key=lambda r: r.get("pid", 0))
    return records


def merge(report: str) -> None:
    """Merge all parts into ``report``, holding the lock so merges never interleave."""
    parts = _parts_dir(report)
    lock_fd = os.open(os.path.join(parts, ".lock"), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with open(lock_fd, "a") as lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: best effort without a lock
            write_merged(report, read_parts(report))
            return
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            write_merged(report, read_parts(report))
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def merged_ops(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (plan, op), in first-seen order, with each process's status."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        pid = str(record.get("pid"))
        for session in record.get("sessions", []):
            for op in session.get("ops", []):
                key = (session.get("plan", ""), op["name"])
                entry = merged.setdefault(key, {
                    "plan": key[0], "name": op["name"], "kind": op.get("kind"), "target": op.get("target"),
                    "manifest": op.get("manifest", ""), "status": None, "reason": "", "processes": {},
                })
                entry["processes"][pid] = op["status"]
                if _rank(op["status"]) < _rank(entry["status"]):
                    entry["status"] = op["status"]
                    entry["reason"] = op.get("reason") or ""
    return list(merged.values())


def _rank(status: str | None) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def write_merged(report: str, records: list[dict[str, Any]]) -> None:
    from npatch import __version__

    ops = merged_ops(records)
    summary: dict[str, int] = {"processes": len(records)}
    for op in ops:
        summary[op["status"]] = summary.get(op["status"], 0) + 1
    data = {"npatch": __version__, "processes": records, "ops": ops, "summary": summary}
    _write_atomic(report, _dumps(data, indent=1, default=str) + "\n", _parts_dir(report))


def print_trees(sessions: list[tuple[str, Any]], stream: Any = None) -> None:
    """The ``-v`` output of this process: a header naming it, then each plan's tree.

    Every process prints its own (with ``torchrun`` the ranks are where the
    patches matter, not the launcher), prefixed by pid and rank.
    """
    from npatch.runtime.report import format_tree

    stream = stream or sys.stderr
    rank = os.environ.get("RANK")
    command = " ".join(sys.argv)
    if len(command) > 100:
        command = command[:97] + "..."
    head = f"npatch: pid {os.getpid()}" + (f" rank {rank}" if rank is not None else "") + f": {command}"
    lines = [head]
    for path, session in sessions:
        title = f"npatch ({path})" if len(sessions) > 1 else "npatch"
        lines.append(format_tree(session.statuses(), title=title))
    stream.write("\n".join(lines) + "\n")
    stream.flush()
