"""``mmcv.ops.nms_match`` in PyTorch: ``nms_match_cpu`` of ``mmcv/ops/csrc/pytorch/cpu/nms.cpp``.

Greedy NMS in score order that, instead of dropping a suppressed box,
records it in the group of the box that suppressed it.  The kernel's
arithmetic is kept: areas ``(x2 - x1) * (y2 - y1)`` with no ``+1``, a box is
suppressed when ``inter / (area_i + area_j - inter) >= iou_threshold``, and
scores sort with ``torch.sort(descending=True)``.  The IoUs of one kept box
against the rest are computed at once, the loop over kept boxes stays.
"""
from __future__ import annotations

from typing import Any

import torch


def _groups(dets: torch.Tensor, iou_threshold: float) -> list[list[int]]:
    dets = dets.float()
    x1, y1, x2, y2, scores = (dets[:, k].contiguous() for k in range(5))
    areas = (x2 - x1) * (y2 - y1)
    order = scores.sort(0, descending=True)[1]
    suppressed = torch.zeros(len(dets), dtype=torch.bool)
    matched = []
    for position in range(len(order)):
        i = int(order[position])
        if suppressed[i]:
            continue
        rest = order[position + 1:]
        rest = rest[~suppressed[rest]]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        hit = rest[inter / (areas[i] + areas[rest] - inter) >= iou_threshold]
        suppressed[hit] = True
        matched.append([i, *hit.tolist()])
    return matched


def nms_match(dets: Any, iou_threshold: float) -> list[Any]:
    """Groups of indices: each kept box, then the boxes it suppressed, in score order."""
    import numpy as np

    if dets.shape[0] == 0:
        matched: list[list[int]] = []
    else:
        assert dets.shape[-1] == 5, f"inputs dets.shape should be (N, 5), but get {dets.shape}"
        dets_t = dets.detach().cpu() if isinstance(dets, torch.Tensor) else torch.from_numpy(dets)
        matched = _groups(dets_t, float(iou_threshold))
    if isinstance(dets, torch.Tensor):
        return [dets.new_tensor(m, dtype=torch.long) for m in matched]
    return [np.array(m, dtype=int) for m in matched]


__all__ = ["nms_match"]
