"""Flax NNX modules: neuron layers over the pure functions, and time-folding glue."""

from snnjax.nn.layers import StepBatchNorm, TimeDistributed, fold_time, unfold_time
from snnjax.nn.neurons import (
    ALIF,
    CLIF,
    IF,
    ILIF,
    LI,
    LIF,
    PLIF,
    RLIF,
    Neuron,
    Polara,
    Spikes,
    SpytorchLIF,
    States,
    record,
)
from snnjax.nn.synapses import SpikeLinear

__all__ = [
    "Neuron",
    "record",
    "Spikes",
    "States",
    "IF",
    "LIF",
    "PLIF",
    "ALIF",
    "SpytorchLIF",
    "LI",
    "RLIF",
    "ILIF",
    "CLIF",
    "Polara",
    "SpikeLinear",
    "TimeDistributed",
    "StepBatchNorm",
    "fold_time",
    "unfold_time",
]
