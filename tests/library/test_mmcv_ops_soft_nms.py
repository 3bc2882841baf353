"""npatch.library.mmcv_lite.soft_nms against a line-by-line transcription of
``softnms_cpu`` (mmcv/ops/csrc/pytorch/cpu/nms.cpp) in float32.

Indices must agree exactly (the kernel's slot moves decide the order of
ties), boxes exactly, reweighted scores to 1e-6 (``exp`` may differ by an ulp).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from npatch.library.mmcv_lite.soft_nms import METHODS, soft_nms

f32 = np.float32


def kernel(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, sigma: float, min_score: float,
           method: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    x1, y1, x2, y2 = (boxes[:, k].astype(f32).copy() for k in range(4))
    sc = scores.astype(f32).copy()
    off = f32(offset)
    areas = (x2 - x1 + off) * (y2 - y1 + off)
    n = len(sc)
    de = np.zeros((n, 5), f32)
    inds = list(range(n))
    i = 0
    while i < n:
        max_score, max_pos = sc[i], i
        for pos in range(i + 1, n):
            if max_score < sc[pos]:
                max_score, max_pos = sc[pos], pos
        ix1, iy1, ix2, iy2, iscore = x1[max_pos], y1[max_pos], x2[max_pos], y2[max_pos], sc[max_pos]
        de[i] = (ix1, iy1, ix2, iy2, iscore)
        iarea, iind = areas[max_pos], inds[max_pos]
        x1[max_pos], y1[max_pos], x2[max_pos], y2[max_pos] = x1[i], y1[i], x2[i], y2[i]
        sc[max_pos], areas[max_pos], inds[max_pos] = sc[i], areas[i], inds[i]
        x1[i], y1[i], x2[i], y2[i], sc[i], areas[i], inds[i] = ix1, iy1, ix2, iy2, iscore, iarea, iind
        pos = i + 1
        while pos < n:
            w = max(f32(0), min(ix2, x2[pos]) - max(ix1, x1[pos]) + off)
            h = max(f32(0), min(iy2, y2[pos]) - max(iy1, y1[pos]) + off)
            inter = w * h
            ovr = inter / (iarea + areas[pos] - inter)
            weight = f32(1)
            if method == 0 and ovr >= f32(iou_threshold):
                weight = f32(0)
            elif method == 1 and ovr >= f32(iou_threshold):
                weight = f32(1) - ovr
            elif method == 2:
                weight = np.exp(-(ovr * ovr) / f32(sigma))
            sc[pos] = f32(sc[pos] * weight)
            if sc[pos] < f32(min_score):
                x1[pos], y1[pos], x2[pos], y2[pos] = x1[n - 1], y1[n - 1], x2[n - 1], y2[n - 1]
                sc[pos], areas[pos], inds[pos] = sc[n - 1], areas[n - 1], inds[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return de[:n], np.array(inds[:n], dtype=np.int64)


def case(n: int, seed: int, integer: bool = False):
    rng = np.random.default_rng(seed)
    if integer:  # ties everywhere
        xy = rng.integers(0, 8, (n, 2)).astype(f32)
        boxes = np.concatenate([xy, xy + rng.integers(1, 5, (n, 2))], 1).astype(f32)
        scores = rng.integers(1, 5, n).astype(f32) / 4
    else:
        xy = rng.random((n, 2), dtype=f32) * 60
        boxes = np.concatenate([xy, xy + rng.random((n, 2), dtype=f32) * 30 + 1], 1)
        scores = rng.random(n, dtype=f32)
    return boxes, scores


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("n, seed, integer", [(0, 0, False), (1, 0, False), (80, 1, False), (60, 2, True)])
@pytest.mark.parametrize("offset", [0, 1])
def test_matches_kernel_transcription(method: str, n: int, seed: int, integer: bool, offset: int) -> None:
    boxes, scores = case(n, seed, integer)
    args = (0.3, 0.5, 0.05, METHODS[method], offset)
    want_dets, want_inds = kernel(boxes, scores, *args)
    dets, inds = soft_nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.3, 0.5, 0.05, method, offset)
    assert inds.dtype == torch.long and dets.shape == (len(want_inds), 5)
    assert inds.tolist() == want_inds.tolist()
    assert np.array_equal(dets[:, :4].numpy(), want_dets[:, :4])
    np.testing.assert_allclose(dets[:, 4].numpy(), want_dets[:, 4], rtol=1e-6, atol=1e-7)


def test_numpy_in_numpy_out_and_mmcv_docstring_example() -> None:
    boxes = np.array([[4., 3., 5., 3.], [4., 3., 5., 4.], [3., 1., 3., 1.], [3., 1., 3., 1.],
                      [3., 1., 3., 1.], [3., 1., 3., 1.]], dtype=np.float32)
    scores = np.array([0.9, 0.9, 0.5, 0.5, 0.4, 0.0], dtype=np.float32)
    dets, inds = soft_nms(boxes, scores, 0.6, sigma=0.5)
    assert isinstance(dets, np.ndarray) and isinstance(inds, np.ndarray)
    assert len(inds) == len(dets) == 5


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="hard"), "method"),
    (dict(offset=3), "offset"),
    (dict(boxes=torch.zeros(3, 5)), "shape"),
    (dict(scores=torch.zeros(2)), "scores"),
])
def test_bad_input_is_a_clear_error(kwargs: dict, message: str) -> None:
    args = dict(boxes=torch.zeros(3, 4), scores=torch.zeros(3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        soft_nms(**args)
