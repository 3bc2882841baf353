"""SyncBatchNorm on CPUs over gloo: two real processes, compared with one
BatchNorm over the whole batch (outputs, input and parameter gradients,
running statistics)."""
from __future__ import annotations

import subprocess
import sys

from npatch_testutil import clean_env

SCRIPT = r'''
import sys
import warnings
warnings.filterwarnings("error", module=r"npatch\.")  # no warning of npatch's own making
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from npatch.library.cuda_cpu.distributed import sync_batchnorm_forward

INIT = sys.argv[1]


def run(rank):
    dist.init_process_group("gloo", init_method=INIT, rank=rank, world_size=2)
    torch.manual_seed(0)
    x = torch.randn(8, 3, 5, 5) * 3 + 1
    w = torch.randn(8, 3, 5, 5)
    reference = torch.nn.BatchNorm2d(3, momentum=0.3)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-0.5, 0.5)
    synced = torch.nn.SyncBatchNorm(3, momentum=0.3)
    synced.load_state_dict(reference.state_dict())

    full = x.clone().requires_grad_()
    (reference(full) * w).sum().backward()

    forward = sync_batchnorm_forward(torch.nn.SyncBatchNorm.forward, {})
    half = x[rank * 4:(rank + 1) * 4].clone().requires_grad_()
    out = forward(synced, half)
    (out * w[rank * 4:(rank + 1) * 4]).sum().backward()

    grads = torch.cat([synced.weight.grad, synced.bias.grad])
    dist.all_reduce(grads)
    checks = {
        "input grad": torch.allclose(half.grad, full.grad[rank * 4:(rank + 1) * 4], atol=1e-4),
        "param grads": torch.allclose(grads, torch.cat([reference.weight.grad, reference.bias.grad]), atol=1e-3),
        "running mean": torch.allclose(synced.running_mean, reference.running_mean, atol=1e-5),
        "running var": torch.allclose(synced.running_var, reference.running_var, atol=1e-4),
        "batches": int(synced.num_batches_tracked) == 1,
    }
    reference.train()
    with torch.no_grad():
        ref_out = torch.nn.functional.batch_norm(
            x, None, None, reference.weight, reference.bias, True, 0.0, reference.eps)[rank * 4:(rank + 1) * 4]
    checks["output"] = torch.allclose(out.detach(), ref_out, atol=1e-4)
    failed = [k for k, ok in checks.items() if not ok]
    dist.destroy_process_group()
    if failed:
        raise SystemExit(f"rank {rank}: {failed}")


if __name__ == "__main__":
    mp.start_processes(run, nprocs=2, start_method="fork")
    print("ok")
'''


def test_synced_statistics_match_one_batchnorm_over_the_whole_batch(tmp_path):
    script = tmp_path / "syncbn.py"
    script.write_text(SCRIPT)
    init = f"file://{tmp_path / 'pg'}"
    proc = subprocess.run([sys.executable, str(script), init], env=clean_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


SINGLE = r'''
import sys
import torch
import torch.distributed as dist
from npatch.library.cuda_cpu.distributed import sync_batchnorm_forward

dist.init_process_group("gloo", init_method=sys.argv[1], rank=0, world_size=1)
x = torch.randn(4, 3, 2)
reference, synced = torch.nn.BatchNorm1d(3), torch.nn.SyncBatchNorm(3, momentum=None)
reference.momentum = None
out = sync_batchnorm_forward(torch.nn.SyncBatchNorm.forward, {})(synced, x)
assert torch.allclose(out, reference(x), atol=1e-5)
assert torch.allclose(synced.running_var, reference.running_var) and int(synced.num_batches_tracked) == 1
dist.destroy_process_group()
print("ok")
'''


def test_one_rank_is_plain_batchnorm(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SINGLE, f"file://{tmp_path / 'pg'}"], env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
