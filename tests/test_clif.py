"""CLIF (NEURONS.md, section "CLIF") against an independent NumPy loop.

Comparisons run in float64 (``x64`` fixture) so rounding cannot flip a
threshold decision between the library and the reference.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _numpy_ref import check_jit_vmap_grad
from _numpy_ref import sigmoid as _sigmoid
from jax.test_util import check_grads

import snnjax
from snnjax import neurons
from snnjax.neurons import clif

T = 128
SHAPE = (2, 6)
ATOL = 1e-6


# x64: the fixture of conftest.py


def _inputs(seed, t=T, shape=SHAPE, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mean = np.linspace(-0.2, 1.2, int(np.prod(shape))).reshape(shape)
    return (mean + rng.normal(0.0, 0.8, (t,) + shape)).astype(dtype)


def clif_ref(xs, *, tau=2.0, v_th=1.0):
    """NEURONS.md CLIF as a plain float64 loop."""
    xs = np.asarray(xs, np.float64)
    lam = 1.0 - 1.0 / tau
    m = np.zeros(xs.shape[1:])
    c = np.zeros_like(m)
    rec = {"s": [], "m": [], "c": [], "u": []}
    for x in xs:
        u = lam * m + x
        c = c * _sigmoid(u / tau)
        s = (u - v_th >= 0).astype(np.float64)
        c = c + s
        m = u - s * (v_th + _sigmoid(c))
        for k, v in (("s", s), ("m", m), ("c", c), ("u", u)):
            rec[k].append(np.array(v))
    return {k: np.stack(v) for k, v in rec.items()}


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(tau=3.0, v_th=0.7),
        dict(tau=np.linspace(1.2, 4.0, SHAPE[1]), v_th=np.linspace(0.8, 1.3, SHAPE[1])),
    ],
    ids=["default", "custom", "per-neuron"],
)
def test_clif_matches_numpy_loop(x64, kw):
    xs = _inputs(1)
    params = neurons.CLIFParams(**kw)
    final, ys, st = snnjax.run(clif.step, params, jnp.asarray(xs), return_states=True)
    ref = clif_ref(xs, **kw)
    assert 0.1 < ref["s"].mean() < 0.9
    assert ys.dtype == final.m.dtype == final.c.dtype == jnp.float64
    np.testing.assert_allclose(ys, ref["s"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(st.m, ref["m"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(st.c, ref["c"], rtol=0, atol=ATOL)
    assert ref["c"].max() > 1.0  # the complementary potential accumulates


def test_clif_defaults_and_hand_computed_steps():
    p = neurons.CLIFParams()
    assert (p.tau, p.v_th) == (2.0, 1.0)
    assert p.surrogate.name == "rectangle" and float(p.surrogate.width) == 1.0
    xs = jnp.array([[1.5], [0.6], [1.0]], jnp.float32)
    _, ys, st = snnjax.run(clif.step, p, xs, return_states=True)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    # t=1: U = 1.5 fires, M = 0*σ + 1 = 1, m = 1.5 - (1 + σ(1))
    m1 = 1.5 - (1.0 + sig(1.0))
    # t=2: U = 0.5*m1 + 0.6 < 1, M = 1*σ(U/2), m = U
    u2 = 0.5 * m1 + 0.6
    c2 = sig(u2 / 2.0)
    # t=3: U = 0.5*u2 + 1.0
    u3 = 0.5 * u2 + 1.0
    s3 = float(u3 >= 1.0)
    c3 = c2 * sig(u3 / 2.0) + s3
    np.testing.assert_array_equal(np.asarray(ys)[:, 0], [1.0, 0.0, s3])
    np.testing.assert_allclose(np.asarray(st.m)[:2, 0], [m1, u2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(st.c)[:, 0], [1.0, c2, c3], rtol=1e-6, atol=1e-6)


def test_clif_check_grads_away_from_threshold(x64):
    """|U - V_th| > γ/2 at every step: the spike is locally constant, the rectangle surrogate's
    derivative (0) is the true one, and the reset term V_th + sigmoid(M) is smooth."""
    rng = np.random.default_rng(2)
    xs = np.where(rng.random((24, 4)) < 0.45, 3.5, -2.5) + 0.1 * rng.normal(size=(24, 4))
    tau, v_th = 1.5, 1.0
    ref = clif_ref(xs, tau=tau, v_th=v_th)
    assert np.min(np.abs(ref["u"] - v_th)) > 0.55
    assert 0.2 < ref["s"].mean() < 0.8

    @jax.jit
    def f(xs, tau, v_th):
        params = neurons.CLIFParams(tau=tau, v_th=v_th)
        _, ys, st = snnjax.run(clif.step, params, xs, return_states=True)
        return ys, st

    args = (jnp.asarray(xs), jnp.float64(tau), jnp.float64(v_th))
    check_grads(f, args, order=1, modes=("rev",), eps=1e-6)  # custom_vjp spike: reverse mode only

    def loss_scan(*a):
        ys, st = f(*a)
        return jnp.sum(st.m[-1]) + jnp.sum(st.c[-1]) + jnp.sum(ys)

    g = jax.jit(jax.grad(loss_scan, argnums=(0, 1, 2)))(*args)
    assert all(np.any(np.asarray(gi) != 0) for gi in g)

    def loss_default(xs, tau, v_th):  # default backend (no return_states): the same gradient
        final, ys = snnjax.run(clif.step, neurons.CLIFParams(tau=tau, v_th=v_th), xs)
        return jnp.sum(final.m) + jnp.sum(final.c) + jnp.sum(ys)

    g_def = jax.jit(jax.grad(loss_default, argnums=(0, 1, 2)))(*args)
    for a, b in zip(g, g_def):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_clif_jit_vmap_grad_compose():
    xs = jnp.asarray(_inputs(3, t=30, shape=(3, 4), dtype=np.float32))
    check_jit_vmap_grad(clif.step, lambda tau: neurons.CLIFParams(tau=tau, surrogate="atan"), jnp.float32(2.5), xs)


def test_clif_float64_state(x64):
    final, ys = snnjax.run(clif.step, neurons.CLIFParams(), jnp.asarray(_inputs(4, t=5)))
    assert ys.dtype == final.m.dtype == final.c.dtype == jnp.float64
    st = clif.init_state(SHAPE, jnp.float64)
    assert st.m.dtype == st.c.dtype == jnp.float64 and st.m.shape == st.c.shape == SHAPE
    assert not np.any(st.m) and not np.any(st.c)


def test_clif_finite_on_long_large_inputs():
    rng = np.random.default_rng(10)
    xs = np.empty((10_000, 6, 8), np.float32)
    xs[:, :2] = rng.uniform(-100.0, 100.0, (10_000, 2, 8))
    xs[:, 2:4] = 100.0
    xs[:, 4:] = -100.0
    xs = jnp.asarray(xs)

    @jax.jit
    def f(tau, xs):
        def loss(tau, xs):
            final, ys = snnjax.run(clif.step, neurons.CLIFParams(tau=tau), xs)
            return jnp.sum(ys), (final, ys)

        return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(tau, xs)

    (_, (final, ys)), (gt, gx) = f(jnp.float32(2.0), xs)
    arrays = [("spikes", ys), ("m", final.m), ("M", final.c), ("grad tau", gt), ("grad xs", gx)]
    for name, a in arrays:
        assert np.all(np.isfinite(np.asarray(a))), f"non-finite {name}"
    assert np.all(np.asarray(ys)[:, 2:4] == 1) and not np.any(np.asarray(ys)[:, 4:])


def test_clif_bad_constants_raise():
    for tau in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"tau must be >= 1"):
            neurons.CLIFParams(tau=tau)
    with pytest.raises(ValueError, match=r"tau must be finite"):
        neurons.CLIFParams(tau=float("nan"))
    with pytest.raises(ValueError, match=r"v_th must be finite"):
        neurons.CLIFParams(v_th=float("inf"))
