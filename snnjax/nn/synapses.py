"""Input synapses that take spikes either dense or as events.

:class:`SpikeLinear` is a bias-free (by default) linear synapse ``I = s @ W``
over time-major spikes. Given a dense ``[T, B, C]`` train it is one matmul;
given :class:`~snnjax.events.Events` it either runs the event-driven path
(:func:`snnjax.events.event_matmul`, cost ∝ number of events) or densifies and
runs the matmul, by the events' static density bound ``E / (T·C)`` against
``event_threshold`` — overridable with ``mode``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax.events import Events, event_matmul, to_dense
from snnjax.validation import check_bool, check_float_array, check_int, check_number, check_option

__all__ = ["SpikeLinear", "MODES"]

MODES = ("auto", "dense", "event")


class SpikeLinear(nnx.Module):
    """Linear synapse for spike inputs, dense or event-driven.

    Args:
      in_features: C.
      out_features: H.
      use_bias: add a bias (to every time step).
      weight_scale: ``W ~ N(0, (weight_scale / sqrt(C))²)`` (spytorch's init).
      mode: ``"auto"`` (event path when the density bound < ``event_threshold``),
        ``"dense"`` or ``"event"``.
      event_threshold: density bound below which ``"auto"`` takes the event path.
        Default 0.008: just below the measured crossover (≈ 0.01 on 2 CPU cores for
        the POLARA-MNIST input layer, ``benchmarks/event_crossover.py``); MNIST's
        latency code is ≈ 0.0034.
      rngs: ``nnx.Rngs``.

    ``kernel`` has shape ``[C, H]`` like ``nnx.Linear``'s, so weights are interchangeable.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = False,
        weight_scale: float = 1.0,
        mode: str = "auto",
        event_threshold: float = 0.008,
        rngs: nnx.Rngs,
    ):
        check_option("mode", mode, MODES)
        check_int("in_features", in_features, low=1)
        check_int("out_features", out_features, low=1)
        check_bool("use_bias", use_bias)
        check_number("weight_scale", weight_scale, low=0.0)
        check_number("event_threshold", event_threshold, low=0.0)
        self.in_features = in_features
        std = weight_scale / math.sqrt(in_features)
        self.kernel = nnx.Param(jax.random.normal(rngs.params(), (in_features, out_features)) * std)
        self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None
        self.mode = mode
        self.event_threshold = event_threshold

    def uses_events(self, spikes: jax.Array | Events) -> bool:
        """Whether ``__call__(spikes)`` takes the event-driven path (decided from static shapes)."""
        if not isinstance(spikes, Events):
            return False
        if self.mode == "auto":
            return spikes.density < self.event_threshold
        return self.mode == "event"

    def __call__(self, spikes: jax.Array | Events) -> jax.Array:
        """``[T, B, H]`` synaptic current for ``spikes`` (dense ``[T, B, C]`` or Events)."""
        w = self.kernel[...]
        if isinstance(spikes, Events):
            out = event_matmul(spikes, w) if self.uses_events(spikes) else to_dense(spikes, w.dtype) @ w
        else:
            if self.mode == "event":
                raise ValueError("mode='event' needs Events input; got a dense array")
            spikes = check_float_array("spikes", spikes, min_rank=2)
            if spikes.shape[-1] != w.shape[0]:
                raise ValueError(
                    f"spikes must have in_features = {w.shape[0]} channels on the last axis, got shape {spikes.shape}"
                )
            out = spikes @ w
        return out + self.bias[...] if self.bias is not None else out
