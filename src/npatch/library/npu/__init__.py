"""Replacement code that the ``torch-npu`` and ``mmcv-npu*`` manifests point at.

Two sources are translated here into npatch terms:

* ``torch_npu.contrib.transfer_to_npu`` (torch-npu 2.14.0), which maps CUDA
  code onto Ascend NPUs by monkey patching ``torch`` when it is imported, and
  cannot be undone.  The ``torch-npu`` manifest is its declarative, reversible
  counterpart; the wrappers it needs (device strings ``'cuda'`` → ``'npu'``,
  backend ``'nccl'`` → ``'hccl'``, ...) are in :mod:`.devices` and
  :mod:`.torch_api`.
* the predefined patches of the DrivingSDK patcher (``mx_driving.patcher``,
  mx-driving 26.2.0.post2).  Where DrivingSDK points an mmcv/mmdet/torch
  attribute straight at an ``mx_driving`` object the manifests do the same;
  where it installs a function of its own (a rewritten method body, a
  wrapper that adapts a signature) the equivalent function is here:
  :mod:`.mmcv_ops`, :mod:`.mmcv_v1`, :mod:`.mmdet`, :mod:`.mmdet3d`,
  :mod:`.torch_ops`.

Everything here is importable on a machine without ``torch_npu`` or
``mx_driving``: those are imported inside the functions, at first call.  The
functions only *work* on an Ascend NPU with CANN, torch_npu and mx_driving
installed; on a CPU they are checked statically (names) and, where their
body is plain PyTorch, numerically against the code they replace.
"""

__all__: list[str] = []
