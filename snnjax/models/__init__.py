"""Network architectures built from :mod:`snnjax.nn`.

Every CNN takes time-major, channels-last ``[T, B, H, W, C]`` input, returns per-step logits
``[T, B, num_classes]`` (float32) and, with ``return_spikes=True``, the list of every neuron
layer's output; ``neuron=`` is a name of :data:`NEURON_NAMES` or a factory
(:func:`make_neuron`); ``dtype=`` sets the compute dtype (parameters stay float32).

Mixed precision: ``dtype=jnp.bfloat16`` computes the convolutions and Linear layers in
bfloat16; parameters, gradients and the optimiser state stay float32, the neurons and the
BatchNorm statistics run in float32, the logits come back in float32. ``snnjax.train.fit``
needs no option for it (``tests/test_mixed_precision.py``: the narrow ResNet's losses on the
shipped MNIST subset within 3 % of float32's).

Memory at long T (measured: ``benchmarks/deep_memory.py``, ``benchmarks/RESULTS.md``):

* the neurons' time loop: ``make_neuron(name, checkpoint_every=K)`` (or the layer's
  constructor) makes every neuron layer keep its state only every ``K`` steps and recompute
  the chunks in the backward pass, a ``lax.scan`` of chunks: the POLARA ResNet-38 step at
  T = 50 needs 0.53× the memory with ``K = 10``, on the CPU too. Not for neurons the fused
  backend serves (ILIF at T = 6: it keeps only the state per step already; the scan's
  residuals cost 1.3× more);
* the residual blocks: ``remat=True`` recomputes each block in the backward pass
  (``nnx.remat``). On the CPU this saves nothing: XLA's CPU pipeline drops the optimisation
  barrier before CSE and merges the recomputation back into the forward pass (same values,
  same memory, no extra time). Whether a GPU compiler keeps it is measured by
  ``benchmarks/device_check.sh`` (not yet run).
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
