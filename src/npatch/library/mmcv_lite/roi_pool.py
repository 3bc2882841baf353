"""``mmcv.ops.roi_pool`` in PyTorch: ``roi_pool_{forward,backward}_cuda_kernel``
of ``mmcv/ops/csrc/common/cuda/roi_pool_cuda_kernel.cuh`` (mmcv has no CPU kernel).

Per RoI ``(batch, x1, y1, x2, y2)``: the region ``[x1, x2 + 1) * spatial_scale``
is cut into ``pooled_h x pooled_w`` bins with ``floor``/``ceil`` edges clipped
to the map; each output is the bin's maximum (the first one in row-major
order, ``>`` against ``-FLT_MAX``), an empty bin gives 0, a RoI of non-positive
width or height gives zeros.  The backward pass adds each output gradient to
the input element that was the maximum, as the kernel's ``argmax`` does.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.autograd import Function
from torch.nn.modules.utils import _pair


def _bins(start: torch.Tensor, size: torch.Tensor, count: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[begin, end)`` of each bin per RoI, as the kernel computes them in the input's dtype."""
    steps = torch.arange(count, dtype=start.dtype, device=start.device)
    bin_size = size[:, None] / count
    begin = torch.floor(steps[None, :] * bin_size + start[:, None]).long().clamp(0, limit)
    end = torch.ceil((steps[None, :] + 1) * bin_size + start[:, None]).long().clamp(0, limit)
    return begin, end


def _pool(input: torch.Tensor, rois: torch.Tensor, pooled: tuple[int, int],
          spatial_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    channels, height, width = input.shape[1:]
    out = input.new_zeros(rois.size(0), channels, *pooled)
    argmax = torch.full(out.shape, -1, dtype=torch.long, device=input.device)
    rois = rois.to(input.dtype)
    x1, y1 = rois[:, 1] * spatial_scale, rois[:, 2] * spatial_scale
    roi_w, roi_h = (rois[:, 3] + 1) * spatial_scale - x1, (rois[:, 4] + 1) * spatial_scale - y1
    xs, xe = _bins(x1, roi_w, pooled[1], width)
    ys, ye = _bins(y1, roi_h, pooled[0], height)
    valid = ((roi_w > 0) & (roi_h > 0)).tolist()
    xs, xe, ys, ye, batch = xs.tolist(), xe.tolist(), ys.tolist(), ye.tolist(), rois[:, 0].long().tolist()
    for r in range(rois.size(0)):
        if not valid[r]:
            continue
        plane = input[batch[r]]
        for i in range(pooled[0]):
            for j in range(pooled[1]):
                top, bottom, left, right = ys[r][i], ye[r][i], xs[r][j], xe[r][j]
                if bottom <= top or right <= left:
                    continue
                value, index = plane[:, top:bottom, left:right].reshape(channels, -1).max(1)
                out[r, :, i, j] = value
                argmax[r, :, i, j] = (top + index // (right - left)) * width + left + index % (right - left)
    return out, argmax


class RoIPoolFunction(Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, rois: torch.Tensor, output_size: Any,
                spatial_scale: float = 1.0) -> torch.Tensor:
        assert rois.size(1) == 5, "RoI must be (idx, x1, y1, x2, y2)!"
        ctx.input_shape = input.shape
        ctx.batch_index = rois[:, 0].long()
        output, argmax = _pool(input.detach(), rois, _pair(output_size), float(spatial_scale))
        ctx.save_for_backward(argmax)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple:
        (argmax,) = ctx.saved_tensors
        batch, channels, height, width = ctx.input_shape
        grad_input = grad_output.new_zeros(batch, channels, height * width)
        valid = argmax >= 0
        flat = grad_input.view(-1)
        base = (ctx.batch_index.view(-1, 1, 1, 1) * channels
                + torch.arange(channels, device=argmax.device).view(1, channels, 1, 1)) * height * width
        flat.index_add_(0, (base + argmax)[valid], grad_output[valid])
        return grad_input.view(ctx.input_shape), None, None, None


#: what ``mmcv.ops.roi_pool`` is (mmcv's ``RoIPool`` module calls this global)
roi_pool = RoIPoolFunction.apply


__all__ = ["RoIPoolFunction", "roi_pool"]
