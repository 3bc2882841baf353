"""Soft-NMS without ``mmcv._ext``.

Replaces ``mmcv.ops.nms.soft_nms`` (re-exported as ``mmcv.ops.soft_nms``);
``batched_nms`` runs it for ``nms_cfg=dict(type='soft_nms', ...)``, as in
mmdet's R-CNN test configs.

A transcription of ``softnms_cpu`` (``mmcv/ops/csrc/pytorch/cpu/nms.cpp``),
in float32 as the kernel computes: at step ``i`` the best remaining box is
swapped into place ``i``, every later box has its score multiplied by a
weight of its IoU with it (``naive``: 0 if IoU >= threshold; ``linear``:
``1 - IoU`` if IoU >= threshold; ``gaussian``: ``exp(-IoU^2 / sigma)``), and
boxes that fall below ``min_score`` are dropped by moving the last box into
their slot.  The reweighting is vectorised; the kernel's slot moves are
reproduced exactly (they decide the order of ties), so the output matches
the kernel's, rows and order.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray]
METHODS = {"naive": 0, "linear": 1, "gaussian": 2}


def _compact(keep: np.ndarray) -> np.ndarray:
    """Order of the surviving slots after the kernel's "move the last box into a
    dropped slot" pass over slots whose survival is ``keep``.

    Survivors within the first ``m = keep.sum()`` slots stay; the holes there,
    in increasing order, receive the survivors from beyond ``m`` in decreasing
    order (the kernel takes from the end, and drops dead boxes it takes).
    """
    m = int(keep.sum())
    slots = np.arange(keep.size)
    order = slots[:m].copy()
    holes = np.flatnonzero(~keep[:m])
    order[holes] = slots[m:][keep[m:]][::-1]
    return order


def soft_nms_arrays(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, sigma: float,
                    min_score: float, method: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, 4) boxes and (N,) scores -> (K, 5) dets and (K,) int64 indices."""
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k], dtype=np.float32) for k in range(4))
    sc = np.array(scores, dtype=np.float32)
    off = np.float32(offset)
    thr, sig = np.float32(iou_threshold), np.float32(sigma)
    areas = (x2 - x1 + off) * (y2 - y1 + off)
    inds = np.arange(sc.size, dtype=np.int64)
    cols = [x1, y1, x2, y2, sc, areas, inds]
    dets = np.empty((sc.size, 5), dtype=np.float32)
    count = sc.size
    i = 0
    while i < count:
        best = i + int(np.argmax(sc[i:count]))  # first maximum, as the kernel's strict '<' scan
        for col in cols:
            col[i], col[best] = col[best], col[i]
        dets[i] = (x1[i], y1[i], x2[i], y2[i], sc[i])
        rest = slice(i + 1, count)
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + off)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + off)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            ovr = inter / (areas[i] + areas[rest] - inter)
        if method == 0:
            weight = np.where(ovr >= thr, np.float32(0), np.float32(1))
        elif method == 1:
            weight = np.where(ovr >= thr, np.float32(1) - ovr, np.float32(1))
        else:
            weight = np.exp(-(ovr * ovr) / sig).astype(np.float32)
        sc[rest] *= weight
        order = _compact(~(sc[rest] < np.float32(min_score))) + i + 1  # NaN stays, as in C
        for col in cols:
            col[i + 1:i + 1 + order.size] = col[order]
        count = i + 1 + order.size
        i += 1
    return dets[:count], inds[:count]


def soft_nms(boxes: ArrayLike, scores: ArrayLike, iou_threshold: float = 0.3, sigma: float = 0.5,
             min_score: float = 1e-3, method: str = "linear", offset: int = 0) -> tuple[ArrayLike, ArrayLike]:
    """Drop-in for ``mmcv.ops.soft_nms``: ``(dets, inds)``, dets holding the
    reweighted scores; NumPy in, NumPy out; tensors come back on the boxes' device."""
    if not isinstance(boxes, (Tensor, np.ndarray)) or not isinstance(scores, (Tensor, np.ndarray)):
        raise TypeError("soft_nms() takes boxes and scores as torch.Tensor or numpy.ndarray")
    if method not in METHODS:
        raise ValueError(f"soft_nms() method must be one of {sorted(METHODS)}, got {method!r}")
    if offset not in (0, 1):
        raise ValueError(f"soft_nms() offset must be 0 or 1, got {offset!r}")
    is_numpy = isinstance(boxes, np.ndarray)
    boxes_np = boxes if isinstance(boxes, np.ndarray) else boxes.detach().cpu().numpy()
    scores_np = scores if isinstance(scores, np.ndarray) else scores.detach().cpu().numpy()
    if boxes_np.ndim != 2 or boxes_np.shape[1] != 4:
        raise ValueError(f"soft_nms() expects boxes of shape (N, 4), got {tuple(boxes_np.shape)}")
    if boxes_np.shape[0] != scores_np.shape[0]:
        raise ValueError(f"soft_nms() got {boxes_np.shape[0]} boxes but {scores_np.shape[0]} scores")
    dets, inds = soft_nms_arrays(boxes_np, scores_np, float(iou_threshold), float(sigma), float(min_score),
                                 METHODS[method], int(offset))
    if is_numpy:
        return dets, inds
    device = boxes.device
    return torch.from_numpy(dets).to(device), torch.from_numpy(inds).to(device)


__all__ = ["ArrayLike", "METHODS", "soft_nms_arrays", "soft_nms"]
