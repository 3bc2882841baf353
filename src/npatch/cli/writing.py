"""Files the CLI writes for the user (``--coverage``/``--report``, ``report --record``).

One place for the rules: a path that is a symbolic link is refused (never
written through), a new file is written to a fresh temporary file in the same
directory and renamed over the target, and a path that cannot be written is
a one-line usage error (exit 2) before anything runs.
"""
from __future__ import annotations

import os

from npatch.errors import UsageError


def _refuse_link(path: str, option: str) -> None:
    if os.path.islink(path):
        raise UsageError(f"{option} {path}: is a symbolic link; npatch does not write through links")


def prepare_report_file(path: str, option: str) -> str:
    """The absolute path of a report (or coverage) file, with an empty report written to it now."""
    from npatch.runtime.launcher import prepare_report

    _refuse_link(path, option)
    try:
        return prepare_report(path)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def write_text(path: str, text: str, option: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    import tempfile

    _refuse_link(path, option)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
