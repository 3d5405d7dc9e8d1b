"""Pre-activation spiking ResNet (the ILIF / CLIF / SLTT CIFAR network), time-major.

``[T, B, H, W, C_in] -> [T, B, num_classes]`` (channels last, as Flax). The architecture
follows ``../shared/NEURONS.md`` (facts from the official ILIF code):

* stem: conv3×3, 64 channels, stride 1, no bias;
* stages of :class:`PreActBlock` with 64 / 128 / 256 / 512 channels, strides 1 / 2 / 2 / 2,
  ``[2, 2, 2, 2]`` blocks for ResNet-18;
* a block: ``s = neuron(BN(x))``; ``out = conv3×3(s)`` (bias); ``out = conv3×3(dropout(
  neuron(BN(out))))`` (bias); ``out + shortcut(s)`` — the shortcut (a 1×1 conv with bias
  when the stride or the width changes, else the identity) takes the block's input *after*
  its first neuron;
* head: ``BN -> neuron -> AvgPool(4) -> flatten -> dropout -> Linear``;
* BatchNorm per time step (:class:`~snnjax.nn.StepBatchNorm`), dropout masks shared
  across time steps (``nnx.Dropout(broadcast_dims=(0,))``);
* initialisation as the official PyTorch code: conv kernels Kaiming-normal (fan_out, ReLU
  gain: std ``sqrt(2 / fan_out)``), conv biases PyTorch's default ``U(±1/sqrt(fan_in))``,
  BN γ = 1 and β = 0, the Linear weight PyTorch's default ``U(±1/sqrt(fan_in))`` and its bias 0.

The input is already a sequence: direct (analog) encoding repeats the image over T,
``snnjax.encoding.direct(images, T)``. Convolutions, pooling and the head act on
``[T·B, ...]`` (:class:`~snnjax.nn.TimeDistributed`); only the neurons run over time.
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

__all__ = ["PreActBlock", "PreActResNet", "preact_resnet18"]


def _conv(
    c_in: int, c_out: int, k: int, stride: int, bias: bool, rngs: nnx.Rngs, dtype: Any = None
) -> nn.TimeDistributed:
    """A PyTorch-initialised ``Conv2d(c_in, c_out, k, stride, padding=k // 2)`` over ``[T, B, H, W, C]``."""
    return C.conv(c_in, c_out, k, stride, bias=bias, rngs=rngs, dtype=dtype)


class PreActBlock(nnx.Module):
    """``BN -> neuron -> conv3×3 -> BN -> neuron -> dropout -> conv3×3``, plus the shortcut of
    the block's input after its first neuron."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        *,
        neuron: NeuronFactory,
        dropout: float,
        rngs: nnx.Rngs,
        dtype: Any = None,
    ):
        self.bn1 = nn.StepBatchNorm(c_in)
        self.neuron1 = neuron()
        self.conv1 = _conv(c_in, c_out, 3, stride, True, rngs, dtype)
        self.bn2 = nn.StepBatchNorm(c_out)
        self.neuron2 = neuron()
        self.dropout = nnx.Dropout(dropout, broadcast_dims=(0,), rngs=rngs)
        self.conv2 = _conv(c_out, c_out, 3, 1, True, rngs, dtype)
        self.shortcut = _conv(c_in, c_out, 1, stride, True, rngs, dtype) if stride != 1 or c_in != c_out else None

    def __call__(self, xs: jax.Array, spikes: list | None = None) -> jax.Array:
        s1 = C.fire(self.neuron1, self.bn1(xs))
        s2 = C.fire(self.neuron2, self.bn2(self.conv1(s1)))
        if spikes is not None:
            spikes += [s1, s2]
        out = self.conv2(self.dropout(s2))
        return out + (s1 if self.shortcut is None else self.shortcut(s1))


class PreActResNet(nnx.Module):
    """Pre-activation spiking ResNet.

    Args:
      num_blocks: blocks per stage (ResNet-18: ``(2, 2, 2, 2)``).
      num_classes: outputs.
      neuron: the neuron: a name of :data:`snnjax.models.NEURON_NAMES` (``"ilif"``, ``"lif"``,
        ...), or a factory called once per neuron layer, e.g. ``snnjax.nn.ILIF`` or
        ``lambda: snnjax.nn.LIF(tau=2.0)`` (see :func:`snnjax.models.make_neuron`).
      dropout: dropout rate in every block and before the classifier (masks shared over T).
      in_channels: input channels (3 for CIFAR).
      widths: channels per stage (default 64, 128, 256, 512); the stem has ``widths[0]``.
      pool: the head's average-pool window (4: a 32×32 input ends at 4×4).
      dtype: compute dtype of the convolutions and the Linear (e.g. ``jnp.bfloat16``; None:
        float32). Parameters stay float32; BatchNorm statistics and the neurons' state are
        computed in float32; the logits are returned in float32.
      remat: rematerialise every residual block in the backward pass (``nnx.remat``): same
        values and gradients; see :mod:`snnjax.models` ("Memory at long T") for what it saves
        where, and for the neurons' ``checkpoint_every``.
      rngs: ``nnx.Rngs`` (parameters, and the ``dropout`` stream in training).
    """

    def __init__(
        self,
        num_blocks: Sequence[int],
        num_classes: int,
        *,
        neuron: NeuronSpec,
        dropout: float = 0.0,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512),
        pool: int = 4,
        dtype: Any = None,
        remat: bool = False,
        rngs: nnx.Rngs,
    ):
        if len(num_blocks) != len(widths) or not all(isinstance(n, int) and n >= 1 for n in num_blocks):
            raise ValueError(
                f"num_blocks must be positive ints, one per stage of widths {tuple(widths)}, got {tuple(num_blocks)}"
            )
        widths = C.check_widths("widths", widths)
        neuron = make_neuron(neuron)
        C.check_sizes(num_classes=num_classes, in_channels=in_channels)
        C.check_dropout(dropout)
        self.in_channels, self.pool = in_channels, pool
        self.remat = bool(remat)
        self.stem = _conv(in_channels, widths[0], 3, 1, False, rngs, dtype)
        blocks, c = [], widths[0]
        for i, (n, w) in enumerate(zip(num_blocks, widths)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(PreActBlock(c, w, stride, neuron=neuron, dropout=dropout, rngs=rngs, dtype=dtype))
                c = w
        self.blocks = nnx.List(blocks)
        self.bn = nn.StepBatchNorm(c)
        self.neuron = neuron()
        self.dropout = nnx.Dropout(dropout, broadcast_dims=(0,), rngs=rngs)
        self.linear = C.linear(c, num_classes, bias=True, bias_init=C.ZEROS, rngs=rngs, dtype=dtype)

    def __call__(self, xs: jax.Array, *, return_spikes: bool = False):
        """``[T, B, H, W, C_in] -> [T, B, num_classes]``; with ``return_spikes`` also the list
        of every neuron layer's output ``[T, B, ...]`` (for firing rates)."""
        xs = C.check_input(xs, self.in_channels)
        spikes: list = []
        out = self.stem(xs)
        out = C.run_blocks(self.blocks, out, spikes, remat=self.remat)
        s = C.fire(self.neuron, self.bn(out))
        spikes.append(s)
        k = self.pool
        if s.shape[2] % k or s.shape[3] % k:
            raise ValueError(f"the final feature map {s.shape[2:4]} is not divisible by the pool window {k}")
        pooled = C.avg_pool(s, k)
        feats = pooled.reshape(pooled.shape[:2] + (-1,))
        logits = self.linear(self.dropout(feats)).astype(jnp.float32)
        return (logits, spikes) if return_spikes else logits


def preact_resnet18(
    num_classes: int = 10, *, neuron: NeuronSpec = "ilif", dropout: float = 0.1, rngs: nnx.Rngs, **kwargs
) -> PreActResNet:
    """ILIF's CIFAR network: ``PreActResNet((2, 2, 2, 2), ...)``, dropout 0.1, ILIF neurons by default."""
    return PreActResNet((2, 2, 2, 2), num_classes, neuron=neuron, dropout=dropout, rngs=rngs, **kwargs)
