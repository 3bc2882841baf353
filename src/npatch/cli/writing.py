"""The manifest ``npatch report --record`` writes for the user.

A path that is a symbolic link is refused (a manifest is a file people edit:
never replaced or written through behind a link), the file is written
through :mod:`npatch.outfiles`, and a path that cannot be written is a
one-line usage error (exit 2).  Reports (``--report``, ``--coverage``) are
written by :mod:`npatch.runtime.reportfiles`.
"""
from __future__ import annotations

import os

from npatch.errors import UsageError


def _refuse_link(path: str, option: str) -> None:
    if os.path.islink(path):
        raise UsageError(f"{option} {path}: is a symbolic link; npatch does not write through links")


def write_text(path: str, text: str, option: str) -> None:
    """Write ``text`` to ``path`` (:func:`npatch.outfiles.write_file`: an
    ``O_EXCL | O_NOFOLLOW`` temporary file in a fresh private directory,
    renamed over it)."""
    from npatch.outfiles import check_writable, write_file

    _refuse_link(path, option)
    path = check_writable(path, option)
    try:
        # an undecodable byte of a file name (a lone surrogate) in a comment: its escape keeps the file UTF-8
        write_file(path, text.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


__all__ = ["write_text"]
