"""backend="linear": a linear time-invariant neuron (the LI readout) as one Toeplitz matmul.

Checked against a plain NumPy loop of the readout equations and against autodiff
through ``lax.scan`` (outputs, final state, gradients w.r.t. inputs, initial
state and the learnable time constants).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons, nn
from snnjax.kernels import linear
from snnjax.neurons import li

T, B, N = 37, 3, 4
RNG = np.random.default_rng(11)
XS = jnp.asarray(RNG.standard_normal((T, B, N)), jnp.float32)
STATE = li.LIState(
    i=jnp.asarray(RNG.standard_normal((B, N)), jnp.float32), v=jnp.asarray(RNG.standard_normal((B, N)), jnp.float32)
)

PARAMS = {
    "synaptic": neurons.LIParams(tau_syn=5.0, tau_mem=10.0),
    "membrane-only": neurons.LIParams(tau_mem=3.0, synaptic=False),
    "per-neuron": neurons.LIParams(tau_syn=jnp.array([2.0, 3.0, 5.0, 8.0]), tau_mem=jnp.array([4.0, 10.0, 20.0, 3.0])),
}


def _numpy_li(tau_syn, tau_mem, synaptic, xs, i0, v0):
    """The readout equations of NEURONS.md in float64: I' = αI + x, V' = βV + I (old I)."""
    a, b = np.exp(-1 / np.asarray(tau_syn, np.float64)), np.exp(-1 / np.asarray(tau_mem, np.float64))
    i, v = np.array(i0, np.float64), np.array(v0, np.float64)
    ys = []
    for x in np.asarray(xs, np.float64):
        if synaptic:
            i, v = a * i + x, b * v + i
        else:
            v = b * v + x
        ys.append(v)
    return np.stack(ys), i, v


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
def test_linear_equals_numpy_loop(name, with_state):
    p = PARAMS[name]
    state = STATE if with_state else None
    final, ys = snnjax.run(li.step, p, XS, state, backend="linear")
    i0 = STATE.i if with_state else np.zeros((B, N))
    v0 = STATE.v if with_state else np.zeros((B, N))
    ref_ys, ref_i, ref_v = _numpy_li(p.tau_syn, p.tau_mem, p.synaptic, XS, i0, v0)
    np.testing.assert_allclose(ys, ref_ys, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(final.v, ref_v, rtol=1e-5, atol=1e-5)
    if p.synaptic:
        np.testing.assert_allclose(final.i, ref_i, rtol=1e-5, atol=1e-5)
    assert ys.dtype == XS.dtype and final.v.shape == (B, N) and final.i.dtype == jnp.float32


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
def test_linear_gradients_equal_scan(name, with_state):
    p = PARAMS[name]

    def loss(p, xs, state, backend):
        final, ys = snnjax.run(li.step, p, xs, state, backend=backend)
        w = jnp.cos(jnp.arange(ys.size, dtype=ys.dtype)).reshape(ys.shape)
        return jnp.sum(ys * w) + jnp.sum(jnp.sin(final.v)) + 0.3 * jnp.sum(final.i**2)

    argnums = (0, 1, 2) if with_state else (0, 1)
    args = (p, XS, STATE if with_state else None)
    g_lin = jax.jit(jax.grad(loss, argnums=argnums), static_argnums=3)(*args, "linear")
    g_scan = jax.jit(jax.grad(loss, argnums=argnums), static_argnums=3)(*args, "scan")
    for gl, gs in zip(jax.tree.leaves(g_lin), jax.tree.leaves(g_scan), strict=True):
        scale = max(1.0, float(np.max(np.abs(gs))))
        np.testing.assert_allclose(gl, gs, rtol=1e-5, atol=1e-5 * scale)
    if p.synaptic:  # the time constants get real gradients through the impulse response
        assert float(jnp.max(jnp.abs(jnp.asarray(g_lin[0].tau_syn)))) > 0
    assert float(jnp.max(jnp.abs(jnp.asarray(g_lin[0].tau_mem)))) > 0


def test_impulse_response_is_the_closed_form():
    """h[t] for the synaptic readout: Σ_{k<t} α^k β^(t-1-k) (the input reaches V one step late)."""
    p = neurons.LIParams(tau_syn=5.0, tau_mem=10.0)
    h, g = linear.impulse_response(li.step, p, li.init_state, 12)
    a, b = np.exp(-1 / 5), np.exp(-1 / 10)
    ref = [sum(a**k * b ** (t - 1 - k) for k in range(t)) for t in range(12)]
    np.testing.assert_allclose(h, ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g.i, a ** np.arange(12), rtol=1e-6)


def test_auto_picks_linear_for_the_readout_and_fused_otherwise(monkeypatch):
    calls = []
    real = linear.linear_run
    monkeypatch.setattr(linear, "linear_run", lambda *a, **k: calls.append(1) or real(*a, **k))
    snnjax.run(li.step, PARAMS["synaptic"], XS)
    assert calls == [1]
    snnjax.run(li.step, PARAMS["synaptic"], jnp.zeros((snnjax.scan.LINEAR_MAX_T + 1, 2, 3)))
    snnjax.run(neurons.lif.step, neurons.LIFParams(), XS)
    assert calls == [1]
    # the module takes the same path and matches the scan backend
    ys = nn.LI()(XS)
    np.testing.assert_allclose(ys, nn.LI(backend="scan")(XS), rtol=1e-5, atol=1e-5)
    assert len(calls) == 2


def test_forward_mode_and_vmap_work():
    p = PARAMS["per-neuron"]
    f = lambda xs: snnjax.run(li.step, p, xs, backend="linear")[1]  # noqa: E731
    t_lin = jax.jvp(f, (XS,), (jnp.ones_like(XS),))[1]
    t_scan = jax.jvp(lambda xs: snnjax.run(li.step, p, xs, backend="scan")[1], (XS,), (jnp.ones_like(XS),))[1]
    np.testing.assert_allclose(t_lin, t_scan, rtol=1e-5, atol=1e-5)
    batched = jax.vmap(f, in_axes=1, out_axes=1)(XS)
    np.testing.assert_allclose(batched, f(XS), rtol=1e-5, atol=1e-5)


def test_bfloat16_inputs():
    xs = XS.astype(jnp.bfloat16)
    final, ys = snnjax.run(li.step, PARAMS["synaptic"], xs, backend="linear")
    ref = _numpy_li(5.0, 10.0, True, np.asarray(xs, np.float32), np.zeros((B, N)), np.zeros((B, N)))[0]
    assert ys.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(ys, np.float32), ref, rtol=2e-2, atol=2e-2)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"backend='linear' needs a neuron whose record says linear=True"):
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS, backend="linear")
    with pytest.raises(ValueError, match="per neuron"):
        snnjax.run(li.step, neurons.LIParams(tau_mem=jnp.ones((B, N)) * 5.0), XS, backend="linear")
    with pytest.raises(ValueError, match="backend='linear' does not take"):
        snnjax.run(li.step, PARAMS["synaptic"], XS, backend="linear", return_states=True)
