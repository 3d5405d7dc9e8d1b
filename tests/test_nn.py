"""NNX modules equal the pure functions they wrap; time folding; the spiking MLP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax
from snnjax import models, neurons, nn

XS = jax.random.normal(jax.random.key(1), (40, 3, 6)) * 1.5

MODULES = [
    (lambda: nn.IF(reset="hard", v_reset=-0.2), neurons.if_.step, neurons.IFParams(reset="hard", v_reset=-0.2)),
    (lambda: nn.LIF(tau=2.0, surrogate="atan"), neurons.lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")),
    (lambda: nn.PLIF(tau_init=3.0), neurons.plif.step, neurons.PLIFParams(w=neurons.plif.w_from_tau(3.0))),
    (lambda: nn.ALIF(tau=5.0, beta_adapt=0.5), neurons.alif.step, neurons.ALIFParams(tau=5.0, beta_adapt=0.5)),
    (lambda: nn.SpytorchLIF(), neurons.spytorch_lif.step, neurons.SpytorchLIFParams()),
    (lambda: nn.LI(synaptic=False), neurons.li.step, neurons.LIParams(synaptic=False)),
]


@pytest.mark.parametrize("make, step, params", MODULES, ids=lambda v: getattr(v, "__module__", ""))
def test_module_equals_pure_function(make, step, params):
    module = make()
    _, ref = snnjax.run(step, params, XS)
    np.testing.assert_array_equal(module(XS), ref)
    # explicit single-step mode gives the same sequence
    state = module.init_state(XS.shape[1:])
    outs = []
    for t in range(XS.shape[0]):
        state, y = module.step(state, XS[t])
        outs.append(y)
    np.testing.assert_allclose(jnp.stack(outs), ref, rtol=1e-6, atol=1e-6)
    ys, final = module(XS, return_state=True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), final, state)


def test_rlif_module_equals_pure_function():
    module = nn.RLIF(6, rngs=nnx.Rngs(0), tau=2.0, w_scale=2.0)
    assert np.all(np.diag(module.w_rec[...]) == 0)
    params = neurons.RLIFParams(w_rec=module.w_rec[...], lif=neurons.LIFParams(tau=2.0))
    _, ref = snnjax.run(neurons.rlif.step, params, XS)
    np.testing.assert_array_equal(module(XS), ref)


def test_learnable_tau_and_threshold_get_gradients():
    module = nn.LIF(tau=2.0, learn_tau=True, learn_v_th=True, param_shape=(6,), surrogate="atan")
    assert isinstance(module.tau, nnx.Param) and module.tau[...].shape == (6,)
    grads = nnx.grad(lambda m: m(XS).mean())(module)
    g_tau, g_vth = grads["tau"][...], grads["v_th"][...]
    assert g_tau.shape == (6,) and np.all(np.isfinite(g_tau)) and np.any(g_tau != 0)
    assert np.all(g_vth < 0)  # raising the threshold lowers the firing rate
    # the layer sees τ = 1 + softplus(w), initialised at τ = 2: the gradient w.r.t. w is the pure
    # function's gradient w.r.t. τ times dτ/dw = sigmoid(w)
    np.testing.assert_allclose(module.params().tau, 2.0, rtol=1e-6)
    w = module.tau[...]
    np.testing.assert_allclose(1.0 + jax.nn.softplus(w), 2.0, rtol=1e-6)
    ref = jax.grad(
        lambda tau: snnjax.run(neurons.lif.step, neurons.LIFParams(tau=tau, surrogate="atan"), XS)[1].mean()
    )(jnp.full((6,), 2.0))
    np.testing.assert_allclose(g_tau, ref * jax.nn.sigmoid(w), rtol=1e-5)


def test_learnable_bounded_constants_cannot_leave_their_range():
    module = nn.ILIF(learn=("tau", "lambda_i", "v_th"), param_shape=(6,))
    for name in ("tau", "lambda_i", "v_th"):  # an optimiser step far past the bound
        getattr(module, name)[...] = jnp.full((6,), -1e4)
    p = module.params()
    assert np.all(np.asarray(p.tau) >= 1.0) and np.all(np.asarray(p.lambda_i) >= 0.0)
    assert np.all(np.asarray(p.v_th) >= 0.0)
    assert np.all(np.isfinite(np.asarray(module(XS))))
    # a learnable value must start strictly inside the range
    with pytest.raises(ValueError, match=r"a learnable tau must start above its bound 1.0"):
        nn.LIF(tau=1.0, learn=("tau",))
    # the declared bounds are the classes' own checks: just below is rejected, above accepted
    for cls in (neurons.LIFParams, neurons.ALIFParams, neurons.ILIFParams, neurons.IPLIFParams, neurons.CLIFParams,
                neurons.LIParams, neurons.PolaraParams, neurons.SpytorchLIFParams, neurons.IFParams,
                neurons.PLIFParams):  # fmt: skip
        for name, low in cls.BOUNDS.items():
            shape = np.shape(getattr(cls(), name))  # POLARA's sigma is one value per kernel
            cls(**{name: np.full(shape, low + 0.5)})
            with pytest.raises(ValueError, match=name):
                cls(**{name: np.full(shape, low - 0.5)})


def test_unknown_learnable_and_backend_raise():
    with pytest.raises(ValueError, match=r"learnable parameter \(learn\) must be one of"):
        nn.ALIF(learn=("nope",))
    with pytest.raises(ValueError, match="backend must be one of"):
        nn.LIF(backend="cuda")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        nn.LIF(tau=0.5)


def test_time_distributed_equals_per_step():
    conv = nnx.Conv(2, 4, (3, 3), rngs=nnx.Rngs(0))
    td = nn.TimeDistributed(conv)
    xs = jax.random.normal(jax.random.key(2), (5, 3, 8, 8, 2))
    ref = jnp.stack([conv(xs[t]) for t in range(5)])
    np.testing.assert_allclose(td(xs), ref, atol=1e-5)
    with pytest.raises(ValueError, match="rank >= 2"):
        td(jnp.ones((5,)))


def test_spiking_mlp_equals_manual_composition():
    model = models.SpikingMLP(6, (9,), 4, rngs=nnx.Rngs(0), weight_scale=3.0)
    w1, w2 = model.layers[0].kernel[...], model.layers[1].kernel[...]
    # spytorch init: N(0, (ws / sqrt(fan_in))^2)
    assert w1.shape == (6, 9) and w2.shape == (9, 4)
    out, (spikes,) = model(XS, return_spikes=True)
    _, s_ref = snnjax.run(neurons.spytorch_lif.step, neurons.SpytorchLIFParams(), XS @ w1)
    _, o_ref = snnjax.run(neurons.li.step, neurons.LIParams(), s_ref @ w2)
    np.testing.assert_array_equal(spikes, s_ref)
    np.testing.assert_allclose(out, o_ref, atol=1e-6)
    assert 0 < float(spikes.mean()) < 1


def test_spiking_mlp_weight_scale_statistics():
    model = models.SpikingMLP(400, (300,), 10, rngs=nnx.Rngs(0))
    w = np.asarray(model.layers[0].kernel[...])
    ws = models.spytorch_weight_scale()
    assert ws == pytest.approx(7 * (1 - np.exp(-0.1)))
    assert w.std() == pytest.approx(ws / np.sqrt(400), rel=0.02)
    with pytest.raises(ValueError, match="weight_scale must be one value or 2 values"):
        models.SpikingMLP(4, (3,), 2, weight_scale=(1.0, 2.0, 3.0), rngs=nnx.Rngs(0))


def test_time_loop_memory_policy_set_at_construction():
    """``remat`` / ``checkpoint_every`` given to a layer are its defaults for ``snnjax.run``: the
    same outputs and gradients as the plain scan, less memory in XLA's compiled backward (the
    per-step residuals of all but one chunk are recomputed), reachable from a model's neuron
    factory; a call's keywords override them; a non-scan backend is rejected up front."""
    xs = jax.random.normal(jax.random.key(0), (24, 2, 32))
    plain = nn.Polara(backend="scan")
    chunked = nn.Polara(checkpoint_every=4)
    stepwise = nn.Polara(remat=True)

    def value_and_grad(layer):
        return jax.jit(jax.value_and_grad(lambda x: jnp.sum(layer(x) ** 2)))(xs)

    want_value, want = value_and_grad(plain)
    for layer in (chunked, stepwise):
        value, grad = value_and_grad(layer)
        np.testing.assert_allclose(value, want_value, rtol=1e-6)
        np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-6)

    def temp_bytes(layer, **kw):
        f = jax.jit(jax.grad(lambda x: jnp.sum(layer(x, **kw) ** 2)))
        return f.lower(xs).compile().memory_analysis().temp_size_in_bytes

    assert temp_bytes(chunked) < 0.6 * temp_bytes(plain)
    # the call overrides the layer: no policy, so backend="auto" (the native kernel where built)
    assert temp_bytes(chunked, checkpoint_every=None) == temp_bytes(nn.Polara())

    model = models.PreActResNet(
        (1, 1), 10, neuron=models.make_neuron("polara", checkpoint_every=5), widths=(4, 8), pool=4, rngs=nnx.Rngs(0)
    )
    layers = [m for _, m in nnx.iter_graph(model) if isinstance(m, nn.Polara)]
    assert layers and all(m._run_defaults == {"checkpoint_every": 5} for m in layers)

    with pytest.raises(ValueError, match="checkpoint_every is a lax.scan option.*'fused'"):
        nn.LIF(backend="fused", checkpoint_every=4)
    with pytest.raises(ValueError, match="remat=True is a lax.scan option.*'pallas'"):
        nn.ILIF(backend="pallas", remat=True)
    with pytest.raises(ValueError, match="checkpoint_every must be an int in \\[1"):
        nn.CLIF(checkpoint_every=0)
    with pytest.raises(TypeError, match="remat"):
        nn.LIF(remat="yes")
