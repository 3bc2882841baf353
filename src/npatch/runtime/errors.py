"""Errors the runtime raises on purpose.

They live here rather than in :mod:`npatch.errors` because only a running
plan raises them; both derive from :class:`npatch.errors.NpatchError`, so the
CLI prints them without a traceback and ``except NpatchError`` catches them.
"""
from __future__ import annotations

from npatch.errors import NpatchError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any


class PatchError(NpatchError):
    """An op could not apply under ``strict`` (or with ``on-missing = "error"``).

    ``op`` is the op name and ``target`` the ``module:qualname`` it acted on;
    the original exception, when there was one, is the ``__cause__``.
    """

    def __init__(self, message: str, *, op: str = "", target: str = "") -> None:
        super().__init__(message)
        self.op = op
        self.target = target


def install_concise_hook() -> None:
    """Make an uncaught :class:`PatchError` print its message and where its
    cause was raised, not a traceback through the import system and npatch
    (``--strict`` without ``-v``); other exceptions print as before."""
    import sys

    previous = sys.excepthook

    def hook(kind: type, exc: BaseException, tb: object) -> None:
        if not isinstance(exc, PatchError):
            previous(kind, exc, tb)
            return
        lines = [f"{exc}"]
        cause = exc.__cause__
        while cause is not None:
            frame = cause.__traceback__
            while frame is not None and frame.tb_next is not None:
                frame = frame.tb_next
            if frame is not None and "npatch" not in frame.tb_frame.f_code.co_filename.replace("\\", "/").split("/"):
                code = frame.tb_frame.f_code
                lines.append(f"  raised at {code.co_filename}:{frame.tb_lineno} in {code.co_name}: "
                             f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__
        lines.append("  (--strict stopped the program; add -v for the full traceback)")
        sys.stderr.write("\n".join(lines) + "\n")

    sys.excepthook = hook


class NpatchStubError(NpatchError, NotImplementedError):
    """Something a stub module gave out was used (called, subclassed, ...).

    A ``NotImplementedError`` on purpose: code that already falls back to
    another implementation on ``NotImplementedError`` keeps doing so.
    """


class NpatchAliasError(NpatchError, ModuleNotFoundError):
    """An aliased module could not be imported because its source is not installed.

    A ``ModuleNotFoundError`` whose ``name`` is the alias, so that
    ``try: import x / except ImportError:`` keeps working under a plan.
    """


def declared_at(op: Any) -> str:
    """``'name' in manifest 'm' at file:line``: where an op was declared."""
    origin = getattr(op, "origin", None)
    where = f" at {origin.file}:{origin.line}" if origin is not None else ""
    return f"{op.name!r} in manifest {op.manifest or '<plan>'!r}{where}"


def located(op: Any, message: str) -> str:
    """``file:line: message`` at the manifest line the op comes from (``message`` without one)."""
    origin = getattr(op, "origin", None)
    return f"{origin.file}:{origin.line}: {message}" if origin is not None else message


__all__ = ["PatchError", "NpatchStubError", "NpatchAliasError", "declared_at", "located"]
