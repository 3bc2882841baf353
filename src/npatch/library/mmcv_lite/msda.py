"""Multi-scale deformable attention without ``mmcv._ext``.

Replaces ``mmcv.ops.multi_scale_deform_attn.MultiScaleDeformableAttnFunction``
(the autograd Function whose forward and backward call
``ext_module.ms_deform_attn_forward/backward``).  mmcv's
``MultiScaleDeformableAttention`` module already takes its pure-PyTorch path
on tensors that are not on CUDA/MLU; the Function is what code that calls
``MultiScaleDeformableAttnFunction.apply(...)`` directly (DETR-family heads,
mmdet3d, BEV models) runs, and without ``_ext`` it cannot run at all.

The computation is the one of ``multi_scale_deformable_attn_pytorch`` (and of
the CUDA kernel ``ms_deform_attn_im2col_bilinear``): a sampling location
``(x, y)`` in ``[0, 1]`` reads pixel ``(x * W - 0.5, y * H - 0.5)`` with
bilinear interpolation and zeros outside the map, i.e. ``grid_sample`` with
``align_corners=False`` and ``padding_mode='zeros'``.  Gradients come from
autograd, for value, sampling locations and attention weights, as in mmcv.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

Shapes = Union[Tensor, Sequence[Sequence[int]]]


def _level_shapes(value_spatial_shapes: Shapes) -> list[tuple[int, int]]:
    if isinstance(value_spatial_shapes, Tensor):
        value_spatial_shapes = value_spatial_shapes.tolist()
    return [(int(h), int(w)) for h, w in value_spatial_shapes]


def multi_scale_deformable_attn(value: Tensor, value_spatial_shapes: Shapes,
                                sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """(bs, keys, heads, dims) values, (levels, 2) ``(h, w)`` shapes, (bs, queries, heads,
    levels, points, 2) ``(x, y)`` locations, (bs, queries, heads, levels, points) weights
    -> (bs, queries, heads * dims)."""
    bs, num_keys, num_heads, dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    shapes = _level_shapes(value_spatial_shapes)
    if len(shapes) != num_levels:
        raise ValueError(f"{len(shapes)} spatial shapes for {num_levels} sampling levels")
    if sum(h * w for h, w in shapes) != num_keys:
        raise ValueError(f"spatial shapes {shapes} cover {sum(h * w for h, w in shapes)} keys, "
                         f"value has {num_keys}")
    sampling_locations = sampling_locations.type_as(value)
    attention_weights = attention_weights.type_as(value)
    # (bs*heads, dims, keys): one channel-first map per head, split by level below
    values = value.permute(0, 2, 3, 1).reshape(bs * num_heads, dims, num_keys)
    # (bs*heads, queries, levels, points, 2) in grid_sample's [-1, 1]
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)
    sampled = []
    for level, ((h, w), level_values) in enumerate(zip(shapes, values.split([h * w for h, w in shapes], -1))):
        sampled.append(F.grid_sample(level_values.reshape(bs * num_heads, dims, h, w),
                                     grids[:, :, level], mode="bilinear",
                                     padding_mode="zeros", align_corners=False))
    # (bs*heads, dims, queries, levels*points) weighted by (bs*heads, 1, queries, levels*points)
    stacked = torch.stack(sampled, dim=-2).flatten(-2)
    weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries,
                                                        num_levels * num_points)
    output = (stacked * weights).sum(-1).view(bs, num_heads * dims, num_queries)
    return output.transpose(1, 2).contiguous()


class MultiScaleDeformableAttnFunction:
    """Stands in for mmcv's autograd Function of the same name.

    Only ``apply`` is provided, with the Function's argument list; autograd
    differentiates the PyTorch ops, so no backward of its own is needed.
    ``value_level_start_index`` and ``im2col_step`` tune the CUDA kernel and
    are accepted and ignored.
    """

    @staticmethod
    def apply(value: Tensor, value_spatial_shapes: Shapes, value_level_start_index: Tensor,
              sampling_locations: Tensor, attention_weights: Tensor, im2col_step: int = 64) -> Tensor:
        return multi_scale_deformable_attn(value, value_spatial_shapes, sampling_locations,
                                           attention_weights)


__all__ = ["Shapes", "multi_scale_deformable_attn", "MultiScaleDeformableAttnFunction"]
