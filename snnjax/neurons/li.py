r"""Leaky-integrator readout (non-spiking).

With ``synaptic=True`` (default; the spytorch readout, same ordering as
:mod:`snnjax.neurons.spytorch_lif` without spikes):

.. math::

    I_t = α\, I_{t-1} + x_t,\qquad V_t = β\, V_{t-1} + I_{t-1}

With ``synaptic=False``: ``V_t = β V_{t-1} + x_t`` (``I`` stays 0).
The output of a step is ``V_t``. α = exp(-1/τ_syn), β = exp(-1/τ_mem);
defaults τ_syn = 5, τ_mem = 10 (spytorch). For the spytorch loss, take the max
over time including the initial zero state (see :mod:`snnjax.train`).
Shapes: ``x``, ``i``, ``v`` identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax.neurons._common import Neuron
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import check_dtype, check_positive, check_step_input, make_shape

__all__ = ["neuron", "LIParams", "LIState", "init_state", "step"]


@params_dataclass
class LIParams:
    """Parameters of :func:`step`.

    Attributes:
      tau_syn: synaptic time constant (steps) > 0 (unused if ``synaptic=False``). Differentiable.
      tau_mem: membrane time constant (steps) > 0. Differentiable.
      synaptic: two-stage (current then membrane) filter as spytorch. Static.
    """

    BOUNDS = {"tau_syn": 0.0, "tau_mem": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau_syn: ArrayLike = 5.0
    tau_mem: ArrayLike = 10.0
    synaptic: bool = static_field(True)

    def __post_init__(self):
        check_positive("tau_syn", self.tau_syn)
        check_positive("tau_mem", self.tau_mem)

    @property
    def alpha(self) -> jax.Array:
        return jnp.exp(-1.0 / jnp.asarray(self.tau_syn))

    @property
    def beta(self) -> jax.Array:
        return jnp.exp(-1.0 / jnp.asarray(self.tau_mem))


class LIState(NamedTuple):
    """Leaky-integrator state: ``i`` synaptic current, ``v`` membrane; both ``shape``."""

    i: jax.Array
    v: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: LIParams | None = None) -> LIState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return LIState(i=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype))


def step(params: LIParams, state: LIState, x: jax.Array) -> tuple[LIState, jax.Array]:
    """One step: ``(new_state, v_t)``."""
    x = check_step_input(x, state)
    if params.synaptic:
        i = params.alpha * state.i + x
        v = params.beta * state.v + state.i
    else:
        i = state.i
        v = params.beta * state.v + x
    v = v.astype(x.dtype)
    return LIState(i=i.astype(x.dtype), v=v), v


neuron = Neuron(init_state, step, params=LIParams, name="li", linear=True)
"""The LI neuron as a :class:`~snnjax.neurons.Neuron` record."""
