"""Run a neuron's pure ``step`` over time.

Shapes are time-major: ``xs`` is ``[T, ...]`` and every output is ``[T, ...]``.

Example:
    >>> from snnjax import neurons, run
    >>> params = neurons.LIFParams(tau=2.0)
    >>> xs = jnp.ones((100, 8, 32))                        # [T, B, N]
    >>> final_state, spikes = run(neurons.lif.step, params, xs)
    >>> spikes.shape
    (100, 8, 32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from snnjax._src import check_float_array, check_option, check_state_shapes
from snnjax.kernels import linear as _linear
from snnjax.kernels.fused import UNROLL_MAX_T, fused_run
from snnjax.kernels.pallas import pallas_run, pallas_supported
from snnjax.neurons._common import init_state_for, is_compute_bound, is_linear

__all__ = ["run", "BACKENDS"]

BACKENDS = ("auto", "scan", "fused", "pallas", "linear")

# "auto" evaluates a linear time-invariant neuron as a [T, T] matmul up to this T:
# its cost grows as T², the scan's as T. Measured on 2 CPU cores (LI, fwd+bwd):
# matmul 7x faster at T = 6, 2x at T = 50, equal at T = 128 (N = 10), 4x slower at T = 500.
LINEAR_MAX_T = 64

Step = Callable[[Any, Any, jax.Array], tuple[Any, Any]]


def _scan(body, state, xs, unroll, remat, checkpoint_every):
    """``lax.scan`` with optional per-step remat or chunked (every-k-steps) checkpointing."""
    if remat:
        body = jax.checkpoint(body)
    if checkpoint_every is None:
        return jax.lax.scan(body, state, xs, unroll=unroll)

    k = checkpoint_every
    t = jax.tree_util.tree_leaves(xs)[0].shape[0]
    n_chunks, rest = divmod(t, k)

    @jax.checkpoint
    def chunk(carry, xs_chunk):
        return jax.lax.scan(body, carry, xs_chunk, unroll=unroll)

    head = jax.tree.map(lambda a: a[: n_chunks * k].reshape((n_chunks, k) + a.shape[1:]), xs)
    state, ys = jax.lax.scan(chunk, state, head)
    ys = jax.tree.map(lambda a: a.reshape((n_chunks * k,) + a.shape[2:]), ys)
    if rest:
        tail = jax.tree.map(lambda a: a[n_chunks * k :], xs)
        state, ys_tail = jax.lax.scan(body, state, tail, unroll=unroll)
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, ys_tail)
    return state, ys


def run(
    step: Step,
    params: Any,
    xs: jax.Array,
    state: Any = None,
    *,
    init_state: Callable[..., Any] | None = None,
    return_states: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
    checkpoint_every: int | None = None,
    backend: str = "auto",
) -> tuple[Any, jax.Array] | tuple[Any, jax.Array, Any]:
    """Apply ``step`` at every time step of ``xs`` with ``jax.lax.scan``.

    Args:
      step: a pure neuron step ``step(params, state, x) -> (state, out)``.
      params: the neuron's params pytree (e.g. :class:`~snnjax.neurons.LIFParams`).
      xs: input currents, time-major ``[T, ...]``, floating dtype, ``T >= 1``.
      state: initial state for one time step's shape ``xs.shape[1:]``. ``None``
        builds it with ``init_state(xs.shape[1:], xs.dtype, params=params)``.
      init_state: the initial-state function for ``state=None``; defaults to the
        one registered with ``step`` (every neuron in :mod:`snnjax.neurons`).
      return_states: also return the state after every step (a pytree of ``[T, ...]``).
      unroll: passed to ``lax.scan`` (loop-unroll factor).
      remat: rematerialise each step in the backward pass (``jax.checkpoint``):
        stores only the carried state per step, recomputes the rest.
      checkpoint_every: store the state only every ``k`` steps; the backward
        pass recomputes each chunk of ``k`` steps (memory ``O(T/k + k)``).
      backend: ``"scan"`` (autodiff through ``lax.scan``), ``"fused"`` (whole-sequence
        ``custom_vjp`` that saves only the state per step and runs the backward as
        one reverse-time scan, :mod:`snnjax.kernels.fused`), ``"pallas"`` (the same
        as fused Pallas kernels, time loop inside the kernel, :mod:`snnjax.kernels.pallas`;
        element-wise steps only; interpreted on CPU) or ``"auto"``: ``"pallas"`` on
        GPU/TPU for element-wise steps, ``"fused"`` elsewhere (but ``"scan"`` on CPU for a step
        registered ``compute_bound``, e.g. POLARA, when ``T > UNROLL_MAX_T`` = 6: its fused
        backward's recomputation costs more than it saves), unless ``return_states``, ``remat``,
        ``checkpoint_every`` or ``unroll`` is requested (those are ``lax.scan``
        options), then ``"scan"``. ``"fused"`` and ``"pallas"`` are reverse-mode
        only (``custom_vjp``): for forward-mode autodiff (``jax.jvp``, ``jacfwd``,
        ``hessian``) of a non-spiking neuron pass ``backend="scan"`` (spiking
        neurons are reverse-mode only anyway: the surrogate spike is a ``custom_vjp``).
        ``"linear"``: for neurons registered as linear time-invariant (the leaky-integrator
        readout), one matmul with the Toeplitz matrix of the step's impulse response
        (:mod:`snnjax.kernels.linear`); ``"auto"`` takes it for such neurons when
        ``T <= LINEAR_MAX_T`` (64) and the params are scalars or per-neuron ``[N]``.

    Returns:
      ``(final_state, ys)`` with ``ys`` of shape ``[T, ...]``; with
      ``return_states``, ``(final_state, ys, states)``.

    Raises:
      TypeError: ``xs`` is not floating point.
      ValueError: ``xs`` has rank 0 or ``T = 0``, ``state`` does not match
        ``xs.shape[1:]``, or an option is invalid.
    """
    if not callable(step):
        raise TypeError(f"step must be callable step(params, state, x), got {type(step).__name__}")
    check_option("backend", backend, BACKENDS)
    xs = check_float_array("xs", xs, min_rank=1)
    if xs.shape[0] == 0:
        raise ValueError(f"xs must have at least one time step (time-major [T, ...]), got shape {xs.shape}")
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be a positive int or None, got {checkpoint_every!r}")
    if isinstance(unroll, int) and not isinstance(unroll, bool) and unroll < 1:
        raise ValueError(f"unroll must be >= 1, got {unroll}")
    zero_state = state is None
    init = init_state if init_state is not None else init_state_for(step)
    if state is None:
        if init is None:
            raise ValueError("state=None needs init_state= for a step that is not a registered snnjax neuron")
        state = init(xs.shape[1:], xs.dtype, params=params)
    elif init_state_for(step) is not None:
        # snnjax neurons: every state leaf is per-neuron (optionally behind a history
        # axis). Custom steps may carry anything (counters, ...); lax.scan checks them.
        check_state_shapes(state, xs.shape[1:])

    scan_only = return_states or remat or checkpoint_every is not None or unroll != 1
    if backend in ("fused", "pallas", "linear") and scan_only:
        raise ValueError(
            f"backend={backend!r} does not take return_states, remat, checkpoint_every or unroll; use backend='scan'"
        )
    if backend == "linear":
        if not is_linear(step):
            raise ValueError("backend='linear' needs a step registered as linear time-invariant (e.g. neurons.li.step)")
        if not _linear.supported(params, xs):
            raise ValueError(
                "backend='linear' needs params that are scalars or one value per neuron on the last axis of xs"
            )
    if backend == "auto" and not scan_only:
        on_accel = jax.default_backend() in ("gpu", "tpu")
        if is_linear(step) and xs.shape[0] <= LINEAR_MAX_T and _linear.supported(params, xs):
            backend = "linear"
        elif on_accel and pallas_supported(step, params, xs, state):
            backend = "pallas"
        elif not on_accel and is_compute_bound(step) and xs.shape[0] > UNROLL_MAX_T:
            backend = "scan"  # recomputing the step in the fused backward costs more than it saves
        else:
            backend = "fused"
    if backend == "linear":
        return _linear.linear_run(step, params, xs, state, init, zero_state=zero_state)
    if backend == "pallas":
        return pallas_run(step, params, xs, state)
    if backend == "fused":
        return fused_run(step, params, xs, state)

    if return_states:

        def body(carry, x):
            new, y = step(params, carry, x)
            return new, (y, new)

        final, (ys, states) = _scan(body, state, xs, unroll, remat, checkpoint_every)
        return final, ys, states

    def body(carry, x):
        return step(params, carry, x)

    return _scan(body, state, xs, unroll, remat, checkpoint_every)
