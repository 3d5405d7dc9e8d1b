"""Pure neuron models: one file each, ``XParams``, ``XState``, ``init_state``, ``step`` and
the record ``neuron = Neuron(init_state, step, params=XParams)`` (:class:`Neuron`).

Every ``step(params, state, x) -> (state, out)`` is element-wise over ``x``'s
shape and jit/vmap/grad-compatible; see each module's docstring for its
discrete update equations.
"""

from snnjax.neurons import alif, clif, if_, ilif, li, lif, plif, polara, rlif, spytorch_lif
from snnjax.neurons._common import Neuron, init_state_for, neuron_of, stack_params
from snnjax.neurons.alif import ALIFParams, ALIFState
from snnjax.neurons.clif import CLIFParams, CLIFState
from snnjax.neurons.if_ import IFParams, IFState
from snnjax.neurons.ilif import ILIFParams, ILIFState, IPLIFParams
from snnjax.neurons.li import LIParams, LIState
from snnjax.neurons.lif import LIFParams, LIFState
from snnjax.neurons.plif import PLIFParams, PLIFState
from snnjax.neurons.polara import PolaraParams, PolaraState
from snnjax.neurons.rlif import RLIFParams, RLIFState
from snnjax.neurons.spytorch_lif import SpytorchLIFParams, SpytorchLIFState

__all__ = [
    "alif",
    "clif",
    "if_",
    "ilif",
    "li",
    "lif",
    "plif",
    "polara",
    "rlif",
    "spytorch_lif",
    "Neuron",
    "neuron_of",
    "init_state_for",
    "stack_params",
    "ALIFParams",
    "ALIFState",
    "CLIFParams",
    "CLIFState",
    "ILIFParams",
    "IPLIFParams",
    "ILIFState",
    "PolaraParams",
    "PolaraState",
    "IFParams",
    "IFState",
    "LIParams",
    "LIState",
    "LIFParams",
    "LIFState",
    "PLIFParams",
    "PLIFState",
    "RLIFParams",
    "RLIFState",
    "SpytorchLIFParams",
    "SpytorchLIFState",
]
