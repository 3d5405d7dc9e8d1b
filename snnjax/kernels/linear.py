"""Linear time-invariant neurons over time as one matmul with their impulse response.

A neuron whose step is linear in ``(state, x)`` and time-invariant — the
leaky-integrator readout :mod:`snnjax.neurons.li` — maps an input sequence to
its outputs by a causal convolution: from a zero state,
``y[t] = Σ_{s ≤ t} h[t - s] · x[s]``, where ``h`` is the step's response to a
unit impulse. ``h`` is computed by running the neuron's own pure ``step`` on an
impulse (so the step stays the single source of truth and learnable constants
get their gradients through it), and the whole sequence is then one
``[T, T] @ [T, B·N]`` product with the lower-triangular Toeplitz matrix of
``h``. On CPU this replaces ``T`` tiny loop iterations (forward and backward),
each dominated by per-iteration overhead, with one small matmul; reverse and
forward mode autodiff work through it as through any matmul.

A non-zero initial state adds its free response (the step run from that state
with zero input), computed with ``lax.scan``.

Used by :func:`snnjax.run` for ``backend="linear"`` and by ``"auto"`` for
neurons registered as linear (``register(step, init_state, linear=True)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["linear_run", "impulse_response"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _param_shape(params: Any) -> tuple[int, ...]:
    """Broadcast shape of the params' array leaves (``()`` for scalar constants)."""
    shapes = [jnp.shape(leaf) for leaf in jax.tree_util.tree_leaves(params) if hasattr(leaf, "shape")]
    return tuple(jnp.broadcast_shapes(*shapes)) if shapes else ()


def impulse_response(step: Callable, params: Any, init_state: Callable, num_steps: int, dtype: Any = jnp.float32):
    """Response of ``step`` to a unit impulse at ``t = 0`` from the zero state.

    Returns ``(h, g)``: ``h [T, *P]`` the outputs and ``g`` the state after each
    step (a pytree of ``[T, *P, ...]``), where ``P`` is the broadcast shape of
    the params' array leaves (``()`` for scalar constants).
    """
    pshape = _param_shape(params)
    state = init_state(pshape, dtype, params=params)
    xs = jnp.zeros((num_steps, *pshape), dtype).at[0].set(1.0)

    def body(carry, x):
        new, y = step(params, carry, x)
        return new, (y, new)

    _, (h, g) = jax.lax.scan(body, state, xs)
    return h, g


def _toeplitz(h: jax.Array) -> jax.Array:
    """``K[t, s, ...] = h[t - s, ...]`` for ``t >= s``, else 0."""
    t = h.shape[0]
    lag = jnp.arange(t)[:, None] - jnp.arange(t)[None, :]
    k = jnp.take(h, jnp.clip(lag, 0, t - 1), axis=0)
    mask = (lag >= 0).reshape(lag.shape + (1,) * (h.ndim - 1))
    return jnp.where(mask, k, jnp.zeros((), h.dtype))


def supported(params: Any, xs: jax.Array) -> bool:
    """Whether the params' shape is one the matmul path handles: scalars, or one value per
    neuron on the last axis (``P = (N,)``)."""
    pshape = _param_shape(params)
    return pshape == () or (len(pshape) == 1 and xs.ndim >= 2 and pshape[0] == xs.shape[-1])


def linear_run(step: Callable, params: Any, xs: jax.Array, state: Any, init_state: Callable, *, zero_state: bool):
    """``(final_state, ys)`` of a linear time-invariant ``step`` over ``xs [T, ...]``.

    Args:
      step: the neuron's pure step (linear in ``(state, x)``, time-invariant).
      params: its params pytree; array leaves scalar or ``[N]`` (last axis).
      xs: inputs ``[T, ...]``.
      state: initial state (ignored when ``zero_state``).
      init_state: the neuron's initial-state function (must give the zero state).
      zero_state: ``state`` is the all-zero initial state (skips its free response).
    """
    t = xs.shape[0]
    cdt = jnp.promote_types(xs.dtype, jnp.float32)
    h, g = impulse_response(step, params, init_state, t, cdt)
    k = _toeplitz(h)  # [T, T, *P]
    x = xs.astype(cdt)
    if h.ndim == 1:
        ys = jnp.matmul(k, x.reshape(t, -1), precision=_HIGHEST).reshape(xs.shape)
        # final state leaf = Σ_s g[T-1-s] · x[s]
        final = jax.tree.map(lambda gl: jnp.tensordot(gl[::-1], x, axes=(0, 0), precision=_HIGHEST), g)
    else:
        ys = jnp.einsum("tsn,s...n->t...n", k, x, precision=_HIGHEST)
        final = jax.tree.map(lambda gl: jnp.einsum("sn,s...n->...n", gl[::-1], x, precision=_HIGHEST), g)
    final = jax.tree.map(lambda f: jnp.broadcast_to(f, xs.shape[1:]), final)
    if not zero_state:

        def free(carry, _):
            return step(params, carry, jnp.zeros(xs.shape[1:], xs.dtype))

        final_free, ys_free = jax.lax.scan(free, state, None, length=t)
        ys = ys + ys_free.astype(cdt)
        final = jax.tree.map(lambda a, b: a + b.astype(cdt), final, final_free)
    leaves_dtype = jax.tree.map(lambda s: s.dtype, state)
    final = jax.tree.map(lambda f, d: f.astype(d), final, leaves_dtype)
    return final, ys.astype(xs.dtype)
