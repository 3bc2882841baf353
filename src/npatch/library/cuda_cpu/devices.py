"""Map CUDA device arguments to the CPU where tensors are made and moved.

Wrapper factories here follow the ``wrap`` contract,
``make(original, options) -> replacement``; plain functions are ``replace``
targets.  The wrappers are closures on hot paths (factories, ``.to``): a device
value already seen is mapped by one dictionary look-up (:data:`_SEEN`), and
the original is called with the arguments as they came, without rebuilding
them when nothing maps (bench/migration_tax.py measures the cost per call).

A mapped device is passed on as one ``torch.device('cpu')`` object (see
:func:`_cpu_target`), not the string ``'cpu'``: torch treats both alike, and
the object spares its argument parser a string parse on every call (110-150
ns here, about what the wrapper itself costs: bench/migration_tax.py's
``to (nothing mapped)`` row).

What counts as a CUDA device: ``'cuda'``, ``'cuda:N'``, ``torch.device`` of
type ``cuda`` and, where an API takes a device ordinal, a bare ``int``
(``x.to(0)``, ``torch.zeros(2, device=local_rank)``: an ordinal names a CUDA
device there).  Positional ints of tensor factories are sizes and are never
touched.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch

CPU = "cpu"
#: what the wrappers pass on for a CUDA device: ``'cpu'`` until :func:`_cpu_target`
#: makes it ``torch.device('cpu')`` (immutable, so one object serves every call)
_TARGET: Any = CPU


def is_cuda_device(device: Any, ordinals: bool = True) -> bool:
    """Whether ``device`` names a CUDA device (``ordinals``: a bare int does)."""
    if isinstance(device, str):
        return device.startswith("cuda") and (len(device) == 4 or device[4] == ":")
    if isinstance(device, torch.device):
        return device.type == "cuda"
    return ordinals and isinstance(device, int) and not isinstance(device, bool)


def to_cpu(device: Any, ordinals: bool = True) -> Any:
    """``'cpu'`` for a CUDA device, anything else unchanged."""
    return CPU if is_cuda_device(device, ordinals) else device


#: what :func:`_cpu_for` answered for str and torch.device values (never ints:
#: ``True == 1`` and numpy ints hash alike but are no ordinals); bounded
_SEEN: dict[Any, Any] = {}
_DEVICE = torch.device
_SEEN_MAX = 1024
_MISSING: Any = object()
#: exact classes that never name a device (``.to``'s dtypes and tensors: no
#: look-up needed), learned as calls come (this module loads while torch is
#: importing, before ``torch.Tensor`` exists); bounded, as mocks make a class each
_NOT_DEVICES: set[type] = {object, bool, type(None)}


def _cpu_target() -> Any:
    """What a CUDA device maps to: ``torch.device('cpu')`` once torch has
    finished importing, ``'cpu'`` before (this module loads while torch
    imports, and making a torch.device then imports torch.fx, which needs
    the rest of torch: the interpreter aborts)."""
    global _TARGET
    if _TARGET is CPU and not getattr(getattr(torch, "__spec__", None), "_initializing", False):
        _TARGET = torch.device(CPU)
    return _TARGET


def _cpu_for(device: Any) -> Any:
    """:func:`_cpu_target` for a CUDA device (ordinals included), anything else
    unchanged; remembered for str and torch.device values once the target is final."""
    mapped = device
    if is_cuda_device(device):
        mapped = _cpu_target()
        if mapped is CPU:  # torch is still importing: not remembered, asked again next time
            return mapped
    if (device.__class__ is str or device.__class__ is torch.device) and len(_SEEN) < _SEEN_MAX:
        _SEEN[device] = mapped
    return mapped


def _mapped(device: Any) -> Any:
    """The device to pass on for a non-None device argument (one look-up when seen before)."""
    if type(device) is int:  # an ordinal (``device=local_rank``); never a bool
        return _cpu_target()
    try:
        mapped = _SEEN.get(device, _MISSING)
    except TypeError:  # unhashable: let torch reject it as before
        return _cpu_target() if is_cuda_device(device) else device
    if mapped is not _MISSING:
        return mapped
    cls = type(device)
    if not issubclass(cls, (str, int, torch.device)) and len(_NOT_DEVICES) < _SEEN_MAX:
        _NOT_DEVICES.add(cls)
    return _cpu_for(device)


def _torchscript_alias(original: Any, wrapper: Callable[..., Any]) -> None:
    """Let TorchScript compile calls to the wrapper as the original's aten op.

    The script compiler recognises ``torch.zeros`` by the id of the object in
    ``torch.jit._builtins``' table (built while torch imports, before these
    wrappers exist); any other Python function it tries to compile from
    source, which fails for a closure over a builtin, so modules that script
    code at import (``torch.distributed.optim``, imported by mmengine) would
    break.  The wrapper is registered under the original's op and kept
    alive in the builtin list, so its id is never reused.  Inside scripted
    code devices are not mapped.
    """
    builtins = sys.modules.get("torch.jit._builtins")
    if builtins is None:
        return
    op = builtins._get_builtin_table().get(id(original))
    if op is not None:
        builtins._builtin_ops.append((wrapper, op))
        builtins._register_builtin(wrapper, op)


def device_kwarg(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap a tensor factory (``torch.zeros``, ``Tensor.new_ones``...): map its
    ``device`` keyword, and ``pin_memory=True`` to False (pinned memory only
    matters for host-to-GPU copies; on a CPU-only build it raises).  The
    device of torch's factories is keyword-only."""

    # ``device`` binds as a keyword-only parameter (cheaper than looking it up
    # in ``kwargs``) and is passed on only when it was given
    def factory(*args: Any, device: Any = _MISSING, **kwargs: Any) -> Any:
        if kwargs and "pin_memory" in kwargs and kwargs["pin_memory"]:
            kwargs["pin_memory"] = False
        if device is _MISSING:
            return original(*args, **kwargs) if kwargs else original(*args)
        if type(device) is str:
            try:
                device = _SEEN[device]  # a subscript is cheaper than .get
            except KeyError:
                device = _cpu_for(device)
        elif device is not None:
            device = _mapped(device)
        return original(*args, device=device, **kwargs) if kwargs else original(*args, device=device)

    _torchscript_alias(original, factory)
    return functools.update_wrapper(factory, original)


def to_method(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``Tensor.to`` / ``Module.to``: a CUDA device given first or as
    ``device=`` becomes the CPU (``x.to('cuda')``, ``x.to(0)``,
    ``m.to(torch.device('cuda', rank))``).  Dtype and tensor arguments pass."""

    def to(self: Any, first: Any = _MISSING, /, *args: Any, **kwargs: Any) -> Any:
        # the common calls (one positional argument, no keywords) reach the
        # original without star-arguments, the costly part of a wrapper; the
        # first argument's exact class picks its path: a device string or
        # torch.device (one look-up), an ordinal, a class that names no device
        # (dtypes, tensors)
        cls = type(first)
        if cls is str or cls is _DEVICE:
            try:
                first = _SEEN[first]  # a subscript is cheaper than .get
            except KeyError:
                first = _cpu_for(first)
        elif cls is int:
            first = _cpu_target()
        elif cls not in _NOT_DEVICES:
            first = _mapped(first)
        if kwargs:
            device = kwargs.get("device")
            if device is not None:
                kwargs["device"] = _mapped(device)
            if first is _MISSING:
                return original(self, **kwargs)
            return original(self, first, *args, **kwargs)
        if args:
            return original(self, first, *args)
        if first is _MISSING:
            return original(self)
        return original(self, first)

    return functools.update_wrapper(to, original)


def tensor_cuda(self: torch.Tensor, device: Any = None, non_blocking: bool = False,
                memory_format: torch.memory_format | None = None) -> torch.Tensor:
    """``Tensor.cuda``: the tensor on the CPU (itself when it is there already,
    as ``Tensor.cuda`` returns itself on its own device)."""
    if memory_format is None:
        return torch._C.TensorBase.to(self, _cpu_target(), non_blocking=non_blocking)
    return torch._C.TensorBase.to(self, _cpu_target(), non_blocking=non_blocking, memory_format=memory_format)


def module_cuda(self: torch.nn.Module, device: Any = None) -> torch.nn.Module:
    """``Module.cuda``: parameters and buffers to the CPU (a no-op when there already); returns the module."""
    return self.cpu()


def tensor_pin_memory(self: torch.Tensor, device: Any = None) -> torch.Tensor:
    """``Tensor.pin_memory``: the tensor itself; pinning serves host-to-GPU copies only."""
    return self


def load(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``torch.load``: storages always land on the CPU.

    ``map_location`` None (a checkpoint saved on a GPU would need CUDA), a
    CUDA device, a dict (``{'cuda:1': 'cuda:0'}``) or a callable
    (``lambda s, loc: s.cuda(rank)``) becomes ``'cpu'``; a non-CUDA device
    (``'cpu'``, ``'meta'``) is kept.
    """

    def remap(location: Any) -> Any:
        if location is None or callable(location) or isinstance(location, dict):
            return CPU
        return to_cpu(location)

    def load(f: Any, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(f, remap(map_location), *args, **kwargs)

    return functools.update_wrapper(load, original)


def device_context_init(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``torch.utils._device.DeviceContext.__init__``: ``with
    torch.device('cuda'):`` and ``torch.set_default_device('cuda')`` make CPU
    tensors."""

    def __init__(self: Any, device: Any) -> None:
        original(self, to_cpu(device))

    return functools.update_wrapper(__init__, original)


def device_constructors(original: Callable[[], Any], options: dict[str, Any]) -> Callable[[], Any]:
    """Wrap ``torch.utils._device._device_constructors``.

    ``DeviceContext`` recognises factories by identity, and the callable it
    receives is always the C builtin; once the factories in ``torch`` are
    wrapped, the set it caches on first use would hold the wrappers and
    every ``with torch.device(...)`` block (``'meta'`` included) would stop
    placing tensors.  The builtins are put back into the set.
    """
    cache: dict[int, Any] = {}

    def constructors() -> Any:
        found = original()
        result = cache.get(id(found))
        if result is None:
            result = cache[id(found)] = set(found) | {getattr(f, "__wrapped__", f) for f in found}
        return result

    return functools.update_wrapper(constructors, original)


__all__ = ["CPU", "is_cuda_device", "to_cpu", "device_kwarg", "to_method", "tensor_cuda", "module_cuda",
           "tensor_pin_memory", "load", "device_context_init", "device_constructors"]
