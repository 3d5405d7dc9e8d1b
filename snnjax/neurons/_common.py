"""Pieces shared by the neuron files: the :class:`Neuron` record, reset rules, surrogate
coercion, ``stack_params`` (their input checks are in :mod:`snnjax.validation`).

Only genuinely shared mechanics live here; each neuron's update equations are
written out in its own file, next to its docstring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate

RESET_MODES = ("soft", "hard", "none")


@dataclasses.dataclass(frozen=True, eq=False)
class Neuron:
    """A neuron model as an explicit record: its pure functions and what :func:`snnjax.run`
    needs to know about them. Every neuron file ends with one (``snnjax.neurons.lif.neuron``,
    ...); a neuron written outside the package is made the same way.

    Attributes:
      init_state: ``init_state(shape, dtype=jnp.float32, *, params=None) -> state`` for one
        time step of ``shape`` (e.g. ``(B, N)``); every state leaf has ``shape`` (optionally
        behind leading axes, e.g. a history).
      step: ``step(params, state, x) -> (state, out)``, element-wise over ``x``'s shape.
      params: the params class (a :func:`~snnjax.params_dataclass` or a ``NamedTuple``);
        :class:`snnjax.nn.Neuron` builds its layer from it. Optional.
      linear: the step is linear in ``(state, x)`` and time-invariant, with an all-zero
        initial state (e.g. the leaky-integrator readout): ``run`` may evaluate it as one
        matmul with its impulse response (``backend="linear"``).
      compute_bound: the step is costly to recompute (many transcendental operations, e.g.
        POLARA): the fused backend's backward recomputes every step, which for such a step
        costs more than the residuals it avoids storing, so ``backend="auto"`` on CPU keeps
        autodiff through ``lax.scan`` for ``T > UNROLL_MAX_T`` (``benchmarks/RESULTS.md``).
      name: for messages and reprs.

    Calling the record is calling its step, so a record goes wherever a step does
    (``run(neuron, params, xs)``, ``lax.scan``); :func:`snnjax.run` takes either. Making a
    record also marks its ``step`` function (attribute ``__snnjax_neuron__``), so
    ``run(step, params, xs)`` with the bare step — also wrapped by ``functools.partial``,
    ``jax.jit`` or ``functools.wraps`` — finds ``init_state`` and the flags.

    Example:
        >>> izhikevich = Neuron(init_state, step, params=IzhikevichParams, name="izhikevich")
        >>> final, spikes = snnjax.run(izhikevich, IzhikevichParams(), xs)
    """

    init_state: Callable[..., Any]
    step: Callable[..., tuple[Any, Any]]
    params: type | None = None
    linear: bool = False
    compute_bound: bool = False
    name: str = ""

    def __post_init__(self):
        for field in ("init_state", "step"):
            if not callable(getattr(self, field)):
                raise TypeError(f"Neuron {field} must be callable, got {type(getattr(self, field)).__name__}")
        if self.params is not None and not isinstance(self.params, type):
            raise TypeError(f"Neuron params must be the params class (or None), got {self.params!r}")
        for field in ("linear", "compute_bound"):
            if not isinstance(getattr(self, field), bool):
                raise TypeError(f"Neuron {field} must be a bool, got {getattr(self, field)!r}")
        if not isinstance(self.name, str):
            raise TypeError(f"Neuron name must be a str, got {self.name!r}")
        try:
            self.step.__snnjax_neuron__ = self
        except (AttributeError, TypeError):  # a builtin or a slotted callable: the record still works
            pass

    def __call__(self, params: Any, state: Any, x: Any) -> tuple[Any, Any]:
        return self.step(params, state, x)

    def __repr__(self) -> str:
        flags = "".join(f", {f}=True" for f in ("linear", "compute_bound") if getattr(self, f))
        return f"Neuron({self.name or self.step.__name__!s}{flags})"


def neuron_of(step: Any) -> Neuron | None:
    """The :class:`Neuron` record of ``step``: the record itself, or the record that marked
    this step function, looking through ``functools.partial`` (``.func``) and wrappers
    (``__wrapped__``: ``jax.jit``, ``functools.wraps``); ``None`` for a bare custom step."""
    seen = 0
    while step is not None and seen < 16:
        if isinstance(step, Neuron):
            return step
        rec = getattr(step, "__snnjax_neuron__", None)
        if isinstance(rec, Neuron):
            return rec
        step = getattr(step, "func", None) or getattr(step, "__wrapped__", None)
        seen += 1
    return None


def init_state_for(step: Callable) -> Callable | None:
    """The ``init_state`` of ``step``'s :class:`Neuron` record, or ``None``."""
    rec = neuron_of(step)
    return rec.init_state if rec is not None else None


def is_compute_bound(step: Callable) -> bool:
    """Whether ``step``'s record says it is costly to recompute (see :class:`Neuron`)."""
    rec = neuron_of(step)
    return rec is not None and rec.compute_bound


def is_linear(step: Callable) -> bool:
    """Whether ``step``'s record says it is linear time-invariant (see :class:`Neuron`)."""
    rec = neuron_of(step)
    return rec is not None and rec.linear


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


def decay_from_tau(tau: ArrayLike) -> jax.Array:
    """``λ = 1 - 1/τ`` (the forward-Euler leak used by the ILIF paper's LIF)."""
    return 1.0 - 1.0 / jnp.asarray(tau)


__all__ = [
    "RESET_MODES",
    "Neuron",
    "neuron_of",
    "init_state_for",
    "is_linear",
    "is_compute_bound",
    "coerce_surrogate",
    "reset",
    "decay_from_tau",
    "stack_params",
]
