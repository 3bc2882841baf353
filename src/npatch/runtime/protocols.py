"""The runtime's inner contracts, as :class:`typing.Protocol` classes.

Two parts of the runtime talk to a :class:`~npatch.runtime.session.Session`
without knowing its class:

* the import hook (:mod:`npatch.runtime.finder`) asks each active session
  which names it watches, lets it substitute a module, and tells it when a
  watched module starts, finishes or fails executing: :class:`FinderClient`;
* an op kind's apply function reaches the session through its
  :class:`~npatch.runtime.ops.ApplyContext`, which forwards what the kind
  reports (a change about to be made, a replaced object, a module served or
  failed): :class:`ApplyHost`.

Both are checked by type checkers and by ``tests/runtime/test_protocols.py``;
nothing in a patched process imports this module (``typing`` costs a child
milliseconds), the runtime names it under ``TYPE_CHECKING`` only.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FinderClient(Protocol):
    """What :class:`npatch.runtime.finder.Finder` asks of each registered client."""

    @property
    def watched(self) -> frozenset[str]:
        """Module names whose import this client has work for."""

    @property
    def trees(self) -> Any:
        """Names (a set-like view) every name under which is watched too (aliases, stubs)."""

    def substitute(self, name: str, real_spec: Any) -> Any:
        """The spec to import ``name`` from instead of ``real_spec`` (what the
        other finders found, or None), or None to let the real module load."""

    def prepare_module(self, name: str, found: bool = False) -> None:
        """``name`` is being imported for the first time: decode its ops and
        evaluate their conditions now (a loaded plan waits until here);
        ``found``: the other finders on ``sys.meta_path`` found it."""

    def module_starting(self, name: str, module: Any) -> None:
        """The watched module ``name`` is about to execute (fresh or reloaded)."""

    def module_loaded(self, name: str, module: Any) -> None:
        """The watched module finished executing; ``module`` is what
        ``sys.modules`` holds for it (None when it was not registered there)."""

    def module_failed(self, name: str, exc: BaseException) -> None:
        """Executing the watched module raised ``exc`` (which propagates)."""


@runtime_checkable
class ApplyHost(Protocol):
    """What :class:`npatch.runtime.ops.ApplyContext` forwards to its session.

    ``slot`` is the session's own record of one (op, target) unit of work,
    handed to the context and passed back unchanged."""

    #: id(replacement function) -> [(function, original, target, object installed
    #: there)]: kept by :mod:`npatch.runtime.kinds_attr` so that one function
    #: replacing distinct originals is installed as distinct objects
    stand_ins: dict[int, list[tuple[Any, Any, Any, Any]]]

    @property
    def options(self) -> dict[str, Any]:
        """The plan's options (``[options]`` and ``--set``)."""

    def push_undo(self, slot: Any, undo: Any) -> None:
        """Record ``undo`` before the change it undoes is made."""

    def note_replaced(self, slot: Any, parent: Any, name: str, old: Any, new: Any) -> None:
        """``parent.name`` went from ``old`` to ``new`` (for rebinding copies)."""

    def served(self, slot: Any, undo: Any) -> None:
        """A substitute module was created; ``undo`` takes it away again."""

    def serve_failed(self, slot: Any, exc: BaseException) -> None:
        """Creating a substitute module failed with ``exc``."""


__all__ = ["ApplyHost", "FinderClient"]
