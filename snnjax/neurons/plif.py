r"""Parametric LIF (PLIF, Fang et al. 2021): LIF with a learnable leak.

.. math::

    λ = \sigma(w),\quad U_t = λ\, m_{t-1} + x_t,\quad
    S_t = \mathrm{spike}(U_t - V_{th}),\quad m_t = \mathrm{reset}(U_t, S_t)

The leak is reparameterised by ``w`` (unconstrained, differentiable) so that
λ stays in (0, 1) without clamping; ``w = 0`` gives λ = 0.5, i.e. τ = 2 with
λ = 1 - 1/τ (the IPLIF initialisation in ``../shared/NEURONS.md``). Use
:func:`w_from_tau` to initialise for another τ. Same reset options as LIF.
Note: unlike SpikingJelly's ``ParametricLIFNode`` the input is not scaled by
1/τ (``decay_input=False`` there), matching this library's LIF.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import RESET_MODES, Neuron, coerce_surrogate
from snnjax.neurons.lif import leaky_step
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import (
    check_at_least,
    check_dtype,
    check_finite,
    check_option,
    check_positive,
    make_shape,
)

__all__ = ["neuron", "PLIFParams", "PLIFState", "init_state", "step", "w_from_tau"]


def w_from_tau(tau: float) -> float:
    """The ``w`` with ``sigmoid(w) = 1 - 1/tau`` (τ > 1)."""
    check_at_least("tau", tau, 1.0)
    lam = 1.0 - 1.0 / tau
    if lam <= 0.0:
        raise ValueError(f"tau must be > 1 for a finite w, got {tau}")
    return math.log(lam / (1.0 - lam))


@params_dataclass
class PLIFParams:
    """Parameters of :func:`step`.

    Attributes:
      w: leak logit, λ = sigmoid(w); scalar or per-neuron; differentiable. Default 0 (τ = 2).
      v_th, v_reset, surrogate, reset, detach_reset: as :class:`~snnjax.neurons.lif.LIFParams`.
    """

    BOUNDS = {"v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    w: ArrayLike = 0.0
    v_th: ArrayLike = 1.0
    v_reset: ArrayLike = 0.0
    surrogate: Any = _surrogate.rectangle(1.0)
    reset: str = static_field("soft")
    detach_reset: bool = static_field(False)

    def __post_init__(self):
        check_finite("w", self.w)
        check_positive("v_th", self.v_th)
        check_finite("v_reset", self.v_reset)
        check_option("reset", self.reset, RESET_MODES)
        coerce_surrogate(self, self.surrogate)

    @property
    def decay(self) -> jax.Array:
        """λ = sigmoid(w)."""
        return jax.nn.sigmoid(jnp.asarray(self.w))


class PLIFState(NamedTuple):
    """PLIF state. ``m``: membrane after reset, ``shape``, float."""

    m: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: PLIFParams | None = None) -> PLIFState:
    """All-zero state (``params`` unused)."""
    del params
    return PLIFState(m=jnp.zeros(make_shape(shape), check_dtype(dtype)))


def step(params: PLIFParams, state: PLIFState, x: jax.Array) -> tuple[PLIFState, jax.Array]:
    """One PLIF step: ``(new_state, spikes)`` (the leaky update of :func:`~snnjax.neurons.lif.leaky_step`)."""
    return leaky_step(params, state, x, params.decay)


neuron = Neuron(init_state, step, params=PLIFParams, name="plif")
"""The PLIF neuron as a :class:`~snnjax.neurons.Neuron` record."""
