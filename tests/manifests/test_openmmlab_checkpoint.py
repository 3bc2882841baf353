"""OpenMMLab checkpoint round trips under torch >= 2.6 (``weights_only=True`` by default).

The real programs: mmdet 3.3.0's own ``tools/train.py`` and ``tools/test.py``
(shipped in the installed wheel as ``mmdet/.mim/tools``) with its own
``retinanet_r18_fpn_1x_coco.py`` config, shrunk only with ``--cfg-options``,
on a COCO-format dataset of random images made in ``tmp_path``:
train one epoch (writes ``epoch_1.pth``), ``test.py`` on it, ``--resume``
to a second epoch, ``init_detector(cfg, epoch_2.pth)`` and a prediction.
All under ``npatch apply mmcv-lite`` (which includes ``openmmlab-checkpoint``).

Then the allow-list itself, in fresh interpreters: it holds only while
mmengine loads, never outside, and refuses what mmengine does not save.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

MMDET = Path(importlib.util.find_spec("mmdet").origin).parent / ".mim"  # found, not imported
CONFIG = MMDET / "configs" / "retinanet" / "retinanet_r18_fpn_1x_coco.py"

MAKE_COCO = r'''
import json, os, sys
import numpy as np, cv2
root = sys.argv[1]
rng = np.random.default_rng(0)
cats = [{"id": i + 1, "name": n} for i, n in enumerate(["person", "bicycle", "car"])]
for split, count in (("train2017", 2), ("val2017", 1)):
    os.makedirs(f"{root}/{split}", exist_ok=True)
    images, anns = [], []
    for i in range(count):
        name = f"{i:06d}.jpg"
        cv2.imwrite(f"{root}/{split}/{name}", rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
        images.append({"id": i + 1, "file_name": name, "width": 96, "height": 64})
        for k in range(2):
            x, y, w, h = (float(v) for v in (rng.integers(0, 40), rng.integers(0, 20), rng.integers(16, 50), rng.integers(16, 40)))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(rng.integers(1, 4)),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    os.makedirs(f"{root}/annotations", exist_ok=True)
    with open(f"{root}/annotations/instances_{split}.json", "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
'''

LOADERS = [f"{split}_dataloader.{key}" for split in ("train", "val", "test")
           for key in ("num_workers=0", "persistent_workers=False")]
SMALL = ["model.backbone.init_cfg=None",  # no download of ImageNet weights
         "train_dataloader.dataset.pipeline.2.scale=(96,64)", "val_dataloader.dataset.pipeline.1.scale=(96,64)",
         "test_dataloader.dataset.pipeline.1.scale=(96,64)", "train_cfg.val_interval=10", "default_hooks.logger.interval=1",
         *LOADERS]

INFER = r'''
import json, sys
import numpy as np
from mmdet.apis import inference_detector, init_detector
model = init_detector(sys.argv[1], sys.argv[2], device="cpu", cfg_options={"model.backbone.init_cfg": None})
result = inference_detector(model, np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8))
print(json.dumps({"boxes": list(result.pred_instances.bboxes.shape)[1:]}))
'''


def tool(name: str, *args: str, cwd: Path, env: dict, disable: tuple[str, ...] = ()):
    flags = [item for op in disable for item in ("--disable", op)]
    return run_npatch("apply", *flags, "mmcv-lite", "--", sys.executable, str(MMDET / "tools" / f"{name}.py"), str(CONFIG),
                      *args, cwd=cwd, env=env, timeout=1200)


@pytest.mark.slow
def test_train_test_resume_and_init_detector_round_trip(tmp_path):
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    made = run_python(MAKE_COCO, str(tmp_path / "data" / "coco"), env=env)
    assert made.returncode == 0, made.stderr

    train = tool("train", "--work-dir", "work", "--cfg-options", "train_cfg.max_epochs=1", *SMALL, cwd=tmp_path, env=env)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "work" / "epoch_1.pth").is_file()

    test = tool("test", "work/epoch_1.pth", "--work-dir", "work_test", "--cfg-options", *SMALL, cwd=tmp_path, env=env)
    assert test.returncode == 0, test.stderr[-3000:]
    assert "Loads checkpoint by local backend from path: work/epoch_1.pth" in test.stdout + test.stderr

    resume = tool("train", "--work-dir", "work", "--resume", "--cfg-options", "train_cfg.max_epochs=2", *SMALL,
                  cwd=tmp_path, env=env)
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert "resumed epoch: 1" in resume.stdout + resume.stderr
    assert (tmp_path / "work" / "epoch_2.pth").is_file()

    script = tmp_path / "infer.py"
    script.write_text(INFER)
    infer = run_npatch("apply", "mmcv-lite", "--", sys.executable, str(script), str(CONFIG), "work/epoch_2.pth",
                       cwd=tmp_path, env=env, timeout=600)
    assert infer.returncode == 0, infer.stderr[-3000:]
    assert json.loads(infer.stdout.strip().splitlines()[-1])["boxes"] == [4]

    # the same test.py with the allow-list disabled fails as users see it without npatch
    refused = tool("test", "work/epoch_1.pth", "--work-dir", "work_test2", "--cfg-options", *SMALL, cwd=tmp_path,
                   env=env, disable=("mmengine-load-checkpoint",))
    assert refused.returncode != 0
    assert "Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer" in refused.stderr


SCOPE = r'''
import json, pickle, sys
import torch
import npatch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

hub = MessageHub.get_instance("probe")
hub.update_scalar("train/lr", 0.01)
hub.update_scalar("train/loss", torch.tensor(1.5))
model = torch.nn.Linear(2, 2)
torch.save({"meta": {"epoch": 1, "seed": 0}, "message_hub": hub.state_dict(), "state_dict": model.state_dict()},
           sys.argv[1])


class Probe:  # getattr on HistoryBuffer beyond its statistics methods
    def __reduce__(self):
        return (getattr, (HistoryBuffer, "__class__"))


torch.save({"x": Probe()}, sys.argv[2])
mine = (torch.nn.Linear, "torch.nn.modules.linear.Linear")
torch.serialization.add_safe_globals([mine])

out = {}
with npatch.load("mmcv-lite").apply():
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
    from mmengine.runner import runner
    before = [str(g) for g in torch.serialization.get_safe_globals()]
    state = _load_checkpoint(sys.argv[1])
    out["loaded"] = isinstance(state["message_hub"]["log_scalars"]["train/lr"], HistoryBuffer)
    out["min"] = float(state["message_hub"]["log_scalars"]["train/lr"].min())
    load_checkpoint(torch.nn.Linear(2, 2), sys.argv[1])
    out["runner_copy_wrapped"] = runner._load_checkpoint is _load_checkpoint
    after = [str(g) for g in torch.serialization.get_safe_globals()]
    out["globals_kept"] = sorted(after) == sorted(before) and str(mine) in after
    for name, path in (("plain_torch_load", sys.argv[1]), ("probe", sys.argv[2])):
        try:
            (torch.load if name == "plain_torch_load" else _load_checkpoint)(path)
            out[name] = "loaded"
        except pickle.UnpicklingError as exc:
            out[name] = str(exc)
print(json.dumps(out))
'''


def test_allow_list_is_scoped_and_refuses_what_mmengine_does_not_save(tmp_path):
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_python(SCOPE, str(tmp_path / "ok.pth"), str(tmp_path / "probe.pth"), env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["loaded"] and out["min"] == 0.01 and out["runner_copy_wrapped"]
    assert out["globals_kept"]  # nothing left behind, the user's own entry still there
    assert "Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer" in out["plain_torch_load"]
    assert "only HistoryBuffer's statistics methods are allowed" in out["probe"]


@pytest.mark.parametrize("manifest, op", [("mmcv-lite", "mmengine-load-checkpoint"), ("mmcv-npu", "mmengine-load-checkpoint"),
                                          ("mmcv-npu-v1", "mmcv1-load-checkpoint")])
def test_in_the_manifests_that_load_openmmlab_checkpoints(manifest, op):
    proc = run_npatch("show", manifest)
    assert proc.returncode == 0, proc.stderr
    assert op in proc.stdout
