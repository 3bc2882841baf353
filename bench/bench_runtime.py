"""Runtime start-up and per-call costs.

1. Start-up, in fresh interpreters (bytecode cached, as an installed wheel has
   it): ``import npatch.runtime.session``, loading a saved 200-op plan whose
   targets are never imported, and ``Session(plan).start()`` (evaluating
   nothing, installing the finder).  Target from issue 3: loading the plan
   plus installing the hooks costs at most 3 ms.  Also checks that none of
   lark, libcst, tomli, packaging or importlib.metadata gets imported.
2. Per call, in this process: the original function, a replaced function (the
   replacement object itself), a wrap (the wrapper the factory returns), a
   hand-written closure, a guarded replace, and ``wrapt.FunctionWrapper``.
3. The finder's cost for an unrelated import: ``find_spec`` of a name with no
   pending work.

Usage: ``python bench/bench_runtime.py [--runs N]``; prints a table in ms/ns.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import timeit
from pathlib import Path

HEAVY = ("lark", "libcst", "tomli", "packaging", "importlib.metadata")

CHILD = textwrap.dedent("""
    import sys, time, json
    t0 = time.perf_counter()
    import npatch.plan
    t1 = time.perf_counter()
    import npatch.runtime.session
    t2 = time.perf_counter()
    with open(sys.argv[1]) as fh:
        plan = npatch.plan.Plan.from_json(fh.read())
    t3 = time.perf_counter()
    session = npatch.runtime.session.Session(plan).start()
    t4 = time.perf_counter()
    heavy = [m for m in %r if m in sys.modules]
    print(json.dumps({"plan_module": t1 - t0, "session_module": t2 - t1, "plan_load": t3 - t2,
                      "start": t4 - t3, "heavy": heavy, "ops": len(plan.ops)}))
""" % (HEAVY,))


def make_plan(path: Path, count: int = 200) -> None:
    from npatch.plan import Op, Plan, Target

    ops = []
    for i in range(count):
        target = Target(f"npatch_bench_never{i % 20}.mod{i % 7}", f"Cls{i}.method")
        kind = ("replace", "wrap", "value")[i % 3]
        fields = {"value": i} if kind == "value" else {"source": f"npatch_bench_src:f{i}"}
        ops.append(Op(kind=kind, name=f"p{i}", targets=(target,), manifest="bench", **fields))
    path.write_text(Plan(ops=tuple(ops)).to_json())


def startup(runs: int) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    import npatch

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(npatch.__file__).parent)],
                   env=env, check=True)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plan_path = Path(tmp) / "plan.json"
        make_plan(plan_path)
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        for _ in range(runs):
            out = subprocess.run([sys.executable, str(script), str(plan_path)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            data = json.loads(out)
            if data["heavy"]:
                raise SystemExit(f"heavy modules imported at start-up: {data['heavy']}")
            for key in ("plan_module", "session_module", "plan_load", "start"):
                results.setdefault(key, []).append(data[key] * 1000)
    results["load+start"] = [a + b for a, b in zip(results["plan_load"], results["start"])]
    results["session_module+load+start"] = [
        a + b for a, b in zip(results["session_module"], results["load+start"])]
    return results


def per_call(number: int = 1_000_000) -> dict[str, float]:
    import types

    from npatch.plan import Op, Plan, Target
    from npatch.runtime.session import Session

    target = types.ModuleType("npatch_bench_target")
    sources = types.ModuleType("npatch_bench_sources")

    def original(x):
        return x

    def replacement(x):
        return x

    def make_wrapper(orig, options):
        def wrapper(*args, **kwargs):
            return orig(*args, **kwargs)
        return wrapper

    def guard(x):
        return True

    target.f = original
    sources.replacement, sources.make_wrapper, sources.guard = replacement, make_wrapper, guard
    sys.modules[target.__name__], sys.modules[sources.__name__] = target, sources
    hand = make_wrapper(original, {})

    def timed(func) -> float:
        return min(timeit.repeat(lambda: func(1), number=number, repeat=5)) / number * 1e9

    out = {"original": timed(original), "hand-written closure": timed(hand)}
    for label, kind, fields in (("replace", "replace", {"source": "npatch_bench_sources:replacement"}),
                                ("wrap", "wrap", {"source": "npatch_bench_sources:make_wrapper"}),
                                ("replace + guard", "replace", {"source": "npatch_bench_sources:replacement",
                                                                "guard": "npatch_bench_sources:guard"})):
        plan = Plan(ops=(Op(kind=kind, name="f", targets=(Target(target.__name__, "f"),), **fields),))
        with Session(plan):
            if label == "replace":
                assert target.f is replacement
            out[label] = timed(target.f)
    try:
        import wrapt

        wrapped = wrapt.FunctionWrapper(original, lambda wrapped, instance, args, kwargs: wrapped(*args, **kwargs))
        out["wrapt.FunctionWrapper"] = timed(wrapped)
    except ImportError:
        pass
    return out


def finder_cost(number: int = 1_000_000) -> float:
    from npatch.runtime.finder import FINDER

    FINDER.names = frozenset(f"pkg{i}.mod" for i in range(200))
    try:
        return min(timeit.repeat(lambda: FINDER.find_spec("json.decoder", None), number=number,
                                 repeat=5)) / number * 1e9
    finally:
        FINDER.names = frozenset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"start-up, {args.runs} fresh interpreters, 200-op plan, targets never imported (ms):")
    for key, values in startup(args.runs).items():
        print(f"  {key:<28} median {statistics.median(values):6.2f}   min {min(values):6.2f}   max {max(values):6.2f}")
    print("per call (ns):")
    for key, value in per_call().items():
        print(f"  {key:<28} {value:7.1f}")
    print(f"finder.find_spec of an unwatched name: {finder_cost():.1f} ns")


if __name__ == "__main__":
    main()
