"""What the static check adds to a cache miss of `npatch apply`.

    python bench/bench_check.py                 # torch-npu and mmcv-npu, 7 rounds
    python bench/bench_check.py --rounds 3 --json
    python bench/bench_check.py --quick         # one round

On a cache miss `npatch apply` compiles the manifests with the static check
(``resolve="static"``: source files found and parsed with ``ast``, call
signatures compared) before the program starts.  Three variants per manifest,
interleaved (the order rotates each round; see harness.py), each a fresh
process:

* **compile none**: ``compile_manifests([M], resolve="none")``, what a miss
  compiled before the check;
* **compile static**: the same with ``resolve="static"``, what a miss compiles now;
* **apply miss**: ``npatch apply M -- python -c pass`` with an empty plan cache
  (a new ``XDG_CACHE_HOME`` each run), the whole miss a user waits for.

Reported per manifest: medians and spread of wall and CPU ms, the per-round
difference static - none (what the check adds), its ratio to none, and its
share of the whole miss.  A cache hit runs no check and is not measured here
(startup.py measures hits).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from harness import interleave, npatch_command, paired, summarize, timed, user_env  # noqa: E402

MANIFESTS = ("torch-npu", "mmcv-npu")
COMPILE = "import sys; from npatch.compiler import compile_manifests; compile_manifests([sys.argv[1]], resolve=sys.argv[2])"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_manifest(manifest: str, rounds: int, scratch: Path) -> dict[str, Any]:
    variants = {
        "compile none": ([sys.executable, "-c", COMPILE, manifest, "none"], user_env()),
        "compile static": ([sys.executable, "-c", COMPILE, manifest, "static"], user_env()),
        "apply miss": ([*npatch_command(), "apply", manifest, "--", sys.executable, "-c", "pass"], user_env()),
    }
    runs = iter(range(10**6))

    def fresh_cache(name: str, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
        if name != "apply miss":
            return timed(cmd, env)
        cache = scratch / f"xdg{next(runs)}"
        cache.mkdir(mode=0o700)
        try:
            return timed(cmd, {**env, "XDG_CACHE_HOME": str(cache)})
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    samples, failed = interleave(variants, rounds, measure=fresh_cache,
                                 warmup=lambda n, c, e: fresh_cache(n, c, e), log=log)
    out: dict[str, Any] = {"failed": failed}
    for metric, by_name in samples.items():
        rows = {name: summarize(values) for name, values in by_name.items()}
        if {"compile none", "compile static", "apply miss"} <= set(by_name):
            added = paired(by_name, "compile static", "compile none")
            rows["check adds (static - none)"] = summarize(added)
            rows["static / none"] = summarize(paired(by_name, "compile static", "compile none", "/"), 3)
            rows["check share of the miss"] = summarize([a / m for a, m in zip(added, by_name["apply miss"])], 3)
        out[metric] = rows
    return out


def render(results: dict[str, Any]) -> str:
    lines = ["| manifest | metric | row | median | p25..p75 | min..max | n |", "|---|---|---|---|---|---|---|"]
    for manifest, by_metric in results.items():
        for metric in ("wall", "cpu"):
            for row, s in by_metric.get(metric, {}).items():
                lines.append(f"| {manifest} | {metric} | {row} | {s['median']} | {s['p25']}..{s['p75']} | "
                             f"{s['min']}..{s['max']} | {s['n']} |")
        for name, why in by_metric["failed"].items():
            lines.append(f"| {manifest} | - | {name} failed: {why} | | | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        results = {m: measure_manifest(m, rounds, Path(tmp)) for m in MANIFESTS}
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 1 if any(r["failed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
