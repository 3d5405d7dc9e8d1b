"""Mixed precision: a model built with ``dtype=jnp.bfloat16`` computes its convolutions and
Linear layers in bfloat16 while its parameters, gradients and optimiser state stay float32
(and the neurons and BatchNorm statistics run in float32, ``snnjax.models``); ``fit`` needs no
option for it. Checked on the shipped MNIST subset: the narrow pre-activation ResNet trained in
bfloat16 follows the float32 run's loss curve.

Tolerance, fixed before the run from bfloat16's 8-bit mantissa (a relative rounding of 2^-8 ≈
0.4 % per operation, compounded over a 24-step trajectory whose spikes can flip): every epoch's
mean training loss and test loss within 3 % of the float32 run's, and both runs learn (the last
epoch's training loss at most 0.95× the first's; ln 10 = 2.30 is chance). The test loss, one
evaluation of the epoch's final parameters on 256 images rather than a mean over the epoch's
steps, gets 5 %: on an AMD EPYC (Zen 5, AVX-512) machine with the pinned set, its third epoch
differed by 3.4 % (bfloat16 lower), the same before and after the native kernels (LIF at T = 2
runs the fused backend either way).
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import data, models, train

SMALL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments", "data", "mnist_small")
RTOL = {"train_loss": 0.03, "test_loss": 0.05}


def _run(dtype):
    x, y = data.load_mnist(SMALL, "train")
    xt, yt = data.load_mnist(SMALL, "test")
    model = models.PreActResNet(
        (1, 1, 1), 10, neuron="lif", in_channels=1, widths=(8, 16, 32), pool=7, dtype=dtype, rngs=nnx.Rngs(0)
    )
    optimizer = nnx.Optimizer(model, optax.adam(5e-3), wrt=nnx.Param)
    rows = train.fit(
        model,
        optimizer,
        encode=lambda x: snnjax.encoding.direct(x[..., None].astype(jnp.float32) / 255.0, 2),
        train_data=(x[:512], y[:512]),
        test_data=(xt[:256], yt[:256]),
        epochs=3,
        batch_size=32,
        progress=False,
        log=lambda s: None,
    )
    return rows, model, optimizer


def test_bf16_narrow_resnet_follows_the_float32_loss_on_shipped_mnist():
    ref, _, _ = _run(None)
    rows, model, optimizer = _run(jnp.bfloat16)
    for key in ("train_loss", "test_loss"):
        a, b = np.array([r[key] for r in ref]), np.array([r[key] for r in rows])
        np.testing.assert_allclose(b, a, rtol=RTOL[key], err_msg=key)
    for run in (ref, rows):
        assert run[-1]["train_loss"] <= 0.95 * run[0]["train_loss"], [r["train_loss"] for r in run]
    # float32 parameters and optimiser state after bfloat16 training; bfloat16 activations
    assert {leaf.dtype for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype(jnp.float32)}
    floats = [
        leaf for leaf in jax.tree.leaves(nnx.state(optimizer, nnx.OptState)) if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    assert floats and {leaf.dtype for leaf in floats} == {jnp.dtype(jnp.float32)}
    model.eval()
    xs = snnjax.encoding.direct(jnp.ones((2, 28, 28, 1)) * 0.5, 2)
    logits, spikes = model(xs, return_spikes=True)
    assert logits.dtype == jnp.float32 and all(s.dtype == jnp.bfloat16 for s in spikes)
