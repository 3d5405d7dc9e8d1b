r"""Integrate-and-fire (IF) neuron: LIF without leak.

.. math::

    U_t = m_{t-1} + x_t,\quad S_t = \mathrm{spike}(U_t - V_{th}),\quad
    m_t = \mathrm{reset}(U_t, S_t)

with the reset rules of :mod:`snnjax.neurons.lif` (``"soft"``, ``"hard"``,
``"none"``; ``detach_reset``). Shapes: ``x`` and ``m`` share one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import RESET_MODES, Neuron, coerce_surrogate
from snnjax.neurons.lif import leaky_step
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import check_dtype, check_finite, check_option, check_positive, make_shape

__all__ = ["neuron", "IFParams", "IFState", "init_state", "step"]


@params_dataclass
class IFParams:
    """Parameters of :func:`step`.

    Attributes:
      v_th: firing threshold, differentiable.
      v_reset: membrane after a spike for ``reset="hard"``.
      surrogate: spike surrogate (name or Surrogate); default rectangle γ = 1.
      reset: ``"soft"``, ``"hard"`` or ``"none"``. Static.
      detach_reset: stop-gradient on the spike inside the reset. Static.
    """

    BOUNDS = {"v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    v_th: ArrayLike = 1.0
    v_reset: ArrayLike = 0.0
    surrogate: Any = _surrogate.rectangle(1.0)
    reset: str = static_field("soft")
    detach_reset: bool = static_field(False)

    def __post_init__(self):
        check_positive("v_th", self.v_th)
        check_finite("v_reset", self.v_reset)
        check_option("reset", self.reset, RESET_MODES)
        coerce_surrogate(self, self.surrogate)


class IFState(NamedTuple):
    """IF state. ``m``: membrane after reset, ``shape``, float."""

    m: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: IFParams | None = None) -> IFState:
    """All-zero state (``params`` unused)."""
    del params
    return IFState(m=jnp.zeros(make_shape(shape), check_dtype(dtype)))


def step(params: IFParams, state: IFState, x: jax.Array) -> tuple[IFState, jax.Array]:
    """One IF step: ``(new_state, spikes)`` (the leaky update of :func:`~snnjax.neurons.lif.leaky_step`, no leak)."""
    return leaky_step(params, state, x, None)


neuron = Neuron(init_state, step, params=IFParams, name="if")
"""The IF neuron as a :class:`~snnjax.neurons.Neuron` record."""
