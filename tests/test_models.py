"""Deep spiking CNNs: neurons by name, hand-counted parameters, layer structure, gradients, bf16.

Full-size models are only built abstractly (``nnx.eval_shape``) and run abstractly
(``jax.eval_shape``); every forward / backward pass that computes runs on a narrow version.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import models, nn
from snnjax.models import _common

# --------------------------------------------------------------------------- helpers


def _count(model):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(model, nnx.Param)))


def _abstract_forward(ctor, xs_shape):
    """Shapes of ``(logits, spikes)`` of the model ``ctor()`` on ``xs_shape``, nothing computed."""
    model = nnx.eval_shape(ctor)
    graphdef, state = nnx.split(model)

    def f(state, xs):
        return nnx.merge(graphdef, state)(xs, return_spikes=True)

    logits, spikes = jax.eval_shape(f, state, jax.ShapeDtypeStruct(xs_shape, jnp.float32))
    return logits.shape, [s.shape for s in spikes]


def _conv_params(k, cin, cout, bias):
    return k * k * cin * cout + (cout if bias else 0)


def _bn(c):
    return 2 * c


# --------------------------------------------------------------------------- hand counts


def _vgg_count(cfg, in_ch, classes, pool=(7, 7)):
    """Per conv: 3x3 conv + bias, BN; pools have no parameters; Linear(c_last*7*7, classes)
    + bias."""
    n, c = 0, in_ch
    for x in (x for stage in cfg for x in stage):
        if x != "M":
            n += _conv_params(3, c, x, True) + _bn(x)
            c = x
    return n + c * pool[0] * pool[1] * classes + classes


def _resnet19_count(num_blocks, widths, stem, fc, in_ch, classes):
    """Stem conv (no bias) + BN; per BasicBlock two 3x3 convs (no bias) + 2 BN, a 1x1 conv + BN
    downsample when the shape changes; Linear(c, fc) + bias; Linear(fc, classes) + bias."""
    n, c = _conv_params(3, in_ch, stem, False) + _bn(stem), stem
    for i, (nb, w) in enumerate(zip(num_blocks, widths, strict=True)):
        for j in range(nb):
            stride = 2 if (i > 0 and j == 0) else 1
            n += _conv_params(3, c, w, False) + _bn(w) + _conv_params(3, w, w, False) + _bn(w)
            if stride != 1 or c != w:
                n += _conv_params(1, c, w, False) + _bn(w)
            c = w
    return n + (c * fc + fc) + (fc * classes + classes)


def _resnet38_count(n_blocks, width, in_ch, classes):
    """Stem conv (no bias) + BN; per block two 3x3 convs (no bias) + 2 BN; 1x1 conv + BN shortcut
    at the two width changes; Linear(4w, classes) without bias."""
    n, c = _conv_params(3, in_ch, width, False) + _bn(width), width
    for i in range(3):
        w = width * 2**i
        for _ in range(n_blocks):
            n += 2 * (_bn(w)) + _conv_params(3, c, w, False) + _conv_params(3, w, w, False)
            if c != w:
                n += _conv_params(1, c, w, False) + _bn(w)
            c = w
    return n + c * classes


def test_full_size_parameter_counts_equal_the_hand_counts():
    vgg = nnx.eval_shape(lambda: models.spiking_vgg11(10, rngs=nnx.Rngs(0)))
    assert _count(vgg) == _vgg_count(models.VGG11, 2, 10) == 9_476_298
    gesture = nnx.eval_shape(lambda: models.spiking_vgg11(11, rngs=nnx.Rngs(0)))
    assert _count(gesture) == _vgg_count(models.VGG11, 2, 11) == 9_501_387

    r19 = nnx.eval_shape(lambda: models.resnet19(10, rngs=nnx.Rngs(0)))
    assert _count(r19) == _resnet19_count((3, 3, 2), (128, 256, 512), 64, 256, 3, 10) == 12_630_858
    r19_paper = nnx.eval_shape(lambda: models.resnet19(10, stem_width=128, rngs=nnx.Rngs(0)))
    assert _count(r19_paper) == _resnet19_count((3, 3, 2), (128, 256, 512), 128, 256, 3, 10) == 12_697_994
    r19_100 = nnx.eval_shape(lambda: models.resnet19(100, rngs=nnx.Rngs(0)))
    assert _count(r19_100) == _resnet19_count((3, 3, 2), (128, 256, 512), 64, 256, 3, 100) == 12_653_988

    r38 = nnx.eval_shape(lambda: models.resnet38(10, rngs=nnx.Rngs(0)))
    assert _count(r38) == _resnet38_count(6, 32, 3, 10) == 2_248_480
    r38_100 = nnx.eval_shape(lambda: models.resnet38(100, rngs=nnx.Rngs(0)))
    assert _count(r38_100) == _resnet38_count(6, 32, 3, 100) == 2_260_000
    # 37 convolutions + 1 Linear = 38 layers
    convs = [m for _, m in nnx.iter_graph(r38) if isinstance(m, nnx.Conv) and m.kernel_size == (3, 3)]
    assert len(convs) == 37

    pre = nnx.eval_shape(lambda: models.preact_resnet18(100, rngs=nnx.Rngs(0)))
    assert _count(pre) == 11_223_076


def test_learnable_neuron_constants_are_counted():
    small = dict(widths=(4, 8), stem_width=4, fc_width=8)
    plain = nnx.eval_shape(lambda: models.SpikingResNet((1, 1), 3, neuron="lif", rngs=nnx.Rngs(0), **small))
    plif = nnx.eval_shape(lambda: models.SpikingResNet((1, 1), 3, neuron="plif", rngs=nnx.Rngs(0), **small))
    assert _count(plif) - _count(plain) == 1 + 2 * 2 + 1  # one w per neuron layer: stem, 2/block, fc


# --------------------------------------------------------------------------- structure


def test_vgg11_layer_structure_48_and_128():
    logits, spikes = _abstract_forward(
        lambda: models.spiking_vgg11(10, neuron="lif", rngs=nnx.Rngs(0)), (2, 1, 48, 48, 2)
    )
    assert logits == (2, 1, 10)
    assert spikes == [
        (2, 1, 48, 48, 64),
        (2, 1, 24, 24, 128),
        (2, 1, 12, 12, 256),
        (2, 1, 12, 12, 256),
        (2, 1, 6, 6, 512),
        (2, 1, 6, 6, 512),
        (2, 1, 3, 3, 512),
        (2, 1, 3, 3, 512),
    ]
    logits, spikes = _abstract_forward(
        lambda: models.spiking_vgg11(11, neuron="lif", rngs=nnx.Rngs(0)), (1, 1, 128, 128, 2)
    )
    assert logits == (1, 1, 11)
    assert [s[2] for s in spikes] == [128, 64, 32, 32, 16, 16, 8, 8]


def test_resnet19_layer_structure():
    logits, spikes = _abstract_forward(lambda: models.resnet19(10, neuron="lif", rngs=nnx.Rngs(0)), (1, 2, 32, 32, 3))
    assert logits == (1, 2, 10)
    assert len(spikes) == 1 + 2 * 8 + 1  # stem, two per block, the FC-256 neuron
    assert spikes[0] == (1, 2, 32, 32, 64)
    assert spikes[1:7] == [(1, 2, 32, 32, 128)] * 6
    assert spikes[7:13] == [(1, 2, 16, 16, 256)] * 6
    assert spikes[13:17] == [(1, 2, 8, 8, 512)] * 4
    assert spikes[17] == (1, 2, 256)
    m = nnx.eval_shape(lambda: models.resnet19(10, rngs=nnx.Rngs(0)))
    downs = [b.down_conv is not None for b in m.blocks]
    assert downs == [True, False, False, True, False, False, True, False]  # 64 -> 128 in block 0
    assert m.stem.layer.bias is None and m.fc1.bias is not None


def test_resnet38_layer_structure():
    logits, spikes = _abstract_forward(lambda: models.resnet38(100, neuron="lif", rngs=nnx.Rngs(0)), (1, 1, 32, 32, 3))
    assert logits == (1, 1, 100)
    assert len(spikes) == 1 + 2 * 18
    assert spikes[0] == (1, 1, 32, 32, 32)
    assert spikes[1:13] == [(1, 1, 32, 32, 32)] * 12
    assert spikes[13:25] == [(1, 1, 16, 16, 64)] * 12
    assert spikes[25:37] == [(1, 1, 8, 8, 128)] * 12
    m = nnx.eval_shape(lambda: models.resnet38(10, rngs=nnx.Rngs(0)))
    assert [i for i, b in enumerate(m.blocks) if b.short_conv is not None] == [6, 12]
    assert m.fc.bias is None


def test_every_norm_is_per_step_and_every_dropout_is_shared_over_time():
    for name in TINY:
        m = nnx.eval_shape(lambda name=name: _tiny(name, "lif", dropout=0.2))
        mods = [x for _, x in nnx.iter_graph(m) if isinstance(x, nnx.Module)]
        assert not any(isinstance(x, nnx.BatchNorm) for x in mods)
        assert any(isinstance(x, nn.StepBatchNorm) for x in mods)
        drops = [x for x in mods if isinstance(x, nnx.Dropout)]
        assert drops and all(d.broadcast_dims == (0,) and d.rate == 0.2 for d in drops)


def test_adaptive_avg_pool_matches_pytorch_windows():
    rng = np.random.default_rng(0)
    for n, m in [(4, 7), (1, 7), (5, 3), (6, 6), (3, 2)]:
        x = rng.normal(size=(2, n, n, 3)).astype(np.float32)
        want = np.zeros((2, m, m, 3), np.float32)
        for i in range(m):
            for j in range(m):
                hs, he = (i * n) // m, -((-(i + 1) * n) // m)
                ws, we = (j * n) // m, -((-(j + 1) * n) // m)
                want[:, i, j] = x[:, hs:he, ws:we].mean(axis=(1, 2))
        np.testing.assert_allclose(_common.adaptive_avg_pool(jnp.asarray(x), (m, m)), want, rtol=1e-6, atol=1e-6)


def test_initialisation_follows_each_source():
    vgg = models.SpikingVGG(((16, "M"), (64, "M")), 10, neuron="lif", rngs=_rngs())
    k = np.asarray(vgg.units[1].conv.layer.kernel[...])  # kaiming normal, fan_out = 9 * 64
    assert abs(k.std() / np.sqrt(2.0 / (9 * 64)) - 1) < 0.03
    assert np.all(np.asarray(vgg.units[1].conv.layer.bias[...]) == 0)
    w = np.asarray(vgg.classifier.kernel[...])
    assert abs(w.std() / 0.01 - 1) < 0.03 and np.all(np.asarray(vgg.classifier.bias[...]) == 0)

    r19 = models.SpikingResNet((1, 1), 10, widths=(32, 64), stem_width=32, fc_width=256, rngs=_rngs())
    k = np.asarray(r19.blocks[1].conv2.layer.kernel[...])  # U(+-1/sqrt(fan_in)), fan_in = 9 * 64
    assert np.abs(k).max() <= 1 / np.sqrt(9 * 64) and abs(k.std() * np.sqrt(3 * 9 * 64) - 1) < 0.03
    b = np.asarray(r19.fc1.bias[...])
    assert np.abs(b).max() <= 1 / np.sqrt(64) and b.std() > 0

    r38 = models.SResNet(1, 10, width=32, rngs=_rngs())
    k = np.asarray(r38.blocks[2].conv2.layer.kernel[...])  # xavier uniform gain 2: fans 9*128 each
    bound = 2 * np.sqrt(6 / (2 * 9 * 128))
    assert np.abs(k).max() <= bound and abs(k.std() * np.sqrt(3) / bound - 1) < 0.03
    assert r38.stem_bn.epsilon == 1e-4


# ------------------------------------------------------------------------ tiny forward / backward
# Tiny models are built eagerly with an "rbg" key (threefry's per-shape compile of the
# initialisers dominates otherwise); every computed pass is jitted.

T, B = 4, 2  # spytorch-LIF answers an input two steps later (its V uses the previous I)
TINY = ("vgg", "resnet19", "resnet38", "preact")


def _rngs(seed=0):
    return nnx.Rngs(jax.random.key(seed, impl="rbg"))


def _tiny(name, neuron, dtype=None, dropout=0.0):
    kw = dict(neuron=neuron, dtype=dtype, dropout=dropout, rngs=_rngs())
    if name == "vgg":  # 4 conv units, 16x16 -> 2x2, adaptive pool to 7x7
        return models.SpikingVGG(((4, "M"), (8, "M"), (8, 8, "M")), 3, in_channels=2, **kw)
    if name == "resnet19":  # 8 neuron layers
        return models.SpikingResNet((1, 1, 1), 3, widths=(4, 8, 8), stem_width=4, fc_width=8, **kw)
    if name == "resnet38":  # 7 neuron layers
        return models.SResNet(1, 3, width=4, **kw)
    return models.PreActResNet((1, 1, 1, 1), 3, widths=(4, 4, 8, 8), pool=1, **kw)  # 9 neuron layers


def _round_robin(offset):
    """A factory that returns the next neuron of NEURON_NAMES at every call (papers' defaults)."""
    factories = [models.make_neuron(n) for n in models.NEURON_NAMES]
    count = iter(range(offset, 10**9))
    return lambda: factories[next(count) % len(factories)]()


def _tiny_input(name, seed=0, t=T):
    rng = np.random.default_rng(seed)
    if name == "vgg":  # DVS-like event counts
        return jnp.asarray(rng.poisson(1.0, (t, B, 16, 16, 2)), jnp.float32)
    return jnp.asarray(rng.uniform(0.0, 2.0, (t, B, 8, 8, 3)), jnp.float32)


def _first_kernel(name, grads):
    layer = grads.units[0].conv.layer if name == "vgg" else grads.stem.layer
    return np.asarray(layer.kernel[...])


def _neuron_types(model):
    return {type(x) for _, x in nnx.iter_graph(model) if isinstance(x, (nn.Neuron, nn.RLIF))}


@nnx.jit
def _loss_and_grads(model, xs, ys):
    def loss(model):
        logits = model(xs)
        ce = -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * jax.nn.one_hot(ys, logits.shape[-1]), -1))
        return ce, logits

    (value, logits), grads = nnx.value_and_grad(loss, has_aux=True)(model)
    return value, logits, grads


def _check_grads(name, model, label, t=T):
    value, logits, grads = _loss_and_grads(model, _tiny_input(name, t=t), jnp.asarray([0, 2]))
    assert np.isfinite(float(value)) and logits.dtype == jnp.float32, label
    g = _first_kernel(name, grads)
    assert g.dtype == np.float32 and np.all(np.isfinite(g)) and np.abs(g).max() > 0, label  # reaches layer 1
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(nnx.state(grads, nnx.Param))), label


def test_every_neuron_passes_gradients_to_the_first_layer_of_every_new_model():
    """One compile per model: the neuron layers cycle through NEURON_NAMES (from another offset
    in each model), so the three models together hold every neuron, each several times; the
    PreActResNet with all nine in one network, and each neuron alone in each model, are the
    ``slow`` tests below."""
    seen = set()
    for name, offset in [("vgg", 0), ("resnet19", 4), ("resnet38", 2)]:
        model = _tiny(name, _round_robin(offset))
        types = _neuron_types(model)
        assert len(types) >= 3, name
        seen |= types
        _check_grads(name, model, name)
    assert len(seen) == 8  # LIF, ILIF (ILIF and IPLIF), PLIF, CLIF, Polara, IF, ALIF, SpytorchLIF


@pytest.mark.slow
def test_all_nine_neurons_in_one_preact_resnet():
    model = _tiny("preact", _round_robin(6))
    assert len(_neuron_types(model)) == 8
    _check_grads("preact", model, "preact")


@pytest.mark.slow
@pytest.mark.parametrize("neuron", models.NEURON_NAMES)
@pytest.mark.parametrize("name", TINY)
def test_each_neuron_alone_in_each_model(name, neuron):
    # T = 12: up to 5 spytorch-LIF layers in series, each a two-step delay
    _check_grads(name, _tiny(name, neuron), (name, neuron), t=12)


def test_bfloat16_forward_with_float32_parameters_and_continuous_polara():
    for name, neuron in [
        ("vgg", "polara"),
        ("resnet19", "ilif"),
        ("resnet38", "plif"),
        ("preact", "lif"),
    ]:
        model = _tiny(name, neuron, dtype=jnp.bfloat16)
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
        logits, spikes = nnx.jit(lambda m, x: m(x, return_spikes=True))(model, _tiny_input(name))
        assert logits.dtype == jnp.float32 and logits.shape == (T, B, 3)
        assert np.all(np.isfinite(np.asarray(logits))), name
        assert all(s.dtype == jnp.bfloat16 for s in spikes)  # activations in the compute dtype
        assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
        if neuron == "polara":  # continuous outputs in (0, 1), not spikes
            s = np.asarray(spikes[0], np.float32)
            assert np.any((s > 0) & (s < 1))
    default = nnx.eval_shape(lambda: models.resnet38(10, rngs=nnx.Rngs(0)))
    assert isinstance(default.stem_neuron, nn.Polara) and default.stem_neuron.grad == "mask"


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_bfloat16_gradients_every_model(name):
    _check_grads(name, _tiny(name, _round_robin(1), dtype=jnp.bfloat16), (name, "bf16"))


def test_eval_mode_and_names_or_factories_give_the_same_model():
    xs = _tiny_input("vgg")
    by_name = _tiny("vgg", "clif")
    by_factory = _tiny("vgg", lambda: nn.CLIF(tau=2.0))
    forward = nnx.jit(lambda m, x: m(x))
    np.testing.assert_array_equal(forward(by_name, xs), forward(by_factory, xs))
    by_name.eval()
    assert forward(by_name, xs).shape == (T, B, 3)


# --------------------------------------------------------------------------- make_neuron


def test_make_neuron_names_and_defaults():
    layers = {name: models.make_neuron(name)() for name in models.NEURON_NAMES}
    assert set(models.NEURON_NAMES) >= {
        "lif",
        "ilif",
        "iplif",
        "plif",
        "clif",
        "polara",
        "if",
        "alif",
    }
    assert isinstance(layers["lif"], nn.LIF) and layers["lif"].tau == 1.1 and layers["lif"].v_th == 1.0
    p = layers["ilif"].params()
    assert isinstance(layers["ilif"], nn.ILIF) and p.tau == 1.1 and p.lambda_i == 0.03
    assert p.surrogate.name == "rectangle" and float(p.surrogate.width) == 1.0
    assert isinstance(layers["iplif"].params(), type(nn.ILIF(plif=True).params()))
    np.testing.assert_allclose(1 / (1 - jax.nn.sigmoid(layers["iplif"].w[...])), 2.0, rtol=1e-6)
    np.testing.assert_allclose(1 / (1 - jax.nn.sigmoid(layers["plif"].w[...])), 2.0, rtol=1e-6)
    assert isinstance(layers["clif"], nn.CLIF) and layers["clif"].tau == 2.0
    assert isinstance(layers["polara"], nn.Polara) and layers["polara"].grad == "mask"
    assert isinstance(layers["if"], nn.IF) and isinstance(layers["alif"], nn.ALIF)
    assert isinstance(layers["spytorch-lif"], nn.SpytorchLIF)
    assert isinstance(models.make_neuron("Spytorch_LIF")(), nn.SpytorchLIF)


def test_make_neuron_overrides_and_pass_through():
    p = models.make_neuron("ilif", surrogate="sigmoid", use_mpiu=False, use_ciu=False, lambda_i=0.05)().params()
    assert p.surrogate.name == "sigmoid" and not p.use_mpiu and not p.use_ciu and p.lambda_i == 0.05
    factory = lambda: nn.LIF(tau=3.0)  # noqa: E731
    assert models.make_neuron(factory) is factory
    assert models.make_neuron(nn.LIF, tau=4.0)().tau == 4.0
    template = nn.PLIF()
    made = models.make_neuron(template)
    a, b = made(), made()
    assert a is not b and a is not template and a.w is not b.w
    assert float(a.w[...]) == float(template.w[...])


def test_make_neuron_errors():
    with pytest.raises(ValueError, match="unknown neuron 'lifx'.*lif, ilif, iplif, plif, clif, polara, if, alif"):
        models.make_neuron("lifx")
    with pytest.raises(TypeError, match="make_neuron\\('lif'\\)"):
        models.make_neuron("lif", no_such_option=1)
    with pytest.raises(TypeError, match="neuron must be"):
        models.make_neuron(3)
    with pytest.raises(TypeError, match="instance"):
        models.make_neuron(nn.LIF(), tau=2.0)
    with pytest.raises(ValueError, match="unknown neuron"):
        models.resnet38(10, neuron="nope", rngs=nnx.Rngs(0))


def test_model_input_and_argument_errors():
    vgg = _tiny("vgg", "lif")  # 3 pools
    with pytest.raises(ValueError, match=r"\[T, B, H, W, 2\]"):
        vgg(jnp.ones((1, 1, 8, 8, 3)))
    with pytest.raises(ValueError, match="at least 8×8"):
        vgg(jnp.ones((1, 1, 2, 8, 2)))
    with pytest.raises(ValueError, match="xs"):
        vgg(jnp.ones((1, 8, 8, 2)))
    with pytest.raises(TypeError, match="floating"):
        vgg(jnp.ones((1, 1, 8, 8, 2), jnp.int32))
    with pytest.raises(ValueError, match="cfg"):
        models.SpikingVGG(((4, "X"),), 3, neuron="lif", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_blocks"):
        models.SpikingResNet((1, 1), 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="dropout"):
        models.SResNet(1, 3, dropout=1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="n \\(blocks per stage\\)"):
        models.SResNet(0, 3, rngs=nnx.Rngs(0))
    r38 = _tiny("resnet38", "lif")
    with pytest.raises(ValueError, match=r"\[T, B, H, W, 3\]"):
        r38(jnp.ones((1, 1, 8, 8, 2)))


@pytest.mark.parametrize(
    "which",
    ["preact", pytest.param("sresnet", marks=pytest.mark.slow), pytest.param("resnet19", marks=pytest.mark.slow)],
)
def test_block_remat_gives_the_same_values_bit_for_bit(which):
    """``remat=True`` (each residual block under ``nnx.remat``) gives the same loss, spikes,
    gradients and running statistics, bit for bit."""
    ctors = {
        "sresnet": lambda r, rm: models.SResNet(1, 10, neuron="polara", width=4, remat=rm, rngs=r),
        "preact": lambda r, rm: models.PreActResNet((1, 1), 10, neuron="ilif", widths=(4, 8), pool=4, remat=rm, rngs=r),
        "resnet19": lambda r, rm: models.SpikingResNet(
            (1, 1), 10, neuron="lif", widths=(4, 8), stem_width=4, fc_width=8, remat=rm, rngs=r
        ),
    }
    xs = jax.random.normal(jax.random.key(1), (3, 2, 8, 8, 3))
    results = []
    for remat in (False, True):
        model = ctors[which](_rngs(0), remat)

        def loss(m):
            logits, spikes = m(xs, return_spikes=True)
            return jnp.sum(logits**2), spikes

        (value, spikes), grads = nnx.jit(nnx.value_and_grad(loss, has_aux=True))(model)
        results.append((value, spikes, jax.tree.leaves(grads), jax.tree.leaves(nnx.state(model, nnx.BatchStat))))
    (v0, s0, g0, b0), (v1, s1, g1, b1) = results
    assert float(v0) == float(v1) and len(s0) == len(s1)
    for a, b in zip(s0 + g0 + b0, s1 + g1 + b1):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(float(jnp.abs(g).max()) > 0 for g in g0)
