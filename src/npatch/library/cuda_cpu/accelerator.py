"""``torch.accelerator``, CUDA graphs, legacy typed constructors and
``torch.Generator(device='cuda')``, answered for a CPU.

``torch.accelerator`` asks the C++ build which accelerator it has (none,
on a CPU build), so under the plan its functions are replaced by the
``torch.cuda`` stand-ins of :mod:`.cuda_api` and :mod:`.streams`:
``current_accelerator()`` is ``device('cuda')`` and the rest agree with
``torch.cuda`` (torch itself asks ``current_stream().is_capturing()`` in
every optimizer step).

CUDA graphs run eagerly: what a program captures runs once, when it is
captured; ``make_graphed_callables`` returns the callables themselves.
Replaying a captured graph would need to run the captured Python code
again, which no stand-in can do, so ``replay()`` raises an error that says
so (a program that replays a graph is not supported).
"""
from __future__ import annotations

from typing import Any

import torch

from npatch.library.cuda_cpu.cuda_api import device_count
from npatch.library.cuda_cpu.devices import to_cpu


def current_accelerator(check_available: bool = False) -> torch.device:
    """``device('cuda')``: tensors and modules sent there land on the CPU."""
    return torch.device("cuda")


class CUDAGraph:
    """Stands in for ``torch.cuda.CUDAGraph`` and ``torch.accelerator.Graph``:
    capture runs the work eagerly; there is nothing to replay."""

    def __init__(self, keep_graph: bool = False, **kwargs: Any) -> None:
        self.captured = False

    def capture_begin(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to record: the captured work runs as it is issued."""

    def capture_end(self) -> None:
        self.captured = True

    def instantiate(self) -> None:
        """Nothing to instantiate."""

    def replay(self) -> None:
        raise RuntimeError("npatch cuda-to-cpu: a CUDA graph cannot be replayed on the CPU; the work inside "
                           "`torch.cuda.graph(...)` ran once, eagerly, when it was captured (call the code "
                           "again instead of replay(), or use make_graphed_callables, which runs eagerly)")

    def reset(self) -> None:
        self.captured = False

    def pool(self) -> tuple[int, int]:
        return (0, 0)

    def enable_debug_mode(self) -> None:
        """No graph to debug."""

    def debug_dump(self, debug_path: str) -> None:
        """No graph to dump."""

    def __enter__(self) -> "CUDAGraph":
        self.capture_begin()
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.capture_end()
        return False


class graph:
    """``with torch.cuda.graph(g):`` runs its block eagerly."""

    def __init__(self, cuda_graph: CUDAGraph, pool: Any = None, stream: Any = None, **kwargs: Any) -> None:
        self.cuda_graph = cuda_graph

    def __enter__(self) -> None:
        self.cuda_graph.capture_begin()

    def __exit__(self, *exc: Any) -> bool:
        self.cuda_graph.capture_end()
        return False


def make_graphed_callables(callables: Any, sample_args: Any, num_warmup_iters: int = 3,
                           allow_unused_input: bool = False, pool: Any = None) -> Any:
    """The callables themselves: they run eagerly."""
    return callables


def is_current_stream_capturing() -> bool:
    return False


def graph_pool_handle() -> tuple[int, int]:
    return (0, 0)


#: ``torch.cuda.default_generators`` (empty on a CPU build): the CPU generator
#: once per "device", as ``torch.cuda.manual_seed_all`` seeds it
DEFAULT_GENERATORS = (torch._C.default_generator,) * device_count()


class _GeneratorType(type(torch._C.Generator)):  # type: ignore[misc]
    """``isinstance(g, torch.Generator)`` holds for every torch generator,
    ``torch.default_generator`` included, as with the unpatched type."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, torch._C.Generator)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, torch._C.Generator)


class Generator(torch._C.Generator, metaclass=_GeneratorType):
    """``torch.Generator(device='cuda')``: a CPU generator (tensors "on CUDA" are on the CPU)."""

    def __new__(cls, device: Any = "cpu") -> "Generator":
        return torch._C.Generator.__new__(cls, device=to_cpu(device))


def legacy_type(original: Any, options: dict[str, Any]) -> Any:
    """``torch.cuda.FloatTensor`` and the other legacy typed constructors and
    storages: their CPU counterparts (``torch.FloatTensor``), so
    ``torch.cuda.FloatTensor(2, 3)`` and ``x.type(torch.cuda.FloatTensor)``
    make CPU tensors of the type named, and ``isinstance`` checks agree."""
    return getattr(torch, original.__name__)


__all__ = ["current_accelerator", "CUDAGraph", "graph", "make_graphed_callables", "is_current_stream_capturing",
           "graph_pool_handle", "DEFAULT_GENERATORS", "Generator", "legacy_type"]
