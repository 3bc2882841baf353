"""Section 2 (runs in its own interpreter): per-call cost of a patched function.

A one-line function ``f(a, b=1)`` is called through each way of patching it:

direct       the function itself (and the replacement ``g``, called directly)
closure      a hand-written ``def wrapper(*args, **kwargs): return original(...)``
wrapt        ``wrapt.FunctionWrapper`` with a pass-through wrapper
npatch ...   a real Plan (replace / wrap / replace + guard) started with
             ``Session(plan).start()`` on a temporary module
guard, hand  the hand-written equivalent of a guard (``if pred: new else old``)
DrivingSDK   ``AtomicPatch(target, new, runtime_check=pred)`` from the real
             mx-driving wheel, applied with ``.apply()``

Every variant is timed with ``timeit`` on the process's CPU clock (time
slices lost to other processes on a shared machine do not count), in the
same round, rounds interleaved;
the cost of the empty timeit loop, measured in the same round, is subtracted,
so the numbers are nanoseconds per call proper.  Prints JSON.

Usage: ``python percall.py [--loops N] [--rounds R] [--mx-driving DIR]``
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCE = '''
def f(a, b=1):
    return a
'''
HELPERS = '''
MADE = []

def g(a, b=1):
    return a

def pred(a, b=1):
    return True

def make_wrapper(original, options):
    def wrapper(*args, **kwargs):
        return original(*args, **kwargs)
    MADE.append(wrapper)
    return wrapper
'''
TARGETS = ("nb_direct", "nb_replace", "nb_wrap", "nb_guard", "nb_dsdk")


def _modules(tmp: Path) -> dict[str, Any]:
    for name in TARGETS:
        (tmp / f"{name}.py").write_text(SOURCE)
    (tmp / "nb_helpers.py").write_text(HELPERS)
    sys.path.insert(0, str(tmp))
    return {name: importlib.import_module(name) for name in (*TARGETS, "nb_helpers")}


def _npatch(mods: dict[str, Any]) -> dict[str, Any]:
    from npatch.plan import Op, Plan, Target
    from npatch.runtime.session import Session

    ops = (Op("replace", "replace", (Target("nb_replace", "f"),), source="nb_helpers:g"),
           Op("wrap", "wrap", (Target("nb_wrap", "f"),), source="nb_helpers:make_wrapper"),
           Op("replace", "guard", (Target("nb_guard", "f"),), source="nb_helpers:g", guard="nb_helpers:pred"))
    session = Session(Plan(ops=ops), strict=True).start()
    statuses = {s.name: s.status for s in session.statuses()}
    return {"session": session, "statuses": statuses}


def _drivingsdk(wheel_dir: str) -> Callable[..., Any] | str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import drivingsdk

    patcher = drivingsdk.load(wheel_dir)
    helpers = sys.modules["nb_helpers"]
    patch = patcher.AtomicPatch("nb_dsdk.f", helpers.g, runtime_check=helpers.pred)
    result = patch.apply()
    if not patch.is_applied:
        return f"AtomicPatch did not apply: {result}"
    return sys.modules["nb_dsdk"].f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--mx-driving", metavar="DIR")
    args = parser.parse_args()
    import wrapt

    tmp = Path(tempfile.mkdtemp(prefix="npatch-bench-percall-"))
    mods = _modules(tmp)
    helpers = mods["nb_helpers"]
    original = mods["nb_direct"].f
    applied = _npatch(mods)
    made_by_npatch = list(helpers.MADE)
    notes = []
    calls: dict[str, Callable[..., Any]] = {
        "direct": original,
        "closure (hand-written)": helpers.make_wrapper(original, {}),
        "wrapt.FunctionWrapper": wrapt.FunctionWrapper(original, lambda w, i, a, k: w(*a, **k)),
        "replacement, called directly": helpers.g,
        "npatch replace": mods["nb_replace"].f,
        "npatch wrap": mods["nb_wrap"].f,
        "guard (hand-written)": _hand_guard(helpers.pred, helpers.g, original),
        "npatch guard": mods["nb_guard"].f,
    }
    if args.mx_driving:
        dsdk = _drivingsdk(args.mx_driving)
        if isinstance(dsdk, str):
            notes.append(dsdk)
        else:
            calls["DrivingSDK AtomicPatch runtime_check"] = dsdk
    for name, fn in calls.items():
        assert fn(7) == 7, name
    samples: dict[str, list[float]] = {name: [] for name in calls}
    empty: list[float] = []
    names = list(calls)
    for index in range(args.rounds):
        empty.append(timeit.Timer("pass", timer=time.process_time).timeit(args.loops) / args.loops * 1e9)
        order = names[index % len(names):] + names[:index % len(names)]
        for name in order:
            t = timeit.Timer("fn(1)", globals={"fn": calls[name]}, timer=time.process_time).timeit(args.loops)
            samples[name].append(t / args.loops * 1e9 - empty[-1])
    print(json.dumps({
        "loops": args.loops, "rounds": args.rounds, "empty_loop_ns": statistics.median(empty),
        "ns": samples,
        "statuses": applied["statuses"],
        "replace_is_replacement": mods["nb_replace"].f is helpers.g,
        "wrap_is_factory_result": any(mods["nb_wrap"].f is w for w in made_by_npatch),
        "notes": notes,
    }))


def _hand_guard(pred: Callable[..., Any], new: Callable[..., Any], old: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if pred(*args, **kwargs):
            return new(*args, **kwargs)
        return old(*args, **kwargs)

    return guarded


# -- parent side: run.py calls these ---------------------------------------------------
def run_section(loops: int, rounds: int, mx_driving: str | None) -> dict[str, Any]:
    """Run this file in a fresh interpreter; per-variant ns/call and ratios."""
    from harness import paired, run_cmd, summarize, user_env

    cmd = [sys.executable, __file__, "--loops", str(loops), "--rounds", str(rounds)]
    if mx_driving:
        cmd += ["--mx-driving", mx_driving]
    raw = json.loads(run_cmd(cmd, user_env()).stdout)
    ns = raw["ns"]
    rows = []
    for name in ns:
        row = {"label": name, "ns": summarize(ns[name], 1),
               "vs_direct": summarize(paired(ns, name, "direct", "/"), 2)}
        if name != "closure (hand-written)":
            row["vs_closure"] = summarize(paired(ns, name, "closure (hand-written)", "/"), 2)
        rows.append(row)
    return {"loops": loops, "rounds": rounds, "empty_loop_ns": round(raw["empty_loop_ns"], 1), "rows": rows,
            "statuses": raw["statuses"], "replace_is_replacement": raw["replace_is_replacement"],
            "wrap_is_factory_result": raw["wrap_is_factory_result"], "notes": raw["notes"]}


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    from harness import target

    rows = {row["label"]: row for row in section["rows"]}
    out = [target("replace: patched attribute `is` the replacement (0 ns added per call)",
                  0 if section["replace_is_replacement"] else 1, 0, "", "<=",
                  "identity holds" if section["replace_is_replacement"] else "a different object is installed",
                  ("percall", "npatch replace"), why="the installed object is not the replacement itself")]
    wrap = rows["npatch wrap"]["vs_closure"]["median"]
    same = section["wrap_is_factory_result"]
    out.append(target("wrap / hand-written closure, per call", wrap, 1.5, "x", "<=",
                      "the factory's closure itself is installed" if same else "npatch adds a layer",
                      ("percall", "npatch wrap"), why="npatch adds a layer around the factory's wrapper"))
    if "wrapt.FunctionWrapper" in rows:
        ratio = rows["wrapt.FunctionWrapper"]["ns"]["median"] / max(rows["npatch wrap"]["ns"]["median"], 0.1)
        out.append(target("wrapt.FunctionWrapper / npatch wrap, per call", ratio, 1, "x", ">=",
                          "npatch wrap well under wrapt", ("percall", "wrapt.FunctionWrapper"),
                          why="npatch's wrap costs more than wrapt's C wrapper"))
    return out


if __name__ == "__main__":
    main()
