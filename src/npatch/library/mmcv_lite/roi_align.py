"""RoIAlign without ``mmcv._ext``.

Replaces ``mmcv.ops.roi_align.roi_align`` (``RoIAlignFunction.apply``, also
re-exported as ``mmcv.ops.roi_align``).  mmcv's ``RoIAlign`` module calls that
module global, so it runs this function once the global is patched.

Semantics follow ``mmcv/ops/csrc/pytorch/cpu/roi_align.cpp``:

* ``aligned=True`` shifts the RoI by -0.5 pixel; ``aligned=False`` forces
  RoIs to be at least 1x1;
* ``sampling_ratio > 0`` samples that many points per bin and axis,
  ``0`` samples ``ceil(roi_size / output_size)`` per axis, per RoI;
* a sample outside ``[-1, H] x [-1, W]`` counts as 0, one inside is
  clamped to the feature map and interpolated bilinearly;
* ``avg`` divides by the number of samples, ``max`` keeps the largest
  (starting from -10000, as the kernel does).

How: every sample point of every RoI is listed once (a ragged list, so the
adaptive grid costs no padding), sampled with ``grid_sample`` in ``border``
mode (the kernel's clamping) and summed into its bin with ``index_add_``.
All of it is differentiable with respect to the features; RoIs get no
gradient, as in mmcv.  Points are processed in chunks to bound memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

#: sampled values held at once (points x channels) before they are reduced
CHUNK_ELEMENTS = 1 << 24
#: the kernel's starting value for max pooling
MAX_POOL_INIT = -10000.0


def _sample_points(rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float,
                   sampling_ratio: int, aligned: bool):
    """Every sample point: (y, x, bin index, roi index) plus the per-bin sample count."""
    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * spatial_scale - offset
    start_h = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - start_w
    roi_h = rois[:, 4] * spatial_scale - offset - start_h
    if aligned:
        if bool(((roi_w < 0) | (roi_h < 0)).any()):
            raise ValueError("roi_align(aligned=True) got a RoI with x2 < x1 or y2 < y1")
    else:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / pooled_h
    bin_w = roi_w / pooled_w
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
    else:
        grid_h = torch.ceil(roi_h / pooled_h).long()
        grid_w = torch.ceil(roi_w / pooled_w).long()
    count = (grid_h * grid_w).clamp(min=1)

    per_roi = grid_h * grid_w * (pooled_h * pooled_w)
    roi_of = torch.repeat_interleave(torch.arange(rois.size(0), device=rois.device), per_roi)
    first = torch.cumsum(per_roi, 0) - per_roi
    k = torch.arange(roi_of.numel(), device=rois.device) - first[roi_of]
    gw, gh = grid_w[roi_of], grid_h[roi_of]
    ix = k % gw
    k = k // gw
    iy = k % gh
    k = k // gh
    pw = k % pooled_w
    ph = k // pooled_w
    y = start_h[roi_of] + ph * bin_h[roi_of] + (iy + 0.5) * bin_h[roi_of] / gh
    x = start_w[roi_of] + pw * bin_w[roi_of] + (ix + 0.5) * bin_w[roi_of] / gw
    bin_of = (roi_of * pooled_h + ph) * pooled_w + pw
    return y, x, bin_of, roi_of, count


def _bilinear(features: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Sample ``features`` (C, H, W) at points (P,) as the kernel does: (C, P)."""
    height, width = features.shape[-2:]
    inside = (y >= -1.0) & (y <= height) & (x >= -1.0) & (x <= width)
    gx = x / max(width - 1, 1) * 2 - 1
    gy = y / max(height - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).to(features.dtype).view(1, 1, -1, 2)
    values = F.grid_sample(features.unsqueeze(0), grid, mode="bilinear",
                           padding_mode="border", align_corners=True)
    return values.view(features.size(0), -1) * inside.to(features.dtype)


def roi_align(input: Tensor, rois: Tensor, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = 0, pool_mode: str = "avg", aligned: bool = True) -> Tensor:
    """Drop-in for ``mmcv.ops.roi_align``: (N, C, H, W) features, (K, 5) RoIs
    ``(batch_index, x1, y1, x2, y2)`` -> (K, C, out_h, out_w)."""
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"roi_align pool_mode must be 'max' or 'avg', got {pool_mode!r}")
    if rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError("RoI must be (idx, x1, y1, x2, y2)!")
    if input.dim() != 4:
        raise ValueError(f"roi_align expects NCHW features, got shape {tuple(input.shape)}")
    pooled_h, pooled_w = _pair(output_size)
    channels = input.size(1)
    num_bins = rois.size(0) * pooled_h * pooled_w
    if rois.size(0) == 0:
        return input.new_zeros((0, channels, pooled_h, pooled_w))

    # the kernel computes coordinates in the feature dtype; half precision would round them
    coords = rois.detach().to(torch.float64 if input.dtype == torch.float64 else torch.float32)
    y, x, bin_of, roi_of, count = _sample_points(coords, pooled_h, pooled_w, float(spatial_scale),
                                                 int(sampling_ratio), bool(aligned))
    batch_of = coords[:, 0].long()[roi_of]
    # bins along dim 1: the sampled values are (C, P) and reduce without a transpose
    if pool_mode == "avg":
        out = input.new_zeros((channels, num_bins))
    else:
        out = input.new_full((channels, num_bins), MAX_POOL_INIT)
    step = max(1, CHUNK_ELEMENTS // max(channels, 1))
    for b in torch.unique(batch_of).tolist():
        select = torch.nonzero(batch_of == b, as_tuple=False).squeeze(1)
        for lo in range(0, select.numel(), step):
            part = select[lo:lo + step]
            values = _bilinear(input[b], y[part], x[part])
            if pool_mode == "avg":
                out.index_add_(1, bin_of[part], values)
            else:  # amax keeps its result for backward: no in-place update
                out = out.scatter_reduce(1, bin_of[part].expand_as(values), values, reduce="amax")
    if pool_mode == "avg":
        out = out / count.repeat_interleave(pooled_h * pooled_w).to(out.dtype)
    return out.view(channels, rois.size(0), pooled_h, pooled_w).transpose(0, 1).contiguous()


__all__ = ["CHUNK_ELEMENTS", "MAX_POOL_INIT", "roi_align"]
