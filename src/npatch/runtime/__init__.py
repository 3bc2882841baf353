"""The run half of npatch: apply a Plan in a process, lazily and reversibly.

* :mod:`~npatch.runtime.session`  -- :class:`Session`, the public entry point
* :mod:`~npatch.runtime.finder`   -- the ``sys.meta_path`` hook shared by sessions
* :mod:`~npatch.runtime.ops`      -- the op-kind registry (``OP_KINDS``, ``@op_kind``)
* :mod:`~npatch.runtime.report`   -- statuses, the JSON report, the ``-v`` tree
* :mod:`~npatch.runtime.protocols` -- what the finder and the op kinds may call on a session

Importing this package imports nothing else; ``Session`` loads on first use.
:func:`apply_plan` is how a plan is applied in this process (``Plan.apply``
delegates to it).

It also holds what both sides of :mod:`npatch.runtime.launcher` share: the
environment variables a launcher sets for its children, :func:`read_file` and
:func:`json_stamp` (how a child knows a cached marshal copy still matches its JSON).
A cached ``npatch apply`` (:mod:`npatch.runtime.launcher_parent`,
:mod:`npatch.plancache`) needs only these, not the child's boot, which it
therefore never imports (``tests/cli/test_apply_import_weight.py``); a child
has this package loaded anyway.
"""
import os  # loaded at interpreter start-up: no import for a child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from npatch.plan import Plan
    from npatch.runtime.session import Session

#: the ``sitecustomize`` directory a launcher puts first on a child's ``PYTHONPATH``
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")
ENV_PLAN = "NPATCH_PLAN"
ENV_STRICT = "NPATCH_STRICT"
ENV_REPORT = "NPATCH_REPORT"
ENV_VERBOSE = "NPATCH_VERBOSE"
#: a plan carried in the environment itself (``npatch env``): see :mod:`npatch.runtime.shipped`
ENV_DATA = "NPATCH_PLAN_DATA"


def read_file(path: str, accept: "Any", flags: int = 0) -> "bytes | None":
    """The content of ``path`` when ``accept(its fstat)`` holds, else ``None``;
    opened without blocking, so a FIFO planted at the name is no hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | flags)
    except OSError:
        return None
    try:
        if not accept(os.fstat(fd)):
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def json_stamp(info: os.stat_result) -> bytes:
    """What a cached plan's marshal copy ends with (``marshal`` ignores it):
    the identity of the JSON file it was made from, ``info`` (inode, size and
    change time, which every write changes and no ``touch`` sets back; not
    the device, which differs between the NFS clients of one shared cache).
    A child compares it with one ``stat`` of the JSON instead of hashing it,
    and reads the JSON plan of record where they differ."""
    return STAMP + b"%d %d %d\n" % (info.st_ino, info.st_size, info.st_ctime_ns)


#: how :func:`json_stamp` begins
STAMP = b"\nnpatch-json "


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


__all__ = ["BOOTSTRAP_DIR", "ENV_PLAN", "ENV_STRICT", "ENV_REPORT", "ENV_VERBOSE", "ENV_DATA", "read_file",
           "json_stamp", "STAMP", "apply_plan"]
