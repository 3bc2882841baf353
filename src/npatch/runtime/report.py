"""What happened to each op: the status model, the JSON report, the ``-v`` tree.

Every op ends with exactly one status:

``applied``   in effect (for a ``during`` op: it was, while its module imported)
``waiting``   its target module was never imported (npatch imports nothing itself)
``skipped``   its condition was false, a real module won over a stub or alias, or
              ``on-missing = "ignore"`` met a missing target
``disabled``  switched off by ``disable`` / ``--disable``
``failed``    could not apply; ``reason`` holds the real cause

An op with several targets (``also``) is ``failed`` if any target failed,
``applied`` if any applied (the reason lists those still waiting), else
``waiting`` or ``skipped``.
"""
from __future__ import annotations

import os
import sys

from npatch.plan import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # a reporting child imports this at exit: no typing, no dataclasses
    from typing import Any

STATUSES = ("applied", "waiting", "skipped", "disabled", "failed")


class OpStatus(Record):
    """The outcome of one op.  ``target`` is the first target, as text."""

    name: str
    kind: str
    target: str
    status: str
    reason: str = ""
    manifest: str = ""
    targets: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "target": self.target, "status": self.status,
            "reason": self.reason, "manifest": self.manifest, "targets": list(self.targets),
        }


def _aggregate(slots: list) -> tuple[str, str]:
    failed = [s for s in slots if s.status == "failed"]
    many = len(slots) > 1
    if failed:
        return "failed", "; ".join(f"{s.target}: {s.reason}" if many else s.reason for s in failed)
    applied = [s for s in slots if s.status == "applied"]
    waiting = [s for s in slots if s.status == "waiting"]
    if applied:
        reasons = list(dict.fromkeys(s.reason for s in applied if s.reason))
        if waiting:
            mods = ", ".join(dict.fromkeys(s.target.module for s in waiting))
            reasons.append(f"still waiting for {mods}")
        return "applied", "; ".join(reasons)
    if waiting:
        from npatch.runtime.finder import FINDER

        mods = ", ".join(dict.fromkeys(s.target.module for s in waiting))
        if any(s.target.module in FINDER.run_directly for s in waiting):
            return "waiting", (f"{mods} ran as the main program (python -m / runpy), never imported; "
                               "patch the modules it imports instead")
        return "waiting", f"{mods} not imported"
    if slots:
        return "skipped", "; ".join(dict.fromkeys(s.reason for s in slots if s.reason))
    return "waiting", ""


def _status_of(state: Any) -> tuple[str, str]:
    op = state.op
    if state.fixed is not None:
        return state.fixed, state.reason
    if op.during and state.during_state == "idle":
        return "waiting", f"applies only while {op.during!r} is imported; not imported yet"
    return _aggregate(state.slots)


def collect_statuses(states: list, disabled: frozenset[str], plan: Any) -> list[OpStatus]:
    """Statuses of the session's ops, plus disabled names the plan no longer holds."""
    out = []
    seen = set()
    for state in states:
        op = state.op
        seen.add(op.name)
        status, reason = _status_of(state)
        targets = tuple({"target": str(s.target), "status": s.status, "reason": s.reason} for s in state.slots)
        out.append(OpStatus(op.name, op.kind, str(op.targets[0]) if op.targets else "", status, reason,
                            op.manifest, targets))
    for name in sorted(disabled - seen):
        out.append(OpStatus(name, "", "", "disabled", "not in the plan"))
    return out


def build_report(session: Any) -> dict[str, Any]:
    """The JSON-able report of one session in this process."""
    statuses = session.statuses()
    counts = {key: 0 for key in STATUSES}
    for st in statuses:
        counts[st.status] = counts.get(st.status, 0) + 1
    return {
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "executable": sys.executable,
        "label": session.label,
        "plan": session.plan.content_hash,
        "strict": session.strict,
        "active": session.active,
        "counts": counts,
        "ops": [st.to_dict() for st in statuses],
    }


def format_tree(statuses: list[OpStatus], title: str = "npatch") -> str:
    """A summary tree for ``-v``: counts, then ops grouped by manifest."""
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st.status] = counts.get(st.status, 0) + 1
    summary = ", ".join(f"{counts[key]} {key}" for key in STATUSES if counts.get(key))
    lines = [f"{title}: {len(statuses)} op(s): {summary or 'nothing to do'}"]
    groups: dict[str, list[OpStatus]] = {}
    for st in statuses:
        groups.setdefault(st.manifest or "(plan)", []).append(st)
    group_items = list(groups.items())
    for gi, (manifest, members) in enumerate(group_items):
        last_group = gi == len(group_items) - 1
        lines.append(("└── " if last_group else "├── ") + manifest)
        indent = "    " if last_group else "│   "
        width = max(len(st.name) for st in members)
        for mi, st in enumerate(members):
            branch = "└── " if mi == len(members) - 1 else "├── "
            text = f"{st.status:<8} {st.name:<{width}}  {st.kind} {st.target}".rstrip()
            if st.reason:
                text += f"  ({st.reason})"
            lines.append(indent + branch + text)
    return "\n".join(lines)


__all__ = ["STATUSES", "OpStatus", "collect_statuses", "build_report", "format_tree"]
