"""Pieces shared by the neuron files: reset rules, surrogate coercion, state checks.

Only genuinely shared mechanics live here; each neuron's update equations are
written out in its own file, next to its docstring.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax._src import check_float_array, check_option, check_state_shapes

RESET_MODES = ("soft", "hard", "none")

_INIT_FNS: dict[Callable, Callable] = {}
_LINEAR: set[Callable] = set()
_COMPUTE_BOUND: set[Callable] = set()


def register(step: Callable, init_state: Callable, *, linear: bool = False, compute_bound: bool = False) -> None:
    """Record ``init_state`` as the initial-state function of ``step`` (used by ``run``).

    ``linear=True`` declares the step linear in ``(state, x)`` and time-invariant,
    with an all-zero ``init_state`` (e.g. the leaky-integrator readout): ``run``
    may then evaluate it as a matmul with its impulse response (``backend="linear"``).

    ``compute_bound=True`` declares the step costly to recompute (many transcendental
    operations, e.g. POLARA): the fused backend's backward recomputes every step, which
    for such a step costs more than the residuals it avoids storing, so ``backend="auto"``
    on CPU keeps autodiff through ``lax.scan`` for sequences the fused backend would not
    unroll (``T > UNROLL_MAX_T``). Measured in ``benchmarks/RESULTS.md``.
    """
    _INIT_FNS[step] = init_state
    if linear:
        _LINEAR.add(step)
    if compute_bound:
        _COMPUTE_BOUND.add(step)


def is_compute_bound(step: Callable) -> bool:
    """Whether ``step`` was registered as costly to recompute (see :func:`register`)."""
    return step in _COMPUTE_BOUND


def is_linear(step: Callable) -> bool:
    """Whether ``step`` was registered as linear time-invariant."""
    return step in _LINEAR


def init_state_for(step: Callable) -> Callable | None:
    """The ``init_state`` registered for ``step``, or ``None``."""
    return _INIT_FNS.get(step)


def stack_params(params: Sequence[Any]) -> tuple[Any, Any]:
    """Stack several params objects of one class for ``jax.vmap`` over neuron configurations.

    Returns ``(stacked, in_axes)``: ``stacked`` has every leaf that differs between the
    objects stacked on a new leading axis (leaves equal in all of them are kept once), and
    ``in_axes`` is the matching ``vmap`` prefix (``0`` for stacked leaves, ``None`` for the
    others). Both are built as pytrees, without the classes' value checks (an axis number is
    not a time constant); each input object was checked when it was made.

    Example:
        >>> ps = [LIFParams(tau=t) for t in (1.5, 2.0, 4.0)]
        >>> stacked, axes = stack_params(ps)
        >>> spikes = jax.vmap(lambda p: run(lif.step, p, xs)[1], in_axes=(axes,))(stacked)  # [3, T, ...]
    """
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one params object, got an empty sequence")
    leaves0, treedef = jax.tree_util.tree_flatten(params[0])
    for i, p in enumerate(params[1:], 1):
        leaves, td = jax.tree_util.tree_flatten(p)
        if td != treedef:
            raise ValueError(
                f"params[{i}] differs from params[0] in its class or static fields ({td} vs {treedef}); "
                "only numeric fields can be stacked"
            )
    columns = list(zip(*(jax.tree_util.tree_leaves(p) for p in params)))
    stacked, axes = [], []
    for col in columns:
        first = np.asarray(col[0]) if not isinstance(col[0], jax.core.Tracer) else None
        same = first is not None and all(
            not isinstance(c, jax.core.Tracer) and np.shape(c) == first.shape and np.array_equal(np.asarray(c), first)
            for c in col[1:]
        )
        if same:
            stacked.append(col[0])
            axes.append(None)
        else:
            stacked.append(jnp.stack([jnp.asarray(c) for c in col]))
            axes.append(0)
    return jax.tree_util.tree_unflatten(treedef, stacked), jax.tree_util.tree_unflatten(treedef, axes)


def coerce_surrogate(obj: Any, value: Any) -> None:
    """In a params ``__post_init__``: turn a surrogate name into a :class:`Surrogate`."""
    if isinstance(value, str):
        object.__setattr__(obj, "surrogate", _surrogate.get(value))
    elif not (isinstance(value, _surrogate.Surrogate) or value is None or callable(value)):
        raise TypeError(f"surrogate must be a name (str) or a snnjax.surrogate.Surrogate, got {value!r}")


def reset(u: jax.Array, s: jax.Array, v_th: ArrayLike, mode: str, detach: bool, v_reset: ArrayLike = 0.0):
    """Membrane after a spike ``s`` (0/1) at pre-reset potential ``u``.

    * ``"soft"`` (subtract): ``u - s·v_th``
    * ``"hard"`` (to ``v_reset``): ``u·(1 - s) + s·v_reset``
    * ``"none"``: ``u``

    With ``detach``, ``s`` inside the reset is ``stop_gradient(s)``.
    """
    if detach:
        s = jax.lax.stop_gradient(s)
    if mode == "soft":
        return u - s * v_th
    if mode == "hard":
        return u * (1.0 - s) + s * v_reset
    return u


def check_step_input(x: Any, state: Any, name: str = "x") -> jax.Array:
    """Validate one step's input against the state (floating dtype, same leading shape)."""
    x = check_float_array(name, x)
    check_state_shapes(state, jnp.shape(x))
    return x


def make_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        shape = tuple(operator.index(d) for d in shape)  # rejects 2.5, "a", True stays an int
    except TypeError as e:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from e
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must have non-negative entries, got {shape}")
    return shape


def check_dtype(dtype: Any) -> jnp.dtype:
    try:
        dtype = jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be a floating dtype (e.g. jnp.float32), got {dtype!r}") from e
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def decay_from_tau(tau: ArrayLike) -> jax.Array:
    """``λ = 1 - 1/τ`` (the forward-Euler leak used by the ILIF paper's LIF)."""
    return 1.0 - 1.0 / jnp.asarray(tau)


__all__ = [
    "RESET_MODES",
    "register",
    "init_state_for",
    "coerce_surrogate",
    "reset",
    "check_step_input",
    "make_shape",
    "check_dtype",
    "decay_from_tau",
    "check_option",
    "stack_params",
]
