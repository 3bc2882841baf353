"""Distributed training written for NCCL and GPUs, over gloo on CPUs.

* ``init_process_group`` / ``new_group``: a backend naming ``nccl``
  (``'nccl'``, ``'cuda:nccl'``, ``'cpu:gloo,cuda:nccl'``) or none at all
  becomes ``'gloo'``; ``device_id`` (a CUDA device) is dropped.
* ``barrier(device_ids=...)``: the ids name GPUs; dropped.
* ``DistributedDataParallel``: ``device_ids`` / ``output_device`` are
  dropped, as DDP requires for a module on the CPU.
* ``DataParallel``: a transparent wrapper (one "device": the module itself).
* ``SyncBatchNorm`` refuses CPU input once a process group exists; here its
  statistics are synchronised with a differentiable all-reduce instead, so
  ``convert_sync_batchnorm`` models train under torchrun with the same
  batch statistics as on GPUs.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch

from npatch.library.cuda_cpu.devices import is_cuda_device


def _gloo(backend: Any) -> Any:
    """``'gloo'`` for None or any backend spec that names nccl; others unchanged."""
    if backend is None or (isinstance(backend, str) and "nccl" in backend.lower()):
        return "gloo"
    return backend


def _rebinding(original: Callable[..., Any], change: Callable[[dict[str, Any]], None]) -> Callable[..., Any]:
    """A wrapper that binds the call to ``original``'s signature, lets
    ``change`` edit the arguments by name, and calls ``original``."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def rebound(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        change(bound.arguments)
        return original(*bound.args, **bound.kwargs)

    return rebound


def _backend_and_device(arguments: dict[str, Any]) -> None:
    arguments["backend"] = _gloo(arguments.get("backend"))
    if is_cuda_device(arguments.get("device_id")):
        arguments["device_id"] = None


def init_process_group(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``init_process_group``: nccl (or no backend) -> gloo, CUDA ``device_id`` dropped."""
    return _rebinding(original, _backend_and_device)


def new_group(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``new_group``: an nccl backend -> gloo (None keeps the default group's)."""

    def change(arguments: dict[str, Any]) -> None:
        if arguments.get("backend") is not None:
            arguments["backend"] = _gloo(arguments["backend"])
        if is_cuda_device(arguments.get("device_id")):
            arguments["device_id"] = None

    return _rebinding(original, change)


def barrier(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``barrier``: ``device_ids`` name GPUs, which gloo does not take."""

    def change(arguments: dict[str, Any]) -> None:
        arguments.pop("device_ids", None)

    return _rebinding(original, change)


def ddp_init(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``DistributedDataParallel.__init__``: no ``device_ids`` / ``output_device``."""

    def change(arguments: dict[str, Any]) -> None:
        arguments.pop("device_ids", None)
        arguments.pop("output_device", None)

    return _rebinding(original, change)


def data_parallel_init(self: Any, module: torch.nn.Module, device_ids: Any = None, output_device: Any = None,
                       dim: int = 0) -> None:
    """``DataParallel.__init__``: keep the module as is; ``forward`` calls it
    directly when there are no device ids, as DataParallel does without GPUs."""
    torch.nn.Module.__init__(self)
    self.module = module
    self.device_ids = []
    self.output_device = None
    self.dim = dim
    self.src_device_obj = torch.device("cpu")


# -- SyncBatchNorm ------------------------------------------------------------------
def _synced(bn: Any, input: torch.Tensor, momentum: float, group: Any) -> torch.Tensor:
    """Batch norm whose mean and variance cover the inputs of every rank of ``group``."""
    from torch.distributed.nn.functional import all_reduce

    channels = input.shape[1]
    dims = [0, *range(2, input.dim())]
    local = torch.cat([input.sum(dims), (input * input).sum(dims),
                       input.new_full((1,), input.numel() // channels)])
    total = all_reduce(local, group=group)
    count = total[-1]
    mean = total[:channels] / count
    var = (total[channels:2 * channels] / count - mean * mean).clamp_min(0)
    if bn.training and bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            unbiased = var * count / (count - 1).clamp_min(1)
            bn.running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
            bn.running_var.mul_(1 - momentum).add_(unbiased.detach() * momentum)
    shape = [1, channels] + [1] * (input.dim() - 2)
    out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    if bn.weight is not None:
        out = out * bn.weight.view(shape)
    if bn.bias is not None:
        out = out + bn.bias.view(shape)
    return out


def sync_batchnorm_forward(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``SyncBatchNorm.forward`` for CPU input in training with a process
    group: the stock module raises there; this syncs statistics with an
    all-reduce (gradients flow through it) and updates the running stats as
    ``BatchNorm`` does.  Any other case runs the original."""

    @functools.wraps(original)
    def forward(self: Any, input: torch.Tensor) -> torch.Tensor:
        dist = torch.distributed
        if input.device.type != "cpu" or not self.training or not (dist.is_available() and dist.is_initialized()):
            return original(self, input)
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())
        group = self.process_group or dist.group.WORLD
        if dist.get_world_size(group) > 1:
            return _synced(self, input, momentum, group)
        mean, var = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        return torch.nn.functional.batch_norm(input, mean, var, self.weight, self.bias, True, momentum, self.eps)

    return forward


def ddp_accept_sync_batchnorm(self: Any, module: torch.nn.Module) -> None:
    """``DistributedDataParallel._passing_sync_batchnorm_handle``: DDP refuses a
    CPU module holding ``SyncBatchNorm`` layers; with the wrapped
    ``SyncBatchNorm.forward`` above they work, so accept them."""
