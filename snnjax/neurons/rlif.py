r"""Recurrent LIF: a LIF layer that also receives its own previous spikes.

.. math::

    \tilde x_t = x_t + S_{t-1} W_{rec}, \qquad
    (m_t, S_t) = \mathrm{LIF}(m_{t-1}, \tilde x_t)

The LIF update is :func:`snnjax.neurons.lif.step` itself (not a copy), with
all its options. ``W_rec`` has shape ``[N, N]`` (row = presynaptic neuron);
``x`` has shape ``[..., N]``. Set the diagonal of ``W_rec`` to zero yourself if
self-connections are unwanted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax.neurons import lif
from snnjax.neurons._common import Neuron
from snnjax.pytrees import params_dataclass
from snnjax.validation import check_dtype, check_finite, check_step_input, make_shape

__all__ = ["neuron", "RLIFParams", "RLIFState", "init_state", "step"]


@params_dataclass
class RLIFParams:
    """Parameters of :func:`step`.

    Attributes:
      w_rec: recurrent weights ``[N, N]``; differentiable.
      lif: the LIF parameters (τ, V_th, surrogate, reset, ...).
    """

    w_rec: ArrayLike
    lif: lif.LIFParams = lif.LIFParams()

    def __post_init__(self):
        check_finite("w_rec", self.w_rec)
        shape = jnp.shape(self.w_rec)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"w_rec must be a square matrix [N, N], got shape {shape}")
        if not isinstance(self.lif, lif.LIFParams):
            raise TypeError(f"lif must be a LIFParams, got {type(self.lif).__name__}")


class RLIFState(NamedTuple):
    """Recurrent-LIF state: ``m`` membrane and ``s`` previous spikes, both ``[..., N]``."""

    m: jax.Array
    s: jax.Array


def init_state(shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: RLIFParams | None = None) -> RLIFState:
    """All-zero state (``params`` unused)."""
    del params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return RLIFState(m=jnp.zeros(shape, dtype), s=jnp.zeros(shape, dtype))


def step(params: RLIFParams, state: RLIFState, x: jax.Array) -> tuple[RLIFState, jax.Array]:
    """One step: ``(new_state, spikes)``."""
    x = check_step_input(x, state)
    n = jnp.shape(params.w_rec)[0]
    if jnp.shape(x)[-1] != n:
        raise ValueError(f"x must have last dimension N = {n} (w_rec is [N, N]), got shape {jnp.shape(x)}")
    x_tot = x + (state.s @ params.w_rec).astype(x.dtype)
    lif_state, s = lif.step(params.lif, lif.LIFState(m=state.m), x_tot)
    return RLIFState(m=lif_state.m, s=s), s


neuron = Neuron(init_state, step, params=RLIFParams, name="rlif")
"""The RLIF neuron as a :class:`~snnjax.neurons.Neuron` record."""
