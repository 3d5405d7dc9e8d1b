"""Network architectures built from :mod:`snnjax.nn`."""

from snnjax.models.mlp import SpikingMLP, spytorch_weight_scale

__all__ = ["SpikingMLP", "spytorch_weight_scale"]
