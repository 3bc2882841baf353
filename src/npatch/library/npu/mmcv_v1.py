"""mmcv 1.x on torch 2.x and the NPU: ``Scatter.forward`` and DDP's forward.

DrivingSDK's ``Stream`` and ``DDP`` patches (mmcv 1.x only) replace two
method bodies that break on recent torch:

* ``mmcv.parallel._functions.Scatter.forward`` passes an int to
  ``torch.nn.parallel._functions._get_stream``, which takes a
  ``torch.device`` since torch 1.13;
* ``MMDistributedDataParallel._run_ddp_forward`` reads
  ``_use_replicated_tensor_module``, which torch 2.x removed.

The bodies below are DrivingSDK's.  Both only make sense under the
``torch-npu`` manifest (``torch.cuda`` is torch_npu's there).
"""
from __future__ import annotations

from typing import Any


def scatter_forward(target_gpus: list, input: Any) -> tuple:  # noqa: A002 (mmcv's parameter name)
    """``Scatter.forward`` with the copy stream looked up by ``torch.device``."""
    import torch
    from mmcv.parallel import _functions as F

    input_device = F.get_input_device(input)
    streams = None
    if input_device == -1 and target_gpus != [-1]:
        # CPU → device copies run in a background stream, one per target
        streams = [F._get_stream(torch.device("cuda", d)) for d in target_gpus]
    outputs = F.scatter(input, target_gpus, streams)
    if streams is not None:
        F.synchronize_stream(outputs, target_gpus, streams)
    return tuple(outputs) if isinstance(outputs, list) else (outputs,)


def ddp_forward(self: Any, *inputs: Any, **kwargs: Any) -> Any:
    """``MMDistributedDataParallel._run_ddp_forward`` without the replicated-tensor branch."""
    if self.device_ids:
        inputs, kwargs = self.to_kwargs(inputs, kwargs, self.device_ids[0])
        return self.module(*inputs[0], **kwargs[0])
    return self.module(*inputs, **kwargs)


__all__ = ["scatter_forward", "ddp_forward"]
