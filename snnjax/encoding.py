"""Spike encoders: static inputs -> time-major spike trains ``[T, *x.shape]``.

* :func:`latency` — time-to-first-spike, exactly as the spytorch tutorial
  (``current2firing_time``), POLARA's MNIST encoding.
* :func:`rate` — Bernoulli ("Poisson") rate coding with an explicit PRNG key.
* :func:`direct` — the analog input repeated at every step (ILIF's CIFAR input).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from snnjax.events import Events, from_times
from snnjax.validation import (
    check_finite_input,
    check_float_array,
    check_number,
    check_positive,
    describe,
)

__all__ = ["latency_times", "latency", "latency_events", "rate", "direct"]


def _check_steps(num_steps: Any) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    return int(num_steps)


def _check_x(x: Any, **kw: Any) -> jax.Array:
    x = check_float_array("x", x, **kw)
    check_finite_input("x", x)
    return x


def latency_times(
    x: ArrayLike,
    num_steps: int,
    *,
    tau: float = 20.0,
    threshold: float = 0.2,
    t_max: float | None = None,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Integer firing step of each input (spytorch's ``current2firing_time``, then ``int``).

    .. math::

        t_f = \lfloor τ \log\frac{x'}{x' - θ} \rfloor,\quad x' = \max(x, θ + ε);
        \qquad t_f = t_{max} \text{ if } x < θ

    with ``t_max = num_steps`` by default, so inputs below (and, through ε,
    at) the threshold never fire within ``num_steps``.

    Args:
      x: intensities in [0, 1], any shape, floating dtype. Computed in ``x``'s
        dtype (spytorch uses float64: pass float64 with ``jax_enable_x64`` for
        bit-identical times).
      num_steps: number of time steps T.
      tau: effective time constant τ_eff in steps (spytorch: 20).
      threshold: θ (spytorch: 0.2).
      t_max: time assigned to sub-threshold inputs; default ``num_steps``.
      epsilon: ε of the clip (spytorch: 1e-7).

    Returns:
      int32 array of ``x``'s shape; values ``>= num_steps`` mean "no spike".
    """
    _check_steps(num_steps)
    x = _check_x(x)
    check_positive("tau", tau)
    check_positive("epsilon", epsilon)
    check_number("threshold", threshold)
    check_number("t_max", t_max, low=0.0, allow_none=True)
    t_max = float(num_steps) if t_max is None else t_max
    below = x < threshold
    xc = jnp.clip(x, threshold + epsilon, 1e9)
    t = tau * jnp.log(xc / (xc - threshold))
    t = jnp.where(below, jnp.asarray(t_max, x.dtype), t)
    # float -> int truncation as numpy's astype(int); t >= 0 here, so floor == trunc.
    return jnp.minimum(jnp.floor(t), jnp.iinfo(jnp.int32).max // 2).astype(jnp.int32)


def latency(
    x: ArrayLike,
    num_steps: int,
    *,
    tau: float = 20.0,
    threshold: float = 0.2,
    t_max: float | None = None,
    epsilon: float = 1e-7,
    dtype: Any = None,
) -> jax.Array:
    """Latency-coded spikes ``[num_steps, *x.shape]``: one spike at :func:`latency_times`, if < T.

    Args: as :func:`latency_times`; ``dtype`` of the spikes defaults to ``x``'s.
    """
    times = latency_times(x, num_steps, tau=tau, threshold=threshold, t_max=t_max, epsilon=epsilon)
    dtype = jnp.asarray(x).dtype if dtype is None else _spike_dtype(dtype)
    steps = jnp.arange(num_steps, dtype=jnp.int32).reshape((num_steps,) + (1,) * times.ndim)
    return (steps == times[None]).astype(dtype)


def latency_events(
    x: ArrayLike,
    num_steps: int,
    *,
    tau: float = 20.0,
    threshold: float = 0.2,
    t_max: float | None = None,
    epsilon: float = 1e-7,
    max_events: int | None = None,
) -> Events:
    """The latency code of ``x [B, C]`` as :class:`~snnjax.events.Events`.

    Same spikes as :func:`latency` (``to_dense(latency_events(x, T)) == latency(x, T)``),
    for the event-driven input layer :class:`snnjax.nn.SpikeLinear`. ``max_events``
    (default: one slot per channel) compacts each example to its firing channels; it
    must be at least the largest number of inputs above ``threshold`` in one example
    (e.g. 340 for MNIST's training set at θ = 0.2) or later spikes are dropped.
    """
    x = _check_x(x, rank=2)
    times = latency_times(x, num_steps, tau=tau, threshold=threshold, t_max=t_max, epsilon=epsilon)
    return from_times(times, num_steps, max_events)


def _spike_dtype(dtype: Any) -> Any:
    """Spikes may be stored in any numeric dtype (float for currents, int8 / bool to save memory)."""
    try:
        return jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be a numeric dtype (e.g. jnp.float32, jnp.int8), got {dtype!r}") from e


def _check_key(key: Any) -> None:
    """A ``jax.random.key`` (typed) or a legacy ``PRNGKey`` (uint32 ``[2]``)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and key.ndim == 0:
        return
    if dtype == jnp.uint32 and tuple(key.shape) == (2,):
        return
    raise TypeError(f"key must be a jax.random.key(seed) (or a PRNGKey), got {describe(key)}")


def rate(x: ArrayLike, num_steps: int, *, key: jax.Array, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """Bernoulli rate code: ``s[t] ~ Bernoulli(clip(gain·x, 0, 1))`` i.i.d. over t.

    Args:
      x: intensities (any shape, floating dtype); ``gain·x`` is clipped to [0, 1] (the
        firing probability), so intensities outside [0, 1] saturate — by definition, not a check.
      num_steps: T.
      key: a ``jax.random`` key (keyword-only; required: the code is random).
      gain: firing probability per step at ``x = 1``.
      dtype: spike dtype (default ``x``'s).

    Returns:
      ``[num_steps, *x.shape]`` array of 0/1.
    """
    _check_steps(num_steps)
    x = _check_x(x)
    _check_key(key)
    check_number("gain", gain, low=0.0)
    dtype = None if dtype is None else _spike_dtype(dtype)
    # Draw in >= float32: bfloat16 uniforms take only 128 values in [0, 1), which would
    # distort low rates (p = 0.001 would fire at 0.0075).
    udt = jnp.promote_types(x.dtype, jnp.float32)
    p = jnp.clip(gain * x.astype(udt), 0.0, 1.0)
    u = jax.random.uniform(key, (num_steps,) + x.shape, dtype=udt)
    return (u < p[None]).astype(x.dtype if dtype is None else dtype)


def direct(x: ArrayLike, num_steps: int) -> jax.Array:
    """Direct (analog) encoding: ``x`` repeated ``num_steps`` times, ``[num_steps, *x.shape]``."""
    _check_steps(num_steps)
    x = _check_x(x)
    return jnp.broadcast_to(x[None], (num_steps,) + x.shape)
