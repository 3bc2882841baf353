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
import shutil
import sys
from pathlib import Path

import pytest

import npatch
from npatch_testutil import REPO, clean_env, run_npatch, run_python, torchrun

TRAIN = REPO / "examples" / "train_cuda.py"
STEP = re.compile(r"^rank (\d+) step (\d+) loss (\S+)", re.M)
PACKAGE = Path(npatch.__file__).resolve().parent
#: a warning as Python prints it, ``FILE:LINE: CATEGORY: message`` (torchrun may prefix ``[rankN]:``)
WARNING = re.compile(r"^(?:\[\w+\]:)?(?P<file>.+?):\d+: (?P<category>\w+(?:Warning|Error)): ", re.M)


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


def npatch_warnings(stderr: str) -> list[str]:
    """Warnings of npatch's own making: those Python attributes to a file of
    the npatch package (a deprecated API npatch calls names npatch's line),
    and npatch's own warning lines.  Judged by the file's real location, not
    by the word "npatch", which is in every path of a checkout named so."""
    found = [m.group(0) for m in WARNING.finditer(stderr) if Path(m.group("file")).resolve().is_relative_to(PACKAGE)]
    return found + [line for line in stderr.splitlines() if "NpatchWarning" in line or line.startswith("npatch:")]


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The example in a folder named like the repository (``git clone ... npatch``),
    as the README's commands run it: from the checkout's root."""
    root = tmp_path / "npatch"
    (root / "examples").mkdir(parents=True)
    shutil.copy(TRAIN, root / "examples" / "train_cuda.py")
    return root


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def test_warnings_are_told_apart_by_file_not_by_name(checkout):
    user = checkout / "examples" / "train_cuda.py"
    ours = PACKAGE / "library" / "cuda_cpu" / "distributed.py"
    stderr = (f"{user}:120: FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated.\n"
              f"[rank1]:{ours}:190: FutureWarning: torch.distributed.nn.functional.all_reduce is deprecated\n")
    assert npatch_warnings(stderr) == [f"[rank1]:{ours}:190: FutureWarning: "]


def test_the_readme_says_how_the_trainer_fails_without_the_manifest(checkout, env):
    readme = (REPO / "README.md").read_text()
    shown = re.search(r"^\$ python examples/train_cuda.py\n(.+)$", readme, re.M).group(1)
    proc = run_python("import runpy, sys; sys.argv = ['examples/train_cuda.py']; "
                      "runpy.run_path('examples/train_cuda.py', run_name='__main__')", cwd=checkout, env=env)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == shown == "RuntimeError: this script needs a GPU"
    assert tree(checkout) == ["examples", "examples/train_cuda.py"]


def test_the_trainer_trains_on_cpu(checkout, env):
    """The README's first command, from a checkout named ``npatch``: trains,
    warns of nothing of npatch's making, and leaves no file behind."""
    before = tree(checkout)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, "examples/train_cuda.py", cwd=checkout,
                      env=dict(env, PYTHONWARNINGS="default"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = losses(proc.stdout)
    assert list(found) == [0] and len(found[0]) == 3
    assert all(math.isfinite(v) for v in found[0])
    assert "rank 0 done" in proc.stdout
    assert "FutureWarning" in proc.stderr  # torch's own, about the user's torch.cuda.amp calls: shown, not ours
    assert npatch_warnings(proc.stderr) == []
    assert tree(checkout) == before


def test_the_report_leaves_only_the_report(checkout, env):
    """``--report run.json`` (the tutorial's step 2), and a report in a sub-folder: only the file appears."""
    (checkout / "out").mkdir()
    for report in ("run.json", "out/run.json"):
        proc = run_npatch("apply", "cuda-to-cpu", "-v", "--report", report, "--", sys.executable,
                          "examples/train_cuda.py", cwd=checkout, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        data = json.loads((checkout / report).read_text())
        assert data["summary"]["processes"] == 1 and data["summary"].get("failed", 0) == 0
    assert tree(checkout) == ["examples", "examples/train_cuda.py", "out", "out/run.json", "run.json"]


def test_the_trainer_trains_under_torchrun_ddp_over_gloo(tmp_path, checkout, env):
    # Each rank's stdout goes to its own file (--redirects 1): two ranks writing
    # to one pipe may interleave inside a line, which is torchrun's business, not ours.
    logs = tmp_path / "logs"
    before = tree(checkout)
    proc = run_npatch("apply", "cuda-to-cpu", "--report", str(tmp_path / "run.json"), "--", *torchrun(),
                      "--nproc_per_node", "2", "--log-dir", str(logs), "--redirects", "1", "examples/train_cuda.py",
                      cwd=checkout, env=dict(env, PYTHONWARNINGS="default"), timeout=600)
    outputs = [f.read_text() for f in sorted(logs.rglob("stdout.log"))]
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(outputs)
    assert npatch_warnings(proc.stderr) == [], proc.stderr
    assert tree(checkout) == before
    assert json.loads((tmp_path / "run.json").read_text())["summary"]["processes"] == 3  # torchrun and 2 ranks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "logs", "npatch", "run.json"]
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


TO_SHAPES = r'''
import json
import torch
from torch.overrides import TorchFunctionMode

class Seen(TorchFunctionMode):
    """What torch itself receives as the device of each ``Tensor.to`` call."""
    devices = []
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            first = args[1] if len(args) > 1 else None
            device = kwargs.get("device", first if isinstance(first, (str, int, torch.device)) else None)
            self.devices.append(None if device is None else str(torch.device(device)))
        return func(*args, **kwargs)

x = torch.arange(24.0).reshape(1, 2, 3, 4)
other = torch.zeros(1, dtype=torch.int64)
calls = [  # (CUDA call, the CPU program's call)
    (lambda: x.to("cuda"), lambda: x.to("cpu")),
    (lambda: x.to("cuda:0"), lambda: x.to("cpu")),
    (lambda: x.to(torch.device("cuda", 1)), lambda: x.to("cpu")),
    (lambda: x.to(0), lambda: x.to("cpu")),
    (lambda: x.to(1, torch.float64), lambda: x.to("cpu", torch.float64)),
    (lambda: x.to("cuda", non_blocking=True), lambda: x.to("cpu", non_blocking=True)),
    (lambda: x.to("cuda", copy=True), lambda: x.to("cpu", copy=True)),
    (lambda: x.to("cuda", memory_format=torch.channels_last), lambda: x.to("cpu", memory_format=torch.channels_last)),
    (lambda: x.to(device="cuda", dtype=torch.float16), lambda: x.to(device="cpu", dtype=torch.float16)),
    (lambda: x.to(torch.float16), lambda: x.to(torch.float16)),
    (lambda: x.to(other), lambda: x.to(other)),
    (lambda: x.to("cpu"), lambda: x.to("cpu")),
    (lambda: x.to("meta"), lambda: x.to("meta")),
]
report = []
for cuda_call, cpu_call in calls:
    with Seen():
        out = cuda_call()
    native = cpu_call()
    report.append([out is x, native is x, str(out.device), str(native.device), str(out.dtype), str(native.dtype),
                   list(out.stride()), list(native.stride())])
model = torch.nn.Linear(2, 2)
report.append([model.to("cuda:0") is model, str(model.to(0, torch.float64).weight.dtype), str(model.weight.device)])
print(json.dumps({"calls": report, "seen": Seen.devices}))
'''


def test_tensor_to_answers_as_the_cpu_call(tmp_path, env):
    script = tmp_path / "to_shapes.py"
    script.write_text(TO_SHAPES)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, str(script), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    *calls, model = report["calls"]
    for out_is_x, native_is_x, device, native_device, dtype, native_dtype, stride, native_stride in calls:
        assert (out_is_x, device, dtype, stride) == (native_is_x, native_device, native_dtype, native_stride)
    assert [c[0] for c in calls] == [True] * 4 + [False, True, False, False, False, False, False, True, False]
    assert model == [True, "torch.float64", "cpu"]
    # torch itself only ever hears of the CPU for a CUDA device
    assert report["seen"] == ["cpu"] * 9 + [None, None, "cpu", "meta"]
