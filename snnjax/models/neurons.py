"""Neuron layers by name: ``make_neuron("ilif", lambda_i=0.05)`` -> a factory of neuron modules.

Every model of :mod:`snnjax.models` takes ``neuron=`` as a name, a factory (a neuron class
or any zero-argument callable returning a neuron module), or a neuron module used as a
template (each layer gets a deep copy). A model calls the factory once per neuron layer,
so layers never share state or learnable constants.

Names and the defaults they carry (the papers' choices; ``../shared/NEURONS.md``):

================ ====================================================================
name             module and defaults
================ ====================================================================
``lif``          :class:`snnjax.nn.LIF`: τ = 1.1, V_th = 1, soft reset, rectangle γ = 1
                 (the ILIF paper's LIF)
``ilif``         :class:`snnjax.nn.ILIF`: τ = 1.1, V_th = 1, λ_U = 1, λ_I = 0.03,
                 rectangle γ = 1 (use ``lambda_i=0.05`` for DVS-Gesture)
``iplif``        :class:`snnjax.nn.ILIF` with ``plif=True``: learnable leak, τ_init = 2
``plif``         :class:`snnjax.nn.PLIF`: learnable leak, ``tau_init = 2``
``clif``         :class:`snnjax.nn.CLIF`: τ = 2, V_th = 1, rectangle γ = 1
``polara``       :class:`snnjax.nn.Polara` with ``grad="mask"`` (Eq. 17, the deep-CIFAR
                 setting); its output is continuous in (0, 1), not binary
``if``           :class:`snnjax.nn.IF`: V_th = 1, soft reset, rectangle γ = 1
``alif``         :class:`snnjax.nn.ALIF`: τ = 20, τ_adapt = 200, β = 1.8, SuperSpike
``spytorch-lif`` :class:`snnjax.nn.SpytorchLIF`: τ_syn = 5, τ_mem = 10, SuperSpike β = 100
================ ====================================================================

Names are case-insensitive and ``_`` may stand for ``-``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from flax import nnx

from snnjax import nn

__all__ = ["NEURON_NAMES", "NeuronFactory", "NeuronSpec", "make_neuron"]

NeuronFactory = Callable[[], nnx.Module]
NeuronSpec = str | Callable[[], nnx.Module] | nnx.Module

# name -> (class, the defaults that differ from the class's own)
_TABLE: dict[str, tuple[type, dict[str, Any]]] = {
    "lif": (nn.LIF, dict(tau=1.1, v_th=1.0, surrogate="rectangle")),
    "ilif": (nn.ILIF, dict(tau=1.1, v_th=1.0, surrogate="rectangle")),
    "iplif": (nn.ILIF, dict(plif=True, tau=2.0, v_th=1.0, surrogate="rectangle")),
    "plif": (nn.PLIF, dict(tau_init=2.0, v_th=1.0, surrogate="rectangle")),
    "clif": (nn.CLIF, dict(tau=2.0, v_th=1.0, surrogate="rectangle")),
    "polara": (nn.Polara, dict(grad="mask")),
    "if": (nn.IF, dict(v_th=1.0, surrogate="rectangle")),
    "alif": (nn.ALIF, dict()),
    "spytorch-lif": (nn.SpytorchLIF, dict()),
}

NEURON_NAMES: tuple[str, ...] = tuple(_TABLE)


def make_neuron(neuron: NeuronSpec, **overrides: Any) -> NeuronFactory:
    """A zero-argument factory of neuron modules.

    Args:
      neuron: a name of :data:`NEURON_NAMES` (the papers' defaults, see the module
        docstring); a callable returning a neuron module (a class such as
        ``snnjax.nn.LIF``, a ``lambda``; passed through, or given ``overrides`` as
        keyword arguments); or a neuron module, used as a template (every call
        returns a deep copy).
      **overrides: keyword arguments of the neuron's constructor, e.g.
        ``surrogate="sigmoid"``, ``use_mpiu=False``, ``lambda_i=0.05``, ``learn_tau=True``.

    Returns:
      ``factory`` with ``factory()`` a fresh neuron module. The factory is called once
      here, so a bad keyword fails now, not inside a model.

    Raises:
      ValueError: an unknown name (the message lists the names).
      TypeError: ``neuron`` is none of the above, or an override the neuron does not take.

    Example:
        >>> factory = make_neuron("ilif", use_ciu=False, surrogate="sigmoid")
        >>> layer = factory()                                # an nn.ILIF
    """
    if isinstance(neuron, str):
        key = neuron.strip().lower().replace("_", "-")
        if key not in _TABLE:
            raise ValueError(
                f"unknown neuron {neuron!r}; expected one of {', '.join(NEURON_NAMES)} "
                "(or a factory / class of neuron modules)"
            )
        cls, defaults = _TABLE[key]
        factory: NeuronFactory = partial(cls, **{**defaults, **overrides})
        label = key
    elif isinstance(neuron, nnx.Module):
        if overrides:
            raise TypeError("overrides cannot be applied to a neuron module instance; pass a name or a class")
        template = neuron
        factory = lambda: copy.deepcopy(template)  # noqa: E731
        label = type(neuron).__name__
    elif callable(neuron):
        factory = partial(neuron, **overrides) if overrides else neuron
        label = getattr(neuron, "__name__", type(neuron).__name__)
    else:
        raise TypeError(
            f"neuron must be a name ({', '.join(NEURON_NAMES)}), a factory of neuron modules "
            f"or a neuron module, got {type(neuron).__name__}"
        )
    try:
        probe = factory()
    except TypeError as e:
        raise TypeError(f"make_neuron({label!r}): {e}") from e
    if not isinstance(probe, nnx.Module) or not callable(probe):
        raise TypeError(f"the neuron factory {label!r} must return a neuron module, got {type(probe).__name__}")
    return factory
