"""Non-maximum suppression without ``mmcv._ext``.

Replaces ``mmcv.ops.nms.nms`` (re-exported as ``mmcv.ops.nms``, the function).
``mmcv.ops.batched_nms`` needs no replacement of its own: it looks its NMS up
by name in the globals of ``mmcv.ops.nms`` (``eval(nms_cfg['type'])``), so it
runs this function once ``mmcv.ops.nms:nms`` is patched.

Semantics follow ``mmcv/ops/csrc/pytorch/cpu/nms.cpp``: boxes are visited in
descending score order; a box is dropped when its IoU with a kept box is
strictly greater than ``iou_threshold``; widths are ``x2 - x1 + offset``.
The greedy pass works on blocks of sorted boxes: each block is first checked
against every box kept so far (vectorised, in cache-sized tiles), and only
the suppression inside the block is resolved sequentially, in NumPy.
"""
from __future__ import annotations

import warnings
from typing import Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray]

#: boxes resolved per greedy step; a block's IoU matrix is BLOCK x BLOCK
BLOCK = 256
#: kept boxes compared with a block at once: TILE x BLOCK floats stay in cache
TILE = 2048


def _areas(boxes: Tensor, offset: int) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0] + offset) * (boxes[:, 3] - boxes[:, 1] + offset)


def _overlaps(a: Tensor, area_a: Tensor, b: Tensor, area_b: Tensor, iou_threshold: float,
              offset: int) -> Tensor:
    """(M, N) bool: IoU of ``a[i]`` and ``b[j]`` above the threshold.

    The arithmetic is the kernel's, operation for operation, so results agree
    bit for bit: ``inter / (area_i + area_j - inter) > thr``.  In-place steps
    keep the temporaries to one M x N buffer besides the union.
    """
    w = torch.minimum(a[:, None, 2], b[None, :, 2]).sub_(torch.maximum(a[:, None, 0], b[None, :, 0]))
    h = torch.minimum(a[:, None, 3], b[None, :, 3]).sub_(torch.maximum(a[:, None, 1], b[None, :, 1]))
    if offset:
        w.add_(offset)
        h.add_(offset)
    inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
    union = (area_a[:, None] + area_b[None, :]).sub_(inter)
    return inter.div_(union) > iou_threshold


def nms_indices(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int = 0) -> Tensor:
    """Indices of the boxes kept by greedy NMS, in descending score order (ties: lower index first)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    ordered = boxes.detach()[order]
    areas = _areas(ordered, offset)
    kept: list[Tensor] = []
    kept_boxes, kept_areas = ordered[:0], areas[:0]
    for start in range(0, ordered.size(0), BLOCK):
        block, block_areas = ordered[start:start + BLOCK], areas[start:start + BLOCK]
        alive = torch.ones(block.size(0), dtype=torch.bool, device=block.device)
        for lo in range(0, kept_boxes.size(0), TILE):
            alive &= ~_overlaps(kept_boxes[lo:lo + TILE], kept_areas[lo:lo + TILE], block, block_areas,
                                iou_threshold, offset).any(0)
        over = _overlaps(block, block_areas, block, block_areas, iou_threshold, offset).cpu().numpy()
        alive_np = alive.cpu().numpy()
        for i in np.flatnonzero(alive_np):
            if alive_np[i]:
                alive_np[i + 1:] &= ~over[i, i + 1:]
        local = torch.from_numpy(np.flatnonzero(alive_np)).to(block.device)
        kept.append(local + start)
        kept_boxes = torch.cat([kept_boxes, block[local]])
        kept_areas = torch.cat([kept_areas, block_areas[local]])
    return order[torch.cat(kept)]


def nms(boxes: ArrayLike, scores: ArrayLike, iou_threshold: float | None = None, offset: int = 0,
        score_threshold: float = 0, max_num: int = -1, *, iou_thr: float | None = None
        ) -> tuple[ArrayLike, ArrayLike]:
    """Drop-in for ``mmcv.ops.nms``: returns ``(dets, inds)``.

    ``dets`` is (K, 5): the kept boxes with their score as last column;
    ``inds`` indexes the input.  NumPy in, NumPy out.  ``score_threshold``
    drops boxes scoring at or below it first; ``max_num > 0`` keeps the best
    ``max_num``.  ``iou_thr`` is mmcv's deprecated name for ``iou_threshold``.
    """
    if iou_thr is not None:
        warnings.warn('"iou_thr" is deprecated in `nms`, please use "iou_threshold" instead',
                      DeprecationWarning, stacklevel=2)
        iou_threshold = iou_thr
    if iou_threshold is None:
        raise TypeError("nms() missing required argument: 'iou_threshold'")
    if not isinstance(boxes, (Tensor, np.ndarray)) or not isinstance(scores, (Tensor, np.ndarray)):
        raise TypeError("nms() takes boxes and scores as torch.Tensor or numpy.ndarray")
    is_numpy = isinstance(boxes, np.ndarray)
    boxes_t = torch.from_numpy(boxes) if isinstance(boxes, np.ndarray) else boxes
    scores_t = torch.from_numpy(scores) if isinstance(scores, np.ndarray) else scores
    if boxes_t.dim() != 2 or boxes_t.size(1) != 4:
        raise ValueError(f"nms() expects boxes of shape (N, 4), got {tuple(boxes_t.shape)}")
    if boxes_t.size(0) != scores_t.size(0):
        raise ValueError(f"nms() got {boxes_t.size(0)} boxes but {scores_t.size(0)} scores")
    if offset not in (0, 1):
        raise ValueError(f"nms() offset must be 0 or 1, got {offset!r}")

    if score_threshold > 0:
        valid = torch.nonzero(scores_t > score_threshold, as_tuple=False).squeeze(1)
        inds = nms_indices(boxes_t[valid], scores_t[valid], float(iou_threshold), offset)
        if max_num > 0:
            inds = inds[:max_num]
        inds = valid[inds]
    else:
        inds = nms_indices(boxes_t, scores_t, float(iou_threshold), offset)
        if max_num > 0:
            inds = inds[:max_num]
    dets = torch.cat((boxes_t[inds], scores_t[inds].reshape(-1, 1)), dim=1)
    if is_numpy:
        return dets.cpu().numpy(), inds.cpu().numpy()
    return dets, inds


__all__ = ["ArrayLike", "BLOCK", "TILE", "nms_indices", "nms"]
