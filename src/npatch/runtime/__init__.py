"""The run half of npatch: apply a Plan in a process, lazily and reversibly.

* :mod:`~npatch.runtime.session`  -- :class:`Session`, the public entry point
* :mod:`~npatch.runtime.finder`   -- the ``sys.meta_path`` hook shared by sessions
* :mod:`~npatch.runtime.ops`      -- the op-kind registry (``OP_KINDS``, ``@op_kind``)
* :mod:`~npatch.runtime.report`   -- statuses, the JSON report, the ``-v`` tree
* :mod:`~npatch.runtime.protocols` -- what the finder and the op kinds may call on a session

Importing this package imports nothing else; ``Session`` loads on first use.
:func:`apply_plan` is how a plan is applied in this process (``Plan.apply``
delegates to it).
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from npatch.plan import Plan
    from npatch.runtime.session import Session


def apply_plan(plan: "Plan", *, strict: bool = False, rebind: bool = False, label: str | None = None,
               disable: tuple[str, ...] | list[str] = ()) -> "Session":
    """Start a session of ``plan`` in the current process and return it (a
    context manager: ``with apply_plan(plan): main()`` restores on exit)."""
    from npatch.runtime.session import Session

    return Session(plan, strict=strict, rebind=rebind, label=label, disable=disable).start()


def __getattr__(name: str) -> "Any":
    if name == "Session":
        from npatch.runtime.session import Session

        return Session
    raise AttributeError(f"module 'npatch.runtime' has no attribute {name!r}")


__all__ = ["apply_plan"]
