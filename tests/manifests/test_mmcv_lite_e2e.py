"""Acceptance of the built-in ``mmcv-lite`` manifest with the real mmcv-lite 2.2.0,
mmdet 3.3.0 and mmengine 0.10.7.

One child interpreter runs a detection script that patches nothing itself
under ``npatch apply mmcv-lite -- python script.py``: RetinaNet and Faster
R-CNN, ResNet-18, random weights, built from mmdet config dicts, predict on a
random 320x320 image (NMS included) and train one step with finite losses.
The script also checks, inside the real mmcv modules, that batched_nms (hard
and soft), RoIAlign, SigmoidFocalLoss and MultiScaleDeformableAttnFunction
run the replacements, and that an op nobody replaced fails with the stub's
error.  It prints one JSON line that the test reads.

Two more children: the same imports without the manifest fail as they do for
users (the test can fail), and the Python API with mmcv imported first, which
checks what a ``with`` block restores.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from npatch_testutil import run_npatch, run_python

DETECTION_SCRIPT = r'''
import json
import math

import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
import mmcv
import mmcv.ops

register_all_modules()
torch.manual_seed(0)
report = {"mmcv_version": mmcv.__version__}

# -- where the ops come from ------------------------------------------------
import sys
report["ops"] = {
    "mmcv.ops.nms": mmcv.ops.nms.__module__,
    "mmcv.ops.nms:nms": sys.modules["mmcv.ops.nms"].nms.__module__,
    "mmcv.ops.soft_nms": mmcv.ops.soft_nms.__module__,
    "mmcv.ops.roi_align": mmcv.ops.roi_align.__module__,
    "mmcv.ops.sigmoid_focal_loss": mmcv.ops.sigmoid_focal_loss.__module__,
    "MultiScaleDeformableAttnFunction":
        sys.modules["mmcv.ops.multi_scale_deform_attn"].MultiScaleDeformableAttnFunction.__module__,
}


def pairwise_iou(a, b):
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def max_same_class_iou(boxes, labels):
    worst = 0.0
    for c in labels.unique():
        b = boxes[labels == c]
        if len(b) > 1:
            iou = pairwise_iou(b, b)
            iou.fill_diagonal_(0)
            worst = max(worst, float(iou.max()))
    return worst


# -- batched_nms through mmcv's own code, against per-class greedy NMS ----
def greedy(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        if all(float(pairwise_iou(boxes[i:i + 1], boxes[j:j + 1])) <= thr for j in keep):
            keep.append(i)
    return keep


xy = torch.rand(300, 2) * 200
boxes = torch.cat([xy, xy + torch.rand(300, 2) * 60 + 1], 1)
scores = torch.rand(300)
idxs = torch.randint(0, 4, (300,))
dets, keep = mmcv.ops.batched_nms(boxes, scores, idxs, dict(type="nms", iou_threshold=0.5))
expected = []
for c in range(4):
    members = torch.nonzero(idxs == c).squeeze(1)
    expected += members[greedy(boxes[members], scores[members], 0.5)].tolist()
report["batched_nms_matches"] = sorted(keep.tolist()) == sorted(expected)
report["batched_nms_sorted"] = bool((dets[:-1, 4] >= dets[1:, 4]).all())
dets, keep = mmcv.ops.batched_nms(boxes, scores, idxs, dict(type="soft_nms", iou_threshold=0.5))
report["batched_soft_nms"] = bool(len(keep) > 0 and (dets[:, 4] <= scores[keep]).all())

# -- mmcv's modules call the replaced globals ------------------------------
from npatch.library.mmcv_lite.roi_align import roi_align as pure_roi_align
feats = torch.randn(2, 8, 20, 20)
rois = torch.tensor([[0, 4.0, 6.0, 50.0, 70.0], [1, 0.0, 0.0, 79.0, 79.0]])
layer = mmcv.ops.RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=0)
report["RoIAlign_module"] = bool(torch.equal(layer(feats, rois), pure_roi_align(feats, rois, 7, 0.25, 0)))
logits = torch.randn(16, 5, requires_grad=True)
focal = mmcv.ops.SigmoidFocalLoss(gamma=2.0, alpha=0.25)(logits, torch.randint(0, 6, (16,)))
focal.backward()
report["SigmoidFocalLoss_module"] = math.isfinite(float(focal.detach())) and bool(torch.isfinite(logits.grad).all())

attn = mmcv.ops.MultiScaleDeformableAttention(embed_dims=32, num_heads=4, num_levels=2, num_points=2,
                                              batch_first=True)
shapes = torch.tensor([[8, 8], [4, 4]])
starts = torch.tensor([0, 64])
value = torch.randn(1, 80, 4, 8)
locations = torch.rand(1, 10, 4, 2, 2, 2)
weights = torch.rand(1, 10, 4, 2, 2).softmax(-1)
msda = sys.modules["mmcv.ops.multi_scale_deform_attn"]
report["msda_matches_mmcv_pytorch"] = bool(torch.allclose(
    msda.MultiScaleDeformableAttnFunction.apply(value, shapes, starts, locations, weights, 64),
    msda.multi_scale_deformable_attn_pytorch(value, shapes, locations, weights), atol=1e-5))
query = torch.randn(1, 10, 32)
report["msda_module_shape"] = list(attn(query, value=torch.randn(1, 80, 32), spatial_shapes=shapes,
                                         level_start_index=starts,
                                         reference_points=torch.rand(1, 10, 2, 2)).shape)

# -- an op nobody replaced fails with the stub's error ---------------------
try:
    mmcv.ops.box_iou_rotated(torch.rand(3, 5), torch.rand(2, 5))
    report["unreplaced_op"] = "ran"
except Exception as exc:
    report["unreplaced_op"] = f"{type(exc).__name__}: {exc}"

# -- detectors -------------------------------------------------------------
NUM_CLASSES = 3
PRE = dict(type="DetDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
           bgr_to_rgb=True, pad_size_divisor=32)
BACKBONE = dict(type="ResNet", depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                norm_cfg=dict(type="BN", requires_grad=True), norm_eval=True, style="pytorch", init_cfg=None)
CODER = dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4)
RETINANET = dict(
    type="RetinaNet", data_preprocessor=PRE, backbone=BACKBONE,
    neck=dict(type="FPN", in_channels=[64, 128, 256, 512], out_channels=64, start_level=1,
              add_extra_convs="on_input", num_outs=5),
    bbox_head=dict(
        type="RetinaHead", num_classes=NUM_CLASSES, in_channels=64, stacked_convs=2, feat_channels=64,
        anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        bbox_coder=CODER,
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                                 ignore_iof_thr=-1),
                   sampler=dict(type="PseudoSampler"), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5),
                  max_per_img=100))
FASTER_RCNN = dict(
    type="FasterRCNN", data_preprocessor=PRE, backbone=BACKBONE,
    neck=dict(type="FPN", in_channels=[64, 128, 256, 512], out_channels=64, num_outs=5),
    rpn_head=dict(
        type="RPNHead", in_channels=64, feat_channels=64,
        anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
                              strides=[4, 8, 16, 32, 64]),
        bbox_coder=CODER,
        loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    roi_head=dict(
        type="StandardRoIHead",
        bbox_roi_extractor=dict(type="SingleRoIExtractor",
                                roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=0),
                                out_channels=64, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type="Shared2FCBBoxHead", in_channels=64, fc_out_channels=256, roi_feat_size=7,
            num_classes=NUM_CLASSES,
            bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type="L1Loss", loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                               match_low_quality=True, ignore_iof_thr=-1),
                 sampler=dict(type="RandomSampler", num=256, pos_fraction=0.5, neg_pos_ub=-1,
                              add_gt_as_proposals=False),
                 allowed_border=-1, pos_weight=-1, debug=False),
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000, nms=dict(type="nms", iou_threshold=0.7),
                          min_bbox_size=0),
        rcnn=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                                match_low_quality=False, ignore_iof_thr=-1),
                  sampler=dict(type="RandomSampler", num=512, pos_fraction=0.25, neg_pos_ub=-1,
                               add_gt_as_proposals=True),
                  pos_weight=-1, debug=False)),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type="nms", iou_threshold=0.7),
                           min_bbox_size=0),
                  rcnn=dict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100)))


def batch(with_gt):
    image = torch.randint(0, 256, (3, 320, 320), dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(img_id=0, img_shape=(320, 320), ori_shape=(320, 320),
                                         scale_factor=(1.0, 1.0)))
    if with_gt:
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[30.0, 40.0, 150.0, 200.0], [160.0, 100.0, 300.0, 310.0]]),
            labels=torch.tensor([0, 2]))
    return dict(inputs=[image], data_samples=[sample])


report["models"] = {}
for name, cfg in [("retinanet", RETINANET), ("faster_rcnn", FASTER_RCNN)]:
    model = MODELS.build(ConfigDict(cfg))
    model.eval()
    with torch.no_grad():
        pred = model(**model.data_preprocessor(batch(False), False), mode="predict")[0].pred_instances
    model.train()
    losses = model(**model.data_preprocessor(batch(True), True), mode="loss")
    total, log_vars = model.parse_losses(losses)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    report["models"][name] = {
        "detections": len(pred),
        "finite_predictions": bool(torch.isfinite(pred.bboxes).all() and torch.isfinite(pred.scores).all()),
        "max_same_class_iou": max_same_class_iou(pred.bboxes, pred.labels),
        "losses": {k: float(v) for k, v in log_vars.items()},
        "finite_gradients": all(bool(torch.isfinite(p.grad).all())
                                for p in model.parameters() if p.grad is not None),
    }
print("REPORT " + json.dumps(report))
'''

REPLACEMENTS = {
    "mmcv.ops.nms": "npatch.library.mmcv_lite.nms",
    "mmcv.ops.nms:nms": "npatch.library.mmcv_lite.nms",
    "mmcv.ops.soft_nms": "npatch.library.mmcv_lite.soft_nms",
    "mmcv.ops.roi_align": "npatch.library.mmcv_lite.roi_align",
    "mmcv.ops.sigmoid_focal_loss": "npatch.library.mmcv_lite.focal_loss",
    "MultiScaleDeformableAttnFunction": "npatch.library.mmcv_lite.msda",
}


def read_report(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, stdout
    return json.loads(lines[-1][len("REPORT "):])


def test_detectors_predict_and_train_under_npatch_apply(tmp_path: Path) -> None:
    script = tmp_path / "detect.py"
    script.write_text(DETECTION_SCRIPT)
    proc = run_npatch("apply", "mmcv-lite", "--", sys.executable, str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = read_report(proc.stdout)

    assert report["mmcv_version"] == "2.2.0"  # lifted only while mmdet imported
    assert report["ops"] == REPLACEMENTS
    assert report["batched_nms_matches"] and report["batched_nms_sorted"] and report["batched_soft_nms"]
    assert report["RoIAlign_module"] and report["SigmoidFocalLoss_module"]
    assert report["msda_matches_mmcv_pytorch"] and report["msda_module_shape"] == [1, 10, 32]
    assert report["unreplaced_op"].startswith("NpatchStubError: mmcv._ext.box_iou_rotated is not available")
    assert "mmcv-lite" in report["unreplaced_op"]

    for name, model in report["models"].items():
        assert 0 < model["detections"] <= 100, (name, model)
        assert model["finite_predictions"], name
        assert model["max_same_class_iou"] <= 0.5 + 1e-6, (name, model)  # NMS ran
        assert model["losses"] and all(map(_finite, model["losses"].values())), (name, model)
        assert model["finite_gradients"], name
    assert {"loss_cls", "loss_bbox"} <= set(report["models"]["retinanet"]["losses"])
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox"} <= set(report["models"]["faster_rcnn"]["losses"])


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def test_without_the_manifest_mmdet_and_mmcv_ops_fail() -> None:
    """The failures the manifest exists for: the acceptance test above can fail."""
    proc = run_python("""
        for name in ("mmdet", "mmcv.ops"):
            try:
                __import__(name)
                print(name, "imported")
            except Exception as exc:
                print(name, type(exc).__name__, exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "mmdet AssertionError MMCV==2.2.0 is used but incompatible" in proc.stdout
    assert "mmcv.ops ModuleNotFoundError No module named 'mmcv._ext'" in proc.stdout


def test_python_api_with_mmcv_imported_first_and_what_the_block_restores() -> None:
    """mmcv already imported when the plan starts: the version lift still
    applies while mmdet imports; after the block mmcv's own modules get their
    functions and version back and the stub leaves sys.modules."""
    proc = run_python("""
        import json, sys
        import mmcv, torch
        import npatch

        out = {}
        with npatch.load("mmcv-lite").apply():
            import mmdet
            import mmcv.ops
            out["inside_version"] = mmcv.__version__
            out["mmdet_saw"] = str(mmdet.mmcv_version)
            dets, inds = mmcv.ops.nms(torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]]),
                                      torch.tensor([0.9, 0.8]), 0.5)
            out["nms"] = inds.tolist()
            out["stub_loaded"] = "mmcv._ext" in sys.modules
        out["after_version"] = mmcv.__version__
        out["after_nms_module"] = sys.modules["mmcv.ops.nms"].nms.__module__
        out["after_roi_align_module"] = sys.modules["mmcv.ops.roi_align"].roi_align.__module__
        out["after_msda"] = sys.modules["mmcv.ops.multi_scale_deform_attn"].MultiScaleDeformableAttnFunction.__module__
        out["after_stub_loaded"] = "mmcv._ext" in sys.modules
        print("REPORT " + json.dumps(out))
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = read_report(proc.stdout)
    assert out["inside_version"] == "2.2.0" and out["mmdet_saw"] == "(2, 1, 0, 0, 0, 0)"
    assert out["nms"] == [0] and out["stub_loaded"]
    assert out["after_version"] == "2.2.0"
    assert out["after_nms_module"] == "mmcv.ops.nms"
    assert out["after_roi_align_module"] == "torch.autograd.function"
    assert out["after_msda"] == "mmcv.ops.multi_scale_deform_attn"
    assert not out["after_stub_loaded"]
