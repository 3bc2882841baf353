"""Compile a generated 1,000-op manifest in each resolve mode; load the saved plan.

Each measurement runs in a fresh interpreter (imports included, as a user pays
them) and is repeated; we report the median and the spread (min..max) in ms.
Targets from the foundation issue: compile with --resolve none under 300 ms;
loading a saved plan under 5 ms with none of lark, libcst or tomli imported.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# real targets spread over a few real modules, so static/import modes do real work
TARGETS = [
    "torch.nn.modules.module:Module.cuda", "torch.nn.modules.module:Module.to", "torch.cuda:synchronize",
    "torch.cuda:is_available", "torch.optim.optimizer:Optimizer.step", "mmengine.runner.loops:IterBasedTrainLoop.run_iter",
    "mmcv.ops.nms:nms", "mmcv.ops.roi_align:RoIAlign.forward", "json:dumps", "os.path:join",
]


def write_manifest(path: Path, count: int) -> None:
    lines = ['[manifest]', 'name = "bench"', '']
    for i in range(count):
        lines += ['[[patch]]', f'name = "p{i}"', f'target = "{TARGETS[i % len(TARGETS)]}"',
                  'replace = "json:loads"', f'priority = {i}', f"when = \"installed('torch') or env('NPATCH_BENCH_{i}') == '1'\"", '']
    path.write_text("\n".join(lines))


COMPILE = """
import time, sys
t = time.perf_counter()
from npatch.compiler import compile_manifests
r = compile_manifests([sys.argv[1]], resolve=sys.argv[2])
print((time.perf_counter() - t) * 1000)
"""

LOAD = """
import time, sys
t = time.perf_counter()
from npatch.plan import Plan
plan = Plan.load(sys.argv[1])
ms = (time.perf_counter() - t) * 1000
heavy = [m for m in ("lark", "libcst", "tomli") if m in sys.modules]
assert not heavy, heavy
print(ms)
"""


def user_env() -> dict[str, str]:
    """A user's environment: bytecode caching on (this sandbox turns it off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPATCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=user_env())
    return float(out.stdout.strip().splitlines()[-1])


def measure(code: str, args: tuple[str, ...], repeat: int) -> dict:
    run(code, *args)  # warm-up: writes bytecode caches, fills the grammar cache
    samples = [run(code, *args) for _ in range(repeat)]
    return {"median_ms": round(statistics.median(samples), 2), "min_ms": round(min(samples), 2),
            "max_ms": round(max(samples), 2), "n": repeat}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "bench.toml"
        write_manifest(manifest, args.ops)
        results = {}
        for mode in ("none", "static", "import"):
            results[f"compile_{mode}"] = measure(COMPILE, (str(manifest), mode), args.repeat)
        plan_file = Path(tmp) / "plan.json"
        subprocess.run([sys.executable, "-m", "npatch", "compile", str(manifest), "--resolve", "none", "-o", str(plan_file)],
                       check=True, capture_output=True)
        results["load_plan"] = measure(LOAD, (str(plan_file),), args.repeat)
    report = {"ops": args.ops, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, r in results.items():
            print(f"{name:<16} median {r['median_ms']:8.1f} ms   ({r['min_ms']:.1f}..{r['max_ms']:.1f}, n={r['n']})")
    return report


if __name__ == "__main__":
    main()
