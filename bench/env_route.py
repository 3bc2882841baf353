"""What ``npatch env``'s route adds to a worker's start, against a plain worker.

    python bench/env_route.py                 # ~2 min on 2 cores
    python bench/env_route.py --rounds 5 --manifest mmcv-npu

A worker is ``python -c PROGRAM`` started with only the variables a launcher
would give it (no ``npatch`` in front: that is how a torchrun rank, a Slurm
step or a Ray worker starts).  Arms, interleaved round-robin (harness.py):

* plain                   no npatch variable
* apply route             PYTHONPATH + NPATCH_PLAN (the cached plan file, as under ``npatch apply``)
* env inline              PYTHONPATH + NPATCH_PLAN_DATA with the plan inline
* env reference           PYTHONPATH + NPATCH_PLAN_DATA naming the manifests; the node's cache is warm

Programs: ``pass`` (no target imported: the plan waits, only the value is
decoded) and ``import torch`` (the plan starts).  Printed: per arm and
program, the median CPU and wall time, and the median of the per-round
differences and ratios against plain (CPU is the verdict on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from harness import interleave, npatch_command, paired, summarize, user_env

PROGRAMS = {"pass": "pass", "import torch": "import torch"}


def arms(manifest: str) -> dict[str, dict[str, str]]:
    base = user_env(TORCH_DEVICE_BACKEND_AUTOLOAD="0")

    def exported(*options: str) -> dict[str, str]:
        out = subprocess.run([*npatch_command(), "env", manifest, "--format", "json", *options], env=base,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    plan_env = subprocess.run(
        [*npatch_command(), "apply", manifest, "--", sys.executable, "-c",
         "import json, os; print(json.dumps({k: os.environ[k] for k in ('PYTHONPATH', 'NPATCH_PLAN')}))"],
        env=base, capture_output=True, text=True, check=True)
    return {
        "plain": base,
        "apply route": dict(base, **json.loads(plan_env.stdout)),
        "env inline": dict(base, **exported("--ship", "inline")),
        "env reference": dict(base, **exported("--ship", "reference")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="cuda-to-cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--torch-rounds", type=int, default=6)
    args = parser.parse_args()
    envs = arms(args.manifest)
    value = envs["env inline"]["NPATCH_PLAN_DATA"]
    print(f"{args.manifest}: NPATCH_PLAN_DATA inline is {len(value)} characters")
    for program, code in PROGRAMS.items():
        rounds = args.torch_rounds if "torch" in program else args.rounds
        if rounds < 1:
            continue
        variants = {name: ([sys.executable, "-c", code], env) for name, env in envs.items()}
        samples, failed = interleave(variants, rounds)
        print(f"\n## python -c {code!r}  ({rounds} rounds)")
        for name in failed:
            print(f"  {name}: FAILED {failed[name]}")
        print(f"  {'arm':<15} {'cpu ms':>8} {'wall ms':>8} {'cpu +ms':>8} {'cpu ratio':>9} {'wall ratio':>10}")
        for name in samples["cpu"]:
            cpu, wall = summarize(samples["cpu"][name]), summarize(samples["wall"][name])
            extra = summarize(paired(samples["cpu"], name, "plain"))
            ratio = summarize(paired(samples["cpu"], name, "plain", "/"), 3)
            wall_ratio = summarize(paired(samples["wall"], name, "plain", "/"), 3)
            print(f"  {name:<15} {cpu['median']:>8} {wall['median']:>8} {extra['median']:>+8} "
                  f"{ratio['median']:>9} {wall_ratio['median']:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
