r"""ILIF: LIF with inhibitory units (Sun et al., "ILIF"), and IPLIF (the same on PLIF).

State per neuron: residual membrane ``m``, current inhibitory unit ``Ii``,
membrane-potential inhibitory unit ``Iu`` (all zero at t = 0). One step, in
exactly this order (``../shared/NEURONS.md``):

1. ``I = x - relu(Ii)``  (CIU inhibition; ``relu`` as ``where(Ii >= 0, Ii, 0)``)
2. ``U = λ·m + I``
3. ``S = spike(U - V_th)``
4. ``m̄ = U - S·V_th``
5. ``Iu = λ_U·(Iu + S·m̄)``            (MPIU)
6. ``m = m̄ - S·sigmoid(Iu)``           (MPIU)
7. ``Ii = λ_I·(Ii + S·c)``, ``c = x`` (``ciu_source="input"``, the official
   code) or ``c = I`` (``"current"``)   (CIU)

ILIF: λ = 1 - 1/τ (τ = 1.1). IPLIF: λ = sigmoid(w), learnable (w = 0 ⇔ τ = 2).
``use_mpiu=False`` drops steps 5–6, ``use_ciu=False`` drops step 7 and the
inhibition in step 1; with both off the neuron *is* soft-reset LIF. (Setting
λ_U = λ_I = 0 does not: step 6 still subtracts ``sigmoid(0)·S = 0.5·S``.)
Nothing is detached. Defaults: V_th = 1, λ_U = 1.0, λ_I = 0.03 (0.05 for
DVS-Gesture), rectangle surrogate γ = 1. Shapes: ``x``, ``m``, ``Ii``, ``Iu`` identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import Neuron, coerce_surrogate, decay_from_tau
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

__all__ = ["neuron", "ILIFParams", "IPLIFParams", "ILIFState", "init_state", "step", "CIU_SOURCES"]

CIU_SOURCES = ("input", "current")


def _check_common(p) -> None:
    check_positive("v_th", p.v_th)
    check_at_least("lambda_u", p.lambda_u, 0.0)
    check_at_least("lambda_i", p.lambda_i, 0.0)
    check_option("ciu_source", p.ciu_source, CIU_SOURCES)
    coerce_surrogate(p, p.surrogate)


@params_dataclass
class ILIFParams:
    """ILIF parameters.

    Attributes:
      tau: membrane time constant τ >= 1; λ = 1 - 1/τ. Differentiable.
      v_th: threshold V_th. Differentiable.
      lambda_u: MPIU decay λ_U. Differentiable.
      lambda_i: CIU decay λ_I. Differentiable.
      surrogate: spike surrogate (default rectangle γ = 1).
      use_mpiu: membrane-potential inhibitory unit (steps 5–6). Static.
      use_ciu: current inhibitory unit (steps 1 and 7). Static.
      ciu_source: ``"input"`` (x) or ``"current"`` (I) feeds the CIU. Static.
    """

    BOUNDS = {"tau": 1.0, "v_th": 0.0, "lambda_u": 0.0, "lambda_i": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    tau: ArrayLike = 1.1
    v_th: ArrayLike = 1.0
    lambda_u: ArrayLike = 1.0
    lambda_i: ArrayLike = 0.03
    surrogate: Any = _surrogate.rectangle(1.0)
    use_mpiu: bool = static_field(True)
    use_ciu: bool = static_field(True)
    ciu_source: str = static_field("input")

    def __post_init__(self):
        check_at_least("tau", self.tau, 1.0)
        _check_common(self)

    @property
    def decay(self) -> jax.Array:
        """λ = 1 - 1/τ."""
        return decay_from_tau(self.tau)


@params_dataclass
class IPLIFParams:
    """IPLIF parameters: as :class:`ILIFParams` with a learnable leak λ = sigmoid(w).

    Attributes:
      w: leak logit (default 0: λ = 0.5, τ = 2). Differentiable.
    """

    BOUNDS = {"v_th": 0.0, "lambda_u": 0.0, "lambda_i": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    w: ArrayLike = 0.0
    v_th: ArrayLike = 1.0
    lambda_u: ArrayLike = 1.0
    lambda_i: ArrayLike = 0.03
    surrogate: Any = _surrogate.rectangle(1.0)
    use_mpiu: bool = static_field(True)
    use_ciu: bool = static_field(True)
    ciu_source: str = static_field("input")

    def __post_init__(self):
        check_finite("w", self.w)
        _check_common(self)

    @property
    def decay(self) -> jax.Array:
        """λ = sigmoid(w)."""
        return jax.nn.sigmoid(jnp.asarray(self.w))


class ILIFState(NamedTuple):
    """ILIF / IPLIF state (all ``shape``).

    Attributes:
      m: residual membrane.
      i_i: current inhibitory unit Ii.
      i_u: membrane-potential inhibitory unit Iu.
    """

    m: jax.Array
    i_i: jax.Array
    i_u: jax.Array


def init_state(
    shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: ILIFParams | IPLIFParams | None = None
) -> ILIFState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    z = jnp.zeros(shape, dtype)
    return ILIFState(m=z, i_i=z, i_u=z)


def step(params: ILIFParams | IPLIFParams, state: ILIFState, x: jax.Array) -> tuple[ILIFState, jax.Array]:
    """One ILIF/IPLIF step (the seven steps above): ``(new_state, spikes)``."""
    x = check_step_input(x, state)
    i_i, i_u = state.i_i, state.i_u
    cur = x - jnp.where(i_i >= 0, i_i, 0.0) if params.use_ciu else x  # 1
    u = params.decay * state.m + cur  # 2
    s = params.surrogate(u - params.v_th)  # 3
    m_bar = u - s * params.v_th  # 4
    if params.use_mpiu:
        i_u = params.lambda_u * (i_u + s * m_bar)  # 5
        m = m_bar - s * jax.nn.sigmoid(i_u)  # 6
    else:
        m = m_bar
    if params.use_ciu:
        src = x if params.ciu_source == "input" else cur
        i_i = params.lambda_i * (i_i + s * src)  # 7
    dt = x.dtype
    return ILIFState(m=m.astype(dt), i_i=i_i.astype(dt), i_u=i_u.astype(dt)), s.astype(dt)


neuron = Neuron(init_state, step, params=ILIFParams, name="ilif")
"""The ILIF record (``IPLIFParams`` run on the same step: the record's ``params`` is the default class)."""
