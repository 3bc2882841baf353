"""Stale references: ``from x import f`` copies that survive a patch of ``x.f``.

Only a module that was imported *before* the session started can have been
copied from, so the session collects the module-level replacements it made
on already-imported modules and this module scans ``sys.modules`` once for
all of them (one pass over every module's globals, an identity lookup per
entry).  With ``rebind`` the copies are replaced as well (and restored with
the op); without it the session emits one warning naming the modules.

Plain data (strings, numbers, tuples, None) is never looked for: identical
small constants are shared by unrelated modules.
"""
from __future__ import annotations

import sys

from npatch.runtime.resolve import own_dict

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any

_PLAIN = (str, bytes, int, float, complex, bool, tuple, frozenset, type(None))


def worth_tracking(old: Any) -> bool:
    """Whether copies of ``old`` elsewhere would be stale references worth finding."""
    return not isinstance(old, _PLAIN)


def find_copies(replaced: list[tuple[Any, Any, str, Any, Any]]) -> list[tuple[Any, str, dict, str, Any, Any]]:
    """Copies of replaced module globals held by other modules.

    ``replaced`` holds ``(slot, module, name, old, new)`` for each module-level
    replacement, in order.  Returns ``(slot, holder name, holder globals, key,
    old, current)`` for every global of another module that is one of the
    originals, where ``current`` is what the patched name holds now (the end
    of a replace-then-wrap chain).  The op's own source and guard modules are
    left alone: a wrapper module that keeps ``_orig = f`` must keep it.

    Module objects are read with ``object.__getattribute__`` so that a module
    under ``importlib.util.LazyLoader`` is not loaded by the scan.
    """
    installed = {id(entry[4]) for entry in replaced}
    olds: dict[int, tuple[Any, Any, Any, Any, frozenset[str]]] = {}
    for slot, module, name, old, _new in replaced:
        if id(old) in installed:  # an earlier op's replacement, not an original
            continue
        current = own_dict(module).get(name, old)
        op = slot.state.op
        own = frozenset(ref.partition(":")[0] for ref in (op.source, op.guard) if ref)
        olds[id(old)] = (old, module, slot, current, own)
    found = []
    for mod_name, holder in list(sys.modules.items()):
        if mod_name.startswith("npatch.") or holder is None:
            continue
        entries = own_dict(holder)
        if not isinstance(entries, dict):
            continue
        for key, value in list(entries.items()):
            hit = olds.get(id(value))
            if hit is None or hit[0] is not value or hit[1] is holder or mod_name in hit[4]:
                continue
            found.append((hit[2], mod_name, entries, key, value, hit[3]))
    return found


class GlobalUndo:
    """One rebound global: ``entries[key]`` goes back to ``old``."""

    __slots__ = ("entries", "key", "old", "new")

    def __init__(self, entries: dict, key: str, old: Any, new: Any) -> None:
        self.entries = entries
        self.key = key
        self.old = old
        self.new = new

    def restore(self) -> None:
        if self.entries.get(self.key) is self.new:
            self.entries[self.key] = self.old


__all__ = ["worth_tracking", "find_copies", "GlobalUndo"]
