"""`npatch diff` against the straightforward libcst codemod, side by side.

    python bench/bench_diff.py              # mmdet + mmcv-lite + mmengine, 3 rounds
    python bench/bench_diff.py --rounds 5 -j 2 --json
    python bench/bench_diff.py --quick      # mmcv only, 1 round (the harness's smoke run)

Both sides apply the same rules (the built-in ``cuda-to-npu`` manifest, through
the same rule classes) to the installed sources, each as a fresh process with
the same number of worker processes, and print a unified diff:

* **npatch diff**: ``npatch diff cuda-to-npu mmdet mmcv mmengine -j N`` (text
  prefilter, an ``ast`` scan before qualified names, pruned metadata, code
  generated only for changed files);
* **naive codemod**: this script with ``--naive``: every file parsed with
  libcst, ``MetadataWrapper(module)`` with ``QualifiedNameProvider`` on every
  file, one transformer pass, code generated for every file -- a codemod
  written the obvious way.

Rounds are interleaved (the order rotates each round) because the machine is
shared; we report the median and spread (min..max) of wall and CPU time (user
+ system of the process tree), the per-round speed-up, and whether the two
diffs are identical for every file both change.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from harness import CommandFailed, interleave, npatch_command, paired, summarize, user_env  # noqa: E402

PACKAGES = ("mmdet", "mmcv", "mmengine")
MANIFEST = "cuda-to-npu"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def naive(paths: list[str], jobs: int | None) -> int:
    """The baseline: print the diff of the plain codemod (no shortcuts)."""
    from npatch.compiler import load_plan
    from npatch.rewrite.runner import discover, run

    plan = load_plan([MANIFEST])
    result = run(list(plan.rewrites), discover(paths), jobs=jobs, optimize=False)
    for outcome in result.changed:
        sys.stdout.write(outcome.diff)
    print(f"naive codemod: {result.files} files, {len(result.changed)} changed, {result.seconds:.2f} s",
          file=sys.stderr)
    return 1 if result.errors else 0


def sections(diff: str) -> dict[str, str]:
    """A multi-file diff split per file (keyed by the ``--- a/`` path)."""
    out: dict[str, str] = {}
    current = None
    for line in diff.splitlines(keepends=True):
        if line.startswith("--- a/"):
            current = line[len("--- a/"):].rstrip("\n")
            out[current] = ""
        if current is not None:
            out[current] += line
    return out


def source_root() -> tuple[Path, list[str]]:
    locations = [Path(importlib.util.find_spec(p).submodule_search_locations[0]) for p in PACKAGES]
    root = locations[0].parent
    if any(loc.parent != root for loc in locations):
        raise SystemExit("mmdet, mmcv and mmengine are not installed side by side")
    return root, PACKAGES


def count(root: Path, packages: list[str]) -> tuple[int, int]:
    from npatch.rewrite.runner import discover

    cwd = os.getcwd()
    os.chdir(root)
    try:
        files = discover(list(packages))
    finally:
        os.chdir(cwd)
    return len(files), sum((root / d).read_bytes().count(b"\n") for _, d in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side (default 3)")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="worker processes for both sides")
    parser.add_argument("--quick", action="store_true", help="mmcv only, 1 round (smoke run)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--naive", nargs="+", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        return naive(args.naive, args.jobs)

    root, packages = source_root()
    if args.quick:
        packages, args.rounds = ["mmcv"], 1
    jobs = args.jobs or len(os.sched_getaffinity(0))
    files, lines = count(root, packages)
    log(f"{' + '.join(packages)}: {files} files, {lines} lines, -j {jobs}, {args.rounds} rounds (interleaved)")
    env = user_env()
    variants = {
        "npatch diff": ([*npatch_command(), "diff", MANIFEST, *packages, "-j", str(jobs)], env),
        "naive codemod": ([sys.executable, str(Path(__file__).resolve()), "--naive", *packages, "-j", str(jobs)],
                          env),
    }
    outputs: dict[str, str] = {}

    def measure(name: str, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise CommandFailed(f"exit {out.returncode}: {out.stderr.strip()[-300:]}")
        outputs[name] = out.stdout
        log(f"  {name}: {wall:.2f} s wall")
        return {"wall": wall, "cpu": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime}

    samples, failed = interleave(variants, args.rounds, measure=measure, warmup=lambda *a: None)
    if failed:
        for name, why in failed.items():
            log(f"{name} failed: {why}")
        return 1
    fast, slow = sections(outputs["npatch diff"]), sections(outputs["naive codemod"])
    both = sorted(set(fast) & set(slow))
    mismatched = [f for f in both if fast[f] != slow[f]]
    only = sorted(set(fast) ^ set(slow))
    wall_ratio = paired(samples["wall"], "naive codemod", "npatch diff", "/")
    cpu_ratio = paired(samples["cpu"], "naive codemod", "npatch diff", "/")

    def ms(name: str) -> dict[str, Any]:
        wall = summarize([x * 1000 for x in samples["wall"][name]], 0)
        cpu = summarize([x * 1000 for x in samples["cpu"][name]], 0)
        return {"median_ms": wall["median"], "min_ms": wall["min"], "max_ms": wall["max"],
                "cpu_median_ms": cpu["median"], "cpu_min_ms": cpu["min"], "cpu_max_ms": cpu["max"]}

    speedup = summarize(wall_ratio, 1)
    report = {
        "packages": list(packages), "files": files, "lines": lines, "jobs": jobs, "rounds": args.rounds,
        "quick": args.quick,   # one small package: start-up weighs more, the speed-up reads lower
        "results": {
            "npatch diff (wall)": ms("npatch diff"),
            "naive codemod (wall)": ms("naive codemod"),
            "speed-up, wall (per round)": f"{speedup['median']}x ({speedup['min']}..{speedup['max']})",
            "speed-up, CPU (per round)": f"{statistics.median(cpu_ratio):.1f}x",
            "identical diffs": f"{len(both) - len(mismatched)}/{len(both)} files both change"
                               + (f", {len(only)} changed by one side only" if only else ""),
        },
        "speedup": {**speedup, "cpu_median": round(statistics.median(cpu_ratio), 1)},
        "changed_files": {"npatch diff": len(fast), "naive codemod": len(slow)},
        "identical": not mismatched and not only,
        "mismatched": mismatched, "only_one_side": only,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{' + '.join(packages)}: {files} files, {lines} lines; -j {jobs}; {args.rounds} rounds")
        for name in variants:
            r = {k: v / 1000 for k, v in report["results"][f"{name} (wall)"].items()}
            print(f"  {name:<14} wall {r['median_ms']:7.2f} s ({r['min_ms']:.2f}..{r['max_ms']:.2f})"
                  f"   CPU {r['cpu_median_ms']:7.2f} s ({r['cpu_min_ms']:.2f}..{r['cpu_max_ms']:.2f})")
        print(f"  speed-up: {report['results']['speed-up, wall (per round)']} wall, "
              f"{report['results']['speed-up, CPU (per round)']} CPU")
        print(f"  {report['results']['identical diffs']}: {'identical' if report['identical'] else 'DIFFERENT'}")
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
