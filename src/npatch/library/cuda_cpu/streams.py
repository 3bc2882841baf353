"""CUDA streams and events on a CPU: one in-order "stream", wall-clock events.

CPU kernels run synchronously, in program order, so every stream is the
same stream: waits and synchronisation are no-ops, ``query`` is True, and
an event records the moment ``record`` is called, so
``start.elapsed_time(end)`` measures the host time between the two calls, in
milliseconds, as CUDA timing code expects.  ``torch.cuda.Event`` /
``Stream`` are replaced by the classes here (the originals cannot even be
constructed on a CPU-only build); prefetchers that do ``with
torch.cuda.stream(s): x = x.cuda(non_blocking=True)`` then
``current_stream().wait_stream(s)`` and ``x.record_stream(...)`` run as
written.  The device-generic ``torch.Stream(device)`` (as in
``torch.Stream(torch.accelerator.current_accelerator())``) makes a real CPU
stream when the device is CUDA.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from npatch.library.cuda_cpu.devices import is_cuda_device


class Event:
    """Stands in for ``torch.cuda.Event``: records host time."""

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False,
                 external: bool = False) -> None:
        self.enable_timing = enable_timing
        self._time: float | None = None

    def record(self, stream: Any = None) -> None:
        self._time = time.perf_counter()

    def wait(self, stream: Any = None) -> None:
        """Nothing to wait for: everything before ``record`` has finished."""

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def elapsed_time(self, end_event: "Event") -> float:
        """Milliseconds from this event's ``record`` to ``end_event``'s."""
        if self._time is None or end_event._time is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        return (end_event._time - self._time) * 1000.0

    def ipc_handle(self) -> bytes:
        raise RuntimeError("npatch cuda-to-cpu: events cannot be shared between processes on the CPU")

    @property
    def cuda_event(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<npatch cuda-to-cpu Event recorded={self._time is not None}>"


class Stream:
    """Stands in for ``torch.cuda.Stream``: the single in-order CPU stream."""

    device_type = 1  # the torch.device type index a CUDA stream reports; kept for code that reads it
    stream_id = 0
    cuda_stream = 0

    def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any) -> None:
        self.priority = priority
        self.device_index = 0

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def wait_event(self, event: Any) -> None:
        """Nothing to wait for."""

    def wait_stream(self, stream: Any) -> None:
        """Nothing to wait for."""

    def record_event(self, event: Event | None = None) -> Event:
        event = event if event is not None else Event()
        event.record(self)
        return event

    def query(self) -> bool:
        return True

    def is_capturing(self) -> bool:
        """False: no CUDA graph is ever being captured (optimizers ask every step)."""
        return False

    def synchronize(self) -> None:
        """Nothing to wait for."""

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<npatch cuda-to-cpu Stream (the in-order CPU stream)>"


class ExternalStream(Stream):
    """``torch.cuda.ExternalStream(ptr)``: the same CPU stream."""

    def __init__(self, stream_ptr: int = 0, device: Any = None, **kwargs: Any) -> None:
        super().__init__(device)


_DEFAULT = Stream()

_TORCH_STREAM = torch.Stream


class _GenericStreamType(type(_TORCH_STREAM)):  # type: ignore[misc]
    """Keeps ``isinstance(s, torch.Stream)`` true for every stream torch makes
    (a program's own subclass of ``torch.Stream`` checks as usual)."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, _TORCH_STREAM) if cls is GenericStream else super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _TORCH_STREAM) if cls is GenericStream else super().__subclasscheck__(subclass)


class GenericStream(_TORCH_STREAM, metaclass=_GenericStreamType):  # type: ignore[misc, valid-type]
    """Stands in for ``torch.Stream``: a CUDA device (``'cuda'``, ``'cuda:N'``,
    ``torch.device('cuda')``) makes the CPU stream; any other device, the
    stream torch makes for it."""

    def __new__(cls, device: Any = None, *args: Any, **kwargs: Any) -> Any:
        if is_cuda_device(device):
            device = torch.device("cpu")
        return _TORCH_STREAM.__new__(_TORCH_STREAM if cls is GenericStream else cls, device, *args, **kwargs)


def current_stream(device: Any = None) -> Stream:
    return _DEFAULT


def default_stream(device: Any = None) -> Stream:
    return _DEFAULT


def set_stream(stream: Any) -> None:
    """Only one stream exists; nothing to select."""


class StreamContext:
    """``torch.cuda.StreamContext``: selects nothing, as there is one stream."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return False


def stream(stream: Any) -> StreamContext:
    """``with torch.cuda.stream(s):`` runs its block as written."""
    return StreamContext(stream)


def record_stream(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``Tensor.record_stream``: a no-op for CPU tensors (there is no
    allocator to tell), the original for any other."""

    def record_stream(self: torch.Tensor, stream: Any) -> None:
        if self.device.type == "cpu":
            return None
        return original(self, stream)

    return record_stream


__all__ = ["Event", "Stream", "ExternalStream", "GenericStream", "current_stream", "default_stream", "set_stream",
           "StreamContext", "stream", "record_stream"]
