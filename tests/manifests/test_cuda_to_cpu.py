"""Acceptance of the built-in ``cuda-to-cpu`` manifest on this CPU-only torch.

``examples/train_cuda.py`` is an unmodified CUDA trainer (NCCL, set_device,
``.cuda()``, DDP with device ids, SyncBatchNorm, AMP, CUDA events and
streams, ``torch.load(map_location='cuda:N')``...).  Without the manifest it
fails; under ``npatch apply cuda-to-cpu`` it trains 3 steps with finite
losses, in one process and under ``torchrun --nproc_per_node 2`` (DDP over
gloo, both ranks reporting the same all-reduced loss).  A second script
walks the APIs the trainer does not use, and the Python API shows what a
``with`` block restores.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch, run_python, torchrun

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "train_cuda.py"
STEP = re.compile(r"^rank (\d+) step (\d+) loss (\S+)", re.M)


@pytest.fixture
def env(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def losses(stdout: str) -> dict[int, list[float]]:
    found: dict[int, list[float]] = {}
    for rank, _step, loss in STEP.findall(stdout):
        found.setdefault(int(rank), []).append(float(loss))
    return found


def test_resolves_against_the_installed_torch(env):
    proc = run_npatch("compile", "--resolve", "import", "cuda-to-cpu", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "0 errors" in proc.stdout


def test_the_trainer_fails_without_the_manifest(tmp_path, env):
    proc = run_python(f"import runpy, sys; sys.argv = ['train', '--checkpoint', {str(tmp_path / 'c.pt')!r}]; "
                      f"runpy.run_path({str(TRAIN)!r}, run_name='__main__')", env=env)
    assert proc.returncode != 0
    assert "needs a GPU" in proc.stderr


def test_the_trainer_trains_on_cpu(tmp_path, env):
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, str(TRAIN), "--checkpoint",
                      str(tmp_path / "c.pt"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = losses(proc.stdout)
    assert list(found) == [0] and len(found[0]) == 3
    assert all(math.isfinite(v) for v in found[0])
    assert "rank 0 done" in proc.stdout
    assert "npatch" not in proc.stderr  # every op applied: no warning


def test_the_trainer_trains_under_torchrun_ddp_over_gloo(tmp_path, env):
    # Each rank's stdout goes to its own file (--redirects 1): two ranks writing
    # to one pipe may interleave inside a line, which is torchrun's business, not ours.
    logs = tmp_path / "logs"
    proc = run_npatch("apply", "cuda-to-cpu", "--", *torchrun(), "--nproc_per_node", "2",
                      "--log-dir", str(logs), "--redirects", "1", str(TRAIN),
                      "--checkpoint", str(tmp_path / "c.pt"), env=env, timeout=600)
    outputs = [f.read_text() for f in sorted(logs.rglob("stdout.log"))]
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(outputs)
    assert len(outputs) == 2, outputs
    found = losses("".join(outputs))
    assert sorted(found) == [0, 1] and all(len(v) == 3 for v in found.values()), outputs
    assert all(math.isfinite(v) for v in found[0] + found[1])
    assert found[0] == found[1]  # the all-reduced loss: the ranks really talk over gloo
    assert all(f"rank {r} done" in out for r, out in zip((0, 1), outputs)), outputs


APIS = r'''
import json, sys
import torch

report = {}
# devices through contexts and defaults
with torch.device("cuda"):
    report["with_cuda"] = str(torch.empty(2).device)
with torch.device("meta"):
    report["with_meta"] = str(torch.empty(2).device)
torch.set_default_device("cuda:0")
report["default_device"] = str(torch.ones(1).device)
torch.set_default_device(None)
report["new_full"] = str(torch.ones(1).new_full((2,), 3.0, device="cuda").device)
report["fft"] = str(torch.fft.fftfreq(4, device="cuda").device)
report["pinned"] = torch.ones(2).pin_memory().device.type

# a checkpoint saved on a GPU, loaded without map_location
path = sys.argv[1]
report["load"] = torch.load(path)["w"].tolist()

# DataParallel, TorchScript, nvtx, cuda.device, streams
dp = torch.nn.DataParallel(torch.nn.Linear(2, 1).cuda(), device_ids=[0, 1])
report["data_parallel"] = list(dp(torch.ones(3, 2, device="cuda")).shape)
def plus_one(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x) + torch.ones(2)
report["jit"] = torch.jit.script(plus_one)(torch.ones(2)).tolist()
torch.cuda.nvtx.range_push("step"); torch.cuda.nvtx.range_pop()
with torch.cuda.nvtx.range("block"):
    pass
with torch.cuda.device(1):
    report["device_ctx"] = torch.cuda.current_device()
s = torch.cuda.Stream()
with torch.cuda.stream(s):
    x = torch.ones(2).cuda(non_blocking=True)
torch.cuda.current_stream().wait_stream(s)
report["props"] = torch.cuda.get_device_properties(0).total_memory > 0
report["summary"] = torch.cuda.memory_summary().startswith("npatch")
report["mem_info"] = torch.cuda.mem_get_info()[1] > 0

# AMP
with torch.autocast("cuda", dtype=torch.bfloat16):
    report["autocast_dtype"] = str((torch.ones(2, 2) @ torch.ones(2, 2)).dtype)
report["scaler"] = torch.amp.GradScaler("cuda").is_enabled()

# mmengine scripts torch.distributed.optim at import (TorchScript sees the factory wrappers)
import mmengine.runner  # noqa: F401
report["mmengine_device"] = __import__("mmengine.device", fromlist=["get_device"]).get_device()
print(json.dumps(report))
'''

GPU_CHECKPOINT = r'''
import sys, torch
torch.serialization.location_tag = lambda storage: "cuda:0"
torch.save({"w": torch.arange(3.0)}, sys.argv[1])
'''


@pytest.fixture
def gpu_checkpoint(tmp_path, env):
    path = tmp_path / "gpu.pt"
    proc = run_python(GPU_CHECKPOINT, str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.mark.parametrize("cpu_autocast", [False, True])
def test_other_cuda_apis(tmp_path, env, gpu_checkpoint, cpu_autocast):
    script = tmp_path / "apis.py"
    script.write_text(APIS)
    option = ["--set", "cpu_autocast=true"] if cpu_autocast else []
    proc = run_npatch("apply", *option, "cuda-to-cpu", "--", sys.executable, str(script), str(gpu_checkpoint),
                      env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {
        "with_cuda": "cpu", "with_meta": "meta", "default_device": "cpu", "new_full": "cpu", "fft": "cpu",
        "pinned": "cpu", "load": [0.0, 1.0, 2.0], "data_parallel": [3, 1], "jit": [1.0, 1.0], "device_ctx": 1,
        "props": True, "summary": True, "mem_info": True,
        "autocast_dtype": "torch.bfloat16" if cpu_autocast else "torch.float32",
        "scaler": False, "mmengine_device": "cuda",
    }


def test_gpu_checkpoint_needs_the_manifest(env, gpu_checkpoint):
    proc = run_python(f"import torch; torch.load({str(gpu_checkpoint)!r})", env=env)
    assert proc.returncode != 0 and "CUDA" in proc.stderr


API_RESTORE = r'''
import json
import torch
import npatch

before = (torch.cuda.is_available(), type(torch.zeros).__name__, "cuda" in vars(torch.Tensor))
with npatch.load("cuda-to-cpu").apply():
    inside = (torch.cuda.is_available(), torch.ones(2).cuda().device.type, torch.zeros(1, device="cuda").device.type,
              type(torch.zeros).__name__, "cuda" in vars(torch.Tensor))
after = (torch.cuda.is_available(), type(torch.zeros).__name__, "cuda" in vars(torch.Tensor))
print(json.dumps([before, inside, after]))
'''


def test_python_api_restores_torch(env):
    proc = run_python(API_RESTORE, env=env)
    assert proc.returncode == 0, proc.stderr
    before, inside, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == after == [False, "builtin_function_or_method", False]
    assert inside == [True, "cpu", "cpu", "function", True]
