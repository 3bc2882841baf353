"""How often a CPU DDP program aborts at exit, plain torch against ``npatch apply cuda-to-cpu``.

    python bench/gloo_exit_race.py --runs 40     # ~10 s a run and arm on 2 cores

A two-rank DDP program (BatchNorm buffers, so every forward broadcasts)
ending in ``dist.barrier()`` runs under torchrun pinned to one CPU that a
busy loop also wants.  A gloo worker then often frees the barrier's work
after the main thread has reached interpreter finalization; torch 2.13
aborts that rank (``terminate called without an active exception``,
SIGABRT).  The cuda-to-cpu manifest settles gloo's workers at exit
(``npatch.library.cuda_cpu.distributed.settle_gloo_workers``); this counts
failed runs for each arm.  A measurement of a race, so not a test: on an
idle machine both arms pass.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = """
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
dist.init_process_group("gloo")
model = DDP(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)))
for _ in range(3):
    model(torch.randn(8, 4)).sum().backward()
dist.barrier()
"""

ARMS = {
    "plain torch": [],
    "npatch apply cuda-to-cpu": [sys.executable, "-m", "npatch", "apply", "cuda-to-cpu", "--"],
}


def one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def failures(prefix: list[str], script: Path, runs: int) -> int:
    command = [*prefix, sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script)]
    return sum(subprocess.run(command, capture_output=True, preexec_fn=one_cpu, timeout=600).returncode != 0
               for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per arm (default 40)")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=one_cpu)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "ddp_barrier.py"
            script.write_text(PROGRAM)
            for arm, prefix in ARMS.items():
                print(f"{arm:28} {failures(prefix, script, args.runs)}/{args.runs} runs failed", flush=True)
    finally:
        busy.kill()


if __name__ == "__main__":
    main()
