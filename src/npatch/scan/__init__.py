"""``npatch scan``: a static inventory of device-specific code, tied to manifests.

* :mod:`npatch.scan.table` reads the API table (TOML data shipped next to the
  built-in manifests: what counts as device-specific is data, not code);
* :mod:`npatch.scan.finder` walks each file once with :mod:`ast`, resolving
  names through imports and scopes, and :mod:`npatch.scan.patterns` says
  which places use a table entry;
* :mod:`npatch.scan.coverage` gives each use its status against a compiled
  plan: handled at run time (by which op), rewritten statically (by which
  rule), known unsupported (why), or not covered;
* :mod:`npatch.scan.output` prints the uses and a summary as text, JSON or CSV.

Nothing of the scanned code is imported or executed.
"""
from __future__ import annotations

import io
import multiprocessing
import sys
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from npatch.scan.finder import Finder, Use
from npatch.scan.patterns import hooks
from npatch.scan.table import Api

#: below this many files, starting worker processes costs more than it saves
MIN_PARALLEL_FILES = 16


@dataclass
class ScanResult:
    files: int = 0
    uses: list[Use] = field(default_factory=list)
    errors: list[tuple[str, str, int, int]] = field(default_factory=list)    # (file, message, line, col); 0 unknown
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, why it was not read)


#: why a file could not be scanned, and where in it (line, column: 1-based, 0 when unknown)
Problem = tuple[str, int, int]


def scan_file(finder: Finder, path: str, display: str) -> tuple[list[Use], Problem | None]:
    """The uses in one file, or the reason it could not be scanned."""
    if path.endswith(".ipynb"):  # its JSON is one Python dict literal: it would "parse" and show no use
        return [], ("a Jupyter notebook: not scanned (export its code with "
                    "`jupyter nbconvert --to script`, then scan the .py file)", 0, 0)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [], (f"cannot read: {exc.strerror}", 0, 0)
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode(exc.encoding, errors="replace")) + 1
        return [], (f"cannot decode: byte 0x{data[exc.start]:02x} is not {exc.encoding} ({exc.reason}); "
                    "declare the file's encoding (# -*- coding: ... -*-) or save it as UTF-8",
                    before.count(b"\n") + 1, column)
    except (SyntaxError, LookupError) as exc:
        return [], (f"cannot decode: {exc}", 0, 0)
    try:
        return finder.find(text, display), None
    except SyntaxError as exc:
        return [], (f"cannot parse: {exc.msg}", exc.lineno or 0, exc.offset or 0)
    except ValueError as exc:
        return [], (f"cannot parse: {exc}", 0, 0)
    except RecursionError:
        return [], ("cannot parse: nested too deeply", 0, 0)


def scan_files(files: list[tuple[str, str]], apis: list[Api], *, jobs: int = 1,
               progress: TextIO | None = None) -> ScanResult:
    """Find the uses in ``files`` (``(path, display)`` pairs, as
    :func:`npatch.rewrite.runner.discover` gives them), in file order."""
    from npatch.rewrite.runner import Progress

    result = ScanResult(files=len(files), skipped=list(getattr(files, "skipped", ())))
    bar = Progress(len(files), progress)
    if jobs > 1 and len(files) >= MIN_PARALLEL_FILES:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(apis,)) as pool:
            outcomes = pool.map(_work, files, chunksize=8)
            for (_, display), (uses, error) in zip(files, outcomes):
                _collect(result, display, uses, error)
                bar.step()
    else:
        finder = Finder(hooks(apis))
        for path, display in files:
            _collect(result, display, *scan_file(finder, path, display))
            bar.step()
    bar.close()
    return result


def _collect(result: ScanResult, display: str, uses: list[Use], error: Problem | None) -> None:
    result.uses += uses
    if error is not None:
        result.errors.append((display, *error))


_FINDER: Finder | None = None


def _init_worker(apis: list[Api]) -> None:
    global _FINDER
    _FINDER = Finder(hooks(apis))


def _work(item: tuple[str, str]) -> tuple[list[Use], Problem | None]:
    assert _FINDER is not None
    return scan_file(_FINDER, *item)


__all__ = ["MIN_PARALLEL_FILES", "Problem", "ScanResult", "scan_file", "scan_files"]
