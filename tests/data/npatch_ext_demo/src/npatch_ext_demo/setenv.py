"""The ``set-env`` op kind, registered with npatch's own decorator on import.

``value`` is a table of environment variables set when the target module
loads; the previous values come back on restore.
"""
from __future__ import annotations

import os
from typing import Any

from npatch.runtime.ops import op_kind


class _EnvUndo:
    def __init__(self, saved: dict[str, str | None]) -> None:
        self.saved = saved

    def restore(self) -> None:
        for key, old in self.saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@op_kind("set-env")
def apply_set_env(ctx: Any, op: Any, target: Any, module: Any) -> _EnvUndo:
    values = dict(op.value or {})
    undo = _EnvUndo({key: os.environ.get(key) for key in values})
    os.environ.update({key: str(value) for key, value in values.items()})
    return undo
