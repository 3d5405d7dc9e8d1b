"""ILIF / IPLIF (NEURONS.md, section "ILIF") against an independent NumPy loop.

The reference below is written from the spec's seven steps, not from the
library. Comparisons run in float64 (``x64`` fixture) so rounding can never flip
a threshold decision between the two implementations.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _numpy_ref import check_jit_vmap_grad
from _numpy_ref import sigmoid as _sigmoid
from jax.test_util import check_grads

import snnjax
from snnjax import neurons
from snnjax.neurons import ilif, lif

T = 128
SHAPE = (2, 6)
ATOL = 1e-6


# x64: the fixture of conftest.py


def _inputs(seed, t=T, shape=SHAPE, dtype=np.float64):
    """Per-neuron mean from -0.2 to 1.2 plus noise: most neurons fire, none always."""
    rng = np.random.default_rng(seed)
    mean = np.linspace(-0.2, 1.2, int(np.prod(shape))).reshape(shape)
    return (mean + rng.normal(0.0, 0.8, (t,) + shape)).astype(dtype)


def ilif_ref(
    xs,
    *,
    decay,
    v_th=1.0,
    lambda_u=1.0,
    lambda_i=0.03,
    use_mpiu=True,
    use_ciu=True,
    ciu_source="input",
):
    """NEURONS.md ILIF, steps 1-7, as a plain float64 loop. Returns per-step arrays."""
    xs = np.asarray(xs, np.float64)
    m = np.zeros(xs.shape[1:])
    ii = np.zeros_like(m)
    iu = np.zeros_like(m)
    rec = {"s": [], "m": [], "i_i": [], "i_u": [], "u": []}
    for x in xs:
        cur = x - np.where(ii >= 0, ii, 0.0) if use_ciu else x  # 1
        u = decay * m + cur  # 2
        s = (u - v_th >= 0).astype(np.float64)  # 3
        m_bar = u - s * v_th  # 4
        if use_mpiu:
            iu = lambda_u * (iu + s * m_bar)  # 5
            m = m_bar - s * _sigmoid(iu)  # 6
        else:
            m = m_bar
        if use_ciu:
            ii = lambda_i * (ii + s * (x if ciu_source == "input" else cur))  # 7
        for k, v in (("s", s), ("m", m), ("i_i", ii), ("i_u", iu), ("u", u)):
            rec[k].append(np.array(v))
    return {k: np.stack(v) for k, v in rec.items()}


def _assert_states(ys, states, ref, atol=ATOL):
    np.testing.assert_allclose(np.asarray(ys), ref["s"], rtol=0, atol=atol, err_msg="spikes")
    np.testing.assert_allclose(np.asarray(states.m), ref["m"], rtol=0, atol=atol, err_msg="m")
    np.testing.assert_allclose(np.asarray(states.i_i), ref["i_i"], rtol=0, atol=atol, err_msg="Ii")
    np.testing.assert_allclose(np.asarray(states.i_u), ref["i_u"], rtol=0, atol=atol, err_msg="Iu")


# --- forward against the NumPy loop ------------------------------------------------------

FLAGS = list(itertools.product([True, False], [True, False], ["input", "current"]))
CONSTS = {
    "default": {},
    "custom": dict(tau=1.6, v_th=np.linspace(0.8, 1.2, SHAPE[1]), lambda_u=0.8, lambda_i=0.25),
}
# every flag combination with non-default constants (per-neuron V_th), and the full model at the
# spec's defaults
CASES = [flags + ("custom",) for flags in FLAGS] + [
    (True, True, "input", "default"),
    (True, True, "current", "default"),
]


def _ref_for(xs, kw, **flags):
    return ilif_ref(
        xs,
        decay=1.0 - 1.0 / kw.get("tau", 1.1),
        v_th=kw.get("v_th", 1.0),
        lambda_u=kw.get("lambda_u", 1.0),
        lambda_i=kw.get("lambda_i", 0.03),
        **flags,
    )


@pytest.mark.parametrize("use_mpiu, use_ciu, ciu_source, consts", CASES)
def test_ilif_matches_numpy_loop(x64, use_mpiu, use_ciu, ciu_source, consts):
    kw = CONSTS[consts]
    params = neurons.ILIFParams(use_mpiu=use_mpiu, use_ciu=use_ciu, ciu_source=ciu_source, **kw)
    xs = _inputs(1)
    final, ys, states = snnjax.run(ilif.step, params, jnp.asarray(xs), return_states=True)
    ref = _ref_for(xs, kw, use_mpiu=use_mpiu, use_ciu=use_ciu, ciu_source=ciu_source)
    rate = ref["s"].mean()
    assert 0.1 < rate < 0.9, rate
    assert ys.dtype == jnp.float64 and all(leaf.dtype == jnp.float64 for leaf in final)
    _assert_states(ys, states, ref)
    np.testing.assert_allclose(np.asarray(final.m), ref["m"][-1], rtol=0, atol=ATOL)
    if use_ciu:
        assert np.any(ref["i_i"] > 0)  # the CIU is actually exercised
        # the data tell the two CIU sources apart: a library ignoring the option would fail
        other_source = "input" if ciu_source == "current" else "current"
        other = _ref_for(xs, kw, use_mpiu=use_mpiu, ciu_source=other_source)
        assert np.max(np.abs(other["i_i"] - ref["i_i"])) > 1e-3
    if use_mpiu:
        assert np.any(ref["i_u"] != 0)


@pytest.mark.parametrize(
    "w, use_mpiu, use_ciu, ciu_source",
    [
        (0.0, True, True, "input"),
        (0.7, True, True, "current"),
        (-0.4, False, True, "input"),
        (1.2, True, False, "input"),
    ],
)
def test_iplif_matches_numpy_loop(x64, w, use_mpiu, use_ciu, ciu_source):
    params = neurons.IPLIFParams(w=w, lambda_i=0.2, use_mpiu=use_mpiu, use_ciu=use_ciu, ciu_source=ciu_source)
    xs = _inputs(3)
    _, ys, states = snnjax.run(ilif.step, params, jnp.asarray(xs), return_states=True)
    ref = ilif_ref(
        xs,
        decay=1.0 / (1.0 + np.exp(-w)),
        lambda_i=0.2,
        use_mpiu=use_mpiu,
        use_ciu=use_ciu,
        ciu_source=ciu_source,
    )
    assert 0.1 < ref["s"].mean() < 0.9
    _assert_states(ys, states, ref)


def test_iplif_default_leak_is_tau_2():
    np.testing.assert_allclose(float(neurons.IPLIFParams().decay), 0.5, atol=1e-7)  # sigmoid(0)
    np.testing.assert_allclose(float(neurons.ILIFParams().decay), 1.0 - 1.0 / 1.1, rtol=1e-6)


def test_ilif_defaults_follow_the_spec():
    p = neurons.ILIFParams()
    assert (p.tau, p.v_th, p.lambda_u, p.lambda_i) == (1.1, 1.0, 1.0, 0.03)
    assert (p.use_mpiu, p.use_ciu, p.ciu_source) == (True, True, "input")
    assert p.surrogate.name == "rectangle" and float(p.surrogate.width) == 1.0


def test_ilif_hand_computed_steps():
    """Three steps with default constants, computed by hand from the seven steps."""
    xs = jnp.array([[1.5], [0.2], [1.2]], jnp.float32)
    _, ys, st = snnjax.run(ilif.step, neurons.ILIFParams(), xs, return_states=True)
    lam = 1.0 - 1.0 / 1.1
    # t=1: U = 1.5 fires; m_bar = 0.5; Iu = 1·(0 + 0.5); m = 0.5 - sigmoid(0.5); Ii = 0.03·1.5
    iu1 = 0.5
    m1 = 0.5 - 1.0 / (1.0 + np.exp(-iu1))
    ii1 = 0.03 * 1.5
    # t=2: I = 0.2 - Ii; U = λ·m1 + I < 1: silent, m = U; Iu kept (λ_U = 1), Ii decays (λ_I)
    u2 = lam * m1 + 0.2 - ii1
    ii2 = 0.03 * ii1
    # t=3: I = 1.2 - Ii; U = λ·u2 + I
    u3 = lam * u2 + 1.2 - ii2
    s3 = float(u3 >= 1.0)
    np.testing.assert_array_equal(np.asarray(ys)[:, 0], [1.0, 0.0, s3])
    np.testing.assert_allclose(np.asarray(st.m)[:2, 0], [m1, u2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(st.i_i)[:2, 0], [ii1, ii2], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(st.i_u)[:2, 0], [iu1, iu1], rtol=1e-6, atol=1e-7)


# --- reductions ----------------------------------------------------------------------------


def test_ilif_without_units_is_exactly_soft_reset_lif():
    """use_mpiu=False, use_ciu=False: bitwise soft-reset LIF, forward and backward."""
    xs = jnp.asarray(_inputs(4, dtype=np.float32))
    kw = dict(v_th=0.9, surrogate="atan")

    def make_ilif(tau):
        return neurons.ILIFParams(tau=tau, use_mpiu=False, use_ciu=False, **kw)

    def make_lif(tau):
        return neurons.LIFParams(tau=tau, reset="soft", **kw)

    def value_and_grad(step, make):
        def loss(tau, xs):
            final, ys = snnjax.run(step, make(tau), xs)
            weights = jnp.arange(1, xs.shape[0] + 1, dtype=xs.dtype)[:, None, None]
            return jnp.sum(ys * weights) + jnp.sum(final.m**2), (final, ys)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))

    (_, (fi, si)), (dtau_i, dx_i) = value_and_grad(ilif.step, make_ilif)(jnp.float32(1.7), xs)
    (_, (fl, sl)), (dtau_l, dx_l) = value_and_grad(lif.step, make_lif)(jnp.float32(1.7), xs)
    assert 0.1 < float(si.mean()) < 0.9
    np.testing.assert_array_equal(si, sl)
    np.testing.assert_array_equal(fi.m, fl.m)
    assert not np.any(fi.i_i) and not np.any(fi.i_u)  # the units stay off
    np.testing.assert_array_equal(dx_i, dx_l)
    np.testing.assert_array_equal(dtau_i, dtau_l)
    assert np.any(dx_i != 0) and dtau_i != 0


def test_ilif_zero_unit_decays_is_lif_minus_half_spike(x64):
    """λ_U = λ_I = 0 is *not* LIF: step 6 still subtracts sigmoid(0)·S = 0.5·S."""
    xs = _inputs(5)
    tau, v_th = 1.5, 1.0
    params = neurons.ILIFParams(tau=tau, v_th=v_th, lambda_u=0.0, lambda_i=0.0)
    _, ys, st = snnjax.run(ilif.step, params, jnp.asarray(xs), return_states=True)
    lam = 1.0 - 1.0 / tau
    m = np.zeros(SHAPE)
    s_ref, m_ref = [], []
    for x in xs:
        u = lam * m + x
        s = (u >= v_th).astype(np.float64)
        m = u - s * v_th - 0.5 * s
        s_ref.append(s)
        m_ref.append(m)
    s_ref, m_ref = np.stack(s_ref), np.stack(m_ref)
    assert 0.1 < s_ref.mean() < 0.9
    np.testing.assert_allclose(ys, s_ref, rtol=0, atol=ATOL)
    np.testing.assert_allclose(st.m, m_ref, rtol=0, atol=ATOL)
    # and it does differ from plain soft-reset LIF
    lif_params = neurons.LIFParams(tau=tau, v_th=v_th)
    _, _, st_lif = snnjax.run(lif.step, lif_params, jnp.asarray(xs), return_states=True)
    assert np.max(np.abs(np.asarray(st_lif.m) - m_ref)) > 0.1


def test_ilif_subthreshold_is_geometric_series(x64):
    """No spike ever: m_t = Σ_j λ^{t-j} x_j (closed form), whatever the unit flags."""
    rng = np.random.default_rng(6)
    xs = rng.uniform(-1.0, 0.4, (40, 3))
    lam = 1.0 - 1.0 / 1.1
    t = np.arange(40)
    lag = t[:, None] - t[None, :]
    m_closed = np.where(lag >= 0, lam ** np.maximum(lag, 0), 0.0) @ xs
    assert m_closed.max() < 1.0
    _, ys, st = snnjax.run(ilif.step, neurons.ILIFParams(), jnp.asarray(xs), return_states=True)
    assert not np.any(ys)
    np.testing.assert_allclose(st.m, m_closed, rtol=0, atol=1e-12)


# --- gradients --------------------------------------------------------------------------


def _bimodal_inputs(seed, t=24, n=4):
    """Inputs far from threshold (|U - V_th| > γ/2 for the rectangle surrogate at every step).

    There the spike is locally constant, its true derivative (0) equals the
    rectangle surrogate's (0), and all reset terms are smooth functions of the
    inputs and constants: finite differences are a valid reference.
    """
    rng = np.random.default_rng(seed)
    high = rng.random((t, n)) < 0.45
    return np.where(high, 3.5, -1.2) + 0.1 * rng.normal(size=(t, n))


@pytest.mark.parametrize("plif, ciu_source", [(False, "input"), (True, "current")])
def test_ilif_check_grads_away_from_threshold(x64, plif, ciu_source):
    xs = _bimodal_inputs(8)
    v_th, lambda_u, lambda_i = 1.0, 0.8, 0.15
    if plif:
        leak0, decay, cls, leak_name = 0.4, 1.0 / (1.0 + np.exp(-0.4)), neurons.IPLIFParams, "w"
    else:
        leak0, decay, cls, leak_name = 1.6, 1.0 - 1.0 / 1.6, neurons.ILIFParams, "tau"

    def make(leak, v, lu, li):
        return cls(**{leak_name: leak}, v_th=v, lambda_u=lu, lambda_i=li, ciu_source=ciu_source)

    ref = ilif_ref(xs, decay=decay, v_th=v_th, lambda_u=lambda_u, lambda_i=lambda_i, ciu_source=ciu_source)
    assert np.min(np.abs(ref["u"] - v_th)) > 0.55  # outside the surrogate window everywhere
    assert 0.2 < ref["s"].mean() < 0.8
    assert np.all(ref["i_i"] >= 0)  # never at the relu kink from below

    @jax.jit
    def f(xs, leak, v, lu, li):
        _, ys, st = snnjax.run(ilif.step, make(leak, v, lu, li), xs, return_states=True)
        return ys, st

    args = (jnp.asarray(xs),) + tuple(jnp.float64(a) for a in (leak0, v_th, lambda_u, lambda_i))
    # rev only: the spike is a custom_vjp, which has no forward-mode rule
    check_grads(f, args, order=1, modes=("rev",), eps=1e-6)
    if plif:
        return

    # the gradient is not trivially zero, and the default backend (no return_states) agrees
    def loss_scan(*a):
        ys, st = f(*a)
        return jnp.sum(st.m[-1]) + jnp.sum(st.i_u[-1]) + jnp.sum(ys)

    def loss_default(xs, leak, v, lu, li):
        final, ys = snnjax.run(ilif.step, make(leak, v, lu, li), xs)
        return jnp.sum(final.m) + jnp.sum(final.i_u) + jnp.sum(ys)

    argnums = (0, 1, 2, 3, 4)
    g = jax.jit(jax.grad(loss_scan, argnums))(*args)
    g_def = jax.jit(jax.grad(loss_default, argnums))(*args)
    for i, (a, b) in enumerate(zip(g, g_def)):
        assert np.any(np.asarray(a) != 0), i
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


# --- transformations and dtypes ----------------------------------------------------------------


def test_ilif_jit_vmap_grad_compose():
    xs = jnp.asarray(_inputs(8, t=30, shape=(3, 4), dtype=np.float32))
    check_jit_vmap_grad(ilif.step, lambda tau: neurons.ILIFParams(tau=tau, surrogate="atan"), jnp.float32(1.4), xs)


def test_ilif_float64_state(x64):
    xs = jnp.asarray(_inputs(9, t=5))
    for params in (neurons.ILIFParams(), neurons.IPLIFParams()):
        final, ys = snnjax.run(ilif.step, params, xs)
        assert ys.dtype == jnp.float64
        assert all(leaf.dtype == jnp.float64 for leaf in final)
    st = ilif.init_state(SHAPE, jnp.float64)
    for leaf in st:
        assert leaf.dtype == jnp.float64 and leaf.shape == SHAPE and not np.any(leaf)


# --- no NaN / inf on long, large inputs ---------------------------------------------------------


def _extreme_inputs(t=10_000):
    """[T, 6, 8] float32: rows 0-1 uniform in [-100, 100], rows 2-3 +100, rows 4-5 -100."""
    rng = np.random.default_rng(10)
    xs = np.empty((t, 6, 8), np.float32)
    xs[:, :2] = rng.uniform(-100.0, 100.0, (t, 2, 8))
    xs[:, 2:4] = 100.0
    xs[:, 4:] = -100.0
    return jnp.asarray(xs)


@pytest.mark.parametrize("plif", [False, True], ids=["ILIF", "IPLIF"])
def test_ilif_finite_on_long_large_inputs(plif):
    xs = _extreme_inputs()
    value = 0.0 if plif else 1.1

    def make(v):
        return neurons.IPLIFParams(w=v) if plif else neurons.ILIFParams(tau=v)

    @jax.jit
    def f(v, xs):
        def loss(v, xs):
            final, ys = snnjax.run(ilif.step, make(v), xs)
            return jnp.sum(ys), (final, ys)

        return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(v, xs)

    (_, (final, ys)), (gv, gx) = f(jnp.float32(value), xs)
    arrays = [("spikes", ys), ("grad leak", gv), ("grad xs", gx)] + list(final._asdict().items())
    for name, a in arrays:
        assert np.all(np.isfinite(np.asarray(a))), f"non-finite {name}"
    assert np.all(np.asarray(ys)[:, 2:4] == 1) and not np.any(np.asarray(ys)[:, 4:])


# --- validation ------------------------------------------------------------------------------


def test_ilif_bad_constants_raise():
    with pytest.raises(ValueError, match=r"ciu_source must be one of \('input', 'current'\)"):
        neurons.ILIFParams(ciu_source="membrane")
    with pytest.raises(ValueError, match=r"ciu_source"):
        neurons.IPLIFParams(ciu_source="x")
    with pytest.raises(ValueError, match=r"tau must be >= 1"):
        neurons.ILIFParams(tau=0.9)
    with pytest.raises(ValueError, match=r"tau must be >= 1"):
        neurons.ILIFParams(tau=np.array([1.5, 0.5]))
    with pytest.raises(ValueError, match=r"v_th must be finite"):
        neurons.ILIFParams(v_th=float("nan"))
    with pytest.raises(ValueError, match=r"v_th must be finite"):
        neurons.IPLIFParams(v_th=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"lambda_i must be finite"):
        neurons.ILIFParams(lambda_i=float("inf"))
    with pytest.raises(ValueError, match=r"\bw must be finite"):
        neurons.IPLIFParams(w=float("nan"))
    with pytest.raises(ValueError, match=r"surrogate name must be one of"):
        neurons.ILIFParams(surrogate="nonexistent")
