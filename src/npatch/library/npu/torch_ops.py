"""Two torch hot spots on the NPU (DrivingSDK ``TensorIndex`` and ``BatchMatmul``).

* Boolean-mask indexing ``x[mask]`` with a 1-D mask over the first dim of
  a 1-D or 2-D tensor becomes ``torch.masked_select`` (faster on the NPU
  than the generic index kernel).  Plain PyTorch: correct on any device.
* ``matmul(a, b)`` of a square ``[..., n, n]`` by a column ``[..., n, 1]``
  (4 to 7 dims, broadcastable batch) becomes ``mx_driving.npu_batch_matmul``,
  a multiply-and-sum that the NPU runs faster than its batched matmul.

The ``*_guard`` functions are the ``guard`` of the manifest ops: the
replacement runs only where they are true, the original everywhere else.
They never raise, so a strange argument falls back to the original.
"""
from __future__ import annotations

from typing import Any


def tensor_index_guard(self: Any, indices: Any, *args: Any, **kwargs: Any) -> bool:
    """A 1-D bool mask over a 1-D tensor, or over the rows of a 2-D tensor."""
    import torch

    if not isinstance(indices, torch.Tensor) or indices.dtype != torch.bool or indices.dim() != 1:
        return False
    return self.dim() == 1 or (self.dim() == 2 and self.shape[0] == indices.shape[0])


def tensor_index(self: Any, indices: Any) -> Any:
    """``self[indices]`` through ``torch.masked_select`` (where the guard holds)."""
    import torch

    if self.dim() == 2 and self.shape[0] == indices.shape[0]:
        rows = indices.unsqueeze(1).expand(self.shape)
        return torch.masked_select(self, rows).view(-1, self.shape[1])
    return torch.masked_select(self, indices)


def batch_matmul_guard(a: Any, b: Any, *args: Any, **kwargs: Any) -> bool:
    """Square ``[..., n, n]`` times column ``[..., n, 1]``, 4 to 7 dims, broadcastable batch."""
    if not hasattr(a, "dim") or not hasattr(b, "dim"):
        return False
    if args or kwargs or not (a.dim() == b.dim() and 4 <= a.dim() <= 7):
        return False
    if not all(x == y or x == 1 or y == 1 for x, y in zip(a.shape[:-2], b.shape[:-2])):
        return False
    return a.shape[-2] == a.shape[-1] == b.shape[-2] and b.shape[-1] == 1


def batch_matmul(a: Any, b: Any) -> Any:
    """``a @ b`` through ``mx_driving.npu_batch_matmul`` (where the guard holds)."""
    from mx_driving import npu_batch_matmul

    return npu_batch_matmul(a, b)


__all__ = ["tensor_index_guard", "tensor_index", "batch_matmul_guard", "batch_matmul"]
