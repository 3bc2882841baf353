"""Automatic mixed precision written for CUDA, on a CPU.

Both wrappers act on the base classes' ``__init__`` (``torch.amp.autocast``
and ``torch.amp.GradScaler``): ``torch.cuda.amp.autocast`` /
``torch.cuda.amp.GradScaler`` are subclasses that call it with ``'cuda'``,
so one op covers the old and the new spelling and ``isinstance`` checks
still hold.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch

from npatch.library.cuda_cpu.devices import is_cuda_device


def autocast_init(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``torch.amp.autocast.__init__`` for ``device_type='cuda'``.

    ``options.cpu`` false (the default): the region runs in float32; the
    CUDA autocast state is switched off inside it, so
    ``torch.is_autocast_enabled()`` is False there and code that branches on
    it takes the float32 path.  ``options.cpu`` true: the region runs under
    CPU autocast in ``options.dtype`` (default ``bfloat16``: CPU autocast in
    float16 is slow and unscaled).  Other device types are untouched.
    """
    to_cpu = bool(options.get("cpu", False))
    dtype_name = str(options.get("dtype", "bfloat16"))

    @functools.wraps(original)
    def __init__(self: Any, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if device_type == "cuda":
            if to_cpu:
                device_type, dtype = "cpu", getattr(torch, dtype_name)
            else:
                enabled = False
        original(self, device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    return __init__


def grad_scaler_init(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """Wrap ``torch.amp.GradScaler.__init__``: a CUDA scaler is created disabled.

    A disabled ``GradScaler`` is the pass-through CPU training needs (float32
    gradients do not underflow): ``scale(loss)`` returns ``loss``,
    ``step(opt)`` calls ``opt.step()``, ``unscale_`` and ``update`` do
    nothing, ``get_scale()`` is 1.0, ``state_dict()`` is empty and loading a
    GPU run's scaler state is accepted and ignored.
    """
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if is_cuda_device(bound.arguments.get("device"), ordinals=False):
            bound.arguments["device"] = "cpu"
            bound.arguments["enabled"] = False
        original(*bound.args, **bound.kwargs)

    return __init__


__all__ = ["autocast_init", "grad_scaler_init"]
