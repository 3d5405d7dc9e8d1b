"""Flax NNX modules: neuron layers over the pure functions, and time-folding glue."""

from snnjax.nn.layers import TimeDistributed, fold_time, unfold_time
from snnjax.nn.neurons import ALIF, IF, LI, LIF, PLIF, RLIF, Neuron, SpytorchLIF

__all__ = [
    "Neuron",
    "IF",
    "LIF",
    "PLIF",
    "ALIF",
    "SpytorchLIF",
    "LI",
    "RLIF",
    "TimeDistributed",
    "fold_time",
    "unfold_time",
]
