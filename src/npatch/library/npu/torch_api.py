"""The rest of ``transfer_to_npu``: autocast, profiler, jit, compile helpers, config.

Each function stands where transfer_to_npu installs one of its private
helpers (named in the docstrings); the ``torch-npu`` manifest points at them.
torch_npu is imported inside the functions, so this module loads on a
machine without it.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable



def is_autocast_enabled(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory (``_patch_is_autocast_enabled``): no device or ``'cuda'`` asks about the NPU."""

    @functools.wraps(original)
    def wrapper(device_type: Any = None) -> Any:
        if device_type is None:
            device_type = "npu"
        elif isinstance(device_type, str) and "cuda" in device_type:
            device_type = device_type.replace("cuda", "npu")
        return original(device_type)

    return wrapper


def set_autocast_enabled(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory (``_patch_set_autocast_enabled``): the old one-argument form means the NPU."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and "device_type" not in kwargs:
            args = ("npu", args[0])
        elif "enabled" in kwargs and "device_type" not in kwargs and not args:
            kwargs["device_type"] = "npu"
        elif args and isinstance(args[0], str) and "cuda" in args[0]:
            args = (args[0].replace("cuda", "npu"), *args[1:])
        elif isinstance(kwargs.get("device_type"), str) and "cuda" in kwargs["device_type"]:
            kwargs["device_type"] = kwargs["device_type"].replace("cuda", "npu")
        return original(*args, **kwargs)

    return wrapper


def profiler_config(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory (``_wrapper_profiler``): drop a CUDA-only ``experimental_config``.

    ``torch_npu.profiler.profile`` accepts only its own ``_ExperimentalConfig``;
    a CUDA one is removed with a warning, as transfer_to_npu does.
    """

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("experimental_config")
        if config is not None:
            import torch_npu

            if type(config) is not torch_npu.profiler._ExperimentalConfig:
                warnings.warn("npatch torch-npu: experimental_config of torch.profiler.profile is for CUDA only "
                              "and was dropped; pass a torch_npu.profiler._ExperimentalConfig instead",
                              RuntimeWarning, stacklevel=2)
                del kwargs["experimental_config"]
        return original(*args, **kwargs)

    return wrapper


def jit_script(original: Callable, options: dict[str, Any]) -> Callable:
    """Wrap factory (``_jit_script``): ``torch.jit.script`` returns its argument unchanged.

    TorchScript is not supported on the NPU.  As in transfer_to_npu, the real
    ``torch.jit.script`` still runs when ``torch_npu.utils._dynamo.use_jit_script``
    is set.  The first call warns once.
    """
    warned = []

    @functools.wraps(original)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        from torch_npu.utils import _dynamo

        if _dynamo.use_jit_script:
            return original(obj, *args, **kwargs)
        if not warned:
            warned.append(True)
            warnings.warn("npatch torch-npu: torch.jit.script is disabled on the NPU and returns its argument "
                          "unchanged (--set keep_jit_script=true keeps it)", RuntimeWarning, stacklevel=2)
        return obj

    return wrapper


def jit_script_method(fn: Callable) -> Callable:
    """``torch.jit.script_method`` → the method itself (``_jit_script_method``)."""
    return fn


def has_triton(*args: Any, **kwargs: Any) -> bool:
    """``has_triton`` → False (``_patch_has_triton``): torch.compile must not pick Triton kernels."""
    return False


def get_gpu_type() -> str:
    """``get_gpu_type`` → ``'npu'`` (``_get_npu_type``) for inductor."""
    return "npu"


def get_available_device_type() -> str | None:
    """``torch._utils._get_available_device_type`` → ``'npu'`` when an NPU is there."""
    import torch

    npu = getattr(torch, "npu", None)
    return "npu" if npu is not None and npu.is_available() else None


# torch_npu.npu names the parameters of these differently from torch.cuda
# (``device_name``, ``device_id``), so ``torch.cuda.get_device_name(device=0)``
# would fail with torch_npu's function installed as is; memory_snapshot lacks
# ``include_traces``.  Found by `npatch compile torch-npu` with the sources.


def can_device_access_peer(device: Any, peer_device: Any) -> bool:
    """``torch.cuda.can_device_access_peer`` with torch's parameter names."""
    import torch_npu

    return torch_npu.npu.can_device_access_peer(device, peer_device)


def get_device_name(device: Any = None) -> str:
    """``torch.cuda.get_device_name`` with torch's parameter name."""
    import torch_npu

    return torch_npu.npu.get_device_name(device)


def get_device_properties(device: Any = None) -> Any:
    """``torch.cuda.get_device_properties`` with torch's parameter name."""
    import torch_npu

    return torch_npu.npu.get_device_properties(device)


def memory_snapshot(mempool_id: Any = None, include_traces: bool = True) -> Any:
    """``torch.cuda.memory_snapshot``; torch_npu's snapshot has no switch for
    traces, so ``include_traces`` is accepted and has no effect."""
    import torch_npu

    return torch_npu.npu.memory_snapshot(mempool_id)


def without_cuda_backend(module: Any, options: dict[str, Any]) -> Callable[[], None]:
    """Call target (``torch``): ``Backend.default_device_backend_map`` without ``'cuda'``.

    transfer_to_npu deletes the entry (``_del_nccl_device_backend_map``) so
    that ``init_process_group()`` with no backend does not ask for NCCL; a
    copy is installed here, so that restoring gives the original dict back.
    """
    from npatch.runtime.resolve import AttrUndo

    backend = module.distributed.Backend
    undo = AttrUndo(backend, "default_device_backend_map")
    backend.default_device_backend_map = {
        device: name for device, name in backend.default_device_backend_map.items() if device != "cuda"
    }
    return undo.restore


def set_attributes(module: Any, options: dict[str, Any]) -> Callable[[], None]:
    """Call target: ``module.<path> = <module:qualname>`` for each option, creating what is absent.

    For the few names a ``replace`` cannot reach: torch sets the legacy
    tensor types (``torch.cuda.FloatTensor``...) from C++ at import, so no
    source defines them, and NPU builds of torch have no
    ``torch.distributed.ProcessGroupNCCL`` for a replace to find.  Returns
    the undo: every attribute back as it was, or deleted if it was absent.
    """
    from npatch.runtime.resolve import AttrUndo, import_object, locate

    undos: list[AttrUndo] = []

    def undo() -> None:
        for item in reversed(undos):
            item.restore()

    try:
        for path, ref in options.items():
            parent, name = locate(module, path)
            value = import_object(ref)
            undos.append(AttrUndo(parent, name))
            setattr(parent, name, value)
    except BaseException:
        undo()
        raise
    return undo


def set_allow_internal_format(module: Any, options: dict[str, Any]) -> Callable[[], None]:
    """Call target: ``torch_npu.npu.config.allow_internal_format = options['allow']``.

    DrivingSDK's patcher sets it to False by default (NPU private formats
    make some ops give results in a layout other code does not expect).
    Returns a function that puts back the previous setting, read with
    ``torch_npu._C._npu_getOption``.
    """
    import torch_npu

    previous = torch_npu._C._npu_getOption("ALLOW_INTERNAL_FORMAT")
    torch_npu.npu.config.allow_internal_format = bool(options["allow"])

    def undo() -> None:
        if previous is not None:
            torch_npu.npu.config.allow_internal_format = previous.decode() == "enable"

    return undo


__all__ = ["is_autocast_enabled", "set_autocast_enabled", "profiler_config", "jit_script", "jit_script_method",
           "has_triton", "get_gpu_type", "get_available_device_type", "can_device_access_peer", "get_device_name",
           "get_device_properties", "memory_snapshot", "without_cuda_backend", "set_attributes",
           "set_allow_internal_format"]
