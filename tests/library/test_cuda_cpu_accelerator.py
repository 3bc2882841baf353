"""``torch.accelerator``, CUDA graphs, legacy typed constructors, CUDA
generators and device properties under ``cuda-to-cpu``, in a fresh
interpreter as users run them (``npatch apply cuda-to-cpu -- python x.py``)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from npatch_testutil import clean_env, run_npatch, run_python, torchrun

ACCELERATOR = r'''
import json, torch
acc, cuda = torch.accelerator, torch.cuda
r = {}
r["available"] = [acc.is_available(), cuda.is_available()]
r["count"] = [acc.device_count(), cuda.device_count()]
r["accelerator"] = str(acc.current_accelerator()), str(acc.current_accelerator(check_available=True))
acc.set_device_index(2)
r["after_set_index"] = [acc.current_device_index(), cuda.current_device()]
cuda.set_device(1)
r["after_set_device"] = [acc.current_device_index(), acc.current_device_idx()]
with acc.device_index(0):
    r["in_device_index"] = cuda.current_device()
r["after_device_index"] = acc.current_device_index()
r["same_stream"] = acc.current_stream() is cuda.current_stream()
r["capturing"] = acc.current_stream().is_capturing()
acc.synchronize()
acc.set_stream(acc.current_stream())
r["memory"] = [acc.memory_allocated(), acc.max_memory_allocated(), acc.memory_reserved(),
               acc.max_memory_reserved(), dict(acc.memory_stats()), acc.get_memory_info() == cuda.mem_get_info()]
acc.empty_cache(); acc.empty_host_cache(); acc.reset_peak_memory_stats(); acc.reset_accumulated_memory_stats()
# the tutorial idiom, then torch's own calls (Adam asks the current stream is_capturing() each step)
device = acc.current_accelerator().type if acc.is_available() else "cpu"
model = torch.nn.Linear(4, 2).to(device)
opt = torch.optim.Adam(model.parameters())
model(torch.ones(3, 4, device=device)).sum().backward()
opt.step()
r["param_device"] = str(next(model.parameters()).device)
print(json.dumps(r))
'''


def apply_script(tmp_path: Path, code: str, **env: str):
    script = tmp_path / "script.py"
    script.write_text(code)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, str(script),
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), **env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_accelerator_agrees_with_cuda(tmp_path):
    report, stderr = apply_script(tmp_path, ACCELERATOR, LOCAL_WORLD_SIZE="3")
    assert report == {
        "available": [True, True], "count": [3, 3], "accelerator": ["cuda", "cuda"],
        "after_set_index": [2, 2], "after_set_device": [1, 1], "in_device_index": 0, "after_device_index": 1,
        "same_stream": True, "capturing": False, "memory": [0, 0, 0, 0, {}, True], "param_device": "cpu",
    }
    assert "NpatchWarning" not in stderr


def test_accelerator_fails_without_the_manifest():
    proc = run_python("import torch; torch.nn.Linear(2, 2).to(torch.accelerator.current_accelerator().type)")
    assert proc.returncode != 0 and "AttributeError" in proc.stderr


LEGACY = r'''
import json, torch
r = {}
x = torch.cuda.FloatTensor(2, 3)
r["float"] = [str(x.dtype), str(x.device), list(x.shape), isinstance(x, torch.cuda.FloatTensor)]
r["long"] = str(torch.cuda.LongTensor([1, 2]).dtype)
r["half"] = str(torch.ones(2).type(torch.cuda.HalfTensor).dtype)
r["bool_is_cpu_type"] = torch.cuda.BoolTensor is torch.BoolTensor
r["storage"] = torch.cuda.FloatStorage is torch.FloatStorage
g = torch.Generator(device="cuda")
g.manual_seed(3)
a = torch.randn(2, generator=g, device="cuda")
r["generator"] = [str(g.device), a.tolist() == torch.randn(2, generator=torch.Generator().manual_seed(3)).tolist()]
r["isinstance"] = [isinstance(g, torch.Generator), isinstance(torch.default_generator, torch.Generator),
                   issubclass(torch._C.Generator, torch.Generator)]
r["default_generators"] = [len(torch.cuda.default_generators), torch.cuda.default_generators[0] is torch.default_generator]
p = torch.cuda.get_device_properties(0)
r["props"] = {k: getattr(p, k) for k in json.loads(__import__("sys").argv[1])}
r["props_repr"] = repr(p).startswith("_CudaDeviceProperties(name=")
# CUDA graphs, eagerly: the captured block runs once; replay says why it cannot run
static_in = torch.ones(2, device="cuda")
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    static_out = static_in * 2
r["captured"] = static_out.tolist()
try:
    graph.replay()
except RuntimeError as exc:
    r["replay"] = str(exc)[:40]
fn = torch.cuda.make_graphed_callables(torch.nn.Linear(2, 1), (torch.ones(1, 2),))
r["graphed"] = list(fn(torch.ones(4, 2)).shape)
r["capturing"] = torch.cuda.is_current_stream_capturing()
with torch.accelerator.Graph() as g2:
    pass
print(json.dumps(r))
'''


def cuda_property_fields() -> list[str]:
    """The fields of torch's ``_CudaDeviceProperties``, read from the installed torch's stub."""
    stub = (Path(torch.__file__).parent / "_C" / "__init__.pyi").read_text()
    body = re.search(r"^class _CudaDeviceProperties:\n((?:    .*\n)+)", stub, re.M).group(1)
    return re.findall(r"^    (\w+):", body, re.M)


def test_legacy_constructors_generators_graphs_and_properties(tmp_path):
    fields = cuda_property_fields()
    assert {"name", "total_memory", "multi_processor_count", "major", "minor", "uuid"} <= set(fields)
    script = tmp_path / "legacy.py"
    script.write_text(LEGACY)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, str(script), json.dumps(fields),
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["float"] == ["torch.float32", "cpu", [2, 3], True]
    assert r["long"] == "torch.int64" and r["half"] == "torch.float16"
    assert r["bool_is_cpu_type"] and r["storage"]
    assert r["generator"] == ["cpu", True]
    assert r["isinstance"] == [True, True, True]
    assert r["default_generators"] == [1, True]
    assert sorted(r["props"]) == sorted(fields) and r["props"]["total_memory"] > 0 and r["props_repr"]
    assert r["captured"] == [2.0, 2.0] and r["replay"].startswith("npatch cuda-to-cpu: a CUDA graph")
    assert r["graphed"] == [4, 1] and r["capturing"] is False


RESTORE = r'''
import torch, npatch
before = (torch.Generator, torch.cuda.FloatTensor, torch.accelerator.is_available, torch.cuda.CUDAGraph)
with npatch.load("cuda-to-cpu").apply():
    inside = (torch.Generator, torch.cuda.FloatTensor, torch.accelerator.is_available, torch.cuda.CUDAGraph)
after = (torch.Generator, torch.cuda.FloatTensor, torch.accelerator.is_available, torch.cuda.CUDAGraph)
assert before == after and all(a is not b for a, b in zip(before, inside)), (before, inside, after)
assert torch.Generator is torch._C.Generator and torch.cuda.FloatTensor is not torch.FloatTensor
print("restored")
'''


def test_the_python_api_restores_them():
    proc = run_python(RESTORE)
    assert proc.returncode == 0 and "restored" in proc.stdout, proc.stderr


FSDP = r'''
import os, sys, warnings
import torch, torch.distributed as dist, torch.nn as nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, fully_shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
torch.cuda.set_device(local)
dist.init_process_group("nccl")


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).cuda()


def train(model, name):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(1 + rank)
    for step in range(2):
        loss = model(torch.randn(4, 8, device="cuda")).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        print(f"rank {rank} {name} step {step} loss {loss.item():.6f}", flush=True)


train(FSDP(net(), device_id=torch.cuda.current_device()), "fsdp")
mesh = init_device_mesh("cuda", (2,))
model = net()
fully_shard(model[0], mesh=mesh)
fully_shard(model, mesh=mesh)
train(model, "fully_shard")
mesh2d = init_device_mesh("cuda", (1, 2), mesh_dim_names=("dp", "tp"))
model = parallelize_module(net(), mesh2d["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
fully_shard(model, mesh=mesh2d["dp"])
train(model, "fsdp+tp")
print(f"rank {rank} mesh {mesh2d.device_type}", flush=True)
dist.destroy_process_group()
'''


def test_fsdp_fully_shard_and_a_2d_mesh_run_over_gloo(tmp_path):
    script = tmp_path / "fsdp.py"
    script.write_text(FSDP)
    logs = tmp_path / "logs"
    proc = run_npatch("apply", "cuda-to-cpu", "--", *torchrun(), "--nproc_per_node", "2", "--log-dir", str(logs),
                      "--redirects", "1", str(script),
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")), timeout=600)
    outputs = [f.read_text() for f in sorted(logs.rglob("stdout.log"))]
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(outputs)
    steps = re.findall(r"^rank (\d) (\S+) step (\d) loss (\S+)$", "".join(outputs), re.M)
    assert len(steps) == 12, outputs
    tp = {(r, s): loss for r, name, s, loss in steps if name == "fsdp+tp"}
    assert tp[("0", "0")] == tp[("1", "0")]  # one tensor-parallel group: both ranks compute the same loss
    assert all(f"rank {r} mesh cpu" in out for r, out in zip("01", outputs))


def test_fsdp_fails_without_the_manifest(tmp_path):
    proc = run_python("import torch, torch.distributed as dist\n"
                      "from torch.distributed.fsdp import FullyShardedDataParallel as FSDP\n"
                      "dist.init_process_group('gloo', init_method='tcp://127.0.0.1:0', rank=0, world_size=1)\n"
                      "FSDP(torch.nn.Linear(2, 2), device_id=0)\n")
    assert proc.returncode != 0 and "accelerator" in proc.stderr
