"""The ``mmcv-lite`` manifest as data: what it patches, that every path
resolves against the installed mmcv-lite sources, and that each replacement
takes the arguments of the mmcv function it stands in for.

mmcv's ops modules cannot be imported here (that is the point of the
manifest), so signatures are read from their source with ``ast``.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

import npatch
from npatch.compiler import compile_manifests
from npatch.conditions import evaluate
from npatch.plan import Op

LIBRARY = "npatch.library.mmcv_lite"

EXPECTED = [
    ("wrap", "mmengine-load-checkpoint", ["mmengine.runner.checkpoint:_load_checkpoint"],
     "npatch.library.openmmlab_checkpoint:allow_saved_globals", None, None),
    ("stub", "mmcv-ext", ["mmcv._ext"], None, "error", None),
    ("replace", "nms", ["mmcv.ops.nms:nms", "mmcv.ops:nms"], f"{LIBRARY}.nms:nms", None, None),
    ("replace", "soft_nms", ["mmcv.ops.nms:soft_nms", "mmcv.ops:soft_nms"], f"{LIBRARY}.soft_nms:soft_nms",
     None, None),
    ("replace", "roi_align", ["mmcv.ops.roi_align:roi_align", "mmcv.ops:roi_align"],
     f"{LIBRARY}.roi_align:roi_align", None, None),
    ("replace", "sigmoid_focal_loss",
     ["mmcv.ops.focal_loss:sigmoid_focal_loss", "mmcv.ops:sigmoid_focal_loss"],
     f"{LIBRARY}.focal_loss:sigmoid_focal_loss", None, None),
    ("replace", "multi_scale_deformable_attn",
     ["mmcv.ops.multi_scale_deform_attn:MultiScaleDeformableAttnFunction"],
     f"{LIBRARY}.msda:MultiScaleDeformableAttnFunction", None, None),
    ("replace", "bbox_overlaps", ["mmcv.ops.bbox:bbox_overlaps", "mmcv.ops:bbox_overlaps"],
     f"{LIBRARY}.bbox:bbox_overlaps", None, None),
    ("replace", "nms_match", ["mmcv.ops.nms:nms_match", "mmcv.ops:nms_match"], f"{LIBRARY}.nms_match:nms_match",
     None, None),
    ("replace", "roi_pool", ["mmcv.ops.roi_pool:roi_pool", "mmcv.ops:roi_pool"], f"{LIBRARY}.roi_pool:roi_pool",
     None, None),
    ("replace", "deform_conv2d", ["mmcv.ops.deform_conv:deform_conv2d", "mmcv.ops:deform_conv2d"],
     f"{LIBRARY}.deform_conv:deform_conv2d", None, None),
    ("replace", "modulated_deform_conv2d",
     ["mmcv.ops.modulated_deform_conv:modulated_deform_conv2d", "mmcv.ops:modulated_deform_conv2d"],
     f"{LIBRARY}.deform_conv:modulated_deform_conv2d", None, None),
    ("value", "mmcv-version-for-mmdet", ["mmcv:__version__"], None, "2.1.0", "mmdet"),
]


def summary(op: Op) -> tuple:
    return (op.kind, op.name, [str(t) for t in op.targets], op.source, op.value, op.during)


def test_plan_lists_exactly_these_ops() -> None:
    plan = npatch.load("mmcv-lite")
    assert [summary(op) for op in plan.ops] == EXPECTED


def test_every_path_resolves_statically_against_installed_sources() -> None:
    result = compile_manifests(["mmcv-lite"], resolve="static")
    assert not result.errors, [str(d) for d in result.errors]


def test_conditions_hold_with_mmcv_lite_installed() -> None:
    """mmcv-lite has no mmcv._ext and is 2.2.0: every op applies here."""
    for op in npatch.load("mmcv-lite").ops:
        assert evaluate(op.when, {}) is True, (op.name, op.when_text)


def mmcv_parameters(module: str, qualname: str) -> list[str]:
    """Parameter names of an mmcv function, or of an autograd Function's
    ``forward`` minus ``ctx`` (what ``Function.apply`` takes), read with ast."""
    root = Path(importlib.util.find_spec("mmcv").submodule_search_locations[0])
    path = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    nodes = ast.parse(path.read_text()).body
    for part in qualname.split("."):
        node = next(n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
        nodes = node.body
    if isinstance(node, ast.ClassDef):
        node = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "forward")
        return [a.arg for a in node.args.args][1:]
    return [a.arg for a in node.args.args]


@pytest.mark.parametrize("source, module, qualname, replacement_attr", [
    (f"{LIBRARY}.nms:nms", "mmcv.ops.nms", "nms", None),
    (f"{LIBRARY}.soft_nms:soft_nms", "mmcv.ops.nms", "soft_nms", None),
    (f"{LIBRARY}.roi_align:roi_align", "mmcv.ops.roi_align", "RoIAlignFunction", None),
    (f"{LIBRARY}.focal_loss:sigmoid_focal_loss", "mmcv.ops.focal_loss", "SigmoidFocalLossFunction", None),
    (f"{LIBRARY}.msda:MultiScaleDeformableAttnFunction", "mmcv.ops.multi_scale_deform_attn",
     "MultiScaleDeformableAttnFunction", "apply"),
    (f"{LIBRARY}.bbox:bbox_overlaps", "mmcv.ops.bbox", "bbox_overlaps", None),
    (f"{LIBRARY}.nms_match:nms_match", "mmcv.ops.nms", "nms_match", None),
    (f"{LIBRARY}.roi_pool:RoIPoolFunction", "mmcv.ops.roi_pool", "RoIPoolFunction", "forward"),
    (f"{LIBRARY}.deform_conv:deform_conv2d", "mmcv.ops.deform_conv", "DeformConv2dFunction", None),
    (f"{LIBRARY}.deform_conv:modulated_deform_conv2d", "mmcv.ops.modulated_deform_conv",
     "ModulatedDeformConv2dFunction", None),
])
def test_replacements_take_mmcv_arguments_in_the_same_order(source: str, module: str, qualname: str,
                                                            replacement_attr: str | None) -> None:
    mod_name, _, attr = source.partition(":")
    replacement = getattr(importlib.import_module(mod_name), attr)
    if replacement_attr:
        replacement = getattr(replacement, replacement_attr)
    mine = [p.name for p in inspect.signature(replacement).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if replacement_attr == "forward":  # an autograd Function's forward: apply takes it without ctx
        mine = mine[1:]
    assert mine == mmcv_parameters(module, qualname)


def test_library_does_not_import_mmcv() -> None:
    """The replacements must load while mmcv.ops cannot."""
    for name in ("nms", "soft_nms", "roi_align", "focal_loss", "msda", "bbox", "nms_match", "roi_pool", "deform_conv"):
        text = Path(importlib.import_module(f"{LIBRARY}.{name}").__file__).read_text()
        assert "import mmcv" not in text and "from mmcv" not in text, name
