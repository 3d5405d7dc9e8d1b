"""Spiking multi-layer perceptron (the spytorch / POLARA MNIST network).

``[T, B, n_in] -> (Linear -> neuron) x len(hidden) -> Linear -> readout -> [T, B, n_out]``

Each linear layer acts on the last axis, so the synaptic products for all T
steps are one batched matmul outside the time loop; only the element-wise
neuron update runs inside ``lax.scan``. The input layer is a
:class:`~snnjax.nn.SpikeLinear`: given :class:`~snnjax.events.Events` (e.g.
:func:`snnjax.encoding.latency_events`) it computes the synaptic current
event-driven, at a cost proportional to the number of input spikes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import numpy as np
from flax import nnx

from snnjax import nn

__all__ = ["SpikingMLP", "spytorch_weight_scale"]


def spytorch_weight_scale(tau_mem: float = 10.0) -> float:
    """spytorch's ``ws = 7·(1 - β)`` with ``β = exp(-1/τ_mem)`` (≈ 0.666 for τ_mem = 10)."""
    return 7.0 * (1.0 - math.exp(-1.0 / tau_mem))


class SpikingMLP(nnx.Module):
    """A feed-forward spiking MLP with a (non-spiking) readout.

    Args:
      n_in: input features.
      hidden: hidden layer sizes, e.g. ``(100,)``.
      n_out: classes.
      neuron: factory of the hidden neuron module (called once per layer),
        e.g. ``snnjax.nn.SpytorchLIF`` or ``lambda: snnjax.nn.LIF(tau=2.0)``.
      readout: factory of the output module (default spytorch's leaky integrator).
      weight_scale: ``ws``: weights ``~ N(0, (ws / sqrt(fan_in))²)``, one value or one per layer
        (default spytorch's ≈ 0.67).
      use_bias: biases on the Linear layers (spytorch: none).
      input_mode: the input layer's :class:`~snnjax.nn.SpikeLinear` mode (``"auto"``,
        ``"dense"``, ``"event"``); inputs may be dense spikes or ``snnjax.events.Events``.
      rngs: ``nnx.Rngs`` (keyword-only).

    Returns (``__call__``): readout outputs ``[T, B, n_out]``; with
    ``return_spikes=True`` also the list of hidden spike trains ``[T, B, h]``.
    """

    def __init__(
        self,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        *,
        neuron: Callable[[], nnx.Module] = nn.SpytorchLIF,
        readout: Callable[[], nnx.Module] = nn.LI,
        weight_scale: float | Sequence[float] | None = None,
        use_bias: bool = False,
        input_mode: str = "auto",
        rngs: nnx.Rngs,
    ):
        if isinstance(hidden, (int, np.integer)) or isinstance(hidden, (str, bytes)):
            raise TypeError(f"hidden must be a sequence of layer sizes, e.g. ({hidden!r},), got {hidden!r}")
        sizes = [n_in, *hidden, n_out]
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ValueError(f"layer sizes must be positive ints, got n_in={n_in}, hidden={hidden}, n_out={n_out}")
        n_layers = len(sizes) - 1
        if weight_scale is None:
            weight_scale = spytorch_weight_scale()
        scales = [float(weight_scale)] * n_layers if isinstance(weight_scale, (int, float)) else list(weight_scale)
        if len(scales) != n_layers:
            raise ValueError(f"weight_scale must be one value or {n_layers} values, got {len(scales)}")
        # The input layer takes dense spikes [T, B, n_in] or snnjax.events.Events.
        first = nn.SpikeLinear(
            sizes[0], sizes[1], use_bias=use_bias, weight_scale=scales[0], mode=input_mode, rngs=rngs
        )
        self.layers = nnx.List(
            [first]
            + [
                nnx.Linear(
                    a,
                    b,
                    use_bias=use_bias,
                    kernel_init=jax.nn.initializers.normal(ws / math.sqrt(a)),
                    rngs=rngs,
                )
                for a, b, ws in zip(sizes[1:-1], sizes[2:], scales[1:])
            ]
        )
        self.neurons = nnx.List([neuron() for _ in hidden])
        self.readout = readout()

    def __call__(self, xs: jax.Array, *, return_spikes: bool = False):
        spikes = []
        h = xs
        for layer, neuron in zip(self.layers[:-1], self.neurons):
            h = neuron(layer(h))
            spikes.append(h)
        out = self.readout(self.layers[-1](h))
        return (out, spikes) if return_spikes else out
