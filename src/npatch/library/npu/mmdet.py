"""mmdet's ResNet with mx_driving's fused NPU ops (DrivingSDK ``ResNetAddRelu``, ``ResNetMaxPool``).

The forward methods of ``BasicBlock``, ``Bottleneck`` and ``ResNet`` in
``mmdet.models.backbones.resnet`` (mmdet 2.x and 3.x), with the residual
``out += identity; relu(out)`` done by ``mx_driving.npu_add_relu`` and, in
inference, the stem max-pool by ``mx_driving.npu_max_pool2d(x, 3, 2, 1)``.

Each public forward delegates to a private one that takes the fused op as
an argument, so the bodies can be checked on a CPU against mmdet's own
forward with reference ops (``relu(a + b)``, ``F.max_pool2d``).  The public
ones need mx_driving, hence an Ascend NPU.
"""
from __future__ import annotations

from typing import Any, Callable


def _mx(name: str) -> Callable:
    import mx_driving

    return getattr(mx_driving, name)


def _checkpointed(self: Any, inner: Callable, x: Any) -> Any:
    if self.with_cp and x.requires_grad:
        import torch.utils.checkpoint as cp

        return cp.checkpoint(inner, x)
    return inner(x)


def _basic_block_forward(self: Any, x: Any, add_relu: Callable) -> Any:
    def inner(x: Any) -> Any:
        identity = x
        out = self.conv1(x)
        out = self.norm1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.norm2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        return add_relu(out, identity)

    return _checkpointed(self, inner, x)


def _bottleneck_forward(self: Any, x: Any, add_relu: Callable) -> Any:
    def inner(x: Any) -> Any:
        identity = x
        out = self.conv1(x)
        out = self.norm1(out)
        out = self.relu(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
        out = self.conv2(out)
        out = self.norm2(out)
        out = self.relu(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
        out = self.conv3(out)
        out = self.norm3(out)
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv3_plugin_names)
        if self.downsample is not None:
            identity = self.downsample(x)
        return add_relu(out, identity)

    return _checkpointed(self, inner, x)


def _resnet_forward(self: Any, x: Any, max_pool2d: Callable) -> tuple:
    if self.deep_stem:
        x = self.stem(x)
    else:
        x = self.conv1(x)
        x = self.norm1(x)
        x = self.relu(x)
    # the fused max-pool has no backward: training keeps the module
    x = self.maxpool(x) if x.requires_grad else max_pool2d(x, 3, 2, 1)
    outs = []
    for i, layer_name in enumerate(self.res_layers):
        x = getattr(self, layer_name)(x)
        if i in self.out_indices:
            outs.append(x)
    return tuple(outs)


def basic_block_forward(self: Any, x: Any) -> Any:
    """``BasicBlock.forward`` with ``npu_add_relu``."""
    return _basic_block_forward(self, x, _mx("npu_add_relu"))


def bottleneck_forward(self: Any, x: Any) -> Any:
    """``Bottleneck.forward`` with ``npu_add_relu``."""
    return _bottleneck_forward(self, x, _mx("npu_add_relu"))


def resnet_forward(self: Any, x: Any) -> tuple:
    """``ResNet.forward`` with ``npu_max_pool2d`` in inference."""
    return _resnet_forward(self, x, _mx("npu_max_pool2d"))


__all__ = ["basic_block_forward", "bottleneck_forward", "resnet_forward"]
