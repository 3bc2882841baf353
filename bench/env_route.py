"""What ``npatch env``'s route adds to a worker's start, against a plain worker.

    python bench/env_route.py                 # ~3 min on 2 cores
    python bench/env_route.py --rounds 5 --manifest mmcv-npu
    python bench/env_route.py --pth-only      # only what npatch.pth costs a process without a plan

A worker is ``python -c PROGRAM`` started with only the variables a launcher
would give it (no ``npatch`` in front: that is how a torchrun rank, a Slurm
step or a Ray worker starts).  Arms, interleaved round-robin (harness.py):

* plain                   no npatch variable
* apply route             PYTHONPATH + NPATCH_PLAN (the cached plan file, as under ``npatch apply``)
* env inline              NPATCH_PLAN_DATA with the plan inline (booted by npatch.pth)
* env reference           NPATCH_PLAN_DATA naming the manifests; the node's cache is warm

Programs: ``pass`` (no target imported: the plan waits, only the value is
decoded) and ``import torch`` (the plan starts).  Printed: per arm and
program, the median CPU and wall time, and the median of the per-round
differences and ratios against plain (CPU is the verdict on a shared machine).

Then what ``npatch.pth`` costs a process that has no plan variable: two
otherwise identical venvs (``--system-site-packages``, this interpreter's
base), one with a copy of the installed ``npatch.pth``, run ``pass``
interleaved; and ``site.addpackage`` on that file alone, in-process (the
process difference is far below one start-up's noise).  A verdict line says
whether the .pth stays under 1 % of a bare start.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

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


def pth_cost(rounds: int) -> None:
    import site
    import sysconfig
    import timeit

    pth = os.path.join(sysconfig.get_path("purelib"), "npatch.pth")
    if not os.path.exists(pth):
        print(f"\n## npatch.pth: not installed next to {sys.executable}: install npatch (pip install [-e] .)")
        return
    env = user_env()
    env.pop("NPATCH_PLAN_DATA", None)
    with tempfile.TemporaryDirectory(prefix="npatch-pth-") as tmp:
        variants = {}
        for name in ("without npatch.pth", "with npatch.pth"):
            venv = os.path.join(tmp, name.split()[0])
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
            python = os.path.join(venv, "bin", "python")
            if name.startswith("with "):
                purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                         capture_output=True, text=True, check=True).stdout.strip()
                with open(pth, encoding="utf-8") as src, open(os.path.join(purelib, "npatch.pth"), "w") as dst:
                    dst.write(src.read())
            variants[name] = ([python, "-c", "pass"], env)
        samples, failed = interleave(variants, rounds)
    print(f"\n## python -c 'pass' without a plan variable, two venvs  ({rounds} rounds)")
    for name in failed:
        print(f"  {name}: FAILED {failed[name]}")
    base = summarize(samples["cpu"]["without npatch.pth"])
    extra = summarize(paired(samples["cpu"], "with npatch.pth", "without npatch.pth"))
    print(f"  without npatch.pth: {base['median']} ms CPU; with: {extra['median']:+} ms per process "
          f"(p25..p75 {extra['p25']}..{extra['p75']})")
    directory, name = os.path.split(pth)
    number = 200  # the fastest of 20 batches: the least disturbed by other load
    seconds = min(timeit.repeat(lambda: site.addpackage(directory, name, set()), number=number, repeat=20))
    micro = seconds / number * 1e6
    print(f"  site.addpackage(npatch.pth) in-process: {micro:.1f} µs (open, read, compile + exec of its line)")
    share = micro / 1000 / base["median"] * 100
    verdict = "met" if share < 1 else "MISSED"
    print(f"VERDICT npatch.pth costs a process without a plan {micro:.1f} µs, {share:.3f} % of a bare "
          f"start ({base['median']} ms CPU): {verdict} (< 1 %)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="cuda-to-cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--torch-rounds", type=int, default=6)
    parser.add_argument("--pth-rounds", type=int, default=30)
    parser.add_argument("--pth-only", action="store_true", help="only the cost of npatch.pth without a plan")
    args = parser.parse_args()
    if args.pth_only:
        pth_cost(args.pth_rounds)
        return 0
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
    pth_cost(args.pth_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
