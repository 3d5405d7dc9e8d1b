r"""Leaky integrate-and-fire (LIF) neuron, discrete time.

Update for one step (element-wise; ``x`` is the input current, already ``W·s``):

.. math::

    U_t &= λ\, m_{t-1} + x_t, \qquad λ = 1 - 1/τ \\
    S_t &= \mathrm{spike}(U_t - V_{th}) \\
    m_t &= \begin{cases}
        U_t - S_t V_{th} & \text{reset = "soft" (subtract)} \\
        U_t (1 - S_t) + S_t V_{reset} & \text{reset = "hard"} \\
        U_t & \text{reset = "none"}
    \end{cases}

``spike`` is the exact Heaviside (``H(0) = 1``) with the params' surrogate
derivative in the backward pass. With ``detach_reset=True`` the ``S_t`` inside
the reset is ``stop_gradient(S_t)``. Defaults follow the ILIF paper's LIF
(``../shared/NEURONS.md``): τ = 1.1, V_th = 1, rectangle surrogate γ = 1.

Shapes: ``x`` and every state field have the same shape (e.g. ``[B, N]``).

Example:
    >>> params = LIFParams(tau=2.0, surrogate="atan")
    >>> state = init_state((4, 10))
    >>> state, s = step(params, state, jnp.ones((4, 10)))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import RESET_MODES, Neuron, coerce_surrogate, decay_from_tau, reset
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import (
    check_at_least,
    check_dtype,
    check_finite,
    check_option,
    check_positive,
    check_step_input,
    make_shape,
)

__all__ = ["neuron", "LIFParams", "LIFState", "init_state", "step"]


@params_dataclass
class LIFParams:
    """Parameters of :func:`step`.

    Attributes:
      tau: membrane time constant τ >= 1 (in steps), scalar or per-neuron; λ = 1 - 1/τ.
        Differentiable.
      v_th: firing threshold V_th, differentiable.
      v_reset: membrane value after a spike for ``reset="hard"``.
      surrogate: spike surrogate (name or :class:`~snnjax.surrogate.Surrogate`).
      reset: ``"soft"`` (subtract V_th), ``"hard"`` (to ``v_reset``) or ``"none"``. Static.
      detach_reset: stop the gradient through the spike inside the reset. Static.
    """

    BOUNDS = {"tau": 1.0, "v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau: ArrayLike = 1.1
    v_th: ArrayLike = 1.0
    v_reset: ArrayLike = 0.0
    surrogate: Any = _surrogate.rectangle(1.0)
    reset: str = static_field("soft")
    detach_reset: bool = static_field(False)

    def __post_init__(self):
        check_at_least("tau", self.tau, 1.0)
        check_positive("v_th", self.v_th)
        check_finite("v_reset", self.v_reset)
        check_option("reset", self.reset, RESET_MODES)
        coerce_surrogate(self, self.surrogate)


class LIFState(NamedTuple):
    """LIF state.

    Attributes:
      m: membrane after reset, ``shape``, float.
    """

    m: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: LIFParams | None = None) -> LIFState:
    """All-zero state for neurons of ``shape`` (``params`` unused; accepted for uniformity)."""
    del params
    return LIFState(m=jnp.zeros(make_shape(shape), check_dtype(dtype)))


def leaky_step(params: Any, state: Any, x: jax.Array, decay: ArrayLike | None) -> tuple[Any, jax.Array]:
    """The update shared by the leaky family (IF, LIF, PLIF): ``U = λ·m + x`` (``U = m + x``
    for ``decay=None``), spike, reset. ``params`` has ``v_th``, ``v_reset``, ``surrogate``,
    ``reset`` and ``detach_reset``; the new state has ``state``'s type."""
    x = check_step_input(x, state)
    u = state.m + x if decay is None else decay * state.m + x
    s = params.surrogate(u - params.v_th)
    m = reset(u, s, params.v_th, params.reset, params.detach_reset, params.v_reset)
    return type(state)(m=m.astype(x.dtype)), s.astype(x.dtype)


def step(params: LIFParams, state: LIFState, x: jax.Array) -> tuple[LIFState, jax.Array]:
    """One LIF step: returns ``(new_state, spikes)``, spikes 0/1 in ``x``'s dtype."""
    return leaky_step(params, state, x, decay_from_tau(params.tau))


neuron = Neuron(init_state, step, params=LIFParams, name="lif")
"""The LIF neuron as a :class:`~snnjax.neurons.Neuron` record."""
