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

__all__ = ["fused_run"]


def _zeros_like(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def _add(a, b):
    return jax.tree.map(jnp.add, a, b)


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

    def body(carry, inp):
        d_state, d_params = carry
        s_prev, x, dy = inp
        _, vjp = jax.vjp(step, params, s_prev, x)
        dp, ds, dx = vjp((d_state, dy))
        return (ds, _add(d_params, dp)), dx

    (d_state0, d_params), d_xs = jax.lax.scan(body, (d_final, _zeros_like(params)), (states, xs, d_ys), reverse=True)
    return d_params, d_state0, d_xs


_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_run(step: Callable, params: Any, xs: jax.Array, state: Any) -> tuple[Any, Any]:
    """``(final_state, ys)`` of ``step`` over ``xs [T, ...]`` with the whole-sequence VJP.

    Equal to ``lax.scan(lambda c, x: step(params, c, x), state, xs)`` in value
    and gradient (up to floating-point reassociation); ``step`` must be a
    hashable function (module-level), as it is static under ``jit``.
    """
    return _fused(step, params, state, xs)
