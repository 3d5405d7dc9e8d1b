r"""The spytorch synaptic LIF (Zenke's SpyTorch tutorial; POLARA's baseline).

Exactly the tutorial's loop body, per step (``../shared/NEURONS.md``):

.. math::

    S_t &= \mathrm{spike}(V_{t-1} - V_{th}) \\
    r_t &= \mathrm{stop\_gradient}(S_t) \\
    I_t &= α\, I_{t-1} + x_t \\
    V_t &= (β\, V_{t-1} + I_{t-1}) (1 - r_t)

Note the *previous* current ``I_{t-1}`` drives ``V_t`` and the spike is taken
from the membrane *before* the update (so ``S_1 = 0``). α = exp(-1/τ_syn),
β = exp(-1/τ_mem); defaults τ_syn = 5, τ_mem = 10 steps, V_th = 1, SuperSpike
surrogate β_s = 100. ``detach_reset=False`` lets the gradient flow through the
reset (not spytorch's choice). Shapes: ``x``, ``i``, ``v`` identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import Neuron, coerce_surrogate
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import check_dtype, check_positive, check_step_input, make_shape

__all__ = ["neuron", "SpytorchLIFParams", "SpytorchLIFState", "init_state", "step"]


@params_dataclass
class SpytorchLIFParams:
    """Parameters of :func:`step`.

    Attributes:
      tau_syn: synaptic time constant (steps) > 0; α = exp(-1/τ_syn). Differentiable.
      tau_mem: membrane time constant (steps) > 0; β = exp(-1/τ_mem). Differentiable.
      v_th: threshold (1 in spytorch).
      surrogate: default SuperSpike with β_s = 100.
      detach_reset: stop-gradient on the spike in the reset (spytorch: True). Static.
    """

    BOUNDS = {"tau_syn": 0.0, "tau_mem": 0.0, "v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau_syn: ArrayLike = 5.0
    tau_mem: ArrayLike = 10.0
    v_th: ArrayLike = 1.0
    surrogate: Any = _surrogate.superspike(100.0)
    detach_reset: bool = static_field(True)

    def __post_init__(self):
        check_positive("tau_syn", self.tau_syn)
        check_positive("tau_mem", self.tau_mem)
        check_positive("v_th", self.v_th)
        coerce_surrogate(self, self.surrogate)

    @property
    def alpha(self) -> jax.Array:
        """Synaptic decay α = exp(-1/τ_syn)."""
        return jnp.exp(-1.0 / jnp.asarray(self.tau_syn))

    @property
    def beta(self) -> jax.Array:
        """Membrane decay β = exp(-1/τ_mem)."""
        return jnp.exp(-1.0 / jnp.asarray(self.tau_mem))


class SpytorchLIFState(NamedTuple):
    """Spytorch-LIF state.

    Attributes:
      i: synaptic current, ``shape``.
      v: membrane potential, ``shape``.
    """

    i: jax.Array
    v: jax.Array


def init_state(
    shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: SpytorchLIFParams | None = None
) -> SpytorchLIFState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return SpytorchLIFState(i=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype))


def step(params: SpytorchLIFParams, state: SpytorchLIFState, x: jax.Array) -> tuple[SpytorchLIFState, jax.Array]:
    """One step: ``(new_state, spikes)``; the spikes are those of the incoming membrane."""
    x = check_step_input(x, state)
    s = params.surrogate(state.v - params.v_th)
    rst = jax.lax.stop_gradient(s) if params.detach_reset else s
    i = params.alpha * state.i + x
    v = (params.beta * state.v + state.i) * (1.0 - rst)
    return SpytorchLIFState(i=i.astype(x.dtype), v=v.astype(x.dtype)), s.astype(x.dtype)


neuron = Neuron(init_state, step, params=SpytorchLIFParams, name="spytorch_lif")
"""The spytorch_lif neuron as a :class:`~snnjax.neurons.Neuron` record."""
