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

from snnjax.validation import (
    check_bool,
    check_float_array,
    check_in_range,
    check_number,
    concrete,
    describe,
)

__all__ = ["max_over_time_logits", "max_over_time_ce", "mean_over_time_ce", "tet_loss", "accuracy"]


def _check_labels(labels: ArrayLike, batch: tuple[int, ...], num_classes: int, what: str) -> jax.Array:
    """Integer class indices of shape ``[B]``; in ``[0, C)`` when their values are known now
    (eagerly; under ``jit`` they are traced and only dtype and shape can be checked)."""
    if not isinstance(labels, jax.Array):
        try:
            labels = jnp.asarray(labels)
        except (TypeError, ValueError):
            raise TypeError(f"labels must be integer class indices, got {describe(labels)}") from None
    if labels.dtype == jnp.bool_ or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class indices, got {describe(labels)}")
    if labels.shape != batch:
        raise ValueError(f"labels must have shape [B] = {batch} for {what}, got {labels.shape}")
    v = concrete(labels)
    if v is not None and v.size and (v.min() < 0 or v.max() >= num_classes):
        raise ValueError(
            f"labels must be class indices in [0, {num_classes}) for {what} with C = {num_classes}, "
            f"got min {v.min()} and max {v.max()}"
        )
    return labels


def _check(outputs: ArrayLike, labels: ArrayLike) -> tuple[jax.Array, jax.Array]:
    outputs = check_float_array("outputs", outputs, rank=3)
    if outputs.shape[2] < 1:
        raise ValueError(f"outputs must have C >= 1 classes on its last axis ([T, B, C]), got shape {outputs.shape}")
    labels = _check_labels(labels, outputs.shape[1:2], outputs.shape[2], "outputs [T, B, C]")
    return outputs, labels


def max_over_time_logits(outputs: ArrayLike, *, include_initial_zero: bool = True) -> jax.Array:
    """``max_t outputs[t]`` ``[B, C]``; with ``include_initial_zero`` the zero initial
    state counts as a time step (spytorch records it), so logits are ``>= 0``."""
    outputs = check_float_array("outputs", outputs, rank=3)
    include_initial_zero = check_bool("include_initial_zero", include_initial_zero)
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
      phi: target φ of the MSE regulariser (ILIF: V_th = 1), a finite real number.

    Raises:
      TypeError / ValueError: ``outputs`` not a float ``[T, B, C]`` array; ``labels`` not
        integer ``[B]`` (or, when concrete, outside ``[0, C)``); ``lam`` outside [0, 1] or
        NaN; ``phi`` not a finite number.
    """
    outputs, labels = _check(outputs, labels)
    if isinstance(lam, (bool, str)) or (concrete(lam) is None and not isinstance(lam, jax.core.Tracer)):
        raise TypeError(f"lam must be a real number in [0, 1], got {describe(lam)}")
    check_in_range("lam", lam, 0.0, 1.0)
    phi = check_number("phi", phi)
    ce = jax.vmap(lambda o: optax.softmax_cross_entropy_with_integer_labels(o, labels).mean())(outputs)
    mse = jnp.mean((outputs - phi) ** 2, axis=(1, 2))
    return (1.0 - lam) * ce.mean() + lam * mse.mean()


def accuracy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of ``argmax(logits, -1) == labels`` for logits ``[B, C]``."""
    logits = logits if isinstance(logits, jax.Array) else jnp.asarray(logits)
    if not (jnp.issubdtype(logits.dtype, jnp.floating) or jnp.issubdtype(logits.dtype, jnp.integer)):
        raise TypeError(f"logits must be a real array [B, C], got {describe(logits)}")
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have rank 2 ([B, C]; reduce [T, B, C] outputs over time first), got shape {logits.shape}"
        )
    labels = _check_labels(labels, logits.shape[:1], logits.shape[1], "logits [B, C]")
    return jnp.mean(jnp.argmax(logits, -1) == labels)
