"""Detectors with deformable convolutions under ``mmcv-lite``: mmdet 3.3.0's own
DCN (v1, ``faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py``) and DCNv2
(``faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py``) configs, read with
``Config.fromfile`` with only the pretrained weights turned off (ResNet-50,
random init: mmdet's BasicBlock has no DCN), predict on a random image and train one step with finite losses
and gradients, in a child run by ``npatch apply mmcv-lite``.  Without the
manifest's replacements the DCN layers raise the stub's error."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from npatch_testutil import clean_env, run_npatch

CONFIGS = Path(importlib.util.find_spec("mmdet").origin).parent / ".mim" / "configs"

SCRIPT = r'''
import json, math, sys
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
import mmcv.ops

register_all_modules()
torch.manual_seed(0)
report = {"deform_conv2d": sys.modules["mmcv.ops.deform_conv"].deform_conv2d.__module__,
          "modulated_deform_conv2d": sys.modules["mmcv.ops.modulated_deform_conv"].modulated_deform_conv2d.__module__}


def batch(with_gt):
    image = torch.randint(0, 256, (3, 128, 160), dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(img_id=0, img_shape=(128, 160), ori_shape=(128, 160), scale_factor=(1.0, 1.0)))
    if with_gt:
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 20.0, 90.0, 100.0], [60.0, 30.0, 150.0, 120.0]]),
                                           labels=torch.tensor([0, 2]))
    return dict(inputs=[image], data_samples=[sample])


for path in sys.argv[1:]:
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None  # no download of ImageNet weights
    model = MODELS.build(cfg.model)
    dcn_layers = [m for m in model.modules() if type(m).__name__ in ("DeformConv2dPack", "ModulatedDeformConv2dPack")]
    model.eval()
    with torch.no_grad():
        pred = model(**model.data_preprocessor(batch(False), False), mode="predict")[0].pred_instances
    model.train()
    losses = model(**model.data_preprocessor(batch(True), True), mode="loss")
    total, log_vars = model.parse_losses(losses)
    total.backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    offsets = [m.conv_offset.weight.grad for m in dcn_layers]
    report[path.rsplit("/", 1)[-1]] = {
        "dcn_layers": len(dcn_layers), "kinds": sorted({type(m).__name__ for m in dcn_layers}),
        "finite_predictions": bool(torch.isfinite(pred.bboxes).all()),
        "finite_losses": all(math.isfinite(v) for v in log_vars.values()),
        "offset_gradients": all(g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0 for g in offsets),
    }
print("REPORT " + json.dumps(report))
'''


def test_dcn_detectors_predict_and_train_one_step(tmp_path):
    script = tmp_path / "dcn.py"
    script.write_text(SCRIPT)
    configs = [str(CONFIGS / "dcn" / "faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py"),
               str(CONFIGS / "dcnv2" / "faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py")]
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    proc = run_npatch("apply", "mmcv-lite", "--", sys.executable, str(script), *configs, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads([line for line in proc.stdout.splitlines() if line.startswith("REPORT ")][-1][7:])
    assert report["deform_conv2d"] == report["modulated_deform_conv2d"] == "npatch.library.mmcv_lite.deform_conv"
    v1, v2 = report["faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py"], report["faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py"]
    assert v1["kinds"] == ["DeformConv2dPack"] and v2["kinds"] == ["ModulatedDeformConv2dPack"]
    for result in (v1, v2):
        assert result["dcn_layers"] == 13  # ResNet-50's Bottlenecks in stages c3-c5: 4 + 6 + 3
        assert result["finite_predictions"] and result["finite_losses"] and result["offset_gradients"], result

    stubbed = run_npatch("apply", "--disable", "deform_conv2d", "--disable", "modulated_deform_conv2d", "mmcv-lite", "--",
                         sys.executable, str(script), configs[0], env=env, timeout=1200)
    assert stubbed.returncode != 0 and "mmcv._ext.deform_conv_forward is not available" in stubbed.stderr
