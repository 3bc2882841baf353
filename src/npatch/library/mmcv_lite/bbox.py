"""``mmcv.ops.bbox_overlaps`` in PyTorch.

mmcv's wrapper checks its arguments and calls ``ext_module.bbox_overlaps``,
whose CPU kernel (``mmcv/ops/csrc/pytorch/cpu/bbox_overlaps_cpu.cpp``) is
tensor code: ``wh = (rb - lt + offset).clamp(0)``, IoU (``mode='iou'``) or
intersection over the first box's area (``'iof'``), pairwise or ``aligned``.
This is the same computation, with the wrapper's checks and empty shapes;
being tensor code it is differentiable.
"""
from __future__ import annotations

import torch

_MODES = {"iou": 0, "iof": 1}


def bbox_overlaps(bboxes1: torch.Tensor, bboxes2: torch.Tensor, mode: str = "iou", aligned: bool = False,
                  offset: int = 0) -> torch.Tensor:
    """IoU (or IoF) of ``(x1, y1, x2, y2)`` boxes: ``(m, n)``, or ``(m,)`` when ``aligned``."""
    assert mode in _MODES
    assert bboxes1.size(-1) == 4 or bboxes1.size(0) == 0
    assert bboxes2.size(-1) == 4 or bboxes2.size(0) == 0
    assert offset == 1 or offset == 0
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if aligned:
        assert rows == cols
    if rows * cols == 0:
        return bboxes1.new_zeros(rows if aligned else (rows, cols))
    a, b = (bboxes1, bboxes2) if aligned else (bboxes1[:, None, :], bboxes2[None, :, :])
    lt = torch.max(a[..., :2], b[..., :2])
    rb = torch.min(a[..., 2:], b[..., 2:])
    wh = (rb - lt + offset).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    area1 = (a[..., 2] - a[..., 0] + offset) * (a[..., 3] - a[..., 1] + offset)
    if mode == "iof":
        return overlap / area1
    area2 = (b[..., 2] - b[..., 0] + offset) * (b[..., 3] - b[..., 1] + offset)
    return overlap / (area1 + area2 - overlap)


__all__ = ["bbox_overlaps"]
