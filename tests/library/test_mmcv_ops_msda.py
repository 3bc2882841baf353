"""npatch.library.mmcv_lite.msda against mmcv's own ``multi_scale_deformable_attn_pytorch``.

The reference function is read from the installed mmcv-lite source and run
on its own: importing its module needs ``mmcv._ext``, which is what is
missing.  Outputs and the gradients for value, sampling locations and
attention weights must agree to 1e-5.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from npatch.library.mmcv_lite.msda import MultiScaleDeformableAttnFunction, multi_scale_deformable_attn


def mmcv_reference():
    spec = importlib.util.find_spec("mmcv")
    path = Path(spec.submodule_search_locations[0]) / "ops" / "multi_scale_deform_attn.py"
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "multi_scale_deformable_attn_pytorch")
    namespace = {"torch": torch, "F": F}
    exec(compile(ast.Module([node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace["multi_scale_deformable_attn_pytorch"]


def case(seed: int, bs: int = 2, heads: int = 2, dims: int = 4, queries: int = 9, points: int = 3):
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[6, 8], [3, 4], [2, 1]])
    keys = int((shapes[:, 0] * shapes[:, 1]).sum())
    levels = len(shapes)
    value = torch.randn(bs, keys, heads, dims, generator=g)
    # locations a little outside [0, 1] too: zero padding must agree
    locations = torch.rand(bs, queries, heads, levels, points, 2, generator=g) * 1.2 - 0.1
    weights = torch.rand(bs, queries, heads, levels, points, generator=g)
    weights = weights / weights.sum((-1, -2), keepdim=True)
    start = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    return value, shapes, start, locations, weights


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_gradients_match_mmcv_pytorch(seed: int) -> None:
    reference = mmcv_reference()
    value, shapes, start, locations, weights = case(seed)
    mine_in = [t.clone().requires_grad_(True) for t in (value, locations, weights)]
    ref_in = [t.clone().requires_grad_(True) for t in (value, locations, weights)]
    mine = MultiScaleDeformableAttnFunction.apply(mine_in[0], shapes, start, mine_in[1], mine_in[2], 64)
    ref = reference(ref_in[0], shapes, ref_in[1], ref_in[2])
    assert mine.shape == (2, 9, 8)
    torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)
    upstream = torch.randn_like(mine)
    (mine * upstream).sum().backward()
    (ref * upstream).sum().backward()
    for a, b in zip(mine_in, ref_in):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-5)


def test_spatial_shapes_as_list_and_float64() -> None:
    value, shapes, _, locations, weights = case(5)
    value, locations, weights = value.double(), locations.double(), weights.double()
    torch.testing.assert_close(multi_scale_deformable_attn(value, shapes.tolist(), locations, weights),
                               mmcv_reference()(value, shapes, locations, weights))


def test_locations_follow_value_dtype() -> None:
    """As mmcv's Function: float32 locations/weights on float64 values are cast."""
    value, shapes, start, locations, weights = case(6)
    out = MultiScaleDeformableAttnFunction.apply(value.double(), shapes, start, locations, weights, 64)
    assert out.dtype == torch.float64


def test_gradcheck_float64() -> None:
    value, shapes, start, locations, weights = case(7, bs=1, heads=1, dims=2, queries=2, points=2)
    # keep sampling points away from pixel centres, where bilinear weights have kinks
    inputs = tuple(t.double().requires_grad_(True) for t in (value, locations * 0.8 + 0.1 + 1e-3, weights))
    assert torch.autograd.gradcheck(
        lambda v, loc, w: multi_scale_deformable_attn(v, shapes, loc, w), inputs, atol=1e-5)


def test_shape_mismatch_is_a_clear_error() -> None:
    value, shapes, _, locations, weights = case(2)
    with pytest.raises(ValueError, match="cover"):
        multi_scale_deformable_attn(value, shapes[:, :] + 1, locations, weights)
    with pytest.raises(ValueError, match="spatial shapes for"):
        multi_scale_deformable_attn(value, shapes[:2], locations, weights)
