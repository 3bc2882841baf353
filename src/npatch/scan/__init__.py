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
    errors: list[tuple[str, str]] = field(default_factory=list)    # (file, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, why it was not read)


def scan_file(finder: Finder, path: str, display: str) -> tuple[list[Use], str | None]:
    """The uses in one file, or the reason it could not be scanned."""
    if path.endswith(".ipynb"):  # its JSON is one Python dict literal: it would "parse" and show no use
        return [], ("a Jupyter notebook: not scanned (export its code with "
                    "`jupyter nbconvert --to script`, then scan the .py file)")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [], f"cannot read: {exc.strerror}"
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return [], f"cannot decode: {exc}"
    try:
        return finder.find(text, display), None
    except (SyntaxError, ValueError) as exc:
        where = f"line {exc.lineno}, column {exc.offset}: " if isinstance(exc, SyntaxError) else ""
        return [], f"cannot parse: {where}{getattr(exc, 'msg', None) or exc}"
    except RecursionError:
        return [], "cannot parse: nested too deeply"


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


def _collect(result: ScanResult, display: str, uses: list[Use], error: str | None) -> None:
    result.uses += uses
    if error is not None:
        result.errors.append((display, error))


_FINDER: Finder | None = None


def _init_worker(apis: list[Api]) -> None:
    global _FINDER
    _FINDER = Finder(hooks(apis))


def _work(item: tuple[str, str]) -> tuple[list[Use], str | None]:
    assert _FINDER is not None
    return scan_file(_FINDER, *item)


__all__ = ["MIN_PARALLEL_FILES", "ScanResult", "scan_file", "scan_files"]
