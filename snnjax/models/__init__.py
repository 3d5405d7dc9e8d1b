"""Network architectures built from :mod:`snnjax.nn`."""

from snnjax.models.mlp import SpikingMLP, spytorch_weight_scale
from snnjax.models.resnet import PreActBlock, PreActResNet, preact_resnet18

__all__ = ["SpikingMLP", "spytorch_weight_scale", "PreActBlock", "PreActResNet", "preact_resnet18"]
