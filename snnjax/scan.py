"""Run a neuron's pure ``step`` over time.

Shapes are time-major: ``xs`` is ``[T, ...]`` and every output is ``[T, ...]``.

Example:
    >>> from snnjax import neurons, run
    >>> params = neurons.LIFParams(tau=2.0)
    >>> xs = jnp.ones((100, 8, 32))                        # [T, B, N]
    >>> final_state, spikes = run(neurons.lif.step, params, xs)
    >>> spikes.shape
    (100, 8, 32)

Transformations by backend (``run(..., backend=...)``; ``"auto"`` picks per call):

========== ===== ===== ========== ======================= =================================
backend    jit   vmap  grad/vjp   jvp / jacfwd / hessian  remat
========== ===== ===== ========== ======================= =================================
``scan``   yes   yes   yes        yes                     ``remat=``, ``checkpoint_every=``,
                                                          ``jax.checkpoint``
``linear`` yes   yes   yes        yes (a matmul)          ``jax.checkpoint`` around ``run``
``fused``  yes   yes   yes        no: ``ValueError``      ``jax.checkpoint`` around ``run``
``pallas`` yes   yes   yes        no: ``ValueError``      ``jax.checkpoint`` around ``run``
``native`` yes   yes   yes        no: ``ValueError``      ``jax.checkpoint`` around ``run``
========== ===== ===== ========== ======================= =================================

``fused``, ``pallas`` and ``native`` are whole-sequence ``jax.custom_vjp`` (reverse mode only). Under
forward mode (a JVP tracer among ``params``, ``xs``, ``state``: ``jax.jvp``, ``jax.jacfwd``,
``jax.hessian``; with ``vmap`` on either side, ``jit`` outside) ``"auto"`` picks ``"scan"``
(``"linear"`` where it would anyway) and traces the step's spikes as the ``custom_jvp`` twin
of the surrogate (same values, same VJP: :mod:`snnjax.surrogate`), so ``jacfwd == jacrev``.
Where the transform is applied outside a ``jax.jit``/``jax.checkpoint``/``lax.scan`` that
hides its tracers (``jax.jacfwd(jax.jit(f))``, ``jax.linearize``), wrap the call in the one
switch ``with snnjax.surrogate.forward_mode():``. ``jax.hessian`` is forward-over-reverse: its
second derivative treats the Heaviside forward as constant (``H' = 0``) and differentiates
the surrogate ``g`` (``t · ∂g/∂v``); it equals ``jacrev(jacrev(f))`` through ``"scan"`` and
the finite differences of the surrogate gradient. (Reverse-over-reverse through ``"fused"``
differs: its outer pass applies the surrogate to the forward spikes again.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import checks as _checks
from snnjax import surrogate as _surrogate
from snnjax.kernels import linear as _linear
from snnjax.kernels import native as _native
from snnjax.kernels.fused import UNROLL_MAX_T, fused_run
from snnjax.kernels.pallas import pallas_run, pallas_supported
from snnjax.neurons._common import Neuron, neuron_of
from snnjax.validation import (
    check_bool,
    check_callable,
    check_float_array,
    check_int,
    check_option,
    describe,
    revalidate,
)

__all__ = ["run", "BACKENDS"]

BACKENDS = ("auto", "scan", "fused", "pallas", "linear", "native")

# "auto" evaluates a linear time-invariant neuron as a [T, T] matmul up to this T:
# its cost grows as T², the scan's as T. Measured on 2 CPU cores (LI, fwd+bwd):
# matmul 7x faster at T = 6, 2x at T = 50, equal at T = 128 (N = 10), 4x slower at T = 500.
LINEAR_MAX_T = 64

# "auto" picks the compiled Pallas kernels on an accelerator only where they have passed
# tests/test_pallas.py compiled (not interpreted) on that platform with that JAX version,
# recorded in benchmarks/RESULTS.md ("Accelerator checks"). Until then the fused backend
# (plain XLA, the same custom_vjp as on CPU) is the accelerator default; "pallas" stays
# available by name. An entry is added with the evidence, never on hope.
PALLAS_VERIFIED: dict[str, frozenset[str]] = {"gpu": frozenset(), "tpu": frozenset()}


def pallas_is_default(platform: str | None = None) -> bool:
    """Whether ``backend="auto"`` takes the Pallas kernels on ``platform`` (default: JAX's default
    backend) with the installed JAX: only if that pair is in :data:`PALLAS_VERIFIED`."""
    platform = jax.default_backend() if platform is None else platform
    return jax.__version__ in PALLAS_VERIFIED.get(platform, frozenset())


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


def _shapes(tree: Any) -> str:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return (
        ", ".join(f"{jax.tree_util.keystr(p) or '<root>'}: {tuple(leaf.shape)} {leaf.dtype}" for p, leaf in leaves)
        or "()"
    )


def _compare_states(given: Any, want: Any, *, what: str, hint: str) -> None:
    """``given`` and ``want`` (pytrees of ShapeDtypeStruct) must agree in structure, shapes and
    dtypes (weakly typed leaves of ``given``, e.g. Python numbers, only in shape)."""
    g_leaves, g_def = jax.tree_util.tree_flatten_with_path(given)
    w_leaves, w_def = jax.tree_util.tree_flatten(want)
    if g_def != w_def:
        raise ValueError(f"state has the structure {g_def} but {what} has {w_def}; {hint}")
    for (path, g), w in zip(g_leaves, w_leaves):
        name = "state" + jax.tree_util.keystr(path)
        if tuple(g.shape) != tuple(w.shape) or (not getattr(g, "weak_type", False) and g.dtype != w.dtype):
            raise ValueError(
                f"{name} has shape {tuple(g.shape)} and dtype {g.dtype} but {what} has shape "
                f"{tuple(w.shape)} and dtype {w.dtype}; {hint}"
            )


def _check_step(step: Step, params: Any, state: Any, xs: jax.Array, init: Callable | None, given: bool) -> None:
    """Evaluate ``step`` abstractly on one time step (nothing is computed) and check that the
    state keeps its structure, shapes and dtypes; for a neuron with a record also that a given
    ``state`` is exactly the one ``init_state`` builds for ``xs.shape[1:]`` (no broadcasting
    of the input to a bigger state) and that the output has the input's shape."""
    x0 = jax.ShapeDtypeStruct(xs.shape[1:], xs.dtype)
    hint = f"initialise the state for one time step of the time-major input, shape {xs.shape[1:]}"
    with _checks.suspended():
        state_in = jax.eval_shape(lambda s: s, state)
        if init is not None and given:
            want = jax.eval_shape(lambda: init(xs.shape[1:], xs.dtype, params=params))
            _compare_states(state_in, want, what=f"init_state({xs.shape[1:]}, {xs.dtype}) for this step", hint=hint)
        try:
            state_out, y = jax.eval_shape(lambda s, x: step(params, s, x), state, x0)
        except (ValueError, TypeError) as e:
            if _is_ours(e):
                raise
            raise type(e)(
                f"step(params, state, x) failed with params {describe(params)}, state ({_shapes(state_in)}) "
                f"and x of shape {x0.shape} and dtype {x0.dtype}: {e}"
            ) from e
        except (AttributeError, KeyError, IndexError) as e:
            raise TypeError(
                f"step(params, state, x) failed with params {describe(params)}: {type(e).__name__}: {e}; "
                "are these the params of this step's neuron?"
            ) from e
    _compare_states(
        state_in,
        state_out,
        what="the state the step returns",
        hint="a step must return a state of the shapes and dtypes it was given; " + hint,
    )
    if init is not None and isinstance(y, jax.ShapeDtypeStruct) and tuple(y.shape) != x0.shape:
        raise ValueError(f"the step's output has shape {tuple(y.shape)} for an input step of shape {x0.shape}; {hint}")


_OUR_MODULES = ("snnjax.",)


def _is_ours(e: BaseException) -> bool:
    """Whether ``e`` was raised by snnjax's own checks (its message already names the argument)."""
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    mod = last.tb_frame.f_globals.get("__name__", "") if last is not None else ""
    return mod.startswith(_OUR_MODULES) and not mod.startswith("snnjax.kernels")


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
    time_axis: int = 0,
) -> tuple[Any, jax.Array] | tuple[Any, jax.Array, Any]:
    """Apply ``step`` at every time step of ``xs`` with ``jax.lax.scan``.

    Args:
      step: a :class:`~snnjax.neurons.Neuron` record (``neurons.lif.neuron``, or one made for
        a user-written neuron), or a pure step ``step(params, state, x) -> (state, out)``: a
        step marked by a record (every ``neurons.X.step``, also wrapped in ``jax.jit`` /
        ``functools.partial``) brings its record's ``init_state`` and flags; a bare custom step
        needs ``state`` or ``init_state``.
      params: the neuron's params pytree (e.g. :class:`~snnjax.neurons.LIFParams`).
      xs: input currents, time-major ``[T, ...]``, floating dtype, ``T >= 1``.
      state: initial state for one time step's shape ``xs.shape[1:]``. ``None``
        builds it with ``init_state(xs.shape[1:], xs.dtype, params=params)``.
      init_state: the initial-state function for ``state=None``; defaults to the
        record's.
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
        GPU/TPU for element-wise steps only once the compiled kernels have passed there with
        the installed JAX (:data:`PALLAS_VERIFIED`; none yet, see ``benchmarks/RESULTS.md``),
        ``"fused"`` otherwise and elsewhere (but ``"scan"`` on CPU for a neuron
        whose record says ``compute_bound``, e.g. POLARA, when ``T > UNROLL_MAX_T`` = 6: its fused
        backward's recomputation costs more than it saves), unless ``return_states``, ``remat``,
        ``checkpoint_every`` or ``unroll`` is requested (those are ``lax.scan``
        options), then ``"scan"``. ``"fused"`` and ``"pallas"`` are reverse-mode
        only (``custom_vjp``): under ``jax.jvp`` / ``jacfwd`` / ``hessian``, ``"auto"``
        picks ``"scan"`` automatically and the spikes use their forward-mode twin (the
        module docstring's table; ``snnjax.surrogate.forward_mode()`` where a ``jit`` hides
        the transform).
        ``"native"``: the compiled C++ CPU kernels through ``jax.ffi`` (:mod:`snnjax.kernels.native`:
        IF, LIF, PLIF, ILIF/IPLIF, CLIF and POLARA (the options that module lists) in float32
        with a registered surrogate, and the LI readout (no surrogate); built at install where
        a C++17 compiler exists); ``"auto"`` takes it on the CPU (one local device) wherever it
        applies, before ``"fused"`` (for IF/LIF/PLIF and LI only from ``T > UNROLL_MAX_T`` on:
        below, the unrolled fused backend is faster; LI up to ``LINEAR_MAX_T`` takes ``"linear"``).
        ``"linear"``: for neurons whose record says ``linear`` (the leaky-integrator
        readout), one matmul with the Toeplitz matrix of the step's impulse response
        (:mod:`snnjax.kernels.linear`); ``"auto"`` takes it for such neurons when
        ``T <= LINEAR_MAX_T`` (64) and the params are scalars or per-neuron ``[N]``.
      time_axis: the axis of ``xs`` that is time. ``0`` (default): time-major ``[T, ...]``.
        For batch-major data ``[B, T, ...]`` pass ``time_axis=1``: ``ys`` (and ``states``)
        then come back batch-major too; the state is always per time step (``xs`` without
        its time axis).

    Non-finite inputs propagate (see :mod:`snnjax.checks`): a NaN/inf in ``xs`` at step t
    makes the state non-finite from t on, identically on every backend; inside
    :func:`snnjax.checks.checked` it raises instead.

    Returns:
      ``(final_state, ys)`` with ``ys`` of shape ``[T, ...]``; with
      ``return_states``, ``(final_state, ys, states)``.

    Raises:
      TypeError: ``xs`` is not floating point, ``step``/``init_state`` are not callable, an
        option has the wrong type, or the step fails on ``params`` (e.g. another neuron's).
      ValueError: ``xs`` has rank 0, ``T = 0`` or no neurons, ``state`` does not match the
        state the neuron builds for ``xs.shape[1:]`` (or the step changes its shapes or
        dtypes), or an option is invalid.
    """
    check_callable("step", step, signature="step(params, state, x) -> (state, out)")
    check_option("backend", backend, BACKENDS)
    check_bool("return_states", return_states)
    check_bool("remat", remat)
    check_int("checkpoint_every", checkpoint_every, low=1, allow_none=True)
    if not isinstance(unroll, (bool, np.bool_)):
        check_int("unroll", unroll, low=1)
    check_callable("init_state", init_state, allow_none=True, signature="init_state(shape, dtype, *, params)")
    xs = check_float_array("xs", xs, min_rank=1)
    check_int("time_axis", time_axis, low=-xs.ndim, high=xs.ndim - 1)
    time_axis %= xs.ndim
    if time_axis:
        xs = jnp.moveaxis(xs, time_axis, 0)
    if xs.shape[0] == 0:
        raise ValueError(f"xs must have at least one time step (time-major [T, ...]), got shape {xs.shape}")
    if xs.size == 0:
        raise ValueError(f"xs must have at least one neuron per time step (no axis of size 0), got shape {xs.shape}")
    if _checks.enabled():
        revalidate(params)
        from jax.experimental import checkify

        checkify.check(jnp.all(jnp.isfinite(xs)), "xs (the input currents) must be finite (no NaN/inf)")
    zero_state = state is None
    record = neuron_of(step)
    if isinstance(step, Neuron):
        step = step.step
    registered = record.init_state if record is not None else None
    init = init_state if init_state is not None else registered
    if state is None:
        if init is None:
            raise ValueError(
                "state=None needs init_state= for a bare step function; or pass a snnjax.neurons.Neuron record "
                "(Neuron(init_state, step)) instead of the step"
            )
        state = init(xs.shape[1:], xs.dtype, params=params)
    _check_step(step, params, state, xs, registered, given=not zero_state)
    out = _dispatch(
        step,
        record,
        params,
        xs,
        state,
        init,
        zero_state=zero_state,
        return_states=return_states,
        unroll=unroll,
        remat=remat,
        checkpoint_every=checkpoint_every,
        backend=backend,
    )
    if time_axis:
        final, *rest = out
        rest = [jax.tree.map(lambda a: jnp.moveaxis(a, 0, time_axis), r) for r in rest]
        return (final, *rest)
    return out


def _in_forward_mode(*trees: Any) -> bool:
    """Whether ``run`` is traced for forward-mode autodiff: a leaf of ``trees`` is a JVP tracer
    (``jax.jvp``/``jacfwd``/``hessian``, also under ``vmap`` or an inner ``jacrev``), or inside
    :func:`snnjax.surrogate.forward_mode`. The fused and pallas backends are whole-sequence
    ``custom_vjp`` (reverse mode only), so ``"auto"`` then takes ``"scan"`` (or ``"linear"``)."""
    return _surrogate.is_forward_mode(*trees)


def _dispatch(
    step, record, params, xs, state, init, *, zero_state, return_states, unroll, remat, checkpoint_every, backend
):
    if _in_forward_mode(params, xs, state) and not _surrogate.is_forward_mode():
        # lax.scan traces the step abstractly (no JVP tracers inside): trace it, and its
        # spikes, in forward mode. locals() is exactly this call's arguments here.
        with _surrogate.forward_mode():
            return _dispatch(**locals())
    forward = _in_forward_mode(params, xs, state)
    if forward and backend in ("fused", "pallas", "native"):
        raise ValueError(
            f"backend={backend!r} is reverse-mode only (a whole-sequence custom_vjp): it cannot be used under "
            "forward-mode autodiff (jax.jvp, jax.jacfwd, jax.hessian, snnjax.surrogate.forward_mode()); pass "
            "backend='scan' (or 'auto', which picks it)"
        )
    linear = record is not None and record.linear
    compute_bound = record is not None and record.compute_bound

    scan_only = return_states or remat or checkpoint_every is not None or unroll != 1
    if backend in ("fused", "pallas", "linear", "native") and scan_only:
        raise ValueError(
            f"backend={backend!r} does not take return_states, remat, checkpoint_every or unroll; use backend='scan'"
        )
    if backend == "linear":
        if not linear:
            raise ValueError(
                "backend='linear' needs a neuron whose record says linear=True (e.g. neurons.li.neuron), "
                f"got {record!r}"
            )
        if not _linear.supported(params, xs):
            raise ValueError(
                "backend='linear' needs params that are scalars or one value per neuron on the last axis of xs"
            )
    if backend == "auto" and not scan_only:
        on_accel = jax.default_backend() in ("gpu", "tpu")
        if linear and xs.shape[0] <= LINEAR_MAX_T and _linear.supported(params, xs):
            backend = "linear"
        elif forward:
            backend = "scan"  # fused and pallas are custom_vjp: reverse mode only
        elif on_accel and pallas_is_default() and pallas_supported(step, params, xs, state):
            backend = "pallas"
        elif not on_accel and jax.local_device_count() == 1 and _native.preferred(step, params, xs, state):
            # the compiled CPU kernels (snnjax.kernels.native); not on a multi-device mesh, where
            # they would be replicated (they have no partitioning rule)
            backend = "native"
        elif not on_accel and compute_bound and xs.shape[0] > UNROLL_MAX_T:
            backend = "scan"  # recomputing the step in the fused backward costs more than it saves
        else:
            backend = "fused"
    if backend == "linear":
        # a matmul would spread a NaN/inf at step t to every output (0·NaN = NaN): with
        # non-finite inputs the (rare) sequence runs through lax.scan, as the policy says
        def through_scan(xs):
            return _scan(lambda c, x: step(params, c, x), state, xs, 1, False, None)

        return jax.lax.cond(
            jnp.all(jnp.isfinite(xs)),
            lambda xs: _linear.linear_run(step, params, xs, state, init, zero_state=zero_state),
            through_scan,
            xs,
        )
    if backend == "native":
        # state=None: the kernels take the registered init_state's uniform fields as one value each
        return _native.native_run(step, params, xs, state, init=init if zero_state else None)
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
