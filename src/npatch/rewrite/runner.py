"""Run rewrite rules over files: discovery, rule selection, worker processes, progress.

The parent reads every file once, largest first, and runs the text prefilter
itself; a file some rule can match goes to a worker process at once (``-j N``,
fork where available), with the needle words found in it (not looked for
again there), so workers parse while the parent still reads, and
the largest files start first instead of finishing last.  The progress bar
counts every file found, as the summary does.  Results come back in the
order the files were found, whatever order the workers finish in.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import stat
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from npatch.errors import UsageError
from npatch.outfiles import file_kind
from npatch.plan import Rewrite
from npatch.rewrite.engine import Engine, FileOutcome
from npatch.rewrite.prefilter import selected
from npatch.rewrite.safefile import Refused, read_regular
from npatch.rewrite.rules import build_rules

#: below this many files to parse, worker start-up costs more than it saves
MIN_PARALLEL_FILES = 8


@dataclass
class RunResult:
    """Every file looked at; ``outcomes`` holds those parsed, changed, or failed."""

    files: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    rules: list[Rewrite] = field(default_factory=list)
    off_by_condition: list[Rewrite] = field(default_factory=list)
    #: files found but not read: ``(display, reason)``
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    jobs: int = 1

    @property
    def changed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.changed]

    @property
    def errors(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def records(self):
        return [r for o in self.outcomes for r in o.records]


def select_rewrites(rewrites: tuple[Rewrite, ...], options: dict[str, Any]) -> tuple[list[Rewrite], list[Rewrite]]:
    """Split rewrites into (on, off) by their ``when`` conditions."""
    on, off = [], []
    for rewrite in rewrites:
        if rewrite.when is None:
            on.append(rewrite)
            continue
        from npatch.conditions import evaluate

        (on if evaluate(rewrite.when, options=options) else off).append(rewrite)
    return on, off


class Discovered(list):
    """``(path, display)`` pairs, plus ``skipped``: ``(display, reason)`` for
    symlinks not followed and special files (FIFOs, sockets, devices)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[str, str]] = []


def _installed_tree(path: str) -> bool:
    """A directory of installed code inside a project: a virtual environment
    (``venv/``, with its ``pyvenv.cfg``) or a ``site-packages`` /
    ``dist-packages`` directory.  ``--write`` there would edit the
    libraries the project runs on, not the project."""
    name = os.path.basename(path)
    return name in ("site-packages", "dist-packages") or os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def discover(paths: list[str], include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
             cwd: str | None = None) -> Discovered:
    """``(path, display)`` for every Python file under ``paths``, sorted per argument.

    Directories are walked skipping hidden directories, ``__pycache__`` and
    installed code below them (a virtual environment, ``site-packages``);
    a file named explicitly is taken whatever its suffix (through a symlink
    if it is one: the user named it).  Inside a directory a symlink is
    followed only to a file inside the given paths (which is then edited
    under its own name, once); one leading out of them is skipped with a
    note, as are FIFOs, sockets and devices (never opened: a FIFO would
    block).  ``path`` is the real path; ``display`` is relative to ``cwd``
    (what diff headers and globs use).
    """
    cwd = cwd or os.getcwd()
    found = Discovered()
    real_seen: set[str] = set()
    roots = [os.path.realpath(p) for p in paths]
    links: list[tuple[str, str]] = []

    def add(path: str, real: str) -> None:
        display = _display(Path(path), cwd)
        if real not in real_seen and selected(display, include, exclude):
            real_seen.add(real)
            found.append((real, display))

    def skip(path: str, reason: str) -> None:
        display = _display(Path(path), cwd)
        if selected(display, include, exclude):
            found.skipped.append((display, reason))

    for arg in paths:
        try:
            mode = os.stat(arg).st_mode
        except OSError:
            raise UsageError(f"no such file or directory: {arg}") from None
        if stat.S_ISREG(mode):
            add(arg, os.path.realpath(arg))
        elif not stat.S_ISDIR(mode):
            skip(arg, f"{file_kind(mode)}, not a regular file: not read")
        else:
            for root, dirs, files in os.walk(arg):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                for name in [d for d in dirs if _installed_tree(os.path.join(root, d))]:
                    dirs.remove(name)
                    skip(os.path.join(root, name), "installed packages (a virtual environment or site-packages): "
                                                   "not walked; name it to rewrite it")
                for name in sorted(f for f in files if f.endswith(".py")):
                    path = os.path.join(root, name)
                    mode = os.lstat(path).st_mode
                    if stat.S_ISLNK(mode):
                        links.append((path, os.path.realpath(path)))
                    elif stat.S_ISREG(mode):
                        add(path, os.path.realpath(path))
                    else:
                        skip(path, f"{file_kind(mode)}, not a regular file: not read")
    for path, real in links:
        if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
            skip(path, "a symbolic link to a file outside the given paths: not followed")
        elif real not in real_seen and os.path.isfile(real):
            add(real, real)
    return found


def _display(path: Path, cwd: str) -> str:
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, cwd)
    return Path(absolute if relative.startswith("..") else relative).as_posix()


def run(rewrites: list[Rewrite], files: list[tuple[str, str]], *, jobs: int | None = None,
        positions: bool = False, optimize: bool = True, progress: TextIO | None = None) -> RunResult:
    """Rewrite ``files`` with ``rewrites`` (already selected by condition).

    Files are read largest first, and each one the prefilter keeps goes to a
    worker at once, so the workers start while the parent still reads and
    the largest files do not finish last.  The progress bar counts every
    file, as the summary does: one read and ruled out, or one whose outcome
    came back."""
    start = time.perf_counter()
    engine = Engine(build_rules(rewrites), optimize=optimize, positions=positions)
    result = RunResult(files=len(files), rules=list(rewrites), skipped=list(getattr(files, "skipped", ())))
    wanted = _jobs(jobs, len(files))
    bar = Progress(len(files), progress)
    outcomes: dict[str, FileOutcome] = {}
    work: list[tuple[str, str, bytes, set[str] | None]] = []
    pool = _Pool(wanted, rewrites, optimize, positions, bar) if wanted > 1 else None
    try:
        for path, display in _largest_first(files):
            try:
                data = read_regular(path)
            except (OSError, Refused) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                outcomes[display] = FileOutcome(path, display, b"", error=f"cannot read: {reason}")
                bar.step()
                continue
            words = _needles(engine, display, data) if optimize else None
            if optimize and words is None:
                bar.step()
                continue
            work.append((path, display, data, words))
            if pool is not None and len(work) >= MIN_PARALLEL_FILES:
                pool.submit(work[pool.submitted:])
        if pool is not None and pool.submitted:
            outcomes.update(pool.results())
        else:
            for path, display, data, words in work:
                outcomes[display] = _process(engine, path, display, data, words)
                bar.step()
    finally:
        if pool is not None:
            pool.close()
    bar.close()
    result.jobs = _jobs(jobs, len(work))
    result.outcomes = [outcomes[d] for _, d in files if d in outcomes
                       and (outcomes[d].parsed or outcomes[d].error or outcomes[d].records)]
    result.seconds = time.perf_counter() - start
    return result


def _largest_first(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Files by size, largest first (a file that cannot be looked at: last)."""
    def size(item: tuple[str, str]) -> int:
        try:
            return os.stat(item[0]).st_size
        except OSError:
            return -1
    return sorted(files, key=size, reverse=True)


class _Pool:
    """Worker processes, started when the first files to parse are known; the
    progress bar steps as each outcome arrives."""

    def __init__(self, jobs: int, rewrites: list[Rewrite], optimize: bool, positions: bool,
                 bar: Progress) -> None:
        self.jobs, self.bar = jobs, bar
        self.args = (tuple(rewrites), optimize, positions)
        self.executor: ProcessPoolExecutor | None = None
        self.futures: list[Future] = []
        self.data: dict[str, bytes] = {}

    @property
    def submitted(self) -> int:
        return len(self.futures)

    def submit(self, work: list[tuple[str, str, bytes, set[str] | None]]) -> None:
        if self.executor is None:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            self.executor = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init_worker,
                                                initargs=self.args)
        for path, display, data, words in work:
            self.data[display] = data
            future = self.executor.submit(_work, path, display, data, words)
            future.add_done_callback(lambda _: self.bar.step())
            self.futures.append(future)

    def results(self) -> dict[str, FileOutcome]:
        outcomes = {}
        for future in self.futures:
            outcome = future.result()
            outcome.old_data = self.data[outcome.display]
            outcomes[outcome.display] = outcome
        return outcomes

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def _needles(engine: Engine, display: str, data: bytes) -> set[str] | None:
    """The text prefilter, on raw bytes decoded leniently (a real decode error
    is reported by the worker): the needle words found, None when no rule can
    match.  The worker takes the words as they are when the file is UTF-8."""
    words = engine.words.found(data.decode("utf-8", "replace"))
    return words if engine.triggered(display, words) else None


def _jobs(jobs: int | None, files: int) -> int:
    """Processes wanted: ``-j`` or the CPUs available, never more than files
    (1: no worker processes)."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"-j needs a positive number of processes, got {jobs}")
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    jobs = jobs or available
    return 1 if files < MIN_PARALLEL_FILES else min(jobs, files)


_ENGINE: Engine | None = None


def _init_worker(rewrites: tuple[Rewrite, ...], optimize: bool, positions: bool) -> None:
    global _ENGINE
    _ENGINE = Engine(build_rules(rewrites), optimize=optimize, positions=positions)


def _work(path: str, display: str, data: bytes, words: set[str] | None) -> FileOutcome:
    assert _ENGINE is not None
    outcome = _process(_ENGINE, path, display, data, words)
    outcome.old_data = b""          # the parent has it; do not ship it back
    return outcome


def _process(engine: Engine, path: str, display: str, data: bytes, words: set[str] | None = None) -> FileOutcome:
    """One file; the cyclic garbage collector waits meanwhile (libcst builds
    hundreds of thousands of nodes, few of them in cycles, and each collection
    would walk them all)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return engine.process(path, display, data, words)
    except Exception as exc:  # a rule bug must not lose the whole run: the file gets the error
        return FileOutcome(path, display, data, error=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if collecting:
            gc.enable()


class Progress:
    """``[#####.....] 120/300 files`` on a terminal, nothing elsewhere."""

    def __init__(self, total: int, stream: TextIO | None, min_total: int = 20) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None and total >= min_total and _isatty(stream) else None
        self._last = 0.0
        self._lock = threading.Lock()       # steps come from the pool's thread too
        self._draw()                        # 0/N at once: the files are known before any is read

    def step(self) -> None:
        with self._lock:
            self.done += 1
            now = time.monotonic()
            if self.stream is None or (now - self._last < 0.1 and self.done < self.total):
                return
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self.stream is None:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            with self._lock:
                self.stream.write("\r" + " " * 60 + "\r")
                self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["MIN_PARALLEL_FILES", "RunResult", "select_rewrites", "Discovered", "discover", "run", "Progress"]
