"""Two ``torchrun`` "nodes" on this machine train the CUDA example under ``cuda-to-cpu``.

``--nnodes 2 --nproc_per_node 2 --rdzv_backend c10d`` at 127.0.0.1: once with
each node started under ``npatch apply``, once with the variables of
``npatch env`` given to otherwise bare processes (``env -i``: PATH, HOME and
the variables; each node with its own cache directory, the sender's deleted).
All four ranks must print the status tree of an applied plan (``-v``) and the
same all-reduced losses (DDP over gloo).  Both nodes run in one private
network namespace when the system allows it (see cluster_helpers).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_helpers import free_port, isolated
from npatch_testutil import REPO, clean_env, run_npatch, torchrun

pytest.importorskip("torch.distributed")

HERE = Path(__file__).resolve().parent
TRAIN = REPO / "examples" / "train_cuda.py"
STEP = re.compile(r"^rank (\d+) step (\d+) loss (\S+)", re.M)


def node_command(tmp: Path, node: int, port: int) -> list[str]:
    return [*torchrun(), "--nnodes", "2", "--nproc_per_node", "2", "--node_rank", str(node),
            "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "npatch-test",
            "--log-dir", str(tmp / f"logs{node}"), "--redirects", "3", str(TRAIN),
            "--checkpoint", str(tmp / "shared.pt")]  # one path: the "shared file system" of the two nodes


def run_nodes(tmp: Path, commands: list[list[str]], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(isolated([sys.executable, str(HERE / "run_together.py"), "500", json.dumps(commands)]),
                          env=env, capture_output=True, text=True, timeout=600)


def check_ranks(tmp: Path, proc: subprocess.CompletedProcess) -> None:
    logs = {}
    for node in (0, 1):
        for stdout in sorted((tmp / f"logs{node}").rglob("stdout.log")):
            logs[stdout] = (stdout.read_text(), (stdout.parent / "stderr.log").read_text())
    everything = proc.stdout + proc.stderr[-3000:] + "".join(o + e[-2000:] for o, e in logs.values())
    assert proc.returncode == 0, everything
    assert len(logs) == 4, everything
    losses: dict[int, list[float]] = {}
    for out, err in logs.values():
        found = STEP.findall(out)
        (rank,) = {int(r) for r, _, _ in found}
        losses[rank] = [float(v) for _, _, v in found]
        assert f"rank {rank} done" in out, out
        assert re.search(rf"^npatch: pid \d+ rank {rank}:", err, re.M), err  # its -v tree: the plan ran here
        assert re.search(r"applied\s+dist\.init_process_group", err), err
    assert sorted(losses) == [0, 1, 2, 3]
    assert all(len(v) == 3 and all(map(math.isfinite, v)) for v in losses.values())
    assert losses[0] == losses[1] == losses[2] == losses[3]  # all-reduced across both nodes over gloo


def test_two_nodes_each_under_npatch_apply(tmp_path):
    port = free_port()
    commands = [["env", f"XDG_CACHE_HOME={tmp_path / f'cache{n}'}", sys.executable, "-m", "npatch", "apply", "-v",
                 "cuda-to-cpu", "--", *node_command(tmp_path, n, port)] for n in (0, 1)]
    check_ranks(tmp_path, run_nodes(tmp_path, commands, clean_env()))


def test_two_bare_nodes_with_the_exported_environment(tmp_path):
    sender = clean_env(XDG_CACHE_HOME=str(tmp_path / "sender"))
    proc = run_npatch("env", "cuda-to-cpu", "-v", "--format", "json", env=sender)
    assert proc.returncode == 0, proc.stderr
    variables = json.loads(proc.stdout)
    shutil.rmtree(tmp_path / "sender")
    port = free_port()
    commands = []
    for node in (0, 1):
        bare = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / f"cache{node}"),
                "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", **variables}
        commands.append(["env", "-i", *(f"{k}={v}" for k, v in bare.items()), *node_command(tmp_path, node, port)])
    check_ranks(tmp_path, run_nodes(tmp_path, commands, clean_env()))
