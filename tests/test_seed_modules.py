"""NNX modules of the seed neurons (snnjax.nn.ILIF, CLIF, Polara) equal their pure functions."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax
from snnjax import neurons, nn
from snnjax.neurons import clif, ilif, plif, polara

T = 24
XS = np.random.default_rng(0).normal(0.6, 0.9, (T, 3, 5)).astype(np.float32)

# name -> (module factory, pure step, the params the module should hold)
CASES = {
    "ilif": (
        lambda: nn.ILIF(tau=1.3, lambda_i=0.1, ciu_source="current"),
        ilif.step,
        lambda: neurons.ILIFParams(tau=1.3, lambda_i=0.1, ciu_source="current"),
    ),
    "iplif": (
        lambda: nn.ILIF(plif=True, tau=3.0),
        ilif.step,
        lambda: neurons.IPLIFParams(w=plif.w_from_tau(3.0)),
    ),
    "clif": (
        lambda: nn.CLIF(tau=2.5, v_th=0.9),
        clif.step,
        lambda: neurons.CLIFParams(tau=2.5, v_th=0.9),
    ),
    "polara": (
        lambda: nn.Polara(k=4, A=0.3),
        polara.step,
        lambda: neurons.PolaraParams(k=4, A=0.3),
    ),
    "polara-refractory-mask": (
        lambda: nn.Polara(ablation="refractory", grad="mask"),
        polara.step,
        lambda: neurons.PolaraParams(refractory=False, grad="mask"),
    ),
}


def _fields(p):
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


@pytest.mark.parametrize("name", list(CASES))
def test_module_equals_pure_function(name):
    make, step, make_params = CASES[name]
    module = make()
    xs = jnp.asarray(XS)
    # the module holds the params the user asked for
    got, want = _fields(module.params()), _fields(make_params())
    assert type(module.params()) is type(make_params())
    assert got.keys() == want.keys()
    for key in want:
        if key == "surrogate":
            assert got[key].name == want[key].name
            assert float(got[key].width) == float(want[key].width)
        elif want[key] is None or isinstance(want[key], (str, bool, int)):
            assert got[key] == want[key], key
        else:
            np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-6, err_msg=key)
    # multi-step call == snnjax.run with the pure step and module.params()
    final_ref, ref = snnjax.run(step, module.params(), xs)
    assert 0.05 < (np.asarray(ref) > 0).mean() < 0.95
    ys, final = module(xs, return_state=True)
    np.testing.assert_array_equal(ys, ref)
    jax.tree.map(np.testing.assert_array_equal, final, final_ref)
    # single-step mode (init_state, then step in a Python loop) == the multi-step call
    step_fn = jax.jit(lambda state, x: module.step(state, x))
    state = module.init_state(xs.shape[1:])
    outs = []
    for t in range(T):
        state, y = step_fn(state, xs[t])
        outs.append(y)
    np.testing.assert_allclose(jnp.stack(outs), ref, rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(final_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_iplif_module_learns_w():
    module = nn.ILIF(plif=True, tau=2.0, surrogate="atan", param_shape=(5,))
    assert isinstance(module.w, nnx.Param) and module.w[...].shape == (5,)
    np.testing.assert_allclose(module.w[...], 0.0, atol=1e-7)  # τ = 2 ⇔ w = 0
    xs = jnp.asarray(XS)
    grads = nnx.jit(nnx.grad(lambda m, xs: jnp.sum(m(xs))))(module, xs)
    g = np.asarray(grads["w"][...])
    assert g.shape == (5,) and np.all(np.isfinite(g)) and np.any(g != 0)

    def pure_loss(w):
        return jnp.sum(snnjax.run(ilif.step, neurons.IPLIFParams(w=w, surrogate="atan"), xs)[1])

    np.testing.assert_allclose(g, jax.jit(jax.grad(pure_loss))(jnp.zeros(5)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("param_shape", [(), (5,)], ids=["per-layer", "per-neuron"])
def test_polara_module_learns_A(param_shape):
    """Polara(learn=("A",)) gets a finite nonzero gradient. ``param_shape=(N,)`` (one A per
    neuron, as the Neuron base class documents for every learnable field) must work too."""
    module = nn.Polara(learn=("A",), param_shape=param_shape)
    assert isinstance(module.A, nnx.Param) and module.A[...].shape == param_shape
    np.testing.assert_allclose(module.A[...], 0.25)
    xs = jnp.asarray(XS)
    grads = nnx.jit(nnx.grad(lambda m, xs: jnp.sum(m(xs))))(module, xs)
    g = np.asarray(grads["A"][...])
    assert g.shape == param_shape and np.all(np.isfinite(g)) and np.all(g != 0)


def test_clif_module_learns_tau_and_threshold():
    module = nn.CLIF(learn=("tau", "v_th"), param_shape=(5,), surrogate="atan")
    xs = jnp.asarray(XS)
    grads = nnx.jit(nnx.grad(lambda m, xs: jnp.sum(m(xs))))(module, xs)
    for key in ("tau", "v_th"):
        g = np.asarray(grads[key][...])
        assert g.shape == (5,) and np.all(np.isfinite(g)) and np.any(g != 0), key
    assert np.all(np.asarray(grads["v_th"][...]) < 0)  # a higher threshold means fewer spikes


def test_module_bad_options_raise():
    with pytest.raises(ValueError, match=r"ablation must be one of"):
        nn.Polara(ablation="leak")
    with pytest.raises(ValueError, match=r"grad must be one of"):
        nn.Polara(grad="surrogate")
    with pytest.raises(ValueError, match=r"learnable parameter \(learn\) must be one of"):
        nn.Polara(learn=("nonexistent",))
    with pytest.raises(ValueError, match=r"ciu_source must be one of"):
        nn.ILIF(ciu_source="membrane")
    with pytest.raises(ValueError, match=r"tau must be >= 1"):
        nn.CLIF(tau=0.0)


class _Net(nnx.Module):
    """Linear -> ILIF(plif) -> Linear -> LIF -> Linear -> Polara(mask), time-major [T, B, F]."""

    def __init__(self, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(4, 8, rngs=rngs)
        self.ilif = nn.ILIF(plif=True)
        self.l2 = nnx.Linear(8, 8, rngs=rngs)
        self.lif = nn.LIF(tau=2.0)
        self.l3 = nnx.Linear(8, 3, rngs=rngs)
        self.polara = nn.Polara(grad="mask", learn=("A",))

    def __call__(self, xs):
        """Returns the output and the first hidden layer's spikes."""
        h1 = self.ilif(self.l1(xs) * 3.0)
        h2 = self.lif(self.l2(h1) * 3.0)
        return self.polara(self.l3(h2) * 3.0), h1


def test_seed_modules_compose_in_a_network_under_nnx_jit():
    net = _Net(nnx.Rngs(0))
    xs = jnp.asarray(np.random.default_rng(1).uniform(0.0, 1.0, (T, 2, 4)).astype(np.float32))

    @nnx.jit
    def loss_and_grads(model, xs):
        def loss(m):
            out, hidden = m(xs)
            return jnp.mean(out), (out, hidden)

        return nnx.value_and_grad(loss, has_aux=True)(model)

    (loss, (out, hidden)), grads = loss_and_grads(net, xs)
    assert out.shape == (T, 2, 3)
    assert 0.0 < float(hidden.mean()) < 1.0 and float((out > 0).mean()) > 0  # spikes flow
    np.testing.assert_allclose(loss, jnp.mean(out), rtol=1e-6)
    for path in (("l1", "kernel"), ("ilif", "w"), ("polara", "A"), ("l3", "kernel")):
        node = grads
        for key in path:
            node = node[key]
        g = np.asarray(node[...])
        assert np.all(np.isfinite(g)) and np.any(g != 0), path
    # a plain SGD update through nnx.state / nnx.update moves the learnable neuron parameters
    w_before = float(net.ilif.w[...])
    params = nnx.state(net, nnx.Param)
    nnx.update(net, jax.tree.map(lambda p, g: p - 0.1 * g, params, grads))
    assert float(net.ilif.w[...]) != w_before
