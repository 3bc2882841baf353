"""Errors the runtime raises on purpose.

They live here rather than in :mod:`npatch.errors` because only a running
plan raises them; both derive from :class:`npatch.errors.NpatchError`, so the
CLI prints them without a traceback and ``except NpatchError`` catches them.
"""
from __future__ import annotations

from npatch.errors import NpatchError


class PatchError(NpatchError):
    """An op could not apply under ``strict`` (or with ``on-missing = "error"``).

    ``op`` is the op name and ``target`` the ``module:qualname`` it acted on;
    the original exception, when there was one, is the ``__cause__``.
    """

    def __init__(self, message: str, *, op: str = "", target: str = "") -> None:
        super().__init__(message)
        self.op = op
        self.target = target


class NpatchStubError(NpatchError, NotImplementedError):
    """A stub module's attribute was used.

    A ``NotImplementedError`` on purpose: code that already falls back to
    another implementation on ``NotImplementedError`` keeps doing so.
    """


__all__ = ["PatchError", "NpatchStubError"]
