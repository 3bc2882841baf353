"""A training script written for CUDA GPUs, the way public trainers write them.

The acceptance test of the ``cuda-to-cpu`` manifest runs it unmodified:

    npatch apply cuda-to-cpu -- python examples/train_cuda.py
    npatch apply cuda-to-cpu -- torchrun --nproc_per_node 2 examples/train_cuda.py

It hard-codes what such scripts hard-code (modelled on the PyTorch ImageNet
and DDP examples, timm and OpenMMLab trainers): ``init_process_group('nccl')``,
``torch.cuda.set_device(local_rank)``, ``model.cuda()``,
``DDP(device_ids=[local_rank], output_device=local_rank)``, SyncBatchNorm,
tensors made with ``device='cuda'``, ``.to('cuda')``, ``.cuda(non_blocking=True)``,
a CUDA-stream prefetcher, ``torch.cuda.amp.autocast`` / ``torch.autocast('cuda')``,
``GradScaler``, ``cudnn.benchmark``, ``torch.cuda.synchronize``, CUDA-event
timing, memory statistics, ``torch.save`` / ``torch.load(map_location='cuda:N')``
(into ``--checkpoint``, by default a temporary directory that rank 0 makes,
broadcasts and removes) and CUDA seeding.  Each step prints
``rank R step S loss L``; the last line is ``rank R done``.  On a machine
without CUDA and without the manifest it stops with
``RuntimeError: this script needs a GPU``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="toy CUDA trainer")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None,
                        help="where to save and reload the checkpoint (default: a temporary directory)")
    return parser.parse_args()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))
        self.register_buffer("scale", torch.ones(1, device="cuda"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * self.scale


class Prefetcher:
    """The apex/timm-style loader that copies the next batch on a side stream."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = iter(loader)
        self.stream = torch.cuda.Stream()
        self.preload()

    def preload(self) -> None:
        try:
            self.next_x, self.next_y = next(self.loader)
        except StopIteration:
            self.next_x = self.next_y = None
            return
        with torch.cuda.stream(self.stream):
            self.next_x = self.next_x.cuda(non_blocking=True)
            self.next_y = self.next_y.to("cuda", non_blocking=True)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        torch.cuda.current_stream().wait_stream(self.stream)
        x, y = self.next_x, self.next_y
        if x is not None:
            x.record_stream(torch.cuda.current_stream())
            y.record_stream(torch.cuda.current_stream())
        self.preload()
        return x, y


def main() -> None:
    args = parse_args()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    distributed = world_size > 1

    if not torch.cuda.is_available():
        raise RuntimeError("this script needs a GPU")
    torch.cuda.set_device(local_rank)
    if distributed:
        dist.init_process_group(backend="nccl", init_method="env://")
    device = torch.device("cuda", local_rank)
    print(f"rank {rank}: {torch.cuda.device_count()} device(s), using {torch.cuda.get_device_name(local_rank)} "
          f"(capability {torch.cuda.get_device_capability()}, current {torch.cuda.current_device()})")

    torch.manual_seed(args.seed)
    torch.cuda.manual_seed_all(args.seed)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = False
    torch.backends.cuda.matmul.allow_tf32 = True

    model = Net()
    if distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.cuda()
    if distributed:
        model = DDP(model, device_ids=[local_rank], output_device=local_rank)
    criterion = nn.CrossEntropyLoss().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scaler = torch.cuda.amp.GradScaler()

    generator = torch.Generator().manual_seed(args.seed)
    inputs = torch.randn(args.steps * args.batch_size * world_size, 16, generator=generator)
    targets = torch.randint(0, 4, (inputs.shape[0],), generator=generator)
    dataset = TensorDataset(inputs, targets)
    sampler = DistributedSampler(dataset, shuffle=False) if distributed else None
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, pin_memory=True)
    prefetcher = Prefetcher(loader)

    torch.cuda.reset_peak_memory_stats()
    model.train()
    for step in range(args.steps):
        x, y = prefetcher.next()
        weights = torch.ones(x.shape[0], device="cuda") / x.shape[0]
        offset = torch.zeros(1, device=device).to(local_rank)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        with torch.cuda.amp.autocast():
            out = model(x + offset)
            loss = (criterion(out, y) * weights.sum()).float()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        scaler.step(optimizer)
        scaler.update()
        end.record()
        torch.cuda.synchronize()
        reported = loss.detach().clone()
        if distributed:
            dist.all_reduce(reported)
            reported /= world_size
        print(f"rank {rank} step {step} loss {reported.item():.6f} "
              f"time {start.elapsed_time(end):.2f}ms mem {torch.cuda.max_memory_allocated() / 2**20:.1f}MiB "
              f"scale {scaler.get_scale()}", flush=True)

    model.eval()
    with torch.no_grad(), torch.autocast(device_type="cuda", dtype=torch.float16):
        model(torch.randn(4, 16, device="cuda:0"))

    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "cuda_rng": torch.cuda.get_rng_state(),
    }
    path, workdir = args.checkpoint, None
    if path is None:
        workdir = [tempfile.mkdtemp(prefix="train_cuda-") if rank == 0 else None]
        if distributed:
            dist.broadcast_object_list(workdir, src=0)
        path = os.path.join(workdir[0], "checkpoint.pt")
    if rank == 0:
        torch.save(state, path)
    if distributed:
        dist.barrier(device_ids=[local_rank])
    checkpoint = torch.load(path, map_location=f"cuda:{local_rank}", weights_only=False)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scaler.load_state_dict(checkpoint["scaler"])
    torch.cuda.set_rng_state(checkpoint["cuda_rng"])
    torch.cuda.empty_cache()
    print(f"rank {rank} memory: {torch.cuda.memory_allocated()} allocated, "
          f"{torch.cuda.memory_reserved()} reserved", flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0 and workdir is not None:
        shutil.rmtree(workdir[0])
    print(f"rank {rank} done", flush=True)


if __name__ == "__main__":
    main()
