"""nuScenes box conversion (DrivingSDK ``NuScenesDataset`` and ``NuScenesMetric``).

Both turn a detection dict into ``nuscenes.utils.data_classes.Box`` objects
with the box convention of mmdet3d **before 1.0**: yaw ``-yaw - pi/2`` and
the box dims passed as they are.

* :func:`nusc_boxes_v0` replaces ``mmdet3d.datasets.nuscenes_dataset.
  output_to_nusc_box`` of mmdet3d 0.x.  It is that function plus a
  ``with_velocity`` argument (projects derived from mmdet3d 0.x call it with
  two arguments).
* :func:`nusc_boxes_metric` stands for ``mmdet3d.evaluation.metrics.
  nuscenes_metric.output_to_nusc_box`` of mmdet3d 1.x, but converts LiDAR
  boxes with the pre-1.0 convention, where mmdet3d 1.x swaps the first two
  dims and keeps the yaw.  Only right for models whose boxes still follow
  the old convention; the manifest leaves it off unless asked.

Plain numpy: no NPU needed, but pyquaternion and nuscenes-devkit are.
"""
from __future__ import annotations

from typing import Any


def nusc_boxes_v0(detection: dict, with_velocity: bool = True) -> list:
    """mmdet3d 0.x ``output_to_nusc_box`` with an optional ``with_velocity``."""
    import numpy as np
    import pyquaternion
    from nuscenes.utils.data_classes import Box

    box3d = detection["boxes_3d"]
    scores = detection["scores_3d"].numpy()
    labels = detection["labels_3d"].numpy()
    centers = box3d.gravity_center.numpy()
    dims = box3d.dims.numpy()
    yaws = -box3d.yaw.numpy() - np.pi / 2
    boxes = []
    for i in range(len(box3d)):
        quat = pyquaternion.Quaternion(axis=[0, 0, 1], radians=yaws[i])
        velocity = (*box3d.tensor[i, 7:9], 0.0) if with_velocity else (0, 0, 0)
        boxes.append(Box(centers[i], dims[i], quat, label=labels[i], score=scores[i], velocity=velocity))
    return boxes


def nusc_boxes_metric(detection: dict) -> tuple[list, Any]:
    """mmdet3d 1.x ``output_to_nusc_box`` signature, pre-1.0 LiDAR convention (see module doc)."""
    import numpy as np
    import pyquaternion
    from mmdet3d.structures import CameraInstance3DBoxes, LiDARInstance3DBoxes
    from nuscenes.utils.data_classes import Box

    bbox3d = detection["bboxes_3d"]
    scores = detection["scores_3d"].numpy()
    labels = detection["labels_3d"].numpy()
    attrs = detection["attr_labels"].numpy() if "attr_labels" in detection else None
    centers = bbox3d.gravity_center.numpy()
    dims = bbox3d.dims.numpy()
    yaws = bbox3d.yaw.numpy()
    boxes = []
    if isinstance(bbox3d, LiDARInstance3DBoxes):
        yaws = -yaws - np.pi / 2
        for i in range(len(bbox3d)):
            quat = pyquaternion.Quaternion(axis=[0, 0, 1], radians=yaws[i])
            velocity = (*bbox3d.tensor[i, 7:9], 0.0)
            boxes.append(Box(centers[i], dims[i], quat, label=labels[i], score=scores[i], velocity=velocity))
    elif isinstance(bbox3d, CameraInstance3DBoxes):
        cam_dims = dims[:, [2, 0, 1]]
        tilt = pyquaternion.Quaternion(axis=[1, 0, 0], radians=np.pi / 2)
        for i in range(len(bbox3d)):
            quat = tilt * pyquaternion.Quaternion(axis=[0, 0, 1], radians=-yaws[i])
            velocity = (bbox3d.tensor[i, 7], 0.0, bbox3d.tensor[i, 8])
            boxes.append(Box(centers[i], cam_dims[i], quat, label=labels[i], score=scores[i], velocity=velocity))
    else:
        raise NotImplementedError(f"Do not support convert {type(bbox3d)} bboxes")
    return boxes, attrs


__all__ = ["nusc_boxes_v0", "nusc_boxes_metric"]
