"""``torch.cuda`` functions, answered for a machine whose only device is the CPU.

``replace`` targets.  Each keeps the signature of the function it stands in
for, so calls that work on CUDA work here.  See the package docstring for
the decisions (CUDA reported present, the CPU generator as the device
generator, memory counters at 0).
"""
from __future__ import annotations

import os
import platform
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

DEVICE_NAME = "CPU (npatch cuda-to-cpu)"

#: the ordinal ``set_device`` chose; ``current_device`` returns it
_current = 0


def _index(device: Any) -> int:
    """The ordinal a device argument names (None and ``'cuda'``: the current one)."""
    if device is None:
        return _current
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    if isinstance(device, str):
        device = torch.device(device)
    if isinstance(device, torch.device):
        return _current if device.index is None else device.index
    raise ValueError(f"expected a CUDA device or ordinal, got {device!r}")


# -- availability and device selection ----------------------------------------
def is_available() -> bool:
    """True: CUDA code paths run, with their devices mapped to the CPU."""
    return True


def device_count() -> int:
    """One "device" per local rank: ``LOCAL_WORLD_SIZE`` under torchrun, else 1,
    so ``set_device(local_rank)`` and ``range(device_count())`` loops agree."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def current_device() -> int:
    return _current


def set_device(device: Any) -> None:
    """Remember the ordinal (``current_device`` returns it); tensors stay on the CPU."""
    global _current
    index = _index(device)
    if index >= 0:
        _current = index


class device:
    """``with torch.cuda.device(n):`` changes ``current_device()`` inside the block."""

    def __init__(self, device: Any) -> None:
        self.idx = -1 if device is None else _index(device)
        self.prev_idx = -1

    def __enter__(self) -> None:
        self.prev_idx = _current
        set_device(self.idx)

    def __exit__(self, *exc: Any) -> bool:
        set_device(self.prev_idx)
        return False


class device_of(device):
    """``with torch.cuda.device_of(tensor):``: CPU tensors name no ordinal, so nothing changes."""

    def __init__(self, obj: Any) -> None:
        super().__init__(None)


def synchronize(device: Any = None) -> None:
    """Nothing to wait for: CPU kernels finish before they return."""


def init() -> None:
    """Nothing to initialise."""


def ipc_collect() -> None:
    """No CUDA IPC memory to collect."""


# -- device description ---------------------------------------------------------
def _host_memory() -> tuple[int, int]:
    """(available, total) bytes of host memory, (0, 0) where the OS will not say."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page
    except (ValueError, OSError, AttributeError):
        return 0, 0


@dataclass(frozen=True)
class DeviceProperties:
    """What ``get_device_properties`` returns: every field of torch's
    ``_CudaDeviceProperties``, with what a CPU can truthfully say (no
    CUDA architecture: 0 or empty where a GPU would report hardware)."""

    name: str
    major: int
    minor: int
    total_memory: int
    multi_processor_count: int
    is_integrated: int = 1  # the "device" shares host memory
    is_multi_gpu_board: int = 0
    max_threads_per_multi_processor: int = 1
    gcnArchName: str = ""
    warp_size: int = 1
    uuid: str = "00000000-0000-0000-0000-000000000000"
    L2_cache_size: int = 0
    clock_rate: int = 0
    memory_clock_rate: int = 0
    memory_bus_width: int = 0
    shared_memory_per_block: int = 0
    shared_memory_per_multiprocessor: int = 0

    def __repr__(self) -> str:
        """As torch prints a CUDA device's properties."""
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // 2**20}MB, multi_processor_count={self.multi_processor_count}, "
                f"uuid={self.uuid}, L2_cache_size={self.L2_cache_size // 2**20}MB)")


def get_device_name(device: Any = None) -> str:
    return DEVICE_NAME


def get_device_capability(device: Any = None) -> tuple[int, int]:
    """(0, 0): no CUDA architecture, so capability checks (``>= (8, 0)`` for
    bf16 or flash attention) choose their portable path."""
    return (0, 0)


def get_device_properties(device: Any = None) -> DeviceProperties:
    machine = platform.processor() or platform.machine() or "cpu"
    return DeviceProperties(name=f"{DEVICE_NAME} {machine}".strip(), major=0, minor=0,
                            total_memory=_host_memory()[1], multi_processor_count=os.cpu_count() or 1)


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """True: the CPU computes in bfloat16."""
    return True


def utilization(device: Any = None) -> int:
    """``utilization``, ``temperature``, ``power_draw``, ``clock_rate``: no GPU to read them from, 0."""
    return 0


def is_initialized() -> bool:
    """True: nothing needs initialising."""
    return True


def is_tf32_supported() -> bool:
    """False: TF32 is an NVIDIA tensor-core format."""
    return False


def get_arch_list() -> list[str]:
    """No CUDA architectures were compiled in."""
    return []


def get_gencode_flags() -> str:
    return ""


def can_device_access_peer(device: Any, peer_device: Any) -> bool:
    """True: every "device" is the same host memory."""
    return True


def get_sync_debug_mode() -> int:
    return 0


def set_sync_debug_mode(debug_mode: Any) -> None:
    """Accepted and ignored: CPU work never synchronises implicitly with a device."""


def get_allocator_backend() -> str:
    return "native"


def get_per_process_memory_fraction(device: Any = None) -> float:
    return 1.0


# -- random number generation: the CPU generator is the device generator ---------
def manual_seed(seed: int) -> None:
    """Seed ``torch.default_generator``: tensors "on CUDA" draw from it.

    Not ``torch.manual_seed``, which calls ``torch.cuda.manual_seed_all``
    (this function) in turn.
    """
    torch.default_generator.manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    torch.default_generator.manual_seed(int(seed))


def seed() -> None:
    torch.default_generator.seed()


def seed_all() -> None:
    torch.default_generator.seed()


def initial_seed() -> int:
    return torch.default_generator.initial_seed()


def get_rng_state(device: Any = "cuda") -> torch.Tensor:
    return torch.default_generator.get_state()


def set_rng_state(new_state: torch.Tensor, device: Any = "cuda") -> None:
    """Set the CPU generator's state; a state saved by a real GPU (a different
    generator, a different size) is ignored with a warning."""
    try:
        torch.default_generator.set_state(new_state)
    except RuntimeError as exc:
        warnings.warn(f"npatch cuda-to-cpu: ignoring a CUDA RNG state that does not fit the CPU generator ({exc})",
                      RuntimeWarning, stacklevel=2)


def get_rng_state_all() -> list[torch.Tensor]:
    return [get_rng_state() for _ in range(device_count())]


def set_rng_state_all(new_states: Any) -> None:
    for state in list(new_states)[:1]:
        set_rng_state(state)


# -- memory: nothing is ever allocated on a GPU ------------------------------------
def memory_zero(device: Any = None) -> int:
    """``memory_allocated``, ``max_memory_reserved``...: 0 bytes of CUDA memory."""
    return 0


def memory_nothing(device: Any = None) -> None:
    """``empty_cache``, ``reset_peak_memory_stats``...: nothing to free or reset."""


def memory_stats(device: Any = None) -> dict[str, Any]:
    """``memory_stats``, ``host_memory_stats`` and their ``_as_nested_dict`` forms: no statistics."""
    return OrderedDict()


def memory_snapshot(mempool_id: Any = None, include_traces: bool = True) -> list[Any]:
    """No CUDA allocator segments."""
    return []


def memory_summary(device: Any = None, abbreviated: bool = False) -> str:
    return "npatch cuda-to-cpu: no CUDA memory is in use; tensors live in host memory.\n"


def mem_get_info(device: Any = None) -> tuple[int, int]:
    """(free, total) of host memory: where "device" tensors live."""
    return _host_memory()


def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
    """Accepted and ignored: host memory is not partitioned."""


def list_gpu_processes(device: Any = None) -> str:
    return "npatch cuda-to-cpu: no GPU processes (tensors live in host memory)"


# -- NVTX ranges: no profiler to annotate for ------------------------------------------
def nvtx_range_push(msg: str) -> int:
    return 0


def nvtx_range_pop() -> int:
    return 0


def nvtx_range_start(msg: str) -> int:
    return 0


def nvtx_range_end(range_id: int) -> None:
    return None


def nvtx_mark(msg: str) -> None:
    return None


__all__ = ["DEVICE_NAME", "is_available", "device_count", "current_device", "set_device", "device", "device_of",
           "synchronize", "init", "ipc_collect", "DeviceProperties", "get_device_name", "get_device_capability",
           "get_device_properties", "is_bf16_supported", "utilization", "is_initialized", "is_tf32_supported",
           "get_arch_list", "get_gencode_flags", "can_device_access_peer", "get_sync_debug_mode",
           "set_sync_debug_mode", "get_allocator_backend", "get_per_process_memory_fraction", "manual_seed",
           "manual_seed_all", "seed", "seed_all", "initial_seed", "get_rng_state", "set_rng_state",
           "get_rng_state_all", "set_rng_state_all", "memory_zero", "memory_nothing", "memory_stats",
           "memory_snapshot", "memory_summary", "mem_get_info", "set_per_process_memory_fraction",
           "list_gpu_processes", "nvtx_range_push", "nvtx_range_pop", "nvtx_range_start", "nvtx_range_end", "nvtx_mark"]
