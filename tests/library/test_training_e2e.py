"""``[brake]`` and ``[profile]`` on real training programs, through ``npatch apply``.

* a real mmengine ``Runner`` training a tiny model (iteration- and
  epoch-based loops) stops at step 5: exit status 0, one line on stderr;
* a plain PyTorch loop writes a readable ``torch.profiler`` trace covering
  exactly the window, and stops under a brake too (the optimizer fallback);
* brake, profile and ``cuda-to-cpu`` together on the CUDA trainer.
"""
from __future__ import annotations

import glob
import json
import re
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

TRAIN_CUDA = Path(__file__).resolve().parents[2] / "examples" / "train_cuda.py"

MMENGINE = r'''
import sys
import torch
from torch import nn
from torch.utils.data import Dataset
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, inputs, targets, mode="tensor"):
        out = self.fc(inputs)
        return {"loss": ((out - targets) ** 2).mean()} if mode == "loss" else out


class Data(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=g), targets=torch.randn(1, generator=g))


class Recorder(Hook):
    def before_train(self, runner):
        print("loop", type(runner.train_loop).__name__, flush=True)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        print("trained iteration", runner.iter + 1, flush=True)


by_epoch = sys.argv[1] == "epoch"
runner = Runner(
    model=Toy(), work_dir=sys.argv[2],
    train_dataloader=dict(dataset=Data(), sampler=dict(type="DefaultSampler", shuffle=False), batch_size=4,
                          num_workers=0, collate_fn=dict(type="default_collate")),
    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
    train_cfg=dict(by_epoch=True, max_epochs=3) if by_epoch else dict(by_epoch=False, max_iters=20),
    default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1000)),
    custom_hooks=[Recorder()], default_scope="mmengine")
runner.train()
print("training finished without a brake", flush=True)
'''

PLAIN = r'''
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(1, 9):
    optimizer.zero_grad()
    with torch.profiler.record_function(f"user_step_{step}"):
        x, y = torch.randn(32, 8), torch.randn(32, 1)
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
    optimizer.step()
    print("step", step, float(loss), flush=True)
print("training finished without a brake", flush=True)
'''


@pytest.fixture
def env(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


def manifest(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "train.toml"
    path.write_text('[manifest]\nname = "train"\n' + body)
    return path


@pytest.mark.parametrize("loop, loop_class", [("iter", "IterBasedTrainLoop"), ("epoch", "EpochBasedTrainLoop")])
def test_brake_stops_an_mmengine_runner_at_step_5(tmp_path, env, loop, loop_class):
    script = tmp_path / "mm_train.py"
    script.write_text(MMENGINE)
    toml = manifest(tmp_path, "[brake]\nstep = 5\n")
    proc = run_npatch("apply", str(toml), "--", sys.executable, str(script), loop, str(tmp_path / "work"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"loop {loop_class}" in proc.stdout
    trained = re.findall(r"^trained iteration (\d+)$", proc.stdout, re.M)
    assert trained == ["1", "2", "3", "4", "5"]
    assert "training finished" not in proc.stdout
    assert [line for line in proc.stderr.splitlines() if "brake" in line] == ["npatch: brake at step 5"]


def read_trace(directory: Path) -> set[str]:
    traces = glob.glob(str(directory / "*.pt.trace.json"))
    assert len(traces) == 1, traces
    with open(traces[0]) as f:
        return {event.get("name", "") for event in json.load(f)["traceEvents"]}


@pytest.mark.parametrize("level", [0, 2])
def test_profile_writes_a_readable_trace_of_a_plain_loop(tmp_path, env, level):
    script = tmp_path / "plain.py"
    script.write_text(PLAIN)
    out = tmp_path / "prof"
    toml = manifest(tmp_path, f'[profile]\npath = "{out}"\nlevel = {level}\nstart = 3\nsteps = 2\n')
    proc = run_npatch("apply", str(toml), "--", sys.executable, str(script), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "training finished without a brake" in proc.stdout
    names = read_trace(out)
    steps = {n for n in names if n.startswith("user_step_")}
    assert steps == {"user_step_3", "user_step_4"}
    assert "Optimizer.step#AdamW.step" in names and "aten::addmm" in names


def test_brake_and_profile_on_a_plain_loop(tmp_path, env):
    script = tmp_path / "plain.py"
    script.write_text(PLAIN)
    out = tmp_path / "prof"
    toml = manifest(tmp_path, f'[brake]\nstep = 5\n[profile]\npath = "{out}"\nlevel = 1\nstart = 4\nsteps = 4\n')
    proc = run_npatch("apply", str(toml), "--", sys.executable, str(script), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.findall(r"^step (\d+) ", proc.stdout, re.M) == ["1", "2", "3", "4"]  # step 5 stops inside .step()
    assert proc.stderr.strip().splitlines()[-1] == "npatch: brake at step 5"
    assert {n for n in read_trace(out) if n.startswith("user_step_")} == {"user_step_4", "user_step_5"}


def test_brake_with_cuda_to_cpu_on_the_cuda_trainer(tmp_path, env):
    toml = manifest(tmp_path, 'include = ["cuda-to-cpu"]\n[brake]\nstep = 2\n')
    proc = run_npatch("apply", str(toml), "--", sys.executable, str(TRAIN_CUDA), "--steps", "10",
                      "--checkpoint", str(tmp_path / "c.pt"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.findall(r"^rank 0 step (\d+) ", proc.stdout, re.M) == ["0"]
    assert "npatch: brake at step 2" in proc.stderr and "done" not in proc.stdout
