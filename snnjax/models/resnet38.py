"""Spiking ResNet-38 (the S-ResNet POLARA's CIFAR results use), time-major.

``[T, B, H, W, C_in] -> [T, B, num_classes]`` (channels last).

Which network. POLARA (Lai & Cao) "integrates POLARA with a ResNet-38 backbone (Liu et al.
2021)" and cites "Spiking ResNet: Deep Spiking Neural Network with Residual Connections,
arXiv:2102.04159"; that arXiv number is Fang et al.'s SEW-ResNet paper, which has no 38-layer
CIFAR network. POLARA's CIFAR protocol — T = 50, 70 epochs, lr 0.0628, a surrogate
``0.3·1[|Δ| < 1]`` (Eq. 17) — matches the S-ResNet of Vicente-Sola et al. 2022, "Keys to
accurate feature extraction using residual spiking neural networks" (github.com/VicenteAlex/
Spiking_ResNet, ``model.py``, class ``SResnet``): its ``train.py`` defaults are T = 50, 70 epochs,
lr 0.0268, and its surrogate is ``0.3·max(0, 1 - |v|)``; its default depth ``n = 6`` gives
1 + 3·2·6 = 37 convolutions + 1 FC = 38 layers (the 6n + 2 CIFAR ResNet of He et al.).
This module is that network, with the code's default width ``nFilters = 32``
(widths 32 / 64 / 128; ``width=16`` gives He et al.'s 16 / 32 / 64):

* stem: ``conv3×3(3 → w, no bias) -> BN -> neuron``;
* 3 stages of ``n`` blocks with w, 2w, 4w channels (the first block of stages 2 and 3 has
  stride 2); a block: ``s1 = neuron(BN(conv3×3(x)))``, ``s2 = neuron(BN(conv3×3(s1)))``,
  output ``s2 + shortcut(x)`` — the shortcut is added *after* the second neuron (spikes plus
  the block's input, so block outputs are not binary), the identity, or ``BN(conv1×1(x,
  stride 2))`` (no bias) where the width changes;
* head: ``AdaptiveAvgPool2d(1)`` of the last block's output -> ``Linear(4w, classes, no
  bias)``; the source's output is the mean over time of these per-step logits;
* no dropout in the source (``dropout`` here, default 0, before the Linear, one mask for all
  steps);
* initialisation: conv and Linear weights ``xavier_uniform_(gain=2)``
  (``U(±2·sqrt(6 / (fan_in + fan_out)))``); BN γ = 1, β = 0 (the source's attempt to drop
  the BN biases sets an attribute of the ``ModuleList``, not of the BNs, so they keep them);
  BN ε = 1e-4, momentum 0.1.

Readings where this library departs from the source: the source's BNTT keeps a separate
BatchNorm (γ, β, running statistics) per time step; here one
:class:`~snnjax.nn.StepBatchNorm` per layer normalises each step with its own statistics and
shares γ, β over steps (T times fewer BN parameters); the source's neuron is a soft-reset LIF
(leak 0.874, V_th = 1, spike at ``>``) — any neuron plugs in, default POLARA (``grad="mask"``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import nn
from snnjax.models import _common as C
from snnjax.models.neurons import NeuronFactory, NeuronSpec, make_neuron

__all__ = ["SResBlock", "SResNet", "resnet38"]

_BN_EPS = 1e-4


def _conv(c_in, c_out, k, stride, rngs, dtype):
    return C.conv(c_in, c_out, k, stride, bias=False, kernel_init=C.XAVIER_GAIN2, rngs=rngs, dtype=dtype)


def _bn(c):
    return nn.StepBatchNorm(c, epsilon=_BN_EPS)


class SResBlock(nnx.Module):
    """``neuron(BN(conv3×3(x)))`` -> ``neuron(BN(conv3×3))``, plus shortcut(x) added after the
    neuron."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        *,
        neuron: NeuronFactory,
        rngs: nnx.Rngs,
        dtype: Any = None,
    ):
        self.conv1 = _conv(c_in, c_out, 3, stride, rngs, dtype)
        self.bn1 = _bn(c_out)
        self.neuron1 = neuron()
        self.conv2 = _conv(c_out, c_out, 3, 1, rngs, dtype)
        self.bn2 = _bn(c_out)
        self.neuron2 = neuron()
        if stride != 1 or c_in != c_out:
            self.short_conv = _conv(c_in, c_out, 1, stride, rngs, dtype)
            self.short_bn = _bn(c_out)
        else:
            self.short_conv = self.short_bn = None

    def __call__(self, xs: jax.Array, spikes: list | None = None) -> jax.Array:
        s1 = C.fire(self.neuron1, self.bn1(self.conv1(xs)))
        s2 = C.fire(self.neuron2, self.bn2(self.conv2(s1)))
        if spikes is not None:
            spikes += [s1, s2]
        return s2 + (xs if self.short_conv is None else self.short_bn(self.short_conv(xs)))


class SResNet(nnx.Module):
    """The 6n + 2 spiking CIFAR ResNet of Vicente-Sola et al. (S-ResNet).

    Args:
      n: blocks per stage (ResNet-38: 6; depth 6n + 2).
      num_classes: outputs.
      neuron: a name of :data:`snnjax.models.NEURON_NAMES` or a factory of neuron modules
        (see :func:`snnjax.models.make_neuron`); default ``"polara"``.
      width: channels of the stem and the first stage (source ``nFilters``, 32); the stages
        have ``width``, ``2·width``, ``4·width``.
      dropout: dropout before the Linear (masks shared over T; not in the source).
      in_channels: input channels (3 for CIFAR).
      dtype: compute dtype of the convolutions and the Linear (e.g. ``jnp.bfloat16``; None:
        float32). Parameters stay float32; BatchNorm statistics and the neurons' state are
        computed in float32; the logits are returned in float32.
      remat: rematerialise every residual block in the backward pass (``nnx.remat``): same
        values and gradients; see :mod:`snnjax.models` ("Memory at long T") for what it saves
        where, and for the neurons' ``checkpoint_every``.
      rngs: ``nnx.Rngs`` (parameters, and the ``dropout`` stream in training).

    ``__call__(xs, return_spikes=False)``: ``[T, B, H, W, in_channels] -> [T, B, num_classes]``
    (the source's prediction is ``logits.mean(0)``); with ``return_spikes`` also the list of
    every neuron layer's output (stem, then two per block).
    """

    def __init__(
        self,
        n: int,
        num_classes: int,
        *,
        neuron: NeuronSpec = "polara",
        width: int = 32,
        dropout: float = 0.0,
        in_channels: int = 3,
        dtype: Any = None,
        remat: bool = False,
        rngs: nnx.Rngs,
    ):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n (blocks per stage) must be a positive int, got {n!r}")
        C.check_widths("width", (width,))
        neuron = make_neuron(neuron)
        C.check_sizes(num_classes=num_classes, in_channels=in_channels)
        C.check_dropout(dropout)
        self.in_channels = in_channels
        self.remat = bool(remat)
        self.stem = _conv(in_channels, width, 3, 1, rngs, dtype)
        self.stem_bn = _bn(width)
        self.stem_neuron = neuron()
        blocks, c = [], width
        for i in range(3):
            w = width * 2**i
            for j in range(n):
                blocks.append(SResBlock(c, w, 2 if (i > 0 and j == 0) else 1, neuron=neuron, rngs=rngs, dtype=dtype))
                c = w
        self.blocks = nnx.List(blocks)
        self.dropout = nnx.Dropout(dropout, broadcast_dims=(0,), rngs=rngs)
        self.fc = C.linear(c, num_classes, bias=False, kernel_init=C.XAVIER_GAIN2, rngs=rngs, dtype=dtype)

    def __call__(self, xs: jax.Array, *, return_spikes: bool = False):
        xs = C.check_input(xs, self.in_channels)
        out = C.fire(self.stem_neuron, self.stem_bn(self.stem(xs)))
        spikes: list = [out]
        out = C.run_blocks(self.blocks, out, spikes, remat=self.remat)
        feats = self.dropout(jnp.mean(out, axis=(2, 3)))  # AdaptiveAvgPool2d(1) + flatten: [T, B, C]
        logits = self.fc(feats).astype(jnp.float32)
        return (logits, spikes) if return_spikes else logits


def resnet38(
    num_classes: int = 10,
    *,
    neuron: NeuronSpec = "polara",
    width: int = 32,
    rngs: nnx.Rngs,
    **kwargs,
) -> SResNet:
    """POLARA's CIFAR backbone: ``SResNet(6, ...)`` (37 convs + 1 FC), widths 32/64/128, POLARA
    neurons."""
    return SResNet(6, num_classes, neuron=neuron, width=width, rngs=rngs, **kwargs)
