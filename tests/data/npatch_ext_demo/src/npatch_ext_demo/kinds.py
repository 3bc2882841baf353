"""The ``count-calls`` op kind: counts the calls of a function, restores it on exit.

Shows the contract of an op kind: ``apply(ctx, op, target, module)`` runs
when the target module is loaded and returns an undo record whose
``restore()`` puts back exactly what ``apply`` changed.
"""
from __future__ import annotations

import functools
from typing import Any

#: "module:qualname" -> number of calls seen, for the tests to read
COUNTS: dict[str, int] = {}


class _Undo:
    def __init__(self, parent: Any, name: str, original: Any) -> None:
        self.parent, self.name, self.original = parent, name, original

    def restore(self) -> None:
        setattr(self.parent, self.name, self.original)


def apply_count_calls(ctx: Any, op: Any, target: Any, module: Any) -> _Undo:
    """Wrap ``target`` so that each call adds one to ``COUNTS[str(target)]``
    (``options.step`` changes the increment)."""
    *path, name = target.qualname.split(".")
    parent = module
    for part in path:
        parent = getattr(parent, part)
    original = getattr(parent, name)
    key = str(target)
    step = int(op.options_dict.get("step", 1))
    COUNTS.setdefault(key, 0)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        COUNTS[key] += step
        return original(*args, **kwargs)

    setattr(parent, name, counted)
    return _Undo(parent, name, original)
