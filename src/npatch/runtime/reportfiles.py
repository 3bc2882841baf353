"""The ``--report`` file and the ``-v`` tree of processes started under a plan.

Each process adds its own record to ``REPORT`` at exit: it reads the
report, puts its record in (by pid) and writes the report back, holding an
exclusive lock on the report's directory, so the updates never interleave.
Whichever process exits last leaves the complete file; no coordinator is
needed (the launched command need not be Python itself: a shell script that
starts Python programs works), and nothing but ``REPORT`` is left behind.

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
starts, so a plan that patches ``json`` or ``os`` cannot break its own
report: it is written by :func:`npatch.planwrite.json_encoder` (the plan's
hash too) and read by the scanner of :func:`npatch.planfile.scanner`.
"""
from __future__ import annotations

import os
import sys

from npatch.planfile import scanner
from npatch.planwrite import json_encoder

_ENCODER = json_encoder()
_scan = scanner()

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported at start-up by every reporting child: no typing
    from typing import Any

#: seconds a process waits at exit for the report directory's lock
LOCK_WAIT = 10.0

#: the merged status of an op is the first of these that any process reports
STATUS_ORDER = ("failed", "applied", "skipped", "disabled", "waiting")


def process_record(sessions: list[tuple[str, Any]]) -> dict[str, Any]:
    """This process and the status of every op of its sessions."""
    environ = os.environ
    record = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "argv": list(sys.argv),
        "executable": sys.executable,
        "rank": environ.get("RANK"),
        "local_rank": environ.get("LOCAL_RANK"),
        "sessions": [dict(session.report_dict(), plan_file=path) for path, session in sessions],
    }
    if environ.get("NPATCH_COVERAGE") == "1":
        from npatch.runtime.coverage import annotate

        annotate(record, sessions)
    return record


def prepare(report: str, option: str = "--report") -> str:
    """Check ``report`` can be written (:class:`~npatch.errors.UsageError`
    otherwise) and write an empty report, so the file always reflects this
    run; returns the absolute path."""
    from npatch.errors import UsageError
    from npatch.outfiles import check_writable, refuse_foreign

    report = check_writable(report, option)
    refuse_foreign(report, option)
    try:
        write_merged(report, [])
    except OSError as exc:
        raise UsageError(f"{option} {report}: {exc.strerror or exc}") from None
    return report


def _write_atomic(path: str, text: str) -> None:
    """A temporary file made with ``O_EXCL | O_NOFOLLOW`` in a fresh private
    directory beside ``path``, renamed over it (:func:`npatch.outfiles.write_file`)."""
    from npatch.outfiles import write_file

    write_file(path, text.encode("utf-8"))


def _records(report: str) -> list[dict[str, Any]]:
    """The process records ``report`` holds now; none when it is missing,
    damaged, or not a regular file (a symlink or FIFO planted there is neither
    followed nor waited on: it is replaced by the next write)."""
    import stat

    try:
        fd = os.open(report, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        with open(fd, encoding="utf-8") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return []
            records = _loads(handle.read()).get("processes", [])
    except (OSError, ValueError, AttributeError, StopIteration):
        return []
    return [r for r in records if isinstance(r, dict)]


def add_process(report: str, sessions: list[tuple[str, Any]]) -> None:
    """Put this process's record into ``report``, holding a lock on its
    directory so that processes ending together never lose each other's."""
    record = process_record(sessions)
    with _directory_lock(os.path.dirname(os.path.abspath(report))):
        records = [r for r in _records(report) if r.get("pid") != record["pid"]]
        records.append(record)
        records.sort(key=lambda r: r.get("pid", 0))
        write_merged(report, records)


class _directory_lock:
    """An exclusive ``flock`` on a directory (POSIX; without ``fcntl``, no lock).

    Anyone who can open the directory can hold the lock (a shared ``/tmp``),
    so it is waited for at most :data:`LOCK_WAIT` seconds: after that the
    record is written without it rather than the program never ending."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: best effort without a lock
            return
        import time

        self.fd = os.open(self.path, os.O_RDONLY)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)

    def __exit__(self, *exc: Any) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor releases the lock


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
    from npatch.runtime.coverage import merge

    merge(data, records)
    _write_atomic(report, _dumps(data) + "\n")


def _dumps(value: Any) -> str:
    """``json.dumps(value, indent=1, default=str)`` with the encoder bound at import."""
    return _ENCODER(indent=1, default=str).encode(value)


def _loads(text: str) -> Any:
    """``json.loads(text)`` with the scanner built at import."""
    value, end = _scan(text, len(text) - len(text.lstrip()))
    if text[end:].strip():
        raise ValueError(f"extra data at {end}")
    return value


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


__all__ = ["LOCK_WAIT", "STATUS_ORDER", "process_record", "prepare", "add_process", "merged_ops", "write_merged",
           "print_trees"]
