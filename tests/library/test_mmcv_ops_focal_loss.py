"""npatch.library.mmcv_lite.focal_loss against the focal-loss formula.

Reference: the formula of mmcv's CUDA kernel written out with plain torch ops
(no clamping, so only for logits where ``log(p)`` is finite), differentiated
by autograd.  Forward and the analytic backward must agree with it to 1e-6
(float32) / 1e-12 (float64), and ``gradcheck`` must pass in float64.
"""
from __future__ import annotations

import pytest
import torch

from npatch.library.mmcv_lite.focal_loss import sigmoid_focal_loss


def formula(logits: torch.Tensor, target: torch.Tensor, gamma: float, alpha: float,
            weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    num_classes = logits.size(1)
    positive = torch.nn.functional.one_hot(target, num_classes + 1)[:, :num_classes].to(logits.dtype)
    p = torch.sigmoid(logits)
    loss = -alpha * positive * (1 - p) ** gamma * torch.log(p) \
        - (1 - alpha) * (1 - positive) * p ** gamma * torch.log(1 - p)
    if weight is not None:
        padded = torch.cat([weight, weight.new_ones(1)])  # background rows: weight 1
        loss = loss * padded[target].unsqueeze(1)
    if reduction == "mean":
        return loss.sum() / logits.size(0)
    return loss.sum() if reduction == "sum" else loss


def case(dtype: torch.dtype, seed: int = 0, n: int = 40, classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, classes, generator=g) * 3).to(dtype)
    target = torch.randint(0, classes + 1, (n,), generator=g)  # classes == background
    weight = (torch.rand(classes, generator=g) + 0.5).to(dtype)
    return logits, target, weight


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("gamma, alpha", [(2.0, 0.25), (0.0, 0.5), (1.5, 0.75)])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_forward_and_backward_match_formula(reduction: str, use_weight: bool, gamma: float, alpha: float,
                                            dtype: torch.dtype, tol: float) -> None:
    logits, target, weight = case(dtype)
    weight = weight if use_weight else None
    mine_in = logits.clone().requires_grad_(True)
    ref_in = logits.clone().requires_grad_(True)
    mine = sigmoid_focal_loss(mine_in, target, gamma, alpha, weight, reduction)
    ref = formula(ref_in, target, gamma, alpha, weight, reduction)
    torch.testing.assert_close(mine, ref, atol=tol, rtol=tol)
    upstream = torch.randn_like(mine)
    (mine * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(mine_in.grad, ref_in.grad, atol=tol, rtol=tol)


def test_gradcheck_float64() -> None:
    logits, target, weight = case(torch.float64, seed=3, n=6, classes=3)
    logits.requires_grad_(True)
    for reduction in ("none", "mean", "sum"):
        assert torch.autograd.gradcheck(
            lambda x: sigmoid_focal_loss(x, target, 2.0, 0.25, weight, reduction), (logits,))


def test_defaults_are_mmcv_defaults() -> None:
    logits, target, _ = case(torch.float32, seed=1)
    torch.testing.assert_close(sigmoid_focal_loss(logits, target),
                               formula(logits, target, 2.0, 0.25, None, "mean"))


def test_extreme_logits_stay_finite_as_in_the_kernel() -> None:
    """The kernel clamps p and 1 - p at FLT_MIN: log never returns -inf."""
    logits = torch.tensor([[-200.0, 200.0], [200.0, -200.0]], requires_grad=True)
    target = torch.tensor([0, 0])
    loss = sigmoid_focal_loss(logits, target, 2.0, 0.25, None, "none")
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    # a confident wrong positive costs alpha * log(FLT_MIN)
    assert loss[0, 0].item() == pytest.approx(0.25 * 87.3365, rel=1e-5)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(target=torch.zeros(4, dtype=torch.int32)), TypeError, "torch.long"),
    (dict(target=torch.zeros(3, dtype=torch.long)), ValueError, "expects input"),
    (dict(weight=torch.ones(2)), ValueError, "weight"),
    (dict(reduction="avg"), ValueError, "reduction"),
])
def test_bad_input_is_a_clear_error(kwargs: dict, error: type, message: str) -> None:
    args = dict(input=torch.zeros(4, 3), target=torch.zeros(4, dtype=torch.long))
    args.update(kwargs)
    with pytest.raises(error, match=message):
        sigmoid_focal_loss(**args)
