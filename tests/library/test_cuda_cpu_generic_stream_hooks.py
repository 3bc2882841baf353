"""``torch.Stream(cuda)``, DDP's bfloat16 communication hooks, FSDP's
``sync_module_states`` and ``all_gather_into_tensor`` into a flat output under ``cuda-to-cpu`` (found by accelerate's and
torchft's own scripts, tests/acceptance), in a fresh interpreter, one gloo
process; and what each raises without the manifest."""
from __future__ import annotations

import json
import sys

from npatch_testutil import clean_env, run_npatch, run_python

SCRIPT = r'''
import json, sys, tempfile
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

def attempt(call):
    try:
        return call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:160]

r = {}
stream = attempt(lambda: torch.Stream(torch.device("cuda")))
r["stream"] = str(getattr(stream, "device", stream))
r["accelerator_stream"] = attempt(lambda: str(torch.Stream(torch.accelerator.current_accelerator(), priority=0).device))
r["isinstance"] = [isinstance(stream, torch.Stream), isinstance(torch._C.Stream(torch.device("cpu")), torch.Stream),
                   issubclass(torch._C.Stream, torch.Stream)]
r["cpu_stream"] = attempt(lambda: str(torch.Stream("cpu").device))
class Own(torch.Stream):  # a program's own subclass, defined under the manifest
    pass
own = attempt(lambda: Own(torch.device("cuda")))
r["own"] = [type(own).__name__, isinstance(own, Own), isinstance(torch._C.Stream(torch.device("cpu")), Own),
            issubclass(torch._C.Stream, Own)]

dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4))
r["bf16_hook"] = attempt(lambda: model.register_comm_hook(None, default_hooks.bf16_compress_hook))
if r["bf16_hook"] is None:
    model(torch.ones(2, 4)).sum().backward()
    r["bf16_grad"] = bool(torch.isfinite(model.module.weight.grad).all())

def bf16_compress_hook(state, bucket) -> int:  # a wrong return annotation: still refused
    return bucket
other = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4))
r["bad_hook"] = attempt(lambda: other.register_comm_hook(None, bf16_compress_hook))

fsdp = attempt(lambda: FSDP(torch.nn.Linear(4, 4), sync_module_states=True, device_id=torch.device("cpu")))
r["fsdp"] = fsdp if isinstance(fsdp, str) else str(next(fsdp.parameters()).device)
x = torch.arange(12.0).reshape(3, 4)
flat = torch.empty(12)
r["gather_flat"] = attempt(lambda: dist.all_gather_into_tensor(flat, x)) or flat.tolist() == x.flatten().tolist()
stacked = torch.empty(1, 3, 4)
r["gather_stacked"] = attempt(lambda: dist.all_gather_into_tensor(stacked, x)) or torch.equal(stacked[0], x)
r["gather_wrong_size"] = attempt(lambda: dist.all_gather_into_tensor(torch.empty(13), x))
dist.destroy_process_group()
print(json.dumps(r))
'''


def test_under_cuda_to_cpu(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, str(script),
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["stream"] == r["accelerator_stream"] == "cpu"
    assert r["isinstance"] == [True, True, True]
    assert r["cpu_stream"] == "cpu"
    assert r["own"] == ["Own", True, False, False]
    assert r["bf16_hook"] is None and r["bf16_grad"] is True
    assert r["bad_hook"].startswith("ValueError: Communication hook: return annotation should be")
    assert r["fsdp"] == "cpu"
    assert r["gather_flat"] is True and r["gather_stacked"] is True
    assert r["gather_wrong_size"].startswith("RuntimeError")  # still refused, as by NCCL


def test_without_the_manifest():
    proc = run_python(SCRIPT)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["stream"] == "RuntimeError: PyTorch is not linked with support for cuda devices"
    assert r["bf16_hook"].startswith("TypeError: BF16 all reduce communication hook required CUDA 11+")
    assert r["fsdp"].startswith("ValueError: The module has CPU parameters or buffers when `sync_module_states=True`")
    assert r["gather_flat"].startswith("RuntimeError: ProcessGroupGloo::allgather: invalid tensor size")
    assert r["gather_stacked"].startswith("RuntimeError: ProcessGroupGloo::allgather: invalid tensor size")
