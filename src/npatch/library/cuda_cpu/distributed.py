"""Distributed training written for NCCL and GPUs, over gloo on CPUs.

* ``init_process_group`` / ``new_group``: a backend naming ``nccl``
  (``'nccl'``, ``'cuda:nccl'``, ``'cpu:gloo,cuda:nccl'``) or none at all
  becomes ``'gloo'``; ``device_id`` (a CUDA device) is dropped.
* ``barrier(device_ids=...)``: the ids name GPUs; dropped.
* ``DistributedDataParallel``: ``device_ids`` / ``output_device`` are
  dropped, as DDP requires for a module on the CPU.
* ``all_gather_into_tensor``: an output shaped as NCCL allows (stacked, flat:
  any shape with the right number of elements) is gathered into its
  concatenated view, the one shape gloo takes.
* ``DistributedDataParallel`` communication hooks: the bfloat16 ones
  (``bf16_compress_hook`` / ``bf16_compress_wrapper_hook``) are accepted
  over gloo, which reduces bfloat16 tensors; DDP asks for CUDA and NCCL.
* ``FullyShardedDataParallel(sync_module_states=True)``: the broadcast of a
  module's states from rank 0 runs over gloo on the CPU; FSDP asks for GPU
  tensors first.
* ``DataParallel``: a transparent wrapper (one "device": the module itself).
* ``SyncBatchNorm`` refuses CPU input once a process group exists; here its
  statistics are synchronised with a differentiable all-reduce instead, so
  ``convert_sync_batchnorm`` models train under torchrun with the same
  batch statistics as on GPUs.
* Leaving gloo: at exit, gloo's worker threads get the GIL until none of them
  runs (:func:`settle_gloo_workers` says why).
"""
from __future__ import annotations

import atexit
import functools
import inspect
import os
import sys
import time
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


def _init_arguments(arguments: dict[str, Any]) -> None:
    _backend_and_device(arguments)
    atexit.unregister(_settle_at_exit)  # once, however often the program initialises
    atexit.register(_settle_at_exit)


def init_process_group(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``init_process_group``: nccl (or no backend) -> gloo, CUDA ``device_id``
    dropped, and gloo's workers settled at exit."""
    return _rebinding(original, _init_arguments)


def new_group(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``new_group``: an nccl backend -> gloo (None keeps the default group's)."""

    def change(arguments: dict[str, Any]) -> None:
        if arguments.get("backend") is not None:
            arguments["backend"] = _gloo(arguments["backend"])
        if is_cuda_device(arguments.get("device_id")):
            arguments["device_id"] = None

    return _rebinding(original, change)


# -- leaving gloo -------------------------------------------------------------------
GLOO_WORKER = "pt_gloo_runloop"  # the name c10d::ProcessGroupGloo gives its worker threads


def thread_states() -> list[tuple[str, str]]:
    """``(name, state)`` of each thread of this process as ``/proc`` shows them
    (state ``R``: running or ready to run); empty where there is no ``/proc``."""
    states = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return states
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as file:
                stat = file.read()
        except OSError:  # the thread ended meanwhile
            continue
        close = stat.rindex(")")
        states.append((stat[stat.index("(") + 1:close], stat[close + 2:close + 3]))
    return states


def _gloo_worker_runs() -> bool:
    return (GLOO_WORKER, "R") in thread_states()


def settle_gloo_workers(pause: float = 0.002, limit: float = 1.0) -> None:
    """Release the GIL until no gloo worker thread runs (two quiet looks in a
    row, at most ``limit`` seconds).

    Why: a gloo worker drops its reference to a finished collective after
    waking the caller, and when it drops the last one it frees the work's
    tensors, which for tensors made in Python takes the GIL.  If the worker
    is scheduled late (a loaded machine) and the main thread has meanwhile
    reached interpreter finalization, ``take_gil`` ends the worker with
    ``pthread_exit`` inside a ``noexcept`` destructor and the process aborts
    (``terminate called without an active exception``, SIGABRT, after the
    program's last line).  ``destroy_process_group`` cannot prevent it: with
    torch 2.13 the group outlives it, since ``torch.distributed.nn.functional``
    (imported by DDP through ``torch._dynamo``) keeps ``group.WORLD`` as a
    default argument.  Run at exit while the interpreter is whole, this lets
    every pending release finish first.  Plain CPU torch has the same race
    (a DDP program ending in ``barrier()``); it is fixed here because the
    manifest is what put the program on gloo."""
    deadline = time.monotonic() + limit
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(pause)
        quiet = 0 if _gloo_worker_runs() else quiet + 1


def _settle_at_exit() -> None:
    if any(name == GLOO_WORKER for name, _ in thread_states()):
        settle_gloo_workers()


def barrier(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``barrier``: ``device_ids`` name GPUs, which gloo does not take."""

    def change(arguments: dict[str, Any]) -> None:
        arguments.pop("device_ids", None)

    return _rebinding(original, change)


def all_gather_into_tensor(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``all_gather_into_tensor``: NCCL takes an output of any shape with
    world size times the input's elements (the stacked shape torch documents,
    or accelerate's flat one); gloo takes only the inputs concatenated along
    the first dimension.  A contiguous CPU output of the right size is
    gathered into its concatenated view, which fills it as NCCL would; any
    other call is unchanged."""

    def change(arguments: dict[str, Any]) -> None:
        output, tensor = arguments.get("output_tensor"), arguments.get("input_tensor")
        if not (isinstance(output, torch.Tensor) and isinstance(tensor, torch.Tensor)) or tensor.dim() == 0:
            return
        if output.device.type != "cpu" or not output.is_contiguous():
            return
        world = torch.distributed.get_world_size(arguments.get("group"))
        concatenated = torch.Size((world * tensor.shape[0], *tensor.shape[1:]))
        if output.shape != concatenated and output.numel() == world * tensor.numel():
            arguments["output_tensor"] = output.view(concatenated)

    return _rebinding(original, change)


def fsdp_init(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``FullyShardedDataParallel.__init__``: a CUDA ``device_id`` (an
    ordinal, ``'cuda:N'``, ``torch.device('cuda', N)``) becomes the CPU."""

    def change(arguments: dict[str, Any]) -> None:
        if is_cuda_device(arguments.get("device_id")):
            arguments["device_id"] = torch.device("cpu")

    return _rebinding(original, change)


def device_mesh(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``init_device_mesh`` / ``DeviceMesh.__init__``: a ``'cuda'`` mesh is
    a CPU mesh, whose collectives run over gloo (FSDP, tensor parallel, DTensor)."""

    def change(arguments: dict[str, Any]) -> None:
        if is_cuda_device(arguments.get("device_type"), ordinals=False):
            arguments["device_type"] = "cpu"

    return _rebinding(original, change)


def dtensor_attention(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``F.scaled_dot_product_attention`` for DTensors on a CPU mesh.

    On CUDA, DTensor shards attention through the flash and efficient
    kernels; on the CPU torch 2.13 picks ``_scaled_dot_product_flash_attention_for_cpu``,
    which DTensor has no sharding rule for (tensor-parallel models fail with
    ``NotImplementedError``).  For DTensor inputs the call runs on the math
    backend, which DTensor shards op by op, with the causal mask it makes
    replicated implicitly.  Plain tensors pass straight through.
    """

    def scaled_dot_product_attention(query: Any, *args: Any, **kwargs: Any) -> Any:
        if query.__class__ is torch.Tensor or query.device.type != "cpu" or not _is_dtensor(query):
            return original(query, *args, **kwargs)
        from torch.distributed.tensor.experimental import implicit_replication
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel([SDPBackend.MATH]), implicit_replication():
            return original(query, *args, **kwargs)

    return functools.update_wrapper(scaled_dot_product_attention, original)


def _is_dtensor(value: Any) -> bool:
    tensor = sys.modules.get("torch.distributed.tensor")
    return tensor is not None and isinstance(value, tensor.DTensor)


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
_ALL_REDUCE_SUM: list[Any] = []


def _all_reduce_sum(tensor: torch.Tensor, group: Any) -> torch.Tensor:
    """The sum of ``tensor`` over the ranks of ``group``, which gradients flow
    through (the gradient of a sum is the sum of the gradients).

    Not ``torch.distributed.nn.functional.all_reduce``: torch 2.13 deprecates
    it with a ``FutureWarning`` that would name this file in every user's
    run, and its replacement in ``_functional_collectives`` has no autograd
    formula.  The ``Function`` class is made on first use, as this module
    may be imported before ``torch.autograd`` has finished importing.
    """
    if not _ALL_REDUCE_SUM:

        class AllReduceSum(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
                ctx.group = group
                tensor = tensor.clone(memory_format=torch.contiguous_format)
                torch.distributed.all_reduce(tensor, group=group)
                return tensor

            @staticmethod
            def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
                return AllReduceSum.apply(grad, ctx.group), None

        _ALL_REDUCE_SUM.append(AllReduceSum)
    return _ALL_REDUCE_SUM[0].apply(tensor, group)


def _synced(bn: Any, input: torch.Tensor, momentum: float, group: Any) -> torch.Tensor:
    """Batch norm whose mean and variance cover the inputs of every rank of ``group``."""
    channels = input.shape[1]
    dims = [0, *range(2, input.dim())]
    local = torch.cat([input.sum(dims), (input * input).sum(dims),
                       input.new_full((1,), input.numel() // channels)])
    total = _all_reduce_sum(local, group)
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


#: DDP's communication hooks it refuses without CUDA and NCCL 2.10
_BF16_HOOKS = ("bf16_compress_hook", "bf16_compress_wrapper_hook")


def ddp_check_comm_hook(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``DistributedDataParallel._check_comm_hook``: a bfloat16 hook is
    checked as any other hook (its signature, its annotations), without the
    CUDA / NCCL requirement; gloo reduces bfloat16 on the CPU."""

    @functools.wraps(original)
    def check(self: Any, hook: Callable[..., Any]) -> Any:
        if getattr(hook, "__name__", None) not in _BF16_HOOKS:
            return original(self, hook)

        def same_signature(*args: Any, **kwargs: Any) -> Any:
            return hook(*args, **kwargs)

        same_signature.__signature__ = inspect.signature(hook)  # type: ignore[attr-defined]
        return original(self, same_signature)

    return check


def fsdp_accept_cpu_module_states(module_states: list[torch.Tensor]) -> None:
    """``torch.distributed.fsdp._init_utils._check_module_states_for_sync_module_states``:
    FSDP refuses to broadcast CPU parameters and buffers for
    ``sync_module_states=True`` (it wants them on the GPU its ``device_id``
    names, which this manifest makes the CPU); gloo broadcasts CPU tensors,
    so accept them."""

__all__ = ["init_process_group", "new_group", "GLOO_WORKER", "thread_states", "settle_gloo_workers", "barrier",
           "all_gather_into_tensor", "fsdp_init", "device_mesh", "dtensor_attention", "ddp_init", "data_parallel_init",
           "sync_batchnorm_forward", "ddp_accept_sync_batchnorm", "ddp_check_comm_hook",
           "fsdp_accept_cpu_module_states"]
