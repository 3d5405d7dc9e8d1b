"""Spiking ResNet-19 (tdBN / TET), the common SNN CIFAR ResNet, time-major.

``[T, B, H, W, C_in] -> [T, B, num_classes]`` (channels last). Defined by Zheng et al. 2021,
"Going Deeper With Directly-Trained Larger Spiking Neural Networks" (tdBN), Table: stages of
128 / 256 / 512 channels with 3 / 3 / 2 BasicBlocks, average pool, FC 256, FC classes. The layer
list here is that of the TET code (Deng et al. 2022, github.com/brain-intelligence-lab/
temporal_efficient_training, ``models/resnet_models.py``, ``resnet19``), the version whose
parameter count (12.63 M on CIFAR-10) the literature quotes:

* stem: ``conv3×3(3 → 64, stride 1, no bias) -> BN -> neuron`` — the code's ``self.inplanes = 64``
  (the tdBN paper's table has 128; ``stem_width=128`` gives that reading, 12.70 M);
* ``layer1``: 3 BasicBlocks of 128 (stride 1; the first has a 1×1 downsample 64 → 128),
  ``layer2``: 3 of 256 (the first stride 2), ``layer3``: 2 of 512 (the first stride 2);
* BasicBlock (post-activation): ``neuron(BN(conv3×3(x, stride)))`` -> ``BN(conv3×3)``, plus the
  identity or the downsample ``BN(conv1×1(x, stride))`` (no biases), then a neuron on the sum;
* head: ``AdaptiveAvgPool2d(1) -> flatten -> Linear(512, 256) -> neuron -> Linear(256, classes)``
  (both with bias), logits per step;
* initialisation: PyTorch's defaults (the code's ``zero_init_residual=False`` skips its
  Kaiming branch): conv and Linear weights ``U(±1/sqrt(fan_in))``, Linear biases
  ``U(±1/sqrt(fan_in))``, BN γ = 1, β = 0.

The TET neuron (``LIFSpike``: ``mem = 0.5·mem + x``, spike ``mem > 1``, hard reset, triangle
surrogate γ = 1) is ``make_neuron("lif", tau=2.0, reset="hard", surrogate="triangle")``, the
default here (this library spikes at ``>=``). Readings where this library departs from the
code: BatchNorm per time step (:class:`~snnjax.nn.StepBatchNorm`; TET's ``tdBatchNorm`` pools
statistics over T·B); each spiking site has its own neuron layer (the code reuses one
stateless ``LIFSpike`` per block); an optional dropout (default 0, not in the code) before
``fc1``, one mask for all time steps.
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

__all__ = ["BasicBlock", "SpikingResNet", "resnet19", "TET_LIF"]

TET_LIF = make_neuron("lif", tau=2.0, reset="hard", surrogate="triangle")
"""TET's ``LIFSpike``: λ = 1 - 1/τ = 0.5, V_th = 1, hard reset, triangle surrogate γ = 1."""


def _conv(c_in, c_out, k, stride, rngs, dtype):
    return C.conv(c_in, c_out, k, stride, bias=False, kernel_init=C.TORCH_DEFAULT, rngs=rngs, dtype=dtype)


class BasicBlock(nnx.Module):
    """``neuron(BN(conv3×3(x)))`` -> ``BN(conv3×3)`` + shortcut(x) -> neuron (post-activation)."""

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
        self.bn1 = nn.StepBatchNorm(c_out)
        self.neuron1 = neuron()
        self.conv2 = _conv(c_out, c_out, 3, 1, rngs, dtype)
        self.bn2 = nn.StepBatchNorm(c_out)
        if stride != 1 or c_in != c_out:
            self.down_conv = _conv(c_in, c_out, 1, stride, rngs, dtype)
            self.down_bn = nn.StepBatchNorm(c_out)
        else:
            self.down_conv = self.down_bn = None
        self.neuron2 = neuron()

    def __call__(self, xs: jax.Array, spikes: list | None = None) -> jax.Array:
        s1 = C.fire(self.neuron1, self.bn1(self.conv1(xs)))
        identity = xs if self.down_conv is None else self.down_bn(self.down_conv(xs))
        s2 = C.fire(self.neuron2, self.bn2(self.conv2(s1)) + identity)
        if spikes is not None:
            spikes += [s1, s2]
        return s2


class SpikingResNet(nnx.Module):
    """Post-activation spiking ResNet with an FC head (the tdBN / TET CIFAR ResNet family).

    Args:
      num_blocks: BasicBlocks per stage (ResNet-19: ``(3, 3, 2)``).
      num_classes: outputs.
      neuron: a name of :data:`snnjax.models.NEURON_NAMES` or a factory of neuron modules
        (see :func:`snnjax.models.make_neuron`); default :data:`TET_LIF`.
      widths: channels per stage (default 128, 256, 512); the first stage has stride 1, the
        others stride 2.
      stem_width: channels of the stem conv (TET code: 64; tdBN paper: 128).
      fc_width: the hidden FC layer (256); ``None``: no hidden layer (pool -> Linear).
      dropout: dropout before the hidden FC layer (masks shared over T; not in the source).
      in_channels: input channels (3 for CIFAR).
      dtype: compute dtype of the convolutions and Linears (e.g. ``jnp.bfloat16``; None:
        float32). Parameters stay float32; BatchNorm statistics and the neurons' state are
        computed in float32; the logits are returned in float32.
      remat: rematerialise every residual block in the backward pass (``nnx.remat``): same
        values and gradients; see :mod:`snnjax.models` ("Memory at long T") for what it saves
        where, and for the neurons' ``checkpoint_every``.
      rngs: ``nnx.Rngs`` (parameters, and the ``dropout`` stream in training).

    ``__call__(xs, return_spikes=False)``: ``[T, B, H, W, in_channels] -> [T, B, num_classes]``;
    with ``return_spikes`` also the list of every neuron layer's output (stem, two per block,
    the hidden FC layer's).
    """

    def __init__(
        self,
        num_blocks: Sequence[int],
        num_classes: int,
        *,
        neuron: NeuronSpec = TET_LIF,
        widths: Sequence[int] = (128, 256, 512),
        stem_width: int = 64,
        fc_width: int | None = 256,
        dropout: float = 0.0,
        in_channels: int = 3,
        dtype: Any = None,
        remat: bool = False,
        rngs: nnx.Rngs,
    ):
        widths = C.check_widths("widths", widths)
        if len(num_blocks) != len(widths) or not all(isinstance(n, int) and n >= 1 for n in num_blocks):
            raise ValueError(
                f"num_blocks must be positive ints, one per stage of widths {widths}, got {tuple(num_blocks)}"
            )
        C.check_widths("stem_width", (stem_width,))
        if fc_width is not None:
            C.check_widths("fc_width", (fc_width,))
        neuron = make_neuron(neuron)
        C.check_sizes(num_classes=num_classes, in_channels=in_channels)
        C.check_dropout(dropout)
        self.in_channels = in_channels
        self.remat = bool(remat)
        self.stem = _conv(in_channels, stem_width, 3, 1, rngs, dtype)
        self.stem_bn = nn.StepBatchNorm(stem_width)
        self.stem_neuron = neuron()
        blocks, c = [], stem_width
        for i, (n, w) in enumerate(zip(num_blocks, widths, strict=True)):
            for j in range(n):
                blocks.append(BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1, neuron=neuron, rngs=rngs, dtype=dtype))
                c = w
        self.blocks = nnx.List(blocks)
        self.dropout = nnx.Dropout(dropout, broadcast_dims=(0,), rngs=rngs)
        if fc_width is None:
            self.fc1 = self.fc_neuron = None
        else:
            self.fc1 = C.linear(c, fc_width, bias=True, rngs=rngs, dtype=dtype)
            self.fc_neuron = neuron()
            c = fc_width
        self.fc2 = C.linear(c, num_classes, bias=True, rngs=rngs, dtype=dtype)

    def __call__(self, xs: jax.Array, *, return_spikes: bool = False):
        xs = C.check_input(xs, self.in_channels)
        s = C.fire(self.stem_neuron, self.stem_bn(self.stem(xs)))
        spikes: list = [s]
        s = C.run_blocks(self.blocks, s, spikes, remat=self.remat)
        feats = self.dropout(jnp.mean(s, axis=(2, 3)))  # AdaptiveAvgPool2d(1) + flatten: [T, B, C]
        if self.fc1 is not None:
            feats = C.fire(self.fc_neuron, self.fc1(feats))
            spikes.append(feats)
        logits = self.fc2(feats).astype(jnp.float32)
        return (logits, spikes) if return_spikes else logits


def resnet19(num_classes: int = 10, *, neuron: NeuronSpec = TET_LIF, rngs: nnx.Rngs, **kwargs) -> SpikingResNet:
    """ResNet-19 of the TET code: ``SpikingResNet((3, 3, 2), ...)``, widths 128/256/512, stem 64,
    FC 256."""
    return SpikingResNet((3, 3, 2), num_classes, neuron=neuron, rngs=rngs, **kwargs)
