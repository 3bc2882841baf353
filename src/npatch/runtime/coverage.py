"""Run coverage: ``npatch apply --coverage FILE M -- CMD``.

Under ``--coverage`` (``NPATCH_COVERAGE=1`` next to ``NPATCH_REPORT=FILE``)
each process also records

* **calls**: every ``replace`` and ``wrap`` op whose installed object is a
  function gets a counting closure in front of it (:func:`counting`); the
  merged report sums the calls of each op over all processes.  A
  replacement that is a class, or any other object (a value, an alias, a
  stub, a ``call`` op), is not counted: its ``calls`` is ``null``.  Without
  ``--coverage`` nothing is wrapped: the replacement itself is installed.
* **unhandled device-API errors**: exceptions raised by a CUDA entry point
  that no op replaced.  Two probes, both only under ``--coverage``:

  - ``torch.cuda._lazy_init`` is wrapped (the ``npatch:coverage-probe`` op of
    a session of its own): torch's C++ calls it for every tensor made on or
    moved to a CUDA device, and most ``torch.cuda`` functions call it first,
    so an error is seen there even when the program catches it;
  - an exception that reaches ``sys.excepthook`` (uncaught) with a frame in
    ``torch/cuda`` or ``torch/distributed``, or naming CUDA or NCCL.

  Not seen: an error the program catches that does not pass through
  ``_lazy_init`` (``torch.cuda.Stream()`` on a CPU build, a missing
  ``torch._C._cuda_*`` function), and ``_lazy_init`` calls through the
  copies torch's own submodules took before the probe applied
  (``torch.cuda.memory``) when the error is caught.

Counts are per process and approximate under threads (an increment is not
atomic); each process adds them to its report record at exit
(:mod:`npatch.runtime.reportfiles`).  A forked child starts from zero
(:func:`forget_counts`) and reports at its exit, also one that leaves with
``os._exit`` (a bare ``os.fork`` child, a ``multiprocessing`` fork worker:
``launcher._exit``); a process that a signal kills (a worker a ``Pool``
terminates), that ``exec``s, or whose C code calls ``_exit(2)``, adds nothing.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # runs in every covered child: no typing
    from collections.abc import Callable
    from typing import Any

ENV_COVERAGE = "NPATCH_COVERAGE"
#: name of the probe op (its session is not reported)
PROBE_OP = "npatch:coverage-probe"
#: id(session) -> op name -> [count]
CALLS: dict[int, dict[str, list[int]]] = {}
#: (api, error, where) -> record
UNHANDLED: dict[tuple[str, str, str], dict[str, Any]] = {}
_PROBE: list[Any] = []
_TORCH_DIR = ""
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def enabled() -> bool:
    return os.environ.get(ENV_COVERAGE) == "1"


def counting(session: Any, op_name: str, func: Any) -> Any:
    """``func`` behind a counting closure when coverage is on and ``func`` is a
    function; else ``func`` itself (zero per-call cost)."""
    if op_name == PROBE_OP or not enabled() or not _countable(func):
        return func
    import functools

    cell = CALLS.setdefault(id(session), {}).setdefault(op_name, [0])

    def counted(*args: Any, **kwargs: Any) -> Any:
        cell[0] += 1
        return func(*args, **kwargs)

    functools.update_wrapper(counted, func)
    return counted


def forget_counts() -> None:
    """In a forked child: start from zero (the parent reports what it counted before the fork)."""
    for cells in CALLS.values():
        for cell in cells.values():
            cell[0] = 0
    UNHANDLED.clear()


def _countable(func: Any) -> bool:
    import types

    return isinstance(func, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))


def annotate(record: dict[str, Any], sessions: list[tuple[str, Any]]) -> None:
    """Add calls, the plan's manifests and the unhandled errors to a process record."""
    record["coverage"] = True
    for (_path, session), data in zip(sessions, record["sessions"]):
        calls = CALLS.get(id(session), {})
        origins = {op.name: op for op in session.plan.ops}
        data["manifests"] = [{"name": m.name, "path": m.path, "description": m.description,
                              "includes": list(m.includes), "disabled": list(m.disabled)}
                             for m in session.plan.manifests]
        data["options"] = session.plan.options_dict
        for op in data["ops"]:
            cell = calls.get(op["name"])
            op["calls"] = cell[0] if cell else None
            plan_op = origins.get(op["name"])
            if plan_op is not None and plan_op.origin is not None:
                op["origin"] = {"file": plan_op.origin.file, "line": plan_op.origin.line}
    record["unhandled"] = list(UNHANDLED.values())


def merge(data: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Sum the calls of each merged op and the unhandled errors over ``records``."""
    if not any(r.get("coverage") for r in records):
        return
    data["coverage"] = True
    calls: dict[tuple[str, str], int | None] = {}
    extra: dict[tuple[str, str], dict[str, Any]] = {}
    manifests: dict[str, list[dict[str, Any]]] = {}
    unhandled: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        for session in record.get("sessions", []):
            plan = session.get("plan", "")
            manifests.setdefault(plan, session.get("manifests", []))
            for op in session.get("ops", []):
                key = (plan, op["name"])
                if op.get("calls") is not None:
                    calls[key] = (calls.get(key) or 0) + op["calls"]
                else:
                    calls.setdefault(key, None)
                if "origin" in op:
                    extra[key] = op["origin"]
        for item in record.get("unhandled", []):
            key = (item["api"], item["error"], item["where"])
            if key in unhandled:
                unhandled[key]["count"] += item["count"]
                unhandled[key]["uncaught"] = unhandled[key]["uncaught"] or item["uncaught"]
            else:
                unhandled[key] = dict(item)
    for op in data["ops"]:
        key = (op["plan"], op["name"])
        op["calls"] = calls.get(key)
        if key in extra:
            op["origin"] = extra[key]
    data["manifests"] = manifests
    data["unhandled"] = list(unhandled.values())
    data["summary"]["unhandled"] = sum(item["count"] for item in unhandled.values())


# -- the unhandled-error probes ------------------------------------------------------
def start_probe(start_session: Callable[[Any, str], Any]) -> None:
    """Wrap ``torch.cuda._lazy_init`` (when torch.cuda loads) and hook uncaught errors.

    ``start_session(plan, label)`` starts the probe's plan (the launcher passes
    the runtime's; the session imports this module, so it does not import the session)."""
    if _PROBE:
        return
    from npatch.plan import Op, Plan, Target

    plan = Plan(ops=(Op(kind="wrap", name=PROBE_OP, targets=(Target("torch.cuda", "_lazy_init"),),
                        source=f"{__name__}:probe", on_missing="ignore"),))
    _PROBE.append(start_session(plan, "npatch coverage"))
    previous = sys.excepthook

    def excepthook(kind: Any, exc: Any, tb: Any) -> None:
        _uncaught(exc, tb)
        previous(kind, exc, tb)

    sys.excepthook = excepthook


def probe(original: Any, options: dict[str, Any]) -> Any:
    """The wrapper of ``torch.cuda._lazy_init``: notes the error, raises it on."""

    def _lazy_init(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            frames = []
            frame = sys._getframe(1)
            while frame is not None:
                frames.append(frame)
                frame = frame.f_back
            exc.__npatch_noted__ = _note(exc, frames, "torch.cuda._lazy_init (a tensor on a CUDA device)",
                                         uncaught=False)
            raise

    return _lazy_init


def _uncaught(exc: BaseException, tb: Any) -> None:
    noted = getattr(exc, "__npatch_noted__", None)
    if noted in UNHANDLED:
        UNHANDLED[noted]["uncaught"] = True
        return
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    frames.reverse()  # innermost first, as from _getframe
    in_device_code = any(_in_torch(f, ("cuda", "distributed")) for f in frames)
    text = str(exc)
    if in_device_code or "CUDA" in text or "NCCL" in text:
        _note(exc, frames, "", uncaught=True)


def _note(exc: BaseException, frames: list[Any], fallback: str, uncaught: bool) -> tuple[str, str, str]:
    """Record ``exc`` under the outermost torch frame (the API the program
    called) and the innermost frame of the program's own code."""
    api, where = "", "?"
    for frame in frames:  # innermost first
        file = frame.f_code.co_filename
        if _in_torch(frame):
            api = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"
        elif not file.startswith(_OWN_DIR):
            where = f"{file}:{frame.f_lineno} ({frame.f_code.co_qualname})"
            break
    key = (api or fallback or "?", _describe(exc), where)
    item = UNHANDLED.get(key)
    if item is None:
        UNHANDLED[key] = {"api": key[0], "error": key[1], "where": where, "count": 1, "uncaught": uncaught}
    else:
        item["count"] += 1
        item["uncaught"] = item["uncaught"] or uncaught
    return key


def _in_torch(frame: Any, parts: tuple[str, ...] = ()) -> bool:
    global _TORCH_DIR
    if not _TORCH_DIR:
        torch = sys.modules.get("torch")
        if torch is None or not getattr(torch, "__file__", None):
            return False
        _TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
    file = frame.f_code.co_filename
    if not file.startswith(_TORCH_DIR):
        return False
    return not parts or file[len(_TORCH_DIR):].split(os.sep, 1)[0] in parts


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


__all__ = ["ENV_COVERAGE", "PROBE_OP", "CALLS", "UNHANDLED", "enabled", "counting", "forget_counts", "annotate", "merge", "start_probe",
           "probe"]
