"""Stateless layers over time: fold ``T`` into the batch, apply, unfold.

``TimeDistributed(layer)`` applies any per-sample layer (``nnx.Conv``,
``nnx.BatchNorm``, ``nnx.Dropout``, ``nnx.Linear``, ``nnx.avg_pool``
closures...) to a time-major ``[T, B, ...]`` tensor as one call on
``[T·B, ...]``. For BatchNorm this means statistics are shared over time and
batch (the common "tdBN"-style choice); :class:`StepBatchNorm` is the per-time-step
BatchNorm of the online-training codes (SLTT, CLIF, ILIF). For Dropout it means an
independent mask per time step; a mask shared across time steps (as ILIF's code) is
``nnx.Dropout(rate, broadcast_dims=(0,), rngs=...)`` applied to ``[T, B, ...]`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax.validation import check_bool, check_float_array, check_int, check_number

__all__ = ["TimeDistributed", "StepBatchNorm", "fold_time", "unfold_time"]


def fold_time(xs: jax.Array) -> jax.Array:
    """``[T, B, ...] -> [T·B, ...]``."""
    xs = check_float_array("xs", xs, min_rank=2)
    return xs.reshape((xs.shape[0] * xs.shape[1],) + xs.shape[2:])


def unfold_time(ys: jax.Array, t: int) -> jax.Array:
    """``[T·B, ...] -> [T, B, ...]``."""
    t = check_int("t", t, low=1)
    if jnp.ndim(ys) < 1:
        raise ValueError(f"ys must have rank >= 1 ([T·B, ...]), got shape {jnp.shape(ys)}")
    if ys.shape[0] % t:
        raise ValueError(f"leading dimension {ys.shape[0]} is not a multiple of T = {t}")
    return ys.reshape((t, ys.shape[0] // t) + ys.shape[1:])


class TimeDistributed(nnx.Module):
    """Apply ``layer`` to every time step of ``[T, B, ...]`` by folding T into the batch.

    Args:
      layer: a module or callable taking ``[N, ...]`` (N examples).

    Example:
        >>> conv = TimeDistributed(nnx.Conv(3, 16, (3, 3), rngs=nnx.Rngs(0)))
        >>> conv(jnp.ones((4, 8, 32, 32, 3))).shape     # [T, B, H, W, C]
        (4, 8, 32, 32, 16)
    """

    def __init__(self, layer: Callable[..., Any]):
        if not callable(layer):
            raise TypeError(f"layer must be callable, got {type(layer).__name__}")
        self.layer = layer

    def __call__(self, xs: jax.Array, *args: Any, **kwargs: Any) -> jax.Array:
        ys = self.layer(fold_time(xs), *args, **kwargs)
        return unfold_time(ys, xs.shape[0])


class StepBatchNorm(nnx.Module):
    r"""Batch normalisation at every time step of ``[T, B, ..., C]``, as T calls of one BatchNorm.

    The online-training codes that ILIF and CLIF build on run the network one time step at
    a time, so their ``nn.BatchNorm2d`` normalises each step with that step's own batch
    statistics, shares γ and β across steps, and updates its running averages T times per
    iteration. This layer computes exactly that on a whole time-major tensor (channels last):

    * training (``use_running_average=False``): for every t, the mean ``μ_t`` and biased
      variance ``σ²_t`` of ``x[t]`` over the batch and spatial axes;
      ``y[t] = γ (x[t] - μ_t) / sqrt(σ²_t + ε) + β``; and the running statistics after the
      T sequential PyTorch-style updates ``r ← (1 - m) r + m s_t`` (the variance update with
      the unbiased ``σ²_t · n / (n - 1)``, n = elements per channel and step), in closed form
      ``r_T = (1 - m)^T r_0 + Σ_t m (1 - m)^{T-1-t} s_t``;
    * evaluation (``use_running_average=True``, set by ``model.eval()``): every step is
      normalised with the running statistics.

    Defaults are PyTorch's: ``momentum`` m = 0.1, ε = 1e-5, γ = 1, β = 0, running mean 0
    and variance 1. (``TimeDistributed(nnx.BatchNorm(...))`` instead pools the statistics
    over all T·B examples.)

    Args:
      num_features: C, the size of the last axis.
      momentum: weight m of the newest statistics in the running averages (PyTorch's convention).
      epsilon: ε added to the variance.
      use_running_average: normalise with the running statistics (evaluation).
      dtype: dtype of γ, β and the running statistics (the statistics of a step are
        computed in at least float32; the output has the input's dtype).
    """

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.1,
        epsilon: float = 1e-5,
        use_running_average: bool = False,
        dtype: Any = jnp.float32,
    ):
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        check_number("momentum", momentum, low=0.0, high=1.0)
        check_number("epsilon", epsilon, low=0.0, low_open=True)
        check_bool("use_running_average", use_running_average)
        self.num_features = num_features
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.use_running_average = use_running_average
        self.scale = nnx.Param(jnp.ones((num_features,), dtype))
        self.bias = nnx.Param(jnp.zeros((num_features,), dtype))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), dtype))
        self.var = nnx.BatchStat(jnp.ones((num_features,), dtype))

    def __call__(self, xs: jax.Array, *, use_running_average: bool | None = None) -> jax.Array:
        xs = check_float_array("xs", xs, min_rank=3)
        if xs.shape[-1] != self.num_features:
            raise ValueError(
                f"xs must have num_features = {self.num_features} channels on its last axis, got shape {xs.shape}"
            )
        running = self.use_running_average if use_running_average is None else use_running_average
        bshape = (1,) * (xs.ndim - 1) + (self.num_features,)
        if running:
            mean = self.mean[...].reshape(bshape)
            var = self.var[...].reshape(bshape)
        else:
            axes = tuple(range(1, xs.ndim - 1))  # per step: batch and spatial axes
            x32 = xs.astype(jnp.promote_types(xs.dtype, jnp.float32))
            mean = jnp.mean(x32, axes, keepdims=True)  # [T, 1, ..., 1, C]
            var = jnp.mean(jnp.square(x32 - mean), axes, keepdims=True)
            t = xs.shape[0]
            n = int(np.prod(xs.shape[1:-1]))
            m = self.momentum
            w = m * (1.0 - m) ** jnp.arange(t - 1, -1, -1, dtype=x32.dtype)  # weight of step t
            keep = (1.0 - m) ** t
            step_mean = mean.reshape(t, self.num_features)
            step_var = var.reshape(t, self.num_features) * (n / (n - 1) if n > 1 else 1.0)
            new_mean = keep * self.mean[...] + jnp.einsum("t,tc->c", w, step_mean)
            new_var = keep * self.var[...] + jnp.einsum("t,tc->c", w, step_var)
            self.mean[...] = jax.lax.stop_gradient(new_mean).astype(self.mean.dtype)
            self.var[...] = jax.lax.stop_gradient(new_var).astype(self.var.dtype)
        y = (xs - mean) * jax.lax.rsqrt(var + self.epsilon)
        y = y * self.scale[...].reshape(bshape) + self.bias[...].reshape(bshape)
        return y.astype(xs.dtype)
