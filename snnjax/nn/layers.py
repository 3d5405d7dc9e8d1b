"""Stateless layers over time: fold ``T`` into the batch, apply, unfold.

``TimeDistributed(layer)`` applies any per-sample layer (``nnx.Conv``,
``nnx.BatchNorm``, ``nnx.Dropout``, ``nnx.Linear``, ``nnx.avg_pool``
closures...) to a time-major ``[T, B, ...]`` tensor as one call on
``[T·B, ...]``. For BatchNorm this means statistics are shared over time and
batch (the common "tdBN"-style choice); a per-time-step BatchNorm is a separate
layer. For Dropout it means an independent mask per time step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from snnjax._src import check_float_array

__all__ = ["TimeDistributed", "fold_time", "unfold_time"]


def fold_time(xs: jax.Array) -> jax.Array:
    """``[T, B, ...] -> [T·B, ...]``."""
    xs = check_float_array("xs", xs, min_rank=2)
    return xs.reshape((xs.shape[0] * xs.shape[1],) + xs.shape[2:])


def unfold_time(ys: jax.Array, t: int) -> jax.Array:
    """``[T·B, ...] -> [T, B, ...]``."""
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
