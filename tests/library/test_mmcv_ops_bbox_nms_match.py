"""``bbox_overlaps`` and ``nms_match`` against loop transcriptions of mmcv's CPU
kernels (``bbox_overlaps_cpu.cpp``; ``nms_match_cpu`` in ``cpu/nms.cpp``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from npatch.library.mmcv_lite.bbox import bbox_overlaps
from npatch.library.mmcv_lite.nms_match import nms_match


def kernel_bbox_overlaps(b1, b2, mode_flag, aligned, offset):
    """bbox_overlaps_cpu_kernel, one pair at a time."""
    def one(a, b):
        w = max(min(a[2], b[2]) - max(a[0], b[0]) + offset, 0.0)
        h = max(min(a[3], b[3]) - max(a[1], b[1]) + offset, 0.0)
        overlap = w * h
        area1 = (a[2] - a[0] + offset) * (a[3] - a[1] + offset)
        if mode_flag == 1:
            return overlap / area1
        area2 = (b[2] - b[0] + offset) * (b[3] - b[1] + offset)
        return overlap / (area1 + area2 - overlap)
    b1, b2 = b1.tolist(), b2.tolist()
    if aligned:
        return torch.tensor([one(a, b) for a, b in zip(b1, b2)], dtype=torch.float64)
    return torch.tensor([[one(a, b) for b in b2] for a in b1], dtype=torch.float64).reshape(len(b1), len(b2))


def boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 50
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g, dtype=torch.float64) * 30 + 0.5], 1)


@pytest.mark.parametrize("mode, flag", [("iou", 0), ("iof", 1)])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("offset", [0, 1])
def test_bbox_overlaps_matches_kernel(mode, flag, aligned, offset):
    a, b = boxes(9, 0), boxes(9 if aligned else 7, 1)
    got = bbox_overlaps(a, b, mode, aligned, offset)
    assert torch.allclose(got, kernel_bbox_overlaps(a, b, flag, aligned, offset), atol=1e-12)
    got32 = bbox_overlaps(a.float(), b.float(), mode, aligned, offset)
    assert got32.dtype == torch.float32 and torch.allclose(got32.double(), got, atol=1e-5)


def test_bbox_overlaps_empty_shapes_and_checks():
    empty, some = torch.empty(0, 4), boxes(3, 2).float()
    assert bbox_overlaps(some, empty).shape == (3, 0) and bbox_overlaps(empty, empty).shape == (0, 0)
    assert bbox_overlaps(empty, empty, aligned=True).shape == (0,)
    with pytest.raises(AssertionError):
        bbox_overlaps(some, some, mode="giou")
    with pytest.raises(AssertionError):
        bbox_overlaps(some, some, offset=2)


def test_bbox_overlaps_gradcheck():
    a, b = boxes(4, 3).requires_grad_(), boxes(5, 4).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: bbox_overlaps(x, y), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: bbox_overlaps(x, y[:4], "iof", True, 1), (a, b))


def kernel_nms_match(dets, thr):
    """nms_match_cpu, transcribed loop for loop (float32 arithmetic)."""
    d = dets.float()
    x1, y1, x2, y2 = (d[:, k].tolist() for k in range(4))
    f = np.float32
    areas = [f(x2[i]) - f(x1[i]) for i in range(len(d))]
    areas = [f(areas[i]) * (f(y2[i]) - f(y1[i])) for i in range(len(d))]
    order = d[:, 4].sort(0, descending=True)[1].tolist()
    suppressed, keep, matched = [0] * len(d), [], []
    for _i, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        v = []
        for j in order[_i + 1:]:
            if suppressed[j]:
                continue
            w = max(f(0), min(f(x2[i]), f(x2[j])) - max(f(x1[i]), f(x1[j])))
            h = max(f(0), min(f(y2[i]), f(y2[j])) - max(f(y1[i]), f(y1[j])))
            inter = f(w * h)
            if f(inter / (areas[i] + areas[j] - inter)) >= f(thr):
                suppressed[j] = 1
                v.append(j)
        matched.append(v)
    return [[k, *m] for k, m in zip(keep, matched)]


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_match_matches_kernel(thr):
    dets = torch.cat([boxes(80, 5), torch.rand(80, 1, generator=torch.Generator().manual_seed(6), dtype=torch.float64)], 1)
    got = nms_match(dets.float(), thr)
    assert [g.tolist() for g in got] == kernel_nms_match(dets, thr)
    assert all(g.dtype == torch.long for g in got)
    as_numpy = nms_match(dets.float().numpy(), thr)
    assert [a.tolist() for a in as_numpy] == [g.tolist() for g in got] and as_numpy[0].dtype == np.dtype(int)


def test_nms_match_empty_and_shape_check():
    assert nms_match(torch.empty(0, 5), 0.5) == []
    with pytest.raises(AssertionError, match=r"should be \(N, 5\)"):
        nms_match(torch.zeros(3, 4), 0.5)
