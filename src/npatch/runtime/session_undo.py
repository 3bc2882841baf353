"""The other half of :class:`~npatch.runtime.session.Session`: putting changes back.

A session imports this module the first time it restores a change - at
``stop()``, when an op of several targets fails on one and the others are
rolled back, when ``importlib.reload`` re-executes a patched module, when a
``during`` op's module finishes - so a program that never stops its plan
never loads it.  Each function takes the session and works on its state
under its lock, as its methods would.

It may be imported in the middle of anything: inside an import (a reload, a
``during`` module that finished, a failed target), from ``atexit``, while a
plan is starting and the module it targets is half-initialized.  So it
imports nothing a session has not already imported (only npatch's own
runtime modules and built-ins): importing a standard-library module here
could execute a module a plan patches before its plan is ready for it.
"""
from __future__ import annotations

from _thread import get_ident

from npatch.runtime.finder import FINDER
from npatch.runtime.resolve import describe

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any

    from npatch.runtime.ops import OpKind
    from npatch.runtime.session import Session, _OpState, _Slot

#: how long stop() waits for an op another thread is applying (then that thread restores it)
STOP_WAIT_S = 5.0


def restore_all(session: Session) -> list[str]:
    """The work of ``session.stop()``: unregister the import hook, wait for the
    ops other threads are applying, restore every change, newest first; what
    could not be restored, one line each."""
    with session._lock:
        session._phase = "stopping"
    FINDER.remove(session)
    _wait_for_other_threads(session)
    failures = []
    while True:  # pop after restoring: an interrupted stop() leaves the rest on the stack
        with session._lock:
            if not session._stack:
                session._phase = "stopped"
                break
            entry = session._stack[-1]
        slot, kind, undo = entry
        try:
            _restore(slot, kind, undo)
        except Exception as exc:
            failures.append(f"{slot.state.op.name} ({slot.target}): {describe(exc)}")
        session._drop(entry)
    return failures


def _wait_for_other_threads(session: Session) -> None:
    """Let ops that other threads are applying finish and be recorded, so
    they are restored in order with the rest."""
    import time

    me = get_ident()
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        with session._lock:
            if not any(ident != me for ident in session._applying):
                return
        time.sleep(0.001)


def roll_back(session: Session, failed: _Slot) -> None:
    """An op holds on all its targets or on none: one (an ``also`` path)
    failed, so the others already applied are restored, newest first, and
    those still waiting never apply."""
    others = [slot for slot in failed.state.slots if slot is not failed]
    undos = withdraw(session, others)
    undone = set(map(id, (entry[0] for entry in undos)))
    for slot in others:
        if id(slot) in undone or slot.status == "waiting":
            how = "rolled back" if id(slot) in undone else "not applied"
            slot.status, slot.reason = "failed", f"{how}: the op failed on {failed.target}"


def withdraw(session: Session, slots: list[_Slot]) -> list[tuple[_Slot, OpKind, Any]]:
    """Take ``slots`` out of the work waiting on their modules and restore
    what they changed, newest first; their undo records, oldest first."""
    chosen = set(map(id, slots))
    with session._lock:
        undos = _take(session, chosen)
        for module_name in {slot.target.module for slot in slots}:
            for waiting in (session._pending, session._by_module):
                if module_name in waiting:
                    waiting[module_name] = [s for s in waiting[module_name] if id(s) not in chosen]
    for slot, kind, undo in reversed(undos):
        _restore(slot, kind, undo)
    return undos


def reloading(session: Session, name: str, applied: list[_Slot]) -> None:
    """``importlib.reload``: undo this module's ops; they apply again after it runs."""
    with session._lock:
        session._by_module.pop(name, None)
        undos = _take(session, set(map(id, applied)))
        session._pending[name] = sorted([*applied, *session._pending.get(name, [])],
                                        key=lambda slot: slot.state.number)
    for slot, kind, undo in reversed(undos):
        _restore(slot, kind, undo)
        slot.status, slot.reason = "waiting", "reloading"


def during_end(session: Session, state: _OpState, reason: str) -> None:
    """The module of a ``during`` op finished executing (or failed): restore the op."""
    state.during_state = "done"
    withdraw(session, state.slots)
    for slot in state.slots:
        if slot.status == "applied":
            slot.reason = reason


def _take(session: Session, chosen: set[int]) -> list[tuple[_Slot, OpKind, Any]]:
    """Remove the undo records of the slots whose ids are in ``chosen`` from
    the stack and return them, oldest first (call with the lock held)."""
    taken = [entry for entry in session._stack if id(entry[0]) in chosen]
    session._stack = [entry for entry in session._stack if id(entry[0]) not in chosen]
    return taken


def _restore(slot: _Slot, kind: OpKind, undo: Any) -> None:
    """Put one change back, releasing the op's process-wide key if this slot holds it."""
    slot.release()
    kind.restore(undo)


__all__ = ["STOP_WAIT_S", "restore_all", "roll_back", "withdraw", "reloading", "during_end"]
