"""npatch.library.mmcv_lite.nms against a naive transcription of mmcv's CPU kernel.

The reference is ``nms_cpu`` of ``mmcv/ops/csrc/pytorch/cpu/nms.cpp`` written
out as an O(n^2) Python loop in float32, so kept indices must agree exactly,
including boxes whose IoU equals the threshold and ties in score.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from npatch.library.mmcv_lite import nms as nms_module
from npatch.library.mmcv_lite.nms import nms, nms_indices


def naive_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, offset: int = 0) -> list[int]:
    boxes = boxes.astype(np.float32)
    thr = np.float32(iou_threshold)
    off = np.float32(offset)
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))  # stable: ties keep index order
    areas = [(b[2] - b[0] + off) * (b[3] - b[1] + off) for b in boxes]
    selected = [True] * len(order)
    with np.errstate(invalid="ignore", divide="ignore"):
        for a in range(len(order)):
            if not selected[a]:
                continue
            i = order[a]
            for c in range(a + 1, len(order)):
                if not selected[c]:
                    continue
                j = order[c]
                w = max(np.float32(0), min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + off)
                h = max(np.float32(0), min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + off)
                inter = w * h
                if inter / (areas[i] + areas[j] - inter) > thr:
                    selected[c] = False
    return [order[a] for a in range(len(order)) if selected[a]]


def random_boxes(n: int, seed: int, extent: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * extent
    wh = torch.rand(n, 2, generator=g) * extent / 3 + 0.5
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


@pytest.mark.parametrize("n", [0, 1, 2, 60, nms_module.BLOCK + 37])
@pytest.mark.parametrize("iou_threshold", [0.3, 0.7])
@pytest.mark.parametrize("offset", [0, 1])
def test_matches_naive_kernel(n: int, iou_threshold: float, offset: int) -> None:
    boxes, scores = random_boxes(n, seed=n)
    dets, inds = nms(boxes, scores, iou_threshold, offset=offset)
    assert inds.dtype == torch.long
    assert inds.tolist() == naive_nms(boxes.numpy(), scores.numpy(), iou_threshold, offset)
    assert dets.shape == (len(inds), 5)
    assert torch.equal(dets[:, :4], boxes[inds]) and torch.equal(dets[:, 4], scores[inds])


def test_crosses_block_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Suppression by a box kept in an earlier block, with tiny blocks and tiles."""
    monkeypatch.setattr(nms_module, "BLOCK", 7)
    monkeypatch.setattr(nms_module, "TILE", 5)
    boxes, scores = random_boxes(150, seed=3, extent=40.0)
    expected = naive_nms(boxes.numpy(), scores.numpy(), 0.4)
    assert nms_indices(boxes, scores, 0.4).tolist() == expected


def test_iou_equal_to_threshold_is_kept_and_ties_keep_index_order() -> None:
    boxes = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 1.0], [5.0, 5.0, 6.0, 6.0]])
    scores = torch.tensor([0.9, 0.8, 0.9, 0.9])
    # box 1 has IoU exactly 0.5 with box 0: kept; box 2 duplicates box 0 with the same score: dropped
    _, inds = nms(boxes, scores, iou_threshold=0.5)
    assert inds.tolist() == [0, 3, 1]
    assert inds.tolist() == naive_nms(boxes.numpy(), scores.numpy(), 0.5)


def test_score_threshold_and_max_num() -> None:
    boxes, scores = random_boxes(200, seed=7)
    keep = [i for i in naive_nms(boxes[scores > 0.4].numpy(), scores[scores > 0.4].numpy(), 0.5)]
    valid = torch.nonzero(scores > 0.4).squeeze(1)
    dets, inds = nms(boxes, scores, 0.5, score_threshold=0.4, max_num=5)
    assert inds.tolist() == valid[keep[:5]].tolist()
    assert torch.equal(dets[:, 4], scores[inds])


def test_numpy_in_numpy_out() -> None:
    boxes, scores = random_boxes(40, seed=11)
    dets, inds = nms(boxes.numpy(), scores.numpy(), 0.5)
    assert isinstance(dets, np.ndarray) and isinstance(inds, np.ndarray)
    assert inds.tolist() == naive_nms(boxes.numpy(), scores.numpy(), 0.5)
    assert dets.shape == (len(inds), 5)


def test_mmcv_docstring_example() -> None:
    boxes = np.array([[49.1, 32.4, 51.0, 35.9], [49.3, 32.9, 51.0, 35.3], [49.2, 31.8, 51.0, 35.4],
                      [35.1, 11.5, 39.1, 15.7], [35.6, 11.8, 39.3, 14.2], [35.3, 11.5, 39.9, 14.5],
                      [35.2, 11.7, 39.7, 15.7]], dtype=np.float32)
    scores = np.array([0.9, 0.9, 0.5, 0.5, 0.5, 0.4, 0.3], dtype=np.float32)
    dets, inds = nms(boxes, scores, 0.6)
    assert len(inds) == len(dets) == 3


def test_degenerate_boxes_are_not_suppressed_by_nan() -> None:
    boxes = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 4.0, 4.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5)[1].tolist() == naive_nms(boxes.numpy(), scores.numpy(), 0.5) == [0, 1, 2]


def test_deprecated_iou_thr_and_gradients_flow_to_dets() -> None:
    boxes, scores = random_boxes(30, seed=5)
    boxes.requires_grad_(True)
    with pytest.warns(DeprecationWarning, match="iou_thr"):
        dets, inds = nms(boxes, scores, iou_thr=0.5)
    dets[:, :4].sum().backward()
    assert boxes.grad[inds].eq(1).all() and boxes.grad.sum() == 4 * len(inds)


@pytest.mark.parametrize("bad, message", [
    (dict(boxes=torch.zeros(3, 5)), "shape"),
    (dict(scores=torch.zeros(2)), "scores"),
    (dict(offset=2), "offset"),
    (dict(boxes=[[0, 0, 1, 1]] * 3), "Tensor"),
])
def test_bad_input_is_a_clear_error(bad: dict, message: str) -> None:
    args = dict(boxes=torch.zeros(3, 4), scores=torch.zeros(3), iou_threshold=0.5)
    args.update(bad)
    with pytest.raises((ValueError, TypeError), match=message):
        nms(**args)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 6), st.integers(0, 6),
                          st.integers(0, 4)), max_size=25),
       st.sampled_from([0.0, 0.2, 0.5, 0.8]), st.sampled_from([0, 1]))
def test_property_small_integer_boxes(raw: list, iou_threshold: float, offset: int) -> None:
    """Integer boxes and scores: many exact ties and IoUs exactly at the threshold."""
    boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h, _ in raw], dtype=torch.float32).reshape(-1, 4)
    scores = torch.tensor([float(s) for *_, s in raw], dtype=torch.float32)
    _, inds = nms(boxes, scores, iou_threshold, offset=offset)
    assert inds.tolist() == naive_nms(boxes.numpy(), scores.numpy(), iou_threshold, offset)
