"""Composition with JAX transformations: jit (no recompilation), vmap, grad, float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons, surrogate
from snnjax.neurons import alif, if_, li, lif, plif, rlif, spytorch_lif
from snnjax.surrogate import Surrogate

T, B, N = 30, 4, 6
XS = jnp.asarray((0.5 + 0.7 * np.random.default_rng(11).standard_normal((T, B, N))).astype(np.float32))


def test_jit_equals_eager():
    p = neurons.ALIFParams(tau=3.0, tau_adapt=6.0, beta_adapt=0.4)
    f_eager, y_eager = snnjax.run(alif.step, p, XS)
    f_jit, y_jit = jax.jit(lambda p, x: snnjax.run(alif.step, p, x))(p, XS)
    np.testing.assert_array_equal(y_jit, y_eager)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), f_jit, f_eager)


def test_changing_width_or_tau_does_not_recompile():
    traces = []

    @jax.jit
    def loss_and_grad(params, xs):
        traces.append(1)  # runs only while tracing
        return jax.value_and_grad(lambda x: snnjax.run(lif.step, params, x)[1].sum())(xs)

    def params(width, tau=2.0):
        return neurons.LIFParams(tau=tau, surrogate=surrogate.get("rectangle", width))

    v1, g1 = loss_and_grad(params(1.0), XS)
    v2, g2 = loss_and_grad(params(0.5), XS)
    assert len(traces) == 1, "a new surrogate width recompiled"
    assert float(v1) == float(v2)  # the forward pass does not depend on the width
    assert not np.allclose(g1, g2)  # the backward does
    loss_and_grad(params(0.25, tau=3.0), XS)
    assert len(traces) == 1
    # (a committed float32 array instead of a Python float is a different, strongly
    # typed aval: one more trace, then arrays of new values reuse it)
    loss_and_grad(neurons.LIFParams(tau=2.0, surrogate=Surrogate("rectangle", jnp.float32(2.0))), XS)
    loss_and_grad(neurons.LIFParams(tau=2.0, surrogate=Surrogate("rectangle", jnp.float32(3.0))), XS)
    assert len(traces) == 2
    # the width used inside the jitted function is the one passed: compare with eager
    _, g_eager = jax.value_and_grad(lambda x: snnjax.run(lif.step, params(0.5), x)[1].sum())(XS)
    np.testing.assert_allclose(g2, g_eager, rtol=1e-6)
    # static options do retrace
    loss_and_grad(neurons.LIFParams(tau=2.0, reset="hard"), XS)
    assert len(traces) == 3
    loss_and_grad(neurons.LIFParams(tau=2.0, surrogate="atan"), XS)
    assert len(traces) == 4


def test_run_and_step_jit_without_recompile_for_new_values():
    traces = []

    @jax.jit
    def step(params, state, x):
        traces.append(1)
        return lif.step(params, state, x)

    st = lif.init_state((B, N))
    for t in range(5):
        st, _ = step(neurons.LIFParams(tau=2.0 + t, v_th=1.0 + 0.1 * t), st, XS[t])
    assert len(traces) == 1


@pytest.mark.parametrize(
    "step, params",
    [
        (lif.step, neurons.LIFParams(tau=2.0, reset="hard", v_reset=0.1)),
        (alif.step, neurons.ALIFParams(tau=3.0, tau_adapt=6.0, beta_adapt=0.4)),
        (spytorch_lif.step, neurons.SpytorchLIFParams(v_th=0.5)),
        (li.step, neurons.LIParams()),
    ],
    ids=["lif", "alif", "spytorch", "li"],
)
def test_vmap_over_batch_equals_batched_run(step, params):

    def loss(x):
        return (snnjax.run(step, params, x)[1] ** 2).sum()

    @jax.jit  # one compilation for all the variants
    def variants(xs):  # xs: [T, B, N]
        _, batched = snnjax.run(step, params, xs)
        per_example = [snnjax.run(step, params, xs[:, b])[1] for b in range(B)]
        _, vmapped = jax.vmap(lambda x: snnjax.run(step, params, x), in_axes=1, out_axes=(0, 1))(xs)
        g_batched = jax.grad(loss)(xs)
        g_vmapped = jax.vmap(jax.grad(loss), in_axes=1, out_axes=1)(xs)
        return batched, jnp.stack(per_example, axis=1), vmapped, g_batched, g_vmapped

    batched, per_example, vmapped, g_batched, g_vmapped = variants(XS)
    np.testing.assert_allclose(per_example, batched, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vmapped, batched, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g_vmapped, g_batched, rtol=1e-5, atol=1e-6)
    assert np.any(np.asarray(g_batched) != 0)


def test_vmap_over_surrogate_widths_equals_loop():
    widths = jnp.array([0.25, 0.5, 1.0, 2.0], jnp.float32)

    def grads_for_width(w):
        p = neurons.LIFParams(tau=2.0, surrogate=Surrogate("rectangle", w))
        return jax.grad(lambda x: (snnjax.run(lif.step, p, x)[1] * jnp.arange(N)).sum())(XS)

    swept = jax.jit(jax.vmap(grads_for_width))(widths)
    one = jax.jit(grads_for_width)
    loop = jnp.stack([one(jnp.float32(w)) for w in [0.25, 0.5, 1.0, 2.0]])
    np.testing.assert_allclose(swept, loop, rtol=1e-6, atol=1e-7)
    # the widths really differ in effect
    for i in range(1, len(widths)):
        assert not np.allclose(swept[i], swept[0])


def test_vmap_over_widths_with_the_forward_pass():
    """A γ sweep (ILIF Fig. 5): spikes identical for every width, surrogate derivatives not."""
    widths = jnp.array([0.5, 1.0, 3.0], jnp.float32)

    def run_w(w):
        p = neurons.LIFParams(tau=2.0, surrogate=Surrogate("triangle", w))
        return snnjax.run(lif.step, p, XS)[1]

    ys = jax.vmap(run_w)(widths)
    assert ys.shape == (3, T, B, N)
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])
    v = jnp.linspace(-2, 2, 9)
    d = jax.vmap(lambda w: jax.grad(lambda u: Surrogate("triangle", w)(u).sum())(v))(widths)
    for i, w in enumerate([0.5, 1.0, 3.0]):
        np.testing.assert_allclose(d[i], np.maximum(0, 1 - np.abs(np.asarray(v)) / w) / w, rtol=1e-6)


def test_grad_jit_equals_grad():
    p = neurons.PLIFParams(w=0.5, surrogate="atan")

    def loss(w, xs):
        return (snnjax.run(plif.step, neurons.PLIFParams(w=w, surrogate="atan"), xs)[1] ** 2).mean()

    g = jax.grad(loss, argnums=(0, 1))(p.w, XS)
    gj = jax.jit(jax.grad(loss, argnums=(0, 1)))(p.w, XS)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g, gj)
    assert float(g[0]) != 0.0


# --------------------------------------------------------------------------- float64


F64_CASES = [
    ("if_", if_, neurons.IFParams, dict(v_th=0.8, reset="hard", v_reset=-0.3), (0.15, 0.5)),
    ("lif", lif, neurons.LIFParams, dict(), (0.6, 0.6)),
    ("lif", lif, neurons.LIFParams, dict(tau=2.0, reset="hard", v_reset=0.25), (0.4, 0.5)),
    ("lif", lif, neurons.LIFParams, dict(tau=np.linspace(1.0, 4.0, N), reset="none"), (0.0, 0.5)),
    ("plif", plif, neurons.PLIFParams, dict(w=0.3), (0.4, 0.5)),
    ("alif", alif, neurons.ALIFParams, dict(tau=5.0, tau_adapt=20.0, beta_adapt=0.2), (0.35, 0.5)),
    ("spytorch_lif", spytorch_lif, neurons.SpytorchLIFParams, dict(), (0.25, 0.3)),
    ("li", li, neurons.LIParams, dict(), (0.0, 1.0)),
    ("li", li, neurons.LIParams, dict(synaptic=False), (0.0, 1.0)),
]


@pytest.mark.parametrize(
    "ref_name, mod, cls, kwargs, scale",
    F64_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(F64_CASES)],
)
def test_float64_equals_x64_numpy(ref_name, mod, cls, kwargs, scale, x64, np_ref):
    rng = np.random.default_rng(5)
    xs = scale[0] + scale[1] * rng.standard_normal((T, B, N))  # float64
    params = cls(**kwargs)
    final, ys, states = snnjax.run(mod.step, params, jnp.asarray(xs), return_states=True)
    _, ys_fused = snnjax.run(mod.step, params, jnp.asarray(xs))  # default backend
    ref_states, ref_ys = getattr(np_ref, ref_name)(xs, dt=np.float64, **kwargs)
    assert ys.dtype == jnp.float64 and ys_fused.dtype == jnp.float64
    for leaf in jax.tree.leaves((final, states)):
        assert leaf.dtype == jnp.float64
    np.testing.assert_allclose(ys, ref_ys, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ys_fused, ref_ys, rtol=1e-12, atol=1e-12)
    for name, ref in ref_states.items():
        np.testing.assert_allclose(getattr(states, name), ref, rtol=1e-12, atol=1e-12, err_msg=name)
    # the init state follows the input's dtype
    assert all(leaf.dtype == jnp.float64 for leaf in mod.init_state((2,), jnp.float64))


def test_float64_rlif(x64, np_ref):
    rng = np.random.default_rng(6)
    w_rec = 0.4 * rng.standard_normal((N, N))
    xs = 0.5 + 0.5 * rng.standard_normal((T, B, N))
    params = neurons.RLIFParams(w_rec=w_rec, lif=neurons.LIFParams(tau=2.0))
    _, ys, states = snnjax.run(rlif.step, params, jnp.asarray(xs), return_states=True)
    ref_states, ref_ys = np_ref.rlif(xs, w_rec=w_rec, tau=2.0, dt=np.float64)
    assert ys.dtype == jnp.float64 and states.m.dtype == jnp.float64
    np.testing.assert_array_equal(ys, ref_ys)
    np.testing.assert_allclose(states.m, ref_states["m"], rtol=1e-12, atol=1e-12)


def test_float64_gradients_have_float64_dtype(x64):
    xs = jnp.asarray(np.random.default_rng(8).normal(0.5, 0.7, (T, B, N)))
    g_tau, g_x = jax.grad(
        lambda tau, x: snnjax.run(lif.step, neurons.LIFParams(tau=tau, surrogate="atan"), x)[1].sum(),
        argnums=(0, 1),
    )(jnp.float64(2.0), xs)
    assert g_tau.dtype == jnp.float64 and g_x.dtype == jnp.float64


def test_float32_input_under_x64_stays_float32(x64):
    """Python-float params are weakly typed: float32 inputs give float32 states even with x64 on."""
    final, ys = snnjax.run(lif.step, neurons.LIFParams(tau=2.0), XS)
    assert ys.dtype == jnp.float32 and final.m.dtype == jnp.float32
