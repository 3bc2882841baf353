"""Device arguments: ``'cuda'`` → ``'npu'``, ``nccl`` → ``hccl``, ``Tensor.cuda`` → ``npu``.

The ``torch-npu`` manifest installs these where ``transfer_to_npu`` installs
its ``_wrapper_cuda`` / ``_wrapper_hccl`` / ``Tensor.cuda = Tensor.npu``.
The translation rules are the same (see :func:`to_npu`) with one deliberate
difference: ``transfer_to_npu`` replaces ``'cuda'`` inside *any* string
argument, so ``torch.load('ckpt_cuda.pt')`` opens ``ckpt_npu.pt``; here only
strings that are device specs (``'cuda'``, ``'cuda:N'``) are rewritten.

Wrap factories follow npatch's ``make_wrapper(original, options)``
contract.  Nothing here imports torch_npu; ``torch`` is imported at first
use, so the module can be resolved while ``import torch`` is still running.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

#: keyword arguments that carry a device (same list as transfer_to_npu's ``device_kwargs_list``)
DEVICE_KWARGS = ("device", "device_type", "map_location", "device_id")
#: the keywords :func:`translate` looks at: a call without any of them keeps its keywords
_DEVICE_KEYS = frozenset((*DEVICE_KWARGS, "device_ids"))

_CUDA_SPEC = re.compile(r"cuda(:\d+)?")

#: :func:`to_npu`'s answers for str and torch.device values (bounded: strings
#: are also paths and names); never ints, as ``True == 1``
_SPECS: dict[Any, Any] = {}
_SPECS_MAX = 1024
_MISSING: Any = object()
#: exact classes that :func:`to_npu` returns unchanged whatever ``ints`` says
#: (learned as calls come); plus ``int`` where ints are not translated
_UNCHANGED: set[type] = {bool, float, complex, bytes, list, tuple, type(None)}
_UNCHANGED_NOT_INTS: set[type] = _UNCHANGED | {int}


def is_cuda_spec(text: str) -> bool:
    """``'cuda'`` or ``'cuda:N'``: the strings that name a CUDA device."""
    return _CUDA_SPEC.fullmatch(text) is not None


def _remember(value: Any, translated: Any) -> Any:
    if len(_SPECS) < _SPECS_MAX:
        _SPECS[value] = translated
    return translated


def to_npu(value: Any, ints: bool = False) -> Any:
    """The NPU counterpart of one device argument; anything else unchanged.

    ``'cuda[:N]'`` → ``'npu[:N]'``; ``torch.device('cuda', N)`` →
    ``torch.device('npu', N)``; a dict (``map_location={'cuda:0': 'cpu'}``)
    has its keys and values translated; with ``ints``, an int ``N`` (not a
    bool) → ``'npu:N'``, as ``Tensor.to(0)`` means device 0.
    """
    if type(value) is str:
        known = _SPECS.get(value)
        if known is not None:
            return known
        return _remember(value, value.replace("cuda", "npu", 1) if is_cuda_spec(value) else value)
    if isinstance(value, str):
        return value.replace("cuda", "npu", 1) if is_cuda_spec(value) else value
    if isinstance(value, int) and not isinstance(value, bool):  # sizes, mostly: before the torch import
        return f"npu:{value}" if ints else value
    import torch

    if isinstance(value, torch.device):
        known = _SPECS.get(value)
        if known is not None:
            return known
        if value.type != "cuda":
            return _remember(value, value)
        return _remember(value, torch.device("npu" if value.index is None else f"npu:{value.index}"))
    if isinstance(value, dict):
        return {to_npu(k): to_npu(v) for k, v in value.items()}
    if len(_UNCHANGED) < _SPECS_MAX:  # bounded: mocks make a class per instance
        _UNCHANGED.add(type(value))
        _UNCHANGED_NOT_INTS.add(type(value))
    return value


def _args_to_npu(args: tuple, ints: bool) -> tuple:
    return tuple([to_npu(a, ints) for a in args])


def _kwargs_to_npu(kwargs: dict[str, Any], ints: bool) -> None:
    """Translate the device keywords of ``kwargs`` in place (see :func:`translate`)."""
    for key in _DEVICE_KEYS.intersection(kwargs):  # each key on its own: the order does not matter
        value = kwargs[key]
        if key == "device_ids":
            if isinstance(value, (list, tuple)):
                kwargs[key] = type(value)([to_npu(i, ints) for i in value])
        elif value is not None:
            known = _SPECS.get(value) if type(value) is str else None  # to_npu's first step, inline
            kwargs[key] = to_npu(value, ints=True) if known is None else known


def translate(args: tuple, kwargs: dict[str, Any], ints: bool = False) -> tuple[tuple, dict[str, Any]]:
    """Translate positional arguments (ints only with ``ints``) and device keywords.

    A device keyword given as an int is always a device index (``device=0``),
    as in transfer_to_npu; ``device_ids`` lists are translated element-wise.
    """
    if args:
        args = _args_to_npu(args, ints)
    if kwargs:
        kwargs = dict(kwargs)
        _kwargs_to_npu(kwargs, ints)
    return args, kwargs


def device_args(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory: call ``original`` with its device arguments translated.

    ``options.ints = true`` also turns positional ints into ``'npu:N'``
    (``Tensor.to(0)``, ``Module.to(0)``); transfer_to_npu does that for
    ``to`` and ``to_empty`` only.  Arguments of classes that never name a
    device and calls without device keywords pass as they came, unbuilt.
    """
    ints = bool(options.get("ints", False))
    unchanged = _UNCHANGED if ints else _UNCHANGED_NOT_INTS

    specs = _SPECS.get
    missing = _MISSING
    device_keys_absent = _DEVICE_KEYS.isdisjoint

    # ``device``, the usual device keyword, binds as a keyword-only parameter
    # (cheaper than a look-up in ``kwargs``) and is passed on only when given;
    # one positional argument (``torch.zeros(n)``) is looked at without a loop
    @functools.wraps(original)
    def wrapper(*args: Any, device: Any = missing, **kwargs: Any) -> Any:
        if len(args) == 1:
            if type(args[0]) not in unchanged:
                args = _args_to_npu(args, ints)
        else:
            for arg in args:
                if type(arg) not in unchanged:
                    args = _args_to_npu(args, ints)
                    break
        if kwargs:
            if not device_keys_absent(kwargs):
                _kwargs_to_npu(kwargs, ints)  # a fresh dict of this call's own
            if device is missing:
                return original(*args, **kwargs)
        elif device is missing:
            return original(*args)
        if device is not None:
            known = specs(device) if type(device) is str else None
            device = to_npu(device, ints=True) if known is None else known
        return original(*args, device=device, **kwargs) if kwargs else original(*args, device=device)

    return wrapper


def _backend_to_hccl(backend: Any) -> Any:
    if not isinstance(backend, str):
        return backend
    return str(backend).replace("nccl", "hccl").replace("cuda", "npu")


def distributed_backend(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory for ``init_process_group`` / ``new_group``: ``nccl`` → ``hccl``.

    The backend is the keyword ``backend`` or the positional argument at
    ``options.position`` (0 for ``init_process_group``); device keywords
    (``device_id``) are translated as in :func:`device_args`.  Only the
    backend string is rewritten, never ``init_method`` or other strings.
    """
    position = int(options.get("position", 0))

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position:
            args = (*args[:position], _backend_to_hccl(args[position]), *args[position + 1:])
        if "backend" in kwargs:
            kwargs["backend"] = _backend_to_hccl(kwargs["backend"])
        args, kwargs = translate(args, kwargs)
        return original(*args, **kwargs)

    return wrapper


def tensor_cuda(self: Any, device: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
    """``Tensor.cuda`` → ``Tensor.npu`` (the method torch generates for the ``npu`` backend)."""
    return self.npu(to_npu(device), non_blocking, **kwargs)


def module_cuda(self: Any, device: Any = None) -> Any:
    """``Module.cuda`` → ``Module.npu``."""
    return self.npu(to_npu(device))


def _tensor_on_npu(self: Any) -> bool:
    return self.device.type == "npu"


def _typed_storage_on_npu(self: Any) -> bool:
    return self._untyped_storage.device.type == "npu"


#: ``Tensor.is_cuda`` → the ``is_npu`` property torch generates for the backend
tensor_is_cuda = property(_tensor_on_npu, doc="True when the tensor is on an NPU (npatch torch-npu).")

#: ``TypedStorage.is_cuda`` → ``TypedStorage.is_npu``
typed_storage_is_cuda = property(_typed_storage_on_npu, doc="True when the storage is on an NPU (npatch torch-npu).")


__all__ = ["DEVICE_KWARGS", "is_cuda_spec", "to_npu", "translate", "device_args", "distributed_backend", "tensor_cuda",
           "module_cuda", "tensor_is_cuda", "typed_storage_is_cuda"]
