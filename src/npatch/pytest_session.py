"""What the pytest plugin (:mod:`npatch.pytest_plugin`) imports once a test
applies a plan: the plan reaches the child processes the test starts, as
under ``npatch apply``, and leaves ``os.environ`` exactly as it was.

Kept out of the plugin module, which every pytest run imports: this one
imports npatch's runtime.
"""
from __future__ import annotations

import os

from npatch.plan import Plan
from npatch.plancache import plan_file
from npatch.runtime.launcher_parent import child_environ
from npatch.runtime.session import Session


class ChildEnviron:
    """Changes to ``os.environ`` that :meth:`restore` undoes exactly: each
    key gets back the value it had before its first change, or is removed
    when it had none."""

    def __init__(self) -> None:
        #: key -> its value before the first change (None: it was not set)
        self.saved: dict[str, str | None] = {}

    def update(self, env: dict[str, str]) -> None:
        """Set the keys of ``env`` whose value differs from ``os.environ``'s."""
        for key, value in env.items():
            before = os.environ.get(key)
            if before != value:
                self.saved.setdefault(key, before)
                os.environ[key] = value

    def restore(self) -> None:
        """Put back every key changed since the last restore."""
        saved, self.saved = self.saved, {}
        put_back(saved)


def put_back(values: dict[str, str | None]) -> None:
    """Set each key of ``values`` in ``os.environ`` to its value, or remove it (None)."""
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class ChildSession(Session):
    """A Session of one test whose plan also reaches every Python process
    started while it is active (``subprocess``, ``multiprocessing`` spawn
    workers; not the children of a forkserver started before, and a
    forkserver started meanwhile keeps the plan for the children it forks
    later): :func:`npatch.runtime.launcher_parent.child_environ`
    names its plan file (:func:`npatch.plancache.plan_file`) after the
    inherited ones, so children start the plans in the order the test applied
    them.  ``stop()`` restores the environment too.

    ``strict`` holds in the test's process only: a child's ``NPATCH_STRICT``
    is the run's (``--npatch-strict``, ``npatch apply --strict``), one switch
    for every plan of that process, the ``--npatch`` plan's included.
    """

    def __init__(self, plan: Plan, *, strict: bool = False, rebind: bool = False, label: str | None = None) -> None:
        super().__init__(plan, strict=strict, rebind=rebind, label=label)
        self.environ = ChildEnviron()

    def start(self) -> ChildSession:
        if self.active:
            return self
        super().start()
        if self.active:
            try:
                self.environ.update(child_environ(plan_file(self.plan).path))
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        super().stop()
        self.environ.restore()


__all__ = ["ChildEnviron", "ChildSession", "put_back"]
