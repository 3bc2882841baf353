"""``torch.Generator`` and ``torch.Event`` that take ``'cuda'`` and give NPU objects.

transfer_to_npu rebinds ``torch.Generator`` / ``torch.Event`` to subclasses
whose constructors translate the device (``_GeneratorProxy``,
``_EventProxy``); the metaclass keeps ``isinstance(obj, torch.Generator)``
true for generators made by C++ (``torch.default_generator``).  Same here.
This module subclasses torch types when it is imported, so the manifest
resolves it only once ``import torch`` has finished.
"""
from __future__ import annotations

from typing import Any

import torch

from npatch.library.npu.devices import to_npu, translate


class _ProxyMeta(type(torch.Generator)):
    """``isinstance`` against the proxy also accepts instances of the torch base class."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return super().__instancecheck__(instance) or isinstance(instance, cls.__mro__[1])


class GeneratorProxy(torch.Generator, metaclass=_ProxyMeta):
    """``torch.Generator(device='cuda')`` → a generator on the NPU."""

    def __new__(cls, device: Any = "cpu") -> "GeneratorProxy":
        return super().__new__(cls, to_npu(device))


class EventProxy(torch.Event, metaclass=_ProxyMeta):
    """``torch.Event('cuda')`` → an NPU event.

    Returns a plain ``torch.Event``: since torch 2.13 ``Stream.record_event``
    rejects subclass instances (transfer_to_npu does the same).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> torch.Event:
        args, kwargs = translate(args, kwargs)
        return torch.Event.__new__(torch.Event, *args, **kwargs)


__all__ = ["GeneratorProxy", "EventProxy"]
