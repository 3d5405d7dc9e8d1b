"""Network architectures built from :mod:`snnjax.nn`.

Every CNN takes time-major, channels-last ``[T, B, H, W, C]`` input, returns per-step logits
``[T, B, num_classes]`` (float32) and, with ``return_spikes=True``, the list of every neuron
layer's output; ``neuron=`` is a name of :data:`NEURON_NAMES` or a factory
(:func:`make_neuron`); ``dtype=`` sets the compute dtype (parameters stay float32).
"""

from snnjax.models.mlp import SpikingMLP, spytorch_weight_scale
from snnjax.models.neurons import NEURON_NAMES, make_neuron
from snnjax.models.resnet import PreActBlock, PreActResNet, preact_resnet18
from snnjax.models.resnet19 import TET_LIF, BasicBlock, SpikingResNet, resnet19
from snnjax.models.resnet38 import SResBlock, SResNet, resnet38
from snnjax.models.vgg import VGG11, ConvBNNeuron, SpikingVGG, spiking_vgg11, vgg11

__all__ = [
    "SpikingMLP",
    "spytorch_weight_scale",
    "NEURON_NAMES",
    "make_neuron",
    "PreActBlock",
    "PreActResNet",
    "preact_resnet18",
    "BasicBlock",
    "SpikingResNet",
    "resnet19",
    "TET_LIF",
    "SResBlock",
    "SResNet",
    "resnet38",
    "VGG11",
    "ConvBNNeuron",
    "SpikingVGG",
    "spiking_vgg11",
    "vgg11",
]
