"""Losses over time-major network outputs ``[T, B, C]``.

* :func:`max_over_time_ce` — spytorch / POLARA: logits are the max over time of
  a leaky-integrator readout's membrane, cross-entropy.
* :func:`mean_over_time_ce` — cross-entropy of the time-averaged output (rate decoding).
* :func:`tet_loss` — Temporal Efficient Training (Deng et al. 2022), as used by ILIF.

All return the mean over the batch (a scalar).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from snnjax._src import check_float_array, check_in_range

__all__ = ["max_over_time_logits", "max_over_time_ce", "mean_over_time_ce", "tet_loss", "accuracy"]


def _check(outputs: ArrayLike, labels: ArrayLike) -> tuple[jax.Array, jax.Array]:
    outputs = check_float_array("outputs", outputs, rank=3)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != outputs.shape[1:2]:
        raise ValueError(f"labels must have shape [B] = {outputs.shape[1:2]} for outputs [T, B, C], got {labels.shape}")
    return outputs, labels


def max_over_time_logits(outputs: ArrayLike, *, include_initial_zero: bool = True) -> jax.Array:
    """``max_t outputs[t]`` ``[B, C]``; with ``include_initial_zero`` the zero initial
    state counts as a time step (spytorch records it), so logits are ``>= 0``."""
    outputs = check_float_array("outputs", outputs, rank=3)
    logits = jnp.max(outputs, axis=0)
    return jnp.maximum(logits, 0.0) if include_initial_zero else logits


def max_over_time_ce(outputs: ArrayLike, labels: ArrayLike, *, include_initial_zero: bool = True) -> jax.Array:
    """Cross-entropy of :func:`max_over_time_logits` (spytorch/POLARA readout loss)."""
    outputs, labels = _check(outputs, labels)
    logits = max_over_time_logits(outputs, include_initial_zero=include_initial_zero)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def mean_over_time_ce(outputs: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Cross-entropy of ``mean_t outputs[t]`` (rate decoding)."""
    outputs, labels = _check(outputs, labels)
    return optax.softmax_cross_entropy_with_integer_labels(outputs.mean(0), labels).mean()


def tet_loss(outputs: ArrayLike, labels: ArrayLike, *, lam: float = 0.05, phi: float = 1.0) -> jax.Array:
    r"""TET: :math:`(1-λ)\,\mathrm{mean}_t\,CE(o_t, y) + λ\,\mathrm{mean}_t\,\mathrm{MSE}(o_t, φ)`.

    Args:
      outputs: ``[T, B, C]`` per-step logits.
      labels: ``[B]`` integer classes.
      lam: λ in [0, 1] (ILIF: 0.05).
      phi: target φ of the MSE regulariser (ILIF: V_th = 1).
    """
    outputs, labels = _check(outputs, labels)
    check_in_range("lam", lam, 0.0, 1.0)
    ce = jax.vmap(lambda o: optax.softmax_cross_entropy_with_integer_labels(o, labels).mean())(outputs)
    mse = jnp.mean((outputs - phi) ** 2, axis=(1, 2))
    return (1.0 - lam) * ce.mean() + lam * mse.mean()


def accuracy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of ``argmax(logits, -1) == labels`` for logits ``[B, C]``."""
    logits = jnp.asarray(logits)
    return jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(labels))
