"""snnjax: functional spiking neural networks for JAX.

Neurons are pure step functions ``step(params, state, x) -> (state, out)``
(:mod:`snnjax.neurons`), run over time-major inputs by :func:`snnjax.run`;
spikes are exact Heaviside with surrogate gradients (:mod:`snnjax.surrogate`).
Flax NNX modules live in :mod:`snnjax.nn`, encoders in :mod:`snnjax.encoding`.
"""

from snnjax import checks, encoding, events, neurons, nn, surrogate
from snnjax.neurons import Neuron
from snnjax.pytrees import params_dataclass, static_field
from snnjax.scan import run

__version__ = "0.1.0"

__all__ = [
    "checks",
    "data",
    "models",
    "train",
    "encoding",
    "events",
    "neurons",
    "nn",
    "surrogate",
    "run",
    "Neuron",
    "params_dataclass",
    "static_field",
    "__version__",
]

_LAZY = ("data", "models", "train")  # heavier imports (Orbax, TFDS hooks): loaded on first use


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"snnjax.{name}")
    raise AttributeError(f"module 'snnjax' has no attribute {name!r}")
