"""Section 3: ``import torch`` (about two thousand module imports) under a plan.

The plan holds the 200 never-imported ops of the start-up section plus wrap
ops on torch submodules that ``import torch`` loads, so the import hook both
looks at every import and really applies ops on the way.  The wrap factory
returns the original unchanged and counts its calls; every run checks the
count, so a plan that silently did nothing cannot pass.

Both variants run ``npatch``-free or under ``npatch apply`` in fresh
interpreters, interleaved; the time is taken inside the child around
``import torch`` alone (interpreter and launcher start-up excluded), as wall
and as CPU time (the verdict: CPU time does not stretch with the load).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness import (
    CommandFailed,
    interleave,
    median_error,
    npatch_command,
    paired,
    run_cmd,
    summarize,
    target,
    user_env,
)

#: attributes of modules that ``import torch`` loads
TORCH_TARGETS = ("torch.nn.functional:relu", "torch.nn.modules.module:Module.cuda", "torch.cuda:synchronize",
                 "torch.optim.optimizer:Optimizer.zero_grad", "torch.serialization:load",
                 "torch.nn.modules.linear:Linear.forward", "torch.functional:einsum", "torch.random:manual_seed")
HOOKS = '''
CALLS = 0

def passthrough(original, options):
    global CALLS
    CALLS += 1
    return original
'''
CHILD = '''
import sys, time
w, c = time.perf_counter(), time.process_time()
import torch
wall, cpu = (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000
hooks = sys.modules.get("npatch_bench_hooks")
print(wall, cpu, len(sys.modules), hooks.CALLS if hooks else 0)
'''


def write_manifest(path: Path, never_imported: int) -> Path:
    lines = ['[manifest]', 'name = "bench-import-hook"', '']
    for i in range(never_imported):
        lines += ['[[patch]]', f'name = "p{i}"', f'target = "never_imported_pkg_{i}:f"', 'replace = "json:loads"', '']
    for i, where in enumerate(TORCH_TARGETS):
        lines += ['[[patch]]', f'name = "torch{i}"', f'target = "{where}"', 'wrap = "npatch_bench_hooks:passthrough"',
                  'on-missing = "error"', '']
    path.write_text("\n".join(lines))
    return path


def run_section(work: Path, rounds: int, log: Any, warm: bool = True) -> dict[str, Any]:
    """``warm``: one untimed run of each variant first (bytecode and page cache)."""
    (work / "npatch_bench_hooks.py").write_text(HOOKS)
    manifest = write_manifest(work / "import_hook.toml", 200)
    env = user_env(PYTHONPATH=str(work))
    child = [sys.executable, "-c", CHILD]
    variants = {"import torch": (child, env),
                "import torch, under the plan": ([*npatch_command(), "apply", str(manifest), "--", *child], env)}
    info: dict[str, tuple[int, int]] = {}

    def measure(name: str, cmd: list[str], env: dict[str, str]) -> dict[str, float]:
        wall, cpu, modules, calls = run_cmd(cmd, env).stdout.split()
        if name.endswith("plan") and int(calls) != len(TORCH_TARGETS):
            raise CommandFailed(f"{calls} of {len(TORCH_TARGETS)} torch ops applied: the plan did not run")
        info[name] = (int(modules), int(calls))
        return {"wall": float(wall), "cpu": float(cpu)}

    log(f"import hook: import torch, bare vs under a {200 + len(TORCH_TARGETS)}-op plan, {rounds} rounds")
    samples, failed = interleave(variants, rounds, measure=measure, warmup=None if warm else _no_warmup, log=log)
    result: dict[str, Any] = {"rounds": rounds, "ops": 200 + len(TORCH_TARGETS), "ops_applied": len(TORCH_TARGETS),
                              "failed": failed, "rows": []}
    for name in variants:
        if name not in failed:
            result["rows"].append({"label": name, "wall_ms": summarize(samples["wall"][name]),
                                   "cpu_ms": summarize(samples["cpu"][name]), "modules": info[name][0]})
    if not failed:
        for metric in ("wall", "cpu"):
            ratios = paired(samples[metric], "import torch, under the plan", "import torch", "/")
            result[f"slower_{metric}_pct"] = summarize([(r - 1) * 100 for r in ratios], 2)
    return result


def _no_warmup(name: str, cmd: list[str], env: dict[str, str]) -> None:
    return None


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    if "slower_cpu_pct" not in section:
        return []
    return [target("`import torch` under a plan, % slower than bare (CPU)", section["slower_cpu_pct"]["median"], 3,
                   "%", "<=", f"{section['ops']} ops, {section['ops_applied']} applied during the import; "
                   f"wall: {section['slower_wall_pct']['median']:+.1f} %",
                   ("import_hook", "import torch, under the plan"), median_error(section["slower_cpu_pct"]),
                   why="the finder's per-import lookups and the ops applied during the import; one `import "
                       "torch` varies by more than 3 % between rounds on this machine")]
