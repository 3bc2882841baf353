"""``roi_pool`` and DCN v1 / v2 against loop transcriptions of mmcv's kernels
(``roi_pool_cuda_kernel.cuh``: mmcv has no CPU RoIPool; ``cpu/deform_conv.cpp``
and ``cpu/modulated_deform_conv.cpp``: deformable im2col + grouped GEMM), with
``gradcheck``."""
from __future__ import annotations

import math

import pytest
import torch

from npatch.library.mmcv_lite.deform_conv import deform_conv2d, modulated_deform_conv2d
from npatch.library.mmcv_lite.roi_pool import roi_pool


def kernel_roi_pool(x, rois, ph, pw, scale):
    """roi_pool_forward_cuda_kernel, one output element at a time."""
    n_rois, channels = rois.size(0), x.size(1)
    height, width = x.shape[2:]
    out = torch.zeros(n_rois, channels, ph, pw, dtype=x.dtype)
    for n in range(n_rois):
        b = int(rois[n, 0])
        rx1, ry1 = rois[n, 1] * scale, rois[n, 2] * scale
        rx2, ry2 = (rois[n, 3] + 1) * scale, (rois[n, 4] + 1) * scale
        rw, rh = rx2 - rx1, ry2 - ry1
        if rw <= 0 or rh <= 0:
            continue
        bw, bh = rw / pw, rh / ph
        for c in range(channels):
            for i in range(ph):
                for j in range(pw):
                    x1 = min(max(math.floor(j * bw + rx1), 0), width)
                    y1 = min(max(math.floor(i * bh + ry1), 0), height)
                    x2 = min(max(math.ceil((j + 1) * bw + rx1), 0), width)
                    y2 = min(max(math.ceil((i + 1) * bh + ry1), 0), height)
                    empty = y2 <= y1 or x2 <= x1
                    best = 0.0 if empty else -math.inf
                    for h in range(y1, y2):
                        for w in range(x1, x2):
                            best = max(best, float(x[b, c, h, w]))
                    out[n, c, i, j] = best
    return out


ROIS = torch.tensor([[0, 1.0, 2.0, 10.0, 8.0], [1, 0.0, 0.0, 15.0, 11.0], [0, 6.5, 3.2, 7.1, 4.0],
                     [1, 12.0, 9.0, 30.0, 20.0], [0, 5.0, 5.0, 4.0, 9.0]], dtype=torch.float64)


@pytest.mark.parametrize("size, scale", [((3, 3), 1.0), ((2, 4), 0.5), (7, 0.25)])
def test_roi_pool_matches_kernel(size, scale):
    x = torch.randn(2, 3, 12, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ph, pw = size if isinstance(size, tuple) else (size, size)
    got = roi_pool(x, ROIS, size, scale)
    assert torch.equal(got, kernel_roi_pool(x, ROIS, ph, pw, scale))
    assert torch.equal(got[4], torch.zeros_like(got[4]))  # x2 < x1: a malformed RoI gives zeros


def test_roi_pool_gradcheck_and_argmax_backward():
    x = torch.randn(2, 2, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, ROIS[:4], (3, 2), 1.0), (x,), fast_mode=True)
    out = roi_pool(x, ROIS[:1], 1, 1.0)
    out.sum().backward()
    region = x.detach()[0, :, 2:9, 1:11]
    expected = torch.zeros_like(x)
    for c in range(2):
        flat = int(region[c].argmax())
        expected[0, c, 2 + flat // 10, 1 + flat % 10] = 1
    assert torch.equal(x.grad, expected)  # the gradient goes to the maximum, as the kernel's argmax


def bilinear(plane, h, w):
    """deformable_im2col_bilinear_cpu / dmcn_im2col_bilinear_cpu."""
    height, width = plane.shape
    if h <= -1 or height <= h or w <= -1 or width <= w:
        return 0.0
    hl, wl = math.floor(h), math.floor(w)
    hh_, wh_ = hl + 1, wl + 1
    lh, lw = h - hl, w - wl
    v1 = float(plane[hl, wl]) if hl >= 0 and wl >= 0 else 0.0
    v2 = float(plane[hl, wh_]) if hl >= 0 and wh_ <= width - 1 else 0.0
    v3 = float(plane[hh_, wl]) if hh_ <= height - 1 and wl >= 0 else 0.0
    v4 = float(plane[hh_, wh_]) if hh_ <= height - 1 and wh_ <= width - 1 else 0.0
    return (1 - lh) * (1 - lw) * v1 + (1 - lh) * lw * v2 + lh * (1 - lw) * v3 + lh * lw * v4


def kernel_deform_conv(x, offset, mask, weight, bias, stride, pad, dil, groups, dgroups):
    """(modulated_)deformable_im2col_cpu_kernel, then the grouped GEMM of the forward pass."""
    n, channels, height, width = x.shape
    out_c, _, kh, kw = weight.shape
    oh = (height + 2 * pad - (dil * (kh - 1) + 1)) // stride + 1
    ow = (width + 2 * pad - (dil * (kw - 1) + 1)) // stride + 1
    cols = torch.zeros(n, channels, kh * kw, oh, ow, dtype=x.dtype)
    per_group = channels // dgroups
    for b in range(n):
        for c in range(channels):
            g = c // per_group
            for hc in range(oh):
                for wc in range(ow):
                    for i in range(kh):
                        for j in range(kw):
                            k = i * kw + j
                            dy = float(offset[b, g * 2 * kh * kw + 2 * k, hc, wc])
                            dx = float(offset[b, g * 2 * kh * kw + 2 * k + 1, hc, wc])
                            h_im = hc * stride - pad + i * dil + dy
                            w_im = wc * stride - pad + j * dil + dx
                            val = 0.0
                            if h_im > -1 and w_im > -1 and h_im < height and w_im < width:
                                val = bilinear(x[b, c], h_im, w_im)
                            if mask is not None:
                                val *= float(mask[b, g * kh * kw + k, hc, wc])
                            cols[b, c, k, hc, wc] = val
    cols = cols.view(n, groups, channels // groups * kh * kw, oh * ow)
    out = torch.einsum("gok,ngkl->ngol", weight.reshape(groups, out_c // groups, -1), cols).reshape(n, out_c, oh, ow)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


CASES = [  # stride, padding, dilation, groups, deform_groups
    (1, 1, 1, 1, 1), (2, 0, 1, 2, 1), (1, 2, 2, 1, 2), (2, 1, 1, 2, 2)]


def inputs(seed, groups, dgroups, stride, pad, dil, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 7, 6, dtype=dtype, generator=g)
    weight = torch.randn(6, 4 // groups, 3, 3, dtype=dtype, generator=g)
    oh = (7 + 2 * pad - (dil * 2 + 1)) // stride + 1
    ow = (6 + 2 * pad - (dil * 2 + 1)) // stride + 1
    offset = torch.randn(2, dgroups * 18, oh, ow, dtype=dtype, generator=g) * 2.5  # reaches past the borders
    mask = torch.rand(2, dgroups * 9, oh, ow, dtype=dtype, generator=g)
    bias = torch.randn(6, dtype=dtype, generator=g)
    return x, offset, mask, weight, bias


@pytest.mark.parametrize("stride, pad, dil, groups, dgroups", CASES)
def test_deform_conv_v1_matches_kernel(stride, pad, dil, groups, dgroups):
    x, offset, _, weight, _ = inputs(2, groups, dgroups, stride, pad, dil)
    got = deform_conv2d(x, offset, weight, stride, pad, dil, groups, dgroups)
    assert torch.allclose(got, kernel_deform_conv(x, offset, None, weight, None, stride, pad, dil, groups, dgroups),
                          atol=1e-10)


@pytest.mark.parametrize("stride, pad, dil, groups, dgroups", CASES)
def test_deform_conv_v2_matches_kernel(stride, pad, dil, groups, dgroups):
    x, offset, mask, weight, bias = inputs(3, groups, dgroups, stride, pad, dil)
    got = modulated_deform_conv2d(x, offset, mask, weight, bias, stride, pad, dil, groups, dgroups)
    expected = kernel_deform_conv(x, offset, mask, weight, bias, stride, pad, dil, groups, dgroups)
    assert torch.allclose(got, expected, atol=1e-10)
    f32 = modulated_deform_conv2d(*(t.float() for t in (x, offset, mask, weight, bias)), stride, pad, dil, groups, dgroups)
    assert torch.allclose(f32.double(), expected, atol=1e-4)


def test_zero_offsets_are_a_plain_convolution():
    x, offset, mask, weight, bias = inputs(4, 2, 1, 1, 1, 1)
    plain = torch.nn.functional.conv2d(x, weight, bias, 1, 1, 1, 2)
    assert torch.allclose(modulated_deform_conv2d(x, offset * 0, mask * 0 + 1, weight, bias, 1, 1, 1, 2, 1), plain)


def test_deform_conv_gradcheck():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    weight = torch.randn(2, 1, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    offset = (torch.randn(1, 2 * 18, 4, 4, dtype=torch.float64, generator=g) * 1.7).requires_grad_()
    mask = torch.rand(1, 2 * 9, 4, 4, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, o, w: deform_conv2d(a, o, w, 1, 1, 1, 2, 2), (x, offset, weight),
                                    fast_mode=True)
    assert torch.autograd.gradcheck(lambda a, o, m, w, b: modulated_deform_conv2d(a, o, m, w, b, 1, 1, 1, 2, 2),
                                    (x, offset, mask, weight, bias), fast_mode=True)


def test_v1_refuses_a_bias_and_a_3d_input():
    x, offset, _, weight, _ = inputs(6, 1, 1, 1, 1, 1)
    with pytest.raises(AssertionError, match="bias is False"):
        deform_conv2d(x, offset, weight, 1, 1, 1, 1, 1, True)
    with pytest.raises(ValueError, match="4D tensor"):
        deform_conv2d(x[0], offset, weight, 1, 1)
