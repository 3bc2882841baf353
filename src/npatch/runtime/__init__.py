"""The run half of npatch: apply a Plan in a process, lazily and reversibly.

* :mod:`~npatch.runtime.session`  -- :class:`Session`, the public entry point
* :mod:`~npatch.runtime.finder`   -- the ``sys.meta_path`` hook shared by sessions
* :mod:`~npatch.runtime.ops`      -- the op-kind registry (``OP_KINDS``, ``@op_kind``)
* :mod:`~npatch.runtime.report`   -- statuses, the JSON report, the ``-v`` tree

Importing this package imports nothing else; ``Session`` loads on first use.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def __getattr__(name: str) -> Any:
    if name == "Session":
        from npatch.runtime.session import Session

        return Session
    raise AttributeError(f"module 'npatch.runtime' has no attribute {name!r}")
