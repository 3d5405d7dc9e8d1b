"""Spiking VGG with BatchNorm (the SLTT / CLIF / ILIF network for DVS data), time-major.

``[T, B, H, W, C_in] -> [T, B, num_classes]`` (channels last). Source:
``models/spiking_vgg_bn.py`` of the SLTT code (github.com/qymeng94/SLTT, identical in the CLIF
code github.com/HuuYuLong/Complementary-LIF that ILIF builds on), ``spiking_vgg11_bn``, as their
``train.py`` runs it on DVS-CIFAR10 (``-T 10 -drop_rate 0.3``) and DVS-Gesture
(``-T 20 -drop_rate 0.4``):

* ``cfg['VGG11'] = [[64, 'M'], [128, 'M'], [256, 256, 'M'], [512, 512, 'M'], [512, 512, 'M']]``;
* a number c: ``Conv2d(c_prev, c, 3, padding=1, bias=True) -> BatchNorm2d(c) -> neuron ->
  Dropout(drop_rate)`` (spikingjelly's ``layer.Dropout``: one mask for all time steps);
* ``'M'``: ``AvgPool2d(2, 2)`` (average, not max pooling; floor for odd sizes);
* head: ``AdaptiveAvgPool2d((7, 7)) -> Flatten -> Linear(512·7·7, num_classes)`` — no neuron,
  no dropout, no hidden FC layer;
* ``c_in = 2`` (ON/OFF polarity frames); DVS-CIFAR10 frames are resized to 48×48
  (``Resize(48)``), so the features end at 1×1 (48 → 24 → 12 → 6 → 3 → 1) and the adaptive pool
  replicates them to 7×7; DVS-Gesture frames stay 128×128 (ends at 4×4, pooled to 7×7 with
  overlapping windows, exactly as PyTorch). The input must be at least 32×32.
* initialisation: conv kernels Kaiming-normal (fan_out, ReLU gain), conv biases 0, BN γ = 1,
  β = 0, the Linear weight ``N(0, 0.01²)`` and its bias 0.

Readings where the source is silent or differs from this library: the source runs one time
step at a time (online training), so its BatchNorm normalises each step with that step's
statistics — here :class:`~snnjax.nn.StepBatchNorm` (PyTorch's momentum 0.1, ε = 1e-5); the
features are flattened in ``H, W, C`` order (channels last) rather than ``C, H, W`` (a
permutation of the Linear's rows, same parameter count); the logits are per step (the source
sums them over steps in its loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import nn
from snnjax.models import _common as C
from snnjax.models.neurons import NeuronFactory, NeuronSpec, make_neuron

__all__ = ["VGG11", "ConvBNNeuron", "SpikingVGG", "spiking_vgg11", "vgg11"]

VGG11: tuple[tuple[int | str, ...], ...] = (
    (64, "M"),
    (128, "M"),
    (256, 256, "M"),
    (512, 512, "M"),
    (512, 512, "M"),
)
"""The SLTT / CLIF code's ``cfg['VGG11']``: stages of conv widths, ``"M"`` = AvgPool2d(2, 2)."""


class ConvBNNeuron(nnx.Module):
    """``conv3×3 (bias) -> BN -> neuron -> dropout`` (mask shared over T)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        neuron: NeuronFactory,
        dropout: float,
        rngs: nnx.Rngs,
        dtype: Any = None,
    ):
        self.conv = C.conv(c_in, c_out, 3, 1, bias=True, bias_init=C.ZEROS, rngs=rngs, dtype=dtype)
        self.bn = nn.StepBatchNorm(c_out)
        self.neuron = neuron()
        self.dropout = nnx.Dropout(dropout, broadcast_dims=(0,), rngs=rngs)

    def __call__(self, xs: jax.Array, spikes: list | None = None) -> jax.Array:
        s = C.fire(self.neuron, self.bn(self.conv(xs)))
        if spikes is not None:
            spikes.append(s)
        return self.dropout(s)


class SpikingVGG(nnx.Module):
    """Spiking VGG-BN: conv units and average pools, then ``AdaptiveAvgPool -> Linear``.

    Args:
      cfg: stages of conv widths and ``"M"`` (AvgPool2d(2, 2)), e.g. :data:`VGG11`.
      num_classes: outputs (10 for DVS-CIFAR10, 11 for DVS-Gesture).
      neuron: a name of :data:`snnjax.models.NEURON_NAMES` or a factory of neuron modules
        (see :func:`snnjax.models.make_neuron`); called once per conv unit.
      dropout: dropout rate after every neuron (masks shared over T; SLTT: 0.3 for
        DVS-CIFAR10, 0.4 for DVS-Gesture).
      in_channels: input channels (2: ON/OFF polarities).
      pool_size: the head's ``AdaptiveAvgPool2d`` output ``(h, w)`` (source: ``(7, 7)``).
      dtype: compute dtype of the convolutions and the Linear (e.g. ``jnp.bfloat16``; None:
        float32). Parameters stay float32; BatchNorm statistics and the neurons' state are
        computed in float32; the logits are returned in float32.
      rngs: ``nnx.Rngs`` (parameters, and the ``dropout`` stream in training).

    ``__call__(xs, return_spikes=False)``: ``[T, B, H, W, in_channels] -> [T, B, num_classes]``;
    with ``return_spikes`` also the list of every neuron layer's output ``[T, B, h, w, c]``.
    """

    def __init__(
        self,
        cfg: Sequence[Sequence[int | str]],
        num_classes: int,
        *,
        neuron: NeuronSpec,
        dropout: float = 0.0,
        in_channels: int = 2,
        pool_size: tuple[int, int] = (7, 7),
        dtype: Any = None,
        rngs: nnx.Rngs,
    ):
        plan = tuple(x for stage in cfg for x in stage)
        if (
            not plan
            or not all(x == "M" or (isinstance(x, int) and not isinstance(x, bool) and x >= 1) for x in plan)
            or not any(x != "M" for x in plan)
        ):
            raise ValueError(f"cfg must be stages of positive conv widths and 'M', got {cfg!r}")
        neuron = make_neuron(neuron)
        C.check_sizes(num_classes=num_classes, in_channels=in_channels)
        C.check_dropout(dropout)
        C.check_widths("pool_size", pool_size)
        self.in_channels = in_channels
        self.plan = plan
        self.pool_size = tuple(pool_size)
        units, c = [], in_channels
        for x in plan:
            if x != "M":
                units.append(ConvBNNeuron(c, x, neuron=neuron, dropout=dropout, rngs=rngs, dtype=dtype))
                c = x
        self.units = nnx.List(units)
        self.num_pools = plan.count("M")
        self.classifier = C.linear(
            c * pool_size[0] * pool_size[1],
            num_classes,
            bias=True,
            kernel_init=nnx.initializers.normal(0.01),
            bias_init=C.ZEROS,
            rngs=rngs,
            dtype=dtype,
        )

    def __call__(self, xs: jax.Array, *, return_spikes: bool = False):
        xs = C.check_input(xs, self.in_channels)
        need = 2**self.num_pools
        if xs.shape[2] < need or xs.shape[3] < need:
            raise ValueError(
                f"xs must be at least {need}×{need} for {self.num_pools} 2×2 pools, got {xs.shape[2]}×{xs.shape[3]}"
            )
        spikes: list = []
        out, units = xs, iter(self.units)
        for x in self.plan:
            out = C.avg_pool(out, 2) if x == "M" else next(units)(out, spikes)
        out = C.adaptive_avg_pool(out, self.pool_size)
        logits = self.classifier(out.reshape(out.shape[:2] + (-1,))).astype(jnp.float32)
        return (logits, spikes) if return_spikes else logits


def spiking_vgg11(
    num_classes: int = 10,
    *,
    neuron: NeuronSpec = "ilif",
    dropout: float = 0.3,
    in_channels: int = 2,
    rngs: nnx.Rngs,
    **kwargs,
) -> SpikingVGG:
    """The SLTT / CLIF / ILIF DVS network: ``SpikingVGG(VGG11, ...)``, ILIF neurons, dropout 0.3
    (DVS-CIFAR10; use 0.4 and ``num_classes=11`` for DVS-Gesture, and for ILIF there
    ``neuron=make_neuron("ilif", lambda_i=0.05)``)."""
    return SpikingVGG(
        VGG11,
        num_classes,
        neuron=neuron,
        dropout=dropout,
        in_channels=in_channels,
        rngs=rngs,
        **kwargs,
    )


vgg11 = spiking_vgg11
"""Alias of :func:`spiking_vgg11`."""
