"""Whole-sequence multi-step neurons with a hand-made reverse-time backward.

Autodiff through a per-step ``lax.scan`` saves every intermediate of every
step. :func:`fused_run` instead wraps the *whole sequence* in one
``jax.custom_vjp``:

* forward: one ``lax.scan`` that saves only the state entering each step
  (a pytree of ``[T, ...]`` arrays) — nothing else;
* backward: one reverse-time ``lax.scan`` that, at each step, recomputes that
  step from its saved state and pulls the cotangents back with ``jax.vjp`` of
  the neuron's own pure ``step``.

Short sequences (``T <= UNROLL_MAX_T``) are unrolled at trace time (``lax.scan(...,
unroll=True)``): no while loop, so XLA fuses across steps and reads and writes each
step's slice with static offsets. On 2 CPU cores that makes forward+backward up to 8x
faster at T = 2..6 (the ``T = 4..6`` of CIFAR-style SNN training; at worst 0.8x, for
per-step sizes of 16k elements), but at T >= 8 XLA's cross-step fusions start recomputing
the recurrence and some neurons become up to 11x slower (``benchmarks/fused_unroll.py``,
``benchmarks/RESULTS.md``).

So every neuron gets it from its single definition: the ``step`` function is
the source of truth, this module never re-implements dynamics. Gradients flow
to the inputs, the initial state and every (floating) leaf of ``params``;
parameters are reduced over batch and time by the ``vjp`` itself (broadcast
transposes) and summed over steps.

Reverse mode only (a ``custom_vjp``): under forward mode (``jax.jvp``, ``jacfwd``,
``hessian``) :func:`snnjax.run` takes ``backend="scan"`` instead and refuses an explicit
``backend="fused"`` with a ``ValueError`` (the table in :mod:`snnjax.scan`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fused_run", "UNROLL_MAX_T"]

# Sequences up to this length are unrolled at trace time; longer ones run as a while loop.
UNROLL_MAX_T = 6


def _is_float(leaf) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _fused(step, unroll, params, state, xs):
    return jax.lax.scan(lambda c, x: step(params, c, x), state, xs, unroll=unroll)


def _fused_fwd(step, unroll, params, state, xs):
    def body(carry, x):
        new, y = step(params, carry, x)
        return new, (y, carry)

    final, (ys, states) = jax.lax.scan(body, state, xs, unroll=unroll)
    return (final, ys), (params, states, xs)


def _fused_bwd(step, unroll, res, ct):
    params, states, xs = res
    d_final, d_ys = ct
    # Differentiate w.r.t. the floating leaves of params only; integer leaves (e.g. a
    # tau given as the Python int 2) get a float0 zero cotangent, as JAX requires.
    leaves, treedef = jax.tree.flatten(params)
    is_float = [_is_float(leaf) for leaf in leaves]
    float_leaves = [leaf for leaf, f in zip(leaves, is_float) if f]

    def step_of_floats(fl, s, x):
        it = iter(fl)
        full = [next(it) if f else leaf for leaf, f in zip(leaves, is_float)]
        return step(jax.tree.unflatten(treedef, full), s, x)

    def body(carry, inp):
        d_state, d_fl = carry
        s_prev, x, dy = inp
        _, vjp = jax.vjp(step_of_floats, float_leaves, s_prev, x)
        dfl, ds, dx = vjp((d_state, dy))
        return (ds, [a + b for a, b in zip(d_fl, dfl)]), dx

    zeros = [jnp.zeros_like(leaf) for leaf in float_leaves]
    (d_state0, d_fl), d_xs = jax.lax.scan(body, (d_final, zeros), (states, xs, d_ys), reverse=True, unroll=unroll)
    it = iter(d_fl)
    d_leaves = [next(it) if f else np.zeros(np.shape(leaf), jax.dtypes.float0) for leaf, f in zip(leaves, is_float)]
    return jax.tree.unflatten(treedef, d_leaves), d_state0, d_xs


_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_run(step: Callable, params: Any, xs: jax.Array, state: Any, *, unroll: int | None = None) -> tuple[Any, Any]:
    """``(final_state, ys)`` of ``step`` over ``xs [T, ...]`` with the whole-sequence VJP.

    Equal to ``lax.scan(lambda c, x: step(params, c, x), state, xs)`` in value
    and gradient (up to floating-point reassociation); ``step`` must be a
    hashable function (module-level), as it is static under ``jit``.

    ``unroll`` is the forward and backward scans' unroll factor; ``None`` (default)
    unrolls fully when ``T <= UNROLL_MAX_T`` and not at all otherwise.
    """
    t = jax.tree.leaves(xs)[0].shape[0]
    if unroll is None:
        unroll = t if t <= UNROLL_MAX_T else 1
    elif isinstance(unroll, bool) or not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"unroll must be a positive int or None, got {unroll!r}")
    return _fused(step, min(unroll, t), params, state, xs)
