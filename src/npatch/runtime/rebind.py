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


def find_copies(olds: dict[int, tuple[Any, Any]]) -> list[tuple[str, dict, str, Any]]:
    """Every ``(module name, globals, key, old)`` where a module's global is one
    of ``olds`` (``id(old) -> (old, owner module)``), outside its owner module.

    Module objects are read with ``object.__getattribute__`` so that a module
    under ``importlib.util.LazyLoader`` is not loaded by the scan.
    """
    found = []
    for mod_name, module in list(sys.modules.items()):
        if mod_name.startswith("npatch.") or module is None:
            continue
        entries = own_dict(module)
        if not isinstance(entries, dict):
            continue
        for key, value in list(entries.items()):
            hit = olds.get(id(value))
            if hit is not None and hit[0] is value and hit[1] is not module:
                found.append((mod_name, entries, key, value))
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
