"""mmcv ops on the NPU: multi-scale deformable attention through mx_driving.

DrivingSDK's ``MultiScaleDeformableAttention`` patch points
``mmcv.ops.multi_scale_deform_attn.MultiScaleDeformableAttnFunction.forward``
and ``.backward`` at mx_driving's, wrapped so that the signatures match:
mmcv passes ``im2col_step`` as a sixth input, which mx_driving's forward does
not take, and autograd then expects one more gradient from backward.  These
two functions are those wrappers.  They run only on an Ascend NPU
(mx_driving's kernels are NPU kernels); mx_driving is imported at first call.
"""
from __future__ import annotations

from typing import Any


def _mx_msda() -> Any:
    from mx_driving.ops.multi_scale_deformable_attn import MultiScaleDeformableAttnFunction

    return MultiScaleDeformableAttnFunction


def msda_forward(ctx: Any, value: Any, value_spatial_shapes: Any, value_level_start_index: Any,
                 sampling_locations: Any, attention_weights: Any, im2col_step: Any = None) -> Any:
    """mmcv's ``forward(ctx, ..., im2col_step)`` → mx_driving's forward, without ``im2col_step``."""
    return _mx_msda().forward(ctx, value, value_spatial_shapes, value_level_start_index, sampling_locations,
                              attention_weights)


def msda_backward(ctx: Any, grad_output: Any) -> tuple:
    """mx_driving's five gradients, plus None for mmcv's ``im2col_step`` input."""
    return (*_mx_msda().backward(ctx, grad_output), None)


__all__ = ["msda_forward", "msda_backward"]
