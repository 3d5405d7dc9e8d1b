"""Whole-sequence multi-step neurons with a hand-made reverse-time backward.

Autodiff through a per-step ``lax.scan`` saves every intermediate of every
step. :func:`fused_run` instead wraps the *whole sequence* in one
``jax.custom_vjp``:

* forward: one ``lax.scan`` that saves only the state entering each step
  (a pytree of ``[T, ...]`` arrays) — nothing else;
* backward: one reverse-time ``lax.scan`` that, at each step, recomputes that
  step from its saved state and pulls the cotangents back with ``jax.vjp`` of
  the neuron's own pure ``step``.

So every neuron gets it from its single definition: the ``step`` function is
the source of truth, this module never re-implements dynamics. Gradients flow
to the inputs, the initial state and every (floating) leaf of ``params``;
parameters are reduced over batch and time by the ``vjp`` itself (broadcast
transposes) and summed over steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fused_run"]


def _is_float(leaf) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fused(step, params, state, xs):
    return jax.lax.scan(lambda c, x: step(params, c, x), state, xs)


def _fused_fwd(step, params, state, xs):
    def body(carry, x):
        new, y = step(params, carry, x)
        return new, (y, carry)

    final, (ys, states) = jax.lax.scan(body, state, xs)
    return (final, ys), (params, states, xs)


def _fused_bwd(step, res, ct):
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
    (d_state0, d_fl), d_xs = jax.lax.scan(body, (d_final, zeros), (states, xs, d_ys), reverse=True)
    it = iter(d_fl)
    d_leaves = [next(it) if f else np.zeros(np.shape(leaf), jax.dtypes.float0) for leaf, f in zip(leaves, is_float)]
    return jax.tree.unflatten(treedef, d_leaves), d_state0, d_xs


_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_run(step: Callable, params: Any, xs: jax.Array, state: Any) -> tuple[Any, Any]:
    """``(final_state, ys)`` of ``step`` over ``xs [T, ...]`` with the whole-sequence VJP.

    Equal to ``lax.scan(lambda c, x: step(params, c, x), state, xs)`` in value
    and gradient (up to floating-point reassociation); ``step`` must be a
    hashable function (module-level), as it is static under ``jit``.
    """
    return _fused(step, params, state, xs)
