"""Pre-activation spiking ResNet: the architecture facts of NEURONS.md, counted and checked."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax
from snnjax import models, nn, train


def _expected_param_count(num_blocks, widths, in_ch, classes):
    """By hand, from the spec: stem conv (no bias); per block BN(in), conv3x3+bias, BN(out),
    conv3x3+bias, 1x1 conv+bias shortcut when the shape changes; final BN; Linear."""
    n = in_ch * widths[0] * 9
    c = widths[0]
    for i, (nb, w) in enumerate(zip(num_blocks, widths)):
        for j in range(nb):
            stride = 2 if (i > 0 and j == 0) else 1
            n += 2 * c + (c * w * 9 + w) + 2 * w + (w * w * 9 + w)
            if stride != 1 or c != w:
                n += c * w + w
            c = w
    return n + 2 * c + c * classes + classes


def _count(model):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


SMALL = dict(widths=(8, 16, 32, 64))


def _small(**kw):
    return models.PreActResNet((1, 1, 1, 1), 10, neuron=nn.LIF, rngs=nnx.Rngs(0), **{**SMALL, **kw})


def test_resnet18_has_the_spec_architecture():
    m = models.preact_resnet18(10, rngs=nnx.Rngs(0))  # ILIF neurons, no learnable neuron constants
    assert _count(m) == _expected_param_count((2, 2, 2, 2), (64, 128, 256, 512), 3, 10) == 11_176_906
    assert m.stem.layer.bias is None  # the stem conv has no bias
    shortcuts = [b.shortcut is not None for b in m.blocks]
    assert shortcuts == [False, False, True, False, True, False, True, False]
    strides = [b.conv1.layer.strides for b in m.blocks]
    assert strides == [(1, 1), (1, 1), (2, 2), (1, 1), (2, 2), (1, 1), (2, 2), (1, 1)]
    assert isinstance(m.blocks[0].neuron1, nn.ILIF) and m.dropout.rate == 0.1
    assert m.dropout.broadcast_dims == (0,)  # one mask for all time steps
    out, spikes = nnx.jit(lambda m, x: m(x, return_spikes=True))(m, jnp.ones((2, 2, 32, 32, 3)) * 0.5)
    assert out.shape == (2, 2, 10) and len(spikes) == 17  # 2 neurons per block + the head's
    assert spikes[-1].shape == (2, 2, 4, 4, 512)


def test_initialisation_follows_the_pytorch_code():
    m = models.preact_resnet18(100, rngs=nnx.Rngs(1))
    k = np.asarray(m.blocks[-1].conv2.layer.kernel[...])  # [3, 3, 512, 512]: Kaiming normal, fan_out
    assert abs(k.std() / np.sqrt(2.0 / (512 * 9)) - 1) < 0.01 and abs(k.mean()) < 1e-4
    b = np.asarray(m.blocks[2].conv1.layer.bias[...])  # U(+-1/sqrt(fan_in)), fan_in = 64*9
    assert np.all(np.abs(b) <= 1 / np.sqrt(64 * 9)) and b.std() > 0.5 / np.sqrt(3 * 64 * 9)
    w = np.asarray(m.linear.kernel[...])
    assert np.all(np.abs(w) <= 1 / np.sqrt(512)) and abs(w.std() * np.sqrt(3 * 512) - 1) < 0.02
    assert np.all(np.asarray(m.linear.bias[...]) == 0)
    assert np.all(np.asarray(m.blocks[3].bn2.scale[...]) == 1) and np.all(np.asarray(m.bn.bias[...]) == 0)


def test_block_adds_the_shortcut_after_the_first_neuron():
    m = _small()
    xs = jnp.asarray(np.random.default_rng(0).normal(1.0, 1.0, (3, 2, 8, 8, 8)), jnp.float32)

    @nnx.jit
    def both(blk, xs):
        s1 = blk.neuron1(blk.bn1(xs))
        short = s1 if blk.shortcut is None else blk.shortcut(s1)
        return blk(xs), blk.conv2(blk.neuron2(blk.bn2(blk.conv1(s1)))) + short

    assert m.blocks[0].shortcut is None  # 8 -> 8, stride 1: identity on the post-neuron input
    assert m.blocks[1].shortcut is not None  # 8 -> 16, stride 2: 1x1 conv on the post-neuron input
    for blk in m.blocks[:2]:
        out, expected = both(blk, xs)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_dropout_mask_is_shared_across_time():
    m = _small(dropout=0.5)
    ones = jnp.ones((4, 3, 8, 8, 16))
    y = np.asarray(m.blocks[1].dropout(ones))
    assert set(np.unique(y)) == {0.0, 2.0}
    for t in range(1, 4):
        np.testing.assert_array_equal(y[t], y[0])
    m.eval()
    np.testing.assert_array_equal(m.blocks[1].dropout(ones), ones)


def test_trains_end_to_end_with_tet_and_direct_encoding():
    """Gradients reach the stem and the neurons' learnable constants; a few SGD steps fit a batch."""
    m = models.PreActResNet((1, 1, 1, 1), 4, neuron=lambda: nn.LIF(tau=2.0, learn_tau=True), rngs=nnx.Rngs(0), **SMALL)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(size=(8, 32, 32, 3)), jnp.float32)
    labels = jnp.asarray(np.arange(8) % 4)
    xs = snnjax.encoding.direct(images, 2)  # [T, B, H, W, C]
    opt = nnx.Optimizer(m, optax.adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def step(m, opt, xs, y):
        def loss(m):
            return train.tet_loss(m(xs), y)

        value, grads = nnx.value_and_grad(loss)(m)
        opt.update(m, grads)
        return value, grads

    first, grads = step(m, opt, xs, labels)
    assert float(jnp.linalg.norm(grads.stem.layer.kernel[...])) > 0
    assert float(jnp.abs(grads.blocks[0].neuron1.tau[...])) > 0
    for _ in range(30):
        value, _ = step(m, opt, xs, labels)
    assert float(value) < 0.5 * float(first)
    m.eval()  # evaluation: running BN statistics, no dropout
    assert m(xs).shape == (2, 8, 4)


def test_errors_name_the_argument():
    m = _small()
    with pytest.raises(ValueError, match=r"\[T, B, H, W, 3\]"):
        m(jnp.ones((2, 2, 32, 32, 1)))
    with pytest.raises(ValueError, match="xs"):
        m(jnp.ones((2, 32, 32, 3)))
    with pytest.raises(ValueError, match="pool window"):
        m(jnp.ones((1, 1, 24, 24, 3)))
    with pytest.raises(ValueError, match="num_blocks"):
        models.PreActResNet((1, 1), 10, neuron=nn.LIF, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="dropout"):
        models.PreActResNet((1, 1, 1, 1), 10, neuron=nn.LIF, dropout=1.0, rngs=nnx.Rngs(0))
