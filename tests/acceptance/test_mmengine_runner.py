"""mmengine's ``Runner``, unmodified config style, under ``cuda-to-cpu`` on a CPU.

A trainer written for GPUs the way OpenMMLab projects are: it insists on
``torch.cuda.is_available()``, asks for the ``nccl`` backend in ``env_cfg``,
``sync_bn``, ``AmpOptimWrapper`` (``torch.cuda.amp.GradScaler``),
``pin_memory=True`` and spawn DataLoader workers, and lets the ``Runner``
put the model on ``cuda``.  Under ``torchrun --nproc_per_node 2`` it trains
two epochs with DDP over gloo and checkpoints; a second run resumes from the
checkpoint (mmengine 0.10 saves its own classes, so the resume also needs
``openmmlab-checkpoint`` under torch >= 2.6).  Without the manifest it
stops at once.  (tests/manifests covers mmdet models built by hand; this is
the Runner, its hooks, its launcher and its checkpoint round trip.)"""
from __future__ import annotations

import sys

import pytest

from npatch_testutil import clean_env, run_npatch, run_python, torchrun

pytestmark = pytest.mark.slow

TRAINER = r'''
import argparse, os, sys, torch, torch.nn as nn
from torch.utils.data import Dataset
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.evaluator import BaseMetric
from mmengine.registry import MODELS, DATASETS, METRICS

@MODELS.register_module()
class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.bn = nn.BatchNorm1d(2)
    def forward(self, inputs, labels=None, mode="tensor"):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.bn(self.lin(inputs))
        if mode == "loss":
            labels = torch.stack(labels) if isinstance(labels, list) else labels
            return {"loss": nn.functional.cross_entropy(out, labels)}
        if mode == "predict":
            return [(o.argmax(), l) for o, l in zip(out, labels)]
        return out

@DATASETS.register_module()
class ToySet(Dataset):
    def __len__(self): return 16
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=g), labels=torch.tensor(i % 2))

@METRICS.register_module()
class Acc(BaseMetric):
    def process(self, data_batch, data_samples):
        for p, l in data_samples: self.results.append(int(p == l))
    def compute_metrics(self, results): return dict(acc=sum(results) / max(len(results), 1))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--launcher", default="none"); ap.add_argument("--work-dir")
    ap.add_argument("--resume", action="store_true"); a = ap.parse_args()
    assert torch.cuda.is_available(), "this script needs a GPU"
    cfg = dict(
        model=dict(type="Toy"), work_dir=a.work_dir, launcher=a.launcher,
        train_dataloader=dict(dataset=dict(type="ToySet"), sampler=dict(type="DefaultSampler", shuffle=True), batch_size=4, num_workers=2,
                              persistent_workers=False, pin_memory=True, collate_fn=dict(type="default_collate"),
                              ),
        val_dataloader=dict(dataset=dict(type="ToySet"), sampler=dict(type="DefaultSampler", shuffle=False), batch_size=4, num_workers=0, collate_fn=dict(type="default_collate")),
        val_evaluator=dict(type="Acc"), val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
        optim_wrapper=dict(type="AmpOptimWrapper", optimizer=dict(type="SGD", lr=0.1)),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
        env_cfg=dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method="spawn"), dist_cfg=dict(backend="nccl")),
        randomness=dict(seed=0), resume=a.resume, cfg=dict(sync_bn="torch"),
    )
    runner = Runner(**cfg)
    runner.train()
    dev = next(runner.model.parameters()).device
    print("DONE", dev, runner.iter, os.environ.get("RANK", "-"))
'''


def test_runner_trains_ddp_and_resumes_under_cuda_to_cpu(tmp_path):
    (tmp_path / "train.py").write_text(TRAINER)
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    bare = run_python(TRAINER, "--work-dir", str(tmp_path / "bare"), cwd=tmp_path, env=env)
    assert bare.returncode != 0 and "this script needs a GPU" in bare.stderr

    proc = run_npatch("apply", "cuda-to-cpu", "--", *torchrun(), "--nproc_per_node", "2", "train.py",
                      "--launcher", "pytorch", "--work-dir", "w", cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert sorted(line for line in proc.stdout.splitlines() if line.startswith("DONE")) == [
        "DONE cpu 4 0", "DONE cpu 4 1"]  # 16 samples, batch 4, 2 ranks, 2 epochs
    assert (tmp_path / "w" / "epoch_2.pth").exists()

    resumed = run_npatch("apply", "cuda-to-cpu", "openmmlab-checkpoint", "--", sys.executable, "train.py",
                         "--work-dir", "w", "--resume", cwd=tmp_path, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "Auto resumed from the latest checkpoint" in resumed.stdout + resumed.stderr
    assert "DONE cpu 4 -" in resumed.stdout  # nothing left to train: the epoch-2 state was loaded
