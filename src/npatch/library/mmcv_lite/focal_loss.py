"""Sigmoid focal loss without ``mmcv._ext``.

Replaces ``mmcv.ops.focal_loss.sigmoid_focal_loss``
(``SigmoidFocalLossFunction.apply``, re-exported as
``mmcv.ops.sigmoid_focal_loss``); mmcv's ``SigmoidFocalLoss`` module calls
that global.  Forward and backward are the formulas of
``mmcv/ops/csrc/common/cuda/sigmoid_focal_loss_cuda_kernel.cuh``, evaluated
on whole tensors:

* ``target[n]`` is a class index; ``target[n] == num_classes`` (or any index
  outside ``[0, num_classes)``) is background: every column is a negative;
* ``log`` is taken of ``max(p, FLT_MIN)``, so extreme logits stay finite;
* ``weight`` (num_classes,) scales row ``n`` by ``weight[target[n]]``.  The
  CUDA kernel reads past the end of ``weight`` for background rows; here they
  get weight 1.
* ``reduction='mean'`` divides the sum by the number of rows.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

_REDUCTIONS = ("none", "mean", "sum")
#: C's FLT_MIN: the kernel clamps probabilities to it (in float and in double)
FLT_MIN = 1.1754943508222875e-38


def _parts(input: Tensor, target: Tensor, weight: Optional[Tensor]):
    """Positive mask, sigmoid, clamped logs and the per-row weight (or None)."""
    classes = torch.arange(input.size(1), device=input.device)
    positive = target.unsqueeze(1) == classes.unsqueeze(0)
    p = torch.sigmoid(input)
    log_p = torch.log(p.clamp(min=FLT_MIN))
    log_1mp = torch.log((1 - p).clamp(min=FLT_MIN))
    row_weight = None
    if weight is not None:
        in_range = (target >= 0) & (target < input.size(1))
        row_weight = torch.where(in_range, weight[target.clamp(0, input.size(1) - 1)],
                                 torch.ones_like(target, dtype=input.dtype)).unsqueeze(1)
    return positive, p, log_p, log_1mp, row_weight


class SigmoidFocalLossFunction(Function):
    """``torch.autograd.Function`` with mmcv's analytic forward and backward."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = 0.25,
                weight: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
        if target.dtype != torch.long:
            raise TypeError(f"sigmoid_focal_loss target must be torch.long, got {target.dtype}")
        if input.dim() != 2 or target.dim() != 1 or input.size(0) != target.size(0):
            raise ValueError("sigmoid_focal_loss expects input (N, C) and target (N,), "
                             f"got {tuple(input.shape)} and {tuple(target.shape)}")
        if weight is not None and (weight.dim() != 1 or weight.size(0) != input.size(1)):
            raise ValueError(f"sigmoid_focal_loss weight must have shape ({input.size(1)},)")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"sigmoid_focal_loss reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        gamma, alpha = float(gamma), float(alpha)
        positive, p, log_p, log_1mp, row_weight = _parts(input, target, weight)
        loss = torch.where(positive, -alpha * (1 - p).pow(gamma) * log_p,
                           -(1 - alpha) * p.pow(gamma) * log_1mp)
        if row_weight is not None:
            loss = loss * row_weight
        ctx.gamma, ctx.alpha, ctx.reduction = gamma, alpha, reduction
        ctx.save_for_backward(input, target, weight if weight is not None else input.new_empty(0))
        if reduction == "mean":
            return loss.sum() / input.size(0)
        if reduction == "sum":
            return loss.sum()
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        input, target, weight = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        positive, p, log_p, log_1mp, row_weight = _parts(
            input, target, weight if weight.numel() else None)
        grad = torch.where(positive, -alpha * (1 - p).pow(gamma) * (1 - p - gamma * p * log_p),
                           -(1 - alpha) * p.pow(gamma) * (gamma * (1 - p) * log_1mp - p))
        if row_weight is not None:
            grad = grad * row_weight
        grad = grad * grad_output
        if ctx.reduction == "mean":
            grad = grad / input.size(0)
        return grad, None, None, None, None, None


def sigmoid_focal_loss(input: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = 0.25,
                       weight: Optional[Tensor] = None, reduction: str = "mean") -> Tensor:
    """Drop-in for ``mmcv.ops.sigmoid_focal_loss``: logits (N, C), class indices (N,)."""
    return SigmoidFocalLossFunction.apply(input, target, gamma, alpha, weight, reduction)


__all__ = ["FLT_MIN", "SigmoidFocalLossFunction", "sigmoid_focal_loss"]
