"""npatch.library.mmcv_lite.roi_align against a naive transcription of mmcv's kernel.

The reference walks RoIs, bins and sample points one by one, exactly as
``ROIAlignForward`` in ``mmcv/ops/csrc/pytorch/cpu/roi_align.cpp`` does (the
coordinates in float32, as the kernel computes them), and interpolates with
differentiable torch ops over the channel vector, so gradients with respect to
the features can be compared too.  Tolerance: 1e-5 absolute on unit-scale
features (the vectorised version goes through ``grid_sample``'s normalised
coordinates, which costs a few float32 ulps).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from npatch.library.mmcv_lite import roi_align as roi_align_module
from npatch.library.mmcv_lite.roi_align import roi_align

f32 = np.float32


def naive_roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
                    spatial_scale: float, sampling_ratio: int, pool_mode: str, aligned: bool) -> torch.Tensor:
    _, channels, height, width = features.shape
    ph_n, pw_n = output_size
    out = []
    for roi in rois.tolist():
        b = int(roi[0])
        off = f32(0.5) if aligned else f32(0.0)
        sw = f32(roi[1]) * f32(spatial_scale) - off
        sh = f32(roi[2]) * f32(spatial_scale) - off
        ew = f32(roi[3]) * f32(spatial_scale) - off
        eh = f32(roi[4]) * f32(spatial_scale) - off
        rw, rh = ew - sw, eh - sh
        if not aligned:
            rw, rh = max(rw, f32(1.0)), max(rh, f32(1.0))
        bh, bw = rh / f32(ph_n), rw / f32(pw_n)
        gh = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rh / f32(ph_n)))
        gw = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rw / f32(pw_n)))
        count = max(gh * gw, 1)
        bins = []
        for ph in range(ph_n):
            for pw in range(pw_n):
                total = features.new_zeros(channels)
                best = features.new_full((channels,), -10000.0)
                for iy in range(gh):
                    y = sh + f32(ph) * bh + f32(iy + 0.5) * bh / f32(gh)
                    for ix in range(gw):
                        x = sw + f32(pw) * bw + f32(ix + 0.5) * bw / f32(gw)
                        if y < -1.0 or y > height or x < -1.0 or x > width:
                            val = features.new_zeros(channels)
                        else:
                            yy, xx = max(float(y), 0.0), max(float(x), 0.0)
                            y0, x0 = int(yy), int(xx)
                            if y0 >= height - 1:
                                y0 = y1 = height - 1
                                yy = float(y0)
                            else:
                                y1 = y0 + 1
                            if x0 >= width - 1:
                                x0 = x1 = width - 1
                                xx = float(x0)
                            else:
                                x1 = x0 + 1
                            ly, lx = yy - y0, xx - x0
                            hy, hx = 1 - ly, 1 - lx
                            fm = features[b]
                            val = (hy * hx * fm[:, y0, x0] + hy * lx * fm[:, y0, x1]
                                   + ly * hx * fm[:, y1, x0] + ly * lx * fm[:, y1, x1])
                        total = total + val
                        best = torch.maximum(best, val)
                bins.append(total / count if pool_mode == "avg" else best)
        out.append(torch.stack(bins, 1).view(channels, ph_n, pw_n))
    return torch.stack(out)


def make_case(seed: int, n_rois: int = 7, size: tuple[int, int] = (9, 11)):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 3, *size, generator=g)
    # image coordinates at scale 1/4: RoIs up to ~1.5x the map, some past its borders
    h, w = size[0] * 4, size[1] * 4
    xy = torch.rand(n_rois, 2, generator=g) * torch.tensor([w * 1.2, h * 1.2]) - 8
    wh = torch.rand(n_rois, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    batch = torch.randint(0, 2, (n_rois, 1), generator=g).float()
    rois = torch.cat([batch, xy, xy + wh], 1)
    rois[0] = torch.tensor([1.0, 3.0, 5.0, 3.5, 5.2])  # tiny RoI (grid of 1, or clamped to 1x1)
    return features, rois


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
@pytest.mark.parametrize("pool_mode", ["avg", "max"])
def test_forward_and_feature_gradient_match_kernel(aligned: bool, sampling_ratio: int, pool_mode: str) -> None:
    features, rois = make_case(seed=sampling_ratio + 10 * aligned + (pool_mode == "max"))
    mine_in = features.clone().requires_grad_(True)
    ref_in = features.clone().requires_grad_(True)
    args = ((2, 3), 0.25, sampling_ratio, pool_mode, aligned)
    mine = roi_align(mine_in, rois, *args)
    ref = naive_roi_align(ref_in, rois, *args)
    assert mine.shape == (len(rois), 3, 2, 3)
    torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)
    upstream = torch.randn_like(mine)
    (mine * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(mine_in.grad, ref_in.grad, atol=1e-5, rtol=1e-5)


def test_square_output_size_int_and_spatial_scale_one() -> None:
    features, rois = make_case(seed=4, size=(6, 6))
    rois[:, 1:] /= 4
    torch.testing.assert_close(roi_align(features, rois, 2, 1.0, 0, "avg", True),
                               naive_roi_align(features, rois, (2, 2), 1.0, 0, "avg", True),
                               atol=1e-5, rtol=1e-5)


def test_chunking_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    features, rois = make_case(seed=21, n_rois=12)
    whole = roi_align(features, rois, (7, 7), 0.25, 0, "avg", True)
    monkeypatch.setattr(roi_align_module, "CHUNK_ELEMENTS", 30)
    torch.testing.assert_close(roi_align(features, rois, (7, 7), 0.25, 0, "avg", True), whole)


def test_gradcheck_float64() -> None:
    features, rois = make_case(seed=8, n_rois=3, size=(4, 5))
    features = features[:, :1].double().requires_grad_(True)  # 40 inputs: gradcheck runs 80 forwards
    rois = rois.double()
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, (2, 2), 0.25, 2, "avg", True), (features,))


def test_rois_get_no_gradient_and_empty_rois() -> None:
    features, rois = make_case(seed=2)
    features.requires_grad_(True)
    rois.requires_grad_(True)
    roi_align(features, rois, (2, 2), 0.25, 0, "avg", True).sum().backward()
    assert rois.grad is None and features.grad is not None
    empty = roi_align(features, rois[:0].detach(), (7, 7), 0.25)
    assert empty.shape == (0, 3, 7, 7)


def test_zero_size_roi_aligned_gives_zero_avg_and_kernel_max_init() -> None:
    features = torch.randn(1, 2, 4, 4)
    rois = torch.tensor([[0.0, 4.0, 4.0, 4.0, 4.0]])  # size 0 after alignment: empty sampling grid
    assert roi_align(features, rois, 2, 0.25, 0, "avg", True).abs().max() == 0
    assert roi_align(features, rois, 2, 0.25, 0, "max", True).eq(-10000.0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(pool_mode="sum"), "pool_mode"),
    (dict(rois=torch.zeros(2, 4)), "RoI must be"),
    (dict(rois=torch.tensor([[0.0, 5.0, 5.0, 1.0, 1.0]])), "x2 < x1"),
])
def test_bad_input_is_a_clear_error(kwargs: dict, message: str) -> None:
    args = dict(input=torch.zeros(1, 1, 4, 4), rois=torch.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]]),
                output_size=2, spatial_scale=1.0, sampling_ratio=0, pool_mode="avg", aligned=True)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        roi_align(**args)
