r"""CLIF (complementary LIF; the ILIF paper's comparison neuron).

One step (``../shared/NEURONS.md``):

1. ``U = λ·m + x``, λ = 1 - 1/τ
2. ``M = M·sigmoid(U/τ)``
3. ``S = spike(U - V_th)``
4. ``M = M + S``
5. ``m = U - S·(V_th + sigmoid(M))``

State: membrane ``m`` and complementary potential ``M`` (both zero at t = 0).
Defaults τ = 2, V_th = 1, rectangle surrogate γ = 1. Nothing is detached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import Neuron, coerce_surrogate, decay_from_tau
from snnjax.pytrees import params_dataclass
from snnjax.validation import (
    check_at_least,
    check_dtype,
    check_positive,
    check_step_input,
    make_shape,
)

__all__ = ["neuron", "CLIFParams", "CLIFState", "init_state", "step"]


@params_dataclass
class CLIFParams:
    """CLIF parameters.

    Attributes:
      tau: time constant τ >= 1 (λ = 1 - 1/τ; also scales ``sigmoid(U/τ)``). Differentiable.
      v_th: threshold. Differentiable.
      surrogate: default rectangle γ = 1.
    """

    BOUNDS = {"tau": 1.0, "v_th": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau: ArrayLike = 2.0
    v_th: ArrayLike = 1.0
    surrogate: Any = _surrogate.rectangle(1.0)

    def __post_init__(self):
        check_at_least("tau", self.tau, 1.0)
        check_positive("v_th", self.v_th)
        coerce_surrogate(self, self.surrogate)


class CLIFState(NamedTuple):
    """CLIF state: ``m`` membrane, ``c`` complementary potential M; both ``shape``."""

    m: jax.Array
    c: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: CLIFParams | None = None) -> CLIFState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return CLIFState(m=jnp.zeros(shape, dtype), c=jnp.zeros(shape, dtype))


def step(params: CLIFParams, state: CLIFState, x: jax.Array) -> tuple[CLIFState, jax.Array]:
    """One CLIF step: ``(new_state, spikes)``."""
    x = check_step_input(x, state)
    u = decay_from_tau(params.tau) * state.m + x  # 1
    c = state.c * jax.nn.sigmoid(u / params.tau)  # 2
    s = params.surrogate(u - params.v_th)  # 3
    c = c + s  # 4
    m = u - s * (params.v_th + jax.nn.sigmoid(c))  # 5
    dt = x.dtype
    return CLIFState(m=m.astype(dt), c=c.astype(dt)), s.astype(dt)


neuron = Neuron(init_state, step, params=CLIFParams, name="clif")
"""The CLIF neuron as a :class:`~snnjax.neurons.Neuron` record."""
