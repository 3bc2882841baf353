"""``mmcv.ops.deform_conv2d`` (DCN v1) and ``modulated_deform_conv2d`` (DCN v2) in PyTorch.

mmcv's CPU kernels (``mmcv/ops/csrc/pytorch/cpu/deform_conv.cpp`` and
``modulated_deform_conv.cpp``) unfold the input with ``deformable_im2col``:
for output pixel ``(h, w)`` and kernel tap ``(i, j)`` of deformable group
``g`` they sample channel ``c`` of group ``g`` bilinearly at
``h * stride - pad + i * dilation + offset[g, 2 * (i * kw + j)]`` (rows) and
the same with ``2 * (i * kw + j) + 1`` (columns), 0 when the point is at or
beyond one pixel outside the map and each corner outside it counting 0;
DCN v2 multiplies by ``mask[g, i * kw + j]``; a grouped matrix product with
the weight follows (and the bias, for DCN v2).

The same sampling is ``grid_sample(mode='bilinear', padding_mode='zeros')``
at those points (``align_corners=False`` with the normalisation below maps a
grid value back to exactly that pixel coordinate), so the forward pass is
tensor code and autograd gives the gradients the kernels' col2im and
``get_coordinate_weight`` compute.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair


def _deform(input: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor,
            bias: torch.Tensor | None, stride: Any, padding: Any, dilation: Any, groups: int,
            deform_groups: int) -> torch.Tensor:
    if input.dim() != 4:
        raise ValueError(f"Expected 4D tensor as input, got {input.dim()}D tensor instead.")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    batch, channels, height, width = input.shape
    out_channels, _, kh, kw = weight.shape
    out_h = (height + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    out_w = (width + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError("convolution input is too small (output would be " + "x".join(map(str, (out_h, out_w))) + ")")
    taps = kh * kw
    dtype, device = offset.dtype, offset.device
    rows = (torch.arange(out_h, dtype=dtype, device=device) * sh - ph).view(1, 1, 1, out_h, 1)
    cols = (torch.arange(out_w, dtype=dtype, device=device) * sw - pw).view(1, 1, 1, 1, out_w)
    tap_rows = (torch.arange(kh, dtype=dtype, device=device) * dh).repeat_interleave(kw).view(1, 1, taps, 1, 1)
    tap_cols = (torch.arange(kw, dtype=dtype, device=device) * dw).repeat(kh).view(1, 1, taps, 1, 1)
    offset = offset.view(batch, deform_groups, taps, 2, out_h, out_w)
    y = rows + tap_rows + offset[:, :, :, 0]
    x = cols + tap_cols + offset[:, :, :, 1]
    grid = torch.stack(((2 * x + 1) / width - 1, (2 * y + 1) / height - 1), dim=-1)
    grid = grid.view(batch * deform_groups, taps * out_h, out_w, 2)
    planes = input.reshape(batch * deform_groups, channels // deform_groups, height, width)
    sampled = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.view(batch, deform_groups, channels // deform_groups, taps, out_h, out_w)
    if mask is not None:
        sampled = sampled * mask.view(batch, deform_groups, 1, taps, out_h, out_w)
    columns = sampled.reshape(batch, groups, channels // groups * taps, out_h * out_w)
    kernel = weight.reshape(groups, out_channels // groups, -1)
    out = torch.einsum("gok,ngkl->ngol", kernel, columns).reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def deform_conv2d(input: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, stride: Any = 1,
                  padding: Any = 0, dilation: Any = 1, groups: int = 1, deform_groups: int = 1,
                  bias: bool = False, im2col_step: int = 32) -> torch.Tensor:
    """DCN v1, as ``DeformConv2dFunction.apply`` (``im2col_step`` only batched mmcv's kernel)."""
    assert bias is False, "Only support bias is False."
    input = input.type_as(offset)
    return _deform(input, offset, None, weight.type_as(input), None, stride, padding, dilation, groups, deform_groups)


def modulated_deform_conv2d(input: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                            bias: torch.Tensor | None = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                            groups: int = 1, deform_groups: int = 1) -> torch.Tensor:
    """DCN v2, as ``ModulatedDeformConv2dFunction.apply``."""
    input = input.type_as(offset)
    weight = weight.type_as(input)
    bias = bias.type_as(input) if bias is not None and bias.numel() else None
    return _deform(input, offset, mask.type_as(input), weight, bias, stride, padding, dilation, groups, deform_groups)


__all__ = ["deform_conv2d", "modulated_deform_conv2d"]
