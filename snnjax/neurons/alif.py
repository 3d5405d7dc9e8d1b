r"""Adaptive-threshold LIF (ALIF; Bellec et al. 2018, "LSNN"), discrete time.

.. math::

    U_t &= λ\, m_{t-1} + x_t, & λ &= 1 - 1/τ \\
    θ_t &= V_{th} + β_a\, a_{t-1} \\
    S_t &= \mathrm{spike}(U_t - θ_t) \\
    m_t &= \mathrm{reset}(U_t, S_t;\ θ_t) & &\text{soft: } U_t - S_t θ_t \\
    a_t &= ρ\, a_{t-1} + S_t, & ρ &= 1 - 1/τ_a

The adaptation variable ``a`` counts recent spikes with leak ρ and raises the
threshold by ``β_a·a``. The soft reset subtracts the *current* threshold θ_t;
``"hard"`` resets to ``v_reset``. Leaks use the same forward-Euler form
λ = 1 - 1/τ as the library's LIF (Bellec et al. use exp(-1/τ); pass
``tau = 1/(1-exp(-1/τ'))`` to match). Shapes: ``x``, ``m``, ``a`` identical.
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

__all__ = ["neuron", "ALIFParams", "ALIFState", "init_state", "step"]


@params_dataclass
class ALIFParams:
    """Parameters of :func:`step`.

    Attributes:
      tau: membrane time constant τ >= 1 (steps); differentiable.
      tau_adapt: adaptation time constant τ_a >= 1 (steps); differentiable.
      beta_adapt: threshold increment per unit of ``a`` (β_a); differentiable.
      v_th: baseline threshold V_th; differentiable.
      v_reset, surrogate, reset, detach_reset: as LIF.
    """

    BOUNDS = {"tau": 1.0, "tau_adapt": 1.0, "beta_adapt": 0.0, "v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau: ArrayLike = 20.0
    tau_adapt: ArrayLike = 200.0
    beta_adapt: ArrayLike = 1.8
    v_th: ArrayLike = 1.0
    v_reset: ArrayLike = 0.0
    surrogate: Any = _surrogate.superspike(100.0)
    reset: str = static_field("soft")
    detach_reset: bool = static_field(False)

    def __post_init__(self):
        check_at_least("tau", self.tau, 1.0)
        check_at_least("tau_adapt", self.tau_adapt, 1.0)
        check_at_least("beta_adapt", self.beta_adapt, 0.0)
        check_positive("v_th", self.v_th)
        check_finite("v_reset", self.v_reset)
        check_option("reset", self.reset, RESET_MODES)
        coerce_surrogate(self, self.surrogate)


class ALIFState(NamedTuple):
    """ALIF state.

    Attributes:
      m: membrane after reset, ``shape``.
      a: adaptation (leaky spike count), ``shape``.
    """

    m: jax.Array
    a: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: ALIFParams | None = None) -> ALIFState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return ALIFState(m=jnp.zeros(shape, dtype), a=jnp.zeros(shape, dtype))


def step(params: ALIFParams, state: ALIFState, x: jax.Array) -> tuple[ALIFState, jax.Array]:
    """One ALIF step: ``(new_state, spikes)``."""
    x = check_step_input(x, state)
    u = decay_from_tau(params.tau) * state.m + x
    theta = params.v_th + params.beta_adapt * state.a
    s = params.surrogate(u - theta)
    m = reset(u, s, theta, params.reset, params.detach_reset, params.v_reset)
    a = decay_from_tau(params.tau_adapt) * state.a + s
    return ALIFState(m=m.astype(x.dtype), a=a.astype(x.dtype)), s.astype(x.dtype)


neuron = Neuron(init_state, step, params=ALIFParams, name="alif")
"""The ALIF neuron as a :class:`~snnjax.neurons.Neuron` record."""
