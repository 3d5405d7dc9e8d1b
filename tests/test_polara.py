"""POLARA (NEURONS.md, section "POLARA") against an independent NumPy loop.

The reference computes the kernels itself from the formulas
(d(i) = A e^{-αi}, L = 1 - Σd + ε, h(i) = Σ_j D_j e^{-(i-μ_j)²/(2σ_j²)},
Θ(i) = E e^{-ηi}, i = 1..k) and runs Algorithm 1's seven steps in float64.
Comparisons run with x64 enabled so rounding cannot flip a Δ >= 0 decision.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _numpy_ref import sigmoid as _sigmoid
from jax.test_util import check_grads

import snnjax
from snnjax import neurons
from snnjax.neurons import polara

T = 128
SHAPE = (2, 6)
ATOL = 1e-6

DEFAULTS = dict(
    k=6, theta0=1.0, A=0.25, alpha=1.0, eps=1e-4, B=0.1, beta=1.0, gamma=1.0, o_max=4.0,
    D=(-0.30, -0.10, -0.05), mu=(1.0, 2.0, 4.0), sigma=(0.5, 1.0, 1.5), E=0.01, eta=1.0,
    beta_static=0.9, gated=True, leak="polar", activation="shaped", refractory=True,
    adaptive_threshold=True, output="continuous", amplify="after_input", theta_tau=None,
    decay="last",
)  # fmt: skip
CUSTOM = dict(
    k=3, theta0=0.8, A=0.4, alpha=0.5, eps=1e-3, B=0.3, beta=2.0, gamma=0.5, o_max=2.0,
    D=(-0.5, -0.2), mu=(1.0, 3.0), sigma=(0.7, 2.0), E=0.05, eta=0.5, beta_static=0.8,
)  # fmt: skip


# x64: the fixture of conftest.py


def ref_kernels(k, A, alpha, eps, D, mu, sigma, E, eta, **_):
    """(L, h[k], Θ[k]) from the formulas, i = 1..k."""
    i = np.arange(1, k + 1, dtype=np.float64)
    leak = 1.0 - np.sum(A * np.exp(-alpha * i)) + eps
    h = np.zeros(k)
    for dj, mj, sj in zip(D, mu, sigma):
        h += dj * np.exp(-((i - mj) ** 2) / (2.0 * sj**2))
    th = E * np.exp(-eta * i)
    return leak, h, th


def ref_O(delta, gamma, o_max):
    """O(Δ) = min(Δ(1 + Δ e^{-γΔ}), o_max), and the unclamped value."""
    raw = delta * (1.0 + delta * np.exp(-gamma * delta))
    return np.minimum(raw, o_max), raw


def polara_ref(xs, **overrides):
    """Algorithm 1 / NEURONS.md steps 1-7 as a plain float64 loop. Returns per-step arrays.

    ``hist`` is recorded with the window on the *last* axis (the reference's own layout).
    """
    c = {**DEFAULTS, **overrides}
    xs = np.asarray(xs, np.float64)
    leak, h, th_k = ref_kernels(**c)
    k = c["k"]
    u = np.zeros(xs.shape[1:])
    theta = np.full(xs.shape[1:], float(c["theta0"]))
    hist = np.zeros(xs.shape[1:] + (k,))
    umem = [np.zeros(xs.shape[1:]) for _ in range(k)]  # u_{t-1}, …, u_{t-k} (decay="window")
    w = np.exp(-c["alpha"] * np.arange(1, k + 1))
    w = w / w.sum()
    names = ("s", "u", "theta", "hist", "delta_small", "delta_big", "o_raw")
    rec = {name: [] for name in names}
    for x in xs:
        if c["decay"] == "window":
            umem = [u] + umem[:-1]
            ud = leak * sum(wi * ui for wi, ui in zip(w, umem))
        else:
            ud = leak * u
        if c["leak"] == "polar" and c["amplify"] == "after_input":
            us = ud + x  # 1-2
            d_small = us - theta  # 3
            amp = c["B"] * np.exp(c["beta"] * np.minimum(d_small, 0.0))
            ua = np.where(d_small <= 0, us * (1.0 + amp), us)
        elif c["leak"] == "polar":  # Eqs. 8-9: amplify the decayed membrane, then add x
            d_small = ud - theta
            amp = c["B"] * np.exp(c["beta"] * np.minimum(d_small, 0.0))
            ua = np.where(d_small <= 0, ud * (1.0 + amp), ud) + x
        else:
            d_small = np.full_like(u, np.inf)
            ua = c["beta_static"] * u + x
        d_big = ua - theta  # 4
        if c["activation"] == "shaped":
            o, o_raw = ref_O(np.maximum(d_big, 0.0), c["gamma"], c["o_max"])
            s = np.where(d_big >= 0, _sigmoid(ua * o), 0.0)
            if c["output"] == "binary":
                s = (d_big >= 0).astype(np.float64)
        else:
            o_raw = np.full_like(u, np.inf)
            s = (d_big >= 0).astype(np.float64)
        hist = np.concatenate([s[..., None], hist[..., :-1]], axis=-1)  # 5
        if c["refractory"]:  # 6
            inhib = hist @ h if c["gated"] else np.sum(h)
            u = ua * (1.0 + inhib)
        else:
            u = ua
        if c["adaptive_threshold"]:  # 7
            if c["theta_tau"] is not None:
                theta = c["theta0"] + (theta - c["theta0"]) * math.exp(-1.0 / c["theta_tau"])
            rise = hist @ th_k if c["gated"] else np.sum(th_k)
            theta = theta * (1.0 + rise)
        for name, v in zip(names, (s, u, theta, hist, d_small, d_big, o_raw)):
            rec[name].append(np.array(v))
    return {name: np.stack(v) for name, v in rec.items()}


def _inputs(seed, t=T, shape=SHAPE, offset=0.0):
    """Per-neuron mean from -0.3 to 1.0 plus noise: regimes from mostly silent to saturated."""
    rng = np.random.default_rng(seed)
    mean = offset + np.linspace(-0.3, 1.0, int(np.prod(shape))).reshape(shape)
    return mean + rng.normal(0.0, 0.6, (t,) + shape)


def _gauss_h(i, D=(-0.3, -0.1, -0.05), mu=(1, 2, 4), sigma=(0.5, 1, 1.5)):
    return sum(d * math.exp(-((i - m) ** 2) / (2 * sg**2)) for d, m, sg in zip(D, mu, sigma))


# --- kernels, defaults, FLOPs -----------------------------------------------------------------


def test_default_constants_follow_the_spec():
    p = neurons.PolaraParams()
    for name, value in DEFAULTS.items():
        assert getattr(p, name) == value, name
    assert p.alpha_mask == 0.3 and p.grad == "mask"  # the study's choice (POLARA_STUDY.md), not NEURONS.md's "exact"
    assert p.surrogate.name == "superspike" and float(p.surrogate.width) == 100.0


def test_default_kernels_hand_computed():
    ker = polara.kernels(neurons.PolaraParams())
    leak = 1.0 - sum(0.25 * math.exp(-i) for i in range(1, 7)) + 1e-4
    assert abs(leak - 0.855) < 1e-3  # "L ≈ 0.855"
    np.testing.assert_allclose(float(ker.leak), leak, rtol=1e-6)
    np.testing.assert_allclose(float(ker.leak), 0.854967, atol=2e-6)
    h = [_gauss_h(i) for i in range(1, 7)]
    # h(1) = -0.3 - 0.1 e^{-1/2} - 0.05 e^{-2}
    np.testing.assert_allclose(h[0], -0.3 - 0.1 * math.exp(-0.5) - 0.05 * math.exp(-2.0))
    np.testing.assert_allclose(np.asarray(ker.h), h, rtol=1e-6, atol=1e-7)
    theta = [0.01 * math.exp(-i) for i in range(1, 7)]
    np.testing.assert_allclose(np.asarray(ker.theta), theta, rtol=1e-6)
    assert ker.h.shape == ker.theta.shape == (6,)


def test_custom_kernels_match_formulas(x64):
    ker = polara.kernels(neurons.PolaraParams(**CUSTOM), jnp.float64)
    leak, h, th = ref_kernels(**CUSTOM)
    np.testing.assert_allclose(float(ker.leak), leak, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ker.h), h, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ker.theta), th, rtol=1e-12)
    assert ker.h.shape == (3,)


@pytest.mark.parametrize("k, n", [(6, 3), (4, 2), (10, 5)])
def test_flops_reproduce_table_3(k, n):
    gaussians = dict(D=(-0.1,) * n, mu=tuple(range(1, n + 1)), sigma=(1.0,) * n)
    f = polara.flops(neurons.PolaraParams(k=k, **gaussians))
    expected = {
        "decay": 3 * k + 3,
        "integration": 1,
        "boost": 6,
        "activation": 9,
        "refractory": 7 * n * k + k + 2,
        "threshold": 3 * k + 2,
    }
    for name, v in expected.items():
        assert f[name] == v, name
    assert f["total"] == sum(expected.values())
    if (k, n) == (6, 3):  # Table 3 at the defaults, by hand
        assert (f["decay"], f["refractory"], f["threshold"], f["total"]) == (21, 134, 20, 191)


def test_flops_of_ablations():
    assert polara.flops(neurons.PolaraParams(**polara.ablation("refractory")))["refractory"] == 0
    assert polara.flops(neurons.PolaraParams(**polara.ablation("threshold")))["threshold"] == 0
    f = polara.flops(neurons.PolaraParams(**polara.ablation("activation")))
    assert f["total"] == sum(v for name, v in f.items() if name != "total")


def test_ablation_names():
    assert polara.ablation(None) == {}
    assert polara.ablation("decay_amplification") == {"leak": "static"}
    assert polara.ablation("activation") == {"activation": "heaviside"}
    assert polara.ablation("refractory") == {"refractory": False}
    assert polara.ablation("threshold") == {"adaptive_threshold": False}


# --- forward against the NumPy loop ---------------------------------------------------------

CONFIGS = {
    "full": {},
    "full-exact": dict(grad="exact"),  # the forward pass is the same in every gradient mode
    "ungated": dict(gated=False),
    "ungated-custom": dict(gated=False, **CUSTOM),
    "static-leak": polara.ablation("decay_amplification"),
    "heaviside": polara.ablation("activation"),
    "no-refractory": polara.ablation("refractory"),
    "fixed-threshold": polara.ablation("threshold"),
    "custom": CUSTOM,
    "custom-static-heaviside": dict(leak="static", activation="heaviside", **CUSTOM),
    "custom-norefr-fixed": dict(refractory=False, adaptive_threshold=False, **CUSTOM),
    # fidelity-study options (issue #8)
    "binary": dict(output="binary"),
    "binary-eq13-custom": dict(output="binary", grad="eq13", **CUSTOM),
    "amplify-before-input": dict(amplify="before_input"),
    "amplify-before-input-custom": dict(amplify="before_input", **CUSTOM),
    "theta-recovery": dict(theta_tau=6.0),
    "theta-recovery-custom": dict(theta_tau=2.5, **CUSTOM),
    "window-decay": dict(decay="window"),
    "window-decay-custom": dict(decay="window", **CUSTOM),
    "all-study-options": dict(output="binary", amplify="before_input", theta_tau=10.0, decay="window"),
    "all-ablations-ungated": dict(
        leak="static",
        activation="heaviside",
        refractory=False,
        adaptive_threshold=False,
        gated=False,
    ),  # fmt: skip
}
INPUT_OFFSET = {"ungated-custom": 2.5}  # the ungated reading silences the neuron: drive it harder


@pytest.mark.parametrize("name", list(CONFIGS))
def test_polara_matches_numpy_loop(x64, name):
    cfg = CONFIGS[name]
    params = neurons.PolaraParams(**cfg)
    xs = _inputs(1, offset=INPUT_OFFSET.get(name, 0.0))
    final, ys, st = snnjax.run(polara.step, params, jnp.asarray(xs), return_states=True)
    ref = polara_ref(xs, **{key: v for key, v in cfg.items() if key != "grad"})
    fired = (ref["s"] > 0).mean()
    assert 0.05 < fired < 0.95, fired
    assert ys.dtype == jnp.float64 and all(leaf.dtype == jnp.float64 for leaf in final)
    k = cfg.get("k", 6)
    # history layout (PolaraState docstring): [k, *shape], hist[0] the most recent output
    assert st.hist.shape == (T, k) + SHAPE
    ref_hist = np.moveaxis(ref["hist"], -1, 1)
    np.testing.assert_allclose(ys, ref["s"], rtol=0, atol=ATOL, err_msg="s")
    np.testing.assert_allclose(st.u, ref["u"], rtol=1e-9, atol=ATOL, err_msg="u")
    np.testing.assert_allclose(st.theta, ref["theta"], rtol=1e-9, atol=ATOL, err_msg="theta")
    np.testing.assert_allclose(st.hist, ref_hist, rtol=0, atol=ATOL, err_msg="hist")
    if cfg.get("activation", "shaped") == "shaped" and cfg.get("output", "continuous") == "continuous":
        assert np.any((ref["s"] > 0) & (ref["s"] < 0.99))  # the output is continuous, not 0/1
    if cfg.get("output") == "binary":
        assert set(np.unique(ys)) <= {0.0, 1.0}
    if cfg.get("adaptive_threshold", True):
        assert ref["theta"].max() > cfg.get("theta0", 1.0) * 1.01  # the threshold moved
    if name in ("full", "custom"):
        # the default backend (no return_states) gives the same sequence and final state
        final_default, ys_default = snnjax.run(polara.step, params, jnp.asarray(xs))
        np.testing.assert_allclose(ys_default, ref["s"], rtol=0, atol=ATOL)
        for a, b in zip(final_default, final):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "option", [dict(output="binary"), dict(amplify="before_input"), dict(theta_tau=6.0), dict(decay="window")],
    ids=["binary", "before-input", "theta-tau", "window-decay"],
)  # fmt: skip
def test_study_options_change_the_dynamics(option):
    """Each fidelity-study option changes the reference dynamics (so the loop test above can fail)."""
    xs = _inputs(1)
    base, alt = polara_ref(xs), polara_ref(xs, **option)
    assert np.abs(base["u"] - alt["u"]).max() > 1e-2
    assert np.abs(base["s"] - alt["s"]).max() > 1e-2


@pytest.mark.parametrize("grad", ["exact", "eq13", "mask"])
def test_binary_output_is_straight_through(x64, grad):
    """One step: the binary output is 1[Δ >= 0], and its gradient is the continuous ``s``'s."""
    xs = jnp.asarray(_inputs(3, t=1)[0] + 0.8)
    state = polara.init_state(SHAPE, jnp.float64)._replace(u=jnp.full(SHAPE, 0.3))
    w = jnp.asarray(np.random.default_rng(0).normal(size=SHAPE))

    def loss(x, output):
        _, out = polara.step(neurons.PolaraParams(grad=grad, output=output), state, x)
        return jnp.sum(w * out), out

    (_, out_b), g_b = jax.value_and_grad(loss, has_aux=True)(xs, "binary")
    (_, out_c), g_c = jax.value_and_grad(loss, has_aux=True)(xs, "continuous")
    fired = np.asarray(out_c) > 0
    assert 0 < fired.sum() < fired.size
    np.testing.assert_array_equal(np.asarray(out_b), fired.astype(np.float64))
    assert np.abs(np.asarray(g_c)).max() > 1e-3  # a gradient flows
    np.testing.assert_allclose(np.asarray(g_b), np.asarray(g_c), rtol=1e-12, atol=1e-12)


def test_o_max_clamp_is_exercised():
    """The custom configuration reaches O's clamp (o_max = 2) on the inputs used above."""
    ref = polara_ref(_inputs(1), **CUSTOM)
    o_raw = ref["o_raw"][ref["delta_big"] >= 0]
    assert np.any(o_raw > CUSTOM["o_max"]) and np.any(o_raw < CUSTOM["o_max"])


def test_polara_hand_computed_first_steps():
    """Three steps of the default neuron by hand (float32 run): a supra-threshold step, a step
    pushed over threshold by the amplification (δ < 0 <= Δ), and a silent step."""
    leak = 1.0 - sum(0.25 * math.exp(-i) for i in range(1, 7)) + 1e-4
    h1, h2, h3 = (_gauss_h(i) for i in (1, 2, 3))
    th1, th2, th3 = (0.01 * math.exp(-i) for i in (1, 2, 3))

    def sig(z):
        return 1.0 / (1.0 + math.exp(-z))

    def o(d):
        return min(d * (1 + d * math.exp(-d)), 4.0)

    # t=1: x = 1.4, us = 1.4, δ = 0.4 > 0 so ua = us; Δ = 0.4
    s1 = sig(1.4 * o(0.4))
    u1 = 1.4 * (1.0 + h1 * s1)
    theta1 = 1.0 + th1 * s1
    # t=2: x2 chosen so that us = ϑ1 - 0.05: δ = -0.05 <= 0, amplified by 1 + 0.1 e^{-0.05}
    x2 = theta1 - 0.05 - leak * u1
    ua2 = (theta1 - 0.05) * (1.0 + 0.1 * math.exp(-0.05))
    assert ua2 - theta1 > 0.01  # the amplification carries it over the threshold
    s2 = sig(ua2 * o(ua2 - theta1))
    u2 = ua2 * (1.0 + h1 * s2 + h2 * s1)
    theta2 = theta1 * (1.0 + th1 * s2 + th2 * s1)
    # t=3: x = -1: silent (s3 = 0); the history (0, s2, s1) still acts on u and ϑ
    us3 = leak * u2 - 1.0
    ua3 = us3 * (1.0 + 0.1 * math.exp(us3 - theta2))
    u3 = ua3 * (1.0 + h2 * s2 + h3 * s1)
    theta3 = theta2 * (1.0 + th2 * s2 + th3 * s1)

    xs = jnp.array([[1.4], [x2], [-1.0]], jnp.float32)
    _, ys, st = snnjax.run(polara.step, neurons.PolaraParams(), xs, return_states=True)
    np.testing.assert_allclose(np.asarray(ys)[:, 0], [s1, s2, 0.0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(st.u)[:, 0], [u1, u2, u3], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(st.theta)[:, 0], [theta1, theta2, theta3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(st.hist)[2, :3, 0], [0.0, s2, s1], rtol=1e-6, atol=1e-7)


# --- reduction to the simpler dynamics ----------------------------------------------------------


@pytest.mark.parametrize("switch", [dict(adaptive_threshold=False), dict(E=0.0)], ids=["fixed-threshold", "E=0"])
def test_reduces_to_leaky_integrator_with_shaped_output(x64, switch):
    """h ≡ 0, fixed ϑ, B = 0: u_t = L·u_{t-1} + x_t = Σ_j L^{t-j} x_j and
    s = sigmoid(u·O(u - ϑ0)) if u >= ϑ0 else 0 (closed form, no loop over the state)."""
    k, A, alpha, eps, theta0, gamma, o_max = 4, 0.3, 0.7, 1e-4, 0.9, 0.8, 3.0
    params = neurons.PolaraParams(
        k=k, A=A, alpha=alpha, eps=eps, theta0=theta0, gamma=gamma, o_max=o_max, B=0.0,
        refractory=False, **switch,
    )  # fmt: skip
    xs = _inputs(2)
    _, ys, st = snnjax.run(polara.step, params, jnp.asarray(xs), return_states=True)
    leak = 1.0 - sum(A * math.exp(-alpha * i) for i in range(1, k + 1)) + eps
    t = np.arange(T)
    lag = t[:, None] - t[None, :]
    u = np.einsum("tj,j...->t...", np.where(lag >= 0, leak ** np.maximum(lag, 0), 0.0), xs)
    d = u - theta0
    dp = np.maximum(d, 0.0)
    o = np.minimum(dp * (1.0 + dp * np.exp(-gamma * dp)), o_max)
    s = np.where(d >= 0, 1.0 / (1.0 + np.exp(-u * o)), 0.0)
    assert 0.05 < (s > 0).mean() < 0.95
    np.testing.assert_allclose(st.u, u, rtol=1e-9, atol=ATOL)
    np.testing.assert_allclose(ys, s, rtol=0, atol=ATOL)
    np.testing.assert_allclose(st.theta, theta0, rtol=0, atol=ATOL)


# --- gradient modes ----------------------------------------------------------------------------

# (ua, ϑ) points: Δ < 0, Δ = 0, 0 < Δ < 1, Δ > 1 (so 1 - Δ < 0), Δ = 4 where O is clamped
# (O_raw ≈ 4.29 > 4), Δ < 0
UA = np.array([0.5, 1.0, 1.5, 2.3, 5.0, 0.2])
TH = np.array([1.0, 1.0, 1.0, 0.8, 1.0, 1.5])


@jax.jit
def _vjp_jit(params, ua, th, ct):
    s, f = jax.vjp(lambda a, b: polara.activation(params, a, b), ua, th)
    return (s,) + f(ct)


def _vjp(params, ua, th, ct):
    """s and the VJP of polara.activation(params, ua, ϑ) w.r.t. (ua, ϑ) for cotangent ct."""
    out = _vjp_jit(params, jnp.asarray(ua), jnp.asarray(th), jnp.asarray(ct))
    return tuple(np.asarray(a) for a in out)


def _eq13_by_hand(ua, th, gamma, o_max):
    """Eq. 13: σ'(z)(O(Δ) + ua(1 - Δ)e^{-γΔ}) w.r.t. ua, -σ'(z) ua (1 - Δ)e^{-γΔ} w.r.t. ϑ."""
    delta = ua - th
    o, _ = ref_O(np.maximum(delta, 0.0), gamma, o_max)
    z = ua * o
    dsig = _sigmoid(z) * (1.0 - _sigmoid(z))
    slope = (1.0 - delta) * np.exp(-gamma * delta)
    g_ua = np.where(delta >= 0, dsig * (o + ua * slope), 0.0)
    g_th = np.where(delta >= 0, -dsig * ua * slope, 0.0)
    return g_ua, g_th


def _true_by_hand(ua, th, gamma, o_max):
    """The true derivative of s = σ(ua·O(ua - ϑ)) (Δ > 0, away from the clamp's corner)."""
    delta = ua - th
    dp = np.maximum(delta, 0.0)
    o, raw = ref_O(dp, gamma, o_max)
    z = ua * o
    dsig = _sigmoid(z) * (1.0 - _sigmoid(z))
    do = np.where(raw < o_max, 1.0 + (2.0 * dp - gamma * dp**2) * np.exp(-gamma * dp), 0.0)
    g_ua = np.where(delta >= 0, dsig * (o + ua * do), 0.0)
    g_th = np.where(delta >= 0, -dsig * ua * do, 0.0)
    return g_ua, g_th


@pytest.mark.parametrize("gamma, o_max", [(1.0, 4.0), (0.5, 3.0)])
def test_eq13_backward_is_its_formula(x64, gamma, o_max):
    params = neurons.PolaraParams(grad="eq13", gamma=gamma, o_max=o_max)
    delta = UA - TH
    _, raw = ref_O(np.maximum(delta, 0), gamma, o_max)
    assert np.any(raw[delta >= 0] > o_max)  # one point is clamped
    assert np.any(delta == 0) and np.any(delta < 0) and np.any(delta > 1)
    ct = np.array([1.0, 0.7, -1.3, 2.0, 0.5, 1.0])
    s, g_ua, g_th = _vjp(params, UA, TH, ct)
    e_ua, e_th = _eq13_by_hand(UA, TH, gamma, o_max)
    np.testing.assert_allclose(g_ua, ct * e_ua, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_th, ct * e_th, rtol=1e-10, atol=1e-12)
    assert g_ua[0] == 0 and g_th[0] == 0 and g_ua[-1] == 0 and g_th[-1] == 0  # Δ < 0 gives 0
    # Δ = 0: σ'(0)·(O(0) + ua·1) with ua = 1, times the cotangent 0.7
    np.testing.assert_allclose(g_ua[1], 0.7 * 0.25 * 1.0, rtol=1e-12)
    # the forward pass is the same in every mode
    s_exact, *_ = _vjp(neurons.PolaraParams(gamma=gamma, o_max=o_max), UA, TH, ct)
    np.testing.assert_array_equal(s, s_exact)


@pytest.mark.parametrize("alpha_mask", [None, 0.7])
def test_mask_backward(x64, alpha_mask):
    kw = {} if alpha_mask is None else dict(alpha_mask=alpha_mask)
    a = 0.3 if alpha_mask is None else alpha_mask
    params = neurons.PolaraParams(grad="mask", **kw)
    th = np.full(11, 1.0)
    delta = np.array([-1.5, -1.0, -0.999, -0.5, -0.001, 0.0, 0.5, 0.999, 1.0, 1.001, 3.0])
    ua = th + delta
    s, g_ua, g_th = _vjp(params, ua, th, np.ones(11))
    inside = np.abs(ua - th) < 1.0
    assert list(inside) == [False, False] + [True] * 6 + [False] * 3
    np.testing.assert_array_equal(g_ua, np.where(inside, a, 0.0))
    np.testing.assert_array_equal(g_th, np.where(inside, -a, 0.0))
    s_exact, *_ = _vjp(neurons.PolaraParams(grad="exact"), ua, th, np.ones(11))
    np.testing.assert_array_equal(s, s_exact)
    _, g2, _ = _vjp(params, ua, th, np.full(11, -2.0))  # the cotangent scales it
    np.testing.assert_array_equal(g2, -2.0 * g_ua)


def test_exact_is_true_derivative_and_eq13_is_not(x64):
    # Δ = 0.5, 0.3, 2 (below the clamp), 4 (clamped: dO/dΔ = 0)
    ua, th = np.array([1.5, 1.3, 3.0, 5.0]), np.ones(4)
    _, g_ua, g_th = _vjp(neurons.PolaraParams(grad="exact"), ua, th, np.ones(4))
    t_ua, t_th = _true_by_hand(ua, th, 1.0, 4.0)
    np.testing.assert_allclose(g_ua, t_ua, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_th, t_th, rtol=1e-10, atol=1e-14)
    _, e_ua, e_th = _vjp(neurons.PolaraParams(grad="eq13"), ua, th, np.ones(4))
    delta = ua - th
    eq13_slope = (1 - delta) * np.exp(-delta)
    true_slope = 1 + (2 * delta - delta**2) * np.exp(-delta)
    assert np.all(np.abs(eq13_slope[:3] - true_slope[:3]) > 0.1)
    assert np.all(np.abs(e_ua[:3] - g_ua[:3]) > 1e-3 * np.abs(g_ua[:3]))
    assert np.all(np.abs(e_th[:3] - g_th[:3]) > 1e-3 * np.abs(g_th[:3]))
    # below threshold, exact gives zero gradient
    _, g0, t0 = _vjp(neurons.PolaraParams(grad="exact"), np.array([0.5]), np.array([1.0]), np.ones(1))
    assert g0[0] == 0 and t0[0] == 0


def _find_smooth_inputs(cfg, t=20, n=3, margin=1e-2):
    """Short inputs on which every branch variable (δ, Δ, O_raw - o_max) stays |·| > margin."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        xs = rng.uniform(-0.5, 1.5, (t, n))
        ref = polara_ref(xs, **cfg)
        fired = ref["delta_big"] >= 0
        o_gap = np.abs(ref["o_raw"][fired] - cfg.get("o_max", 4.0))
        ok = (
            np.min(np.abs(ref["delta_small"])) > margin
            and np.min(np.abs(ref["delta_big"])) > margin
            and np.min(o_gap, initial=np.inf) > margin
            and 0.2 < fired.mean() < 0.8
        )
        if ok:
            return xs, ref
    raise AssertionError("no smooth input sequence found")


def _smooth_run_fns(cfg):
    """Jitted (xs, A, B, E, theta0) -> outputs and states, via the scan and the default backend."""

    def make(A, B, E, theta0):
        return neurons.PolaraParams(A=A, B=B, E=E, theta0=theta0, **{"grad": "exact", **cfg})

    @jax.jit
    def f_scan(xs, A, B, E, theta0):
        _, ys, st = snnjax.run(polara.step, make(A, B, E, theta0), xs, return_states=True)
        return ys, st.u, st.theta

    @jax.jit
    def f_default(xs, A, B, E, theta0):
        final, ys = snnjax.run(polara.step, make(A, B, E, theta0), xs)
        return ys, final.u, final.theta, final.hist

    return f_scan, f_default


SMOOTH_ARGS = (0.25, 0.1, 0.01, 1.0)  # A, B, E, theta0 (the defaults)


@pytest.mark.parametrize("cfg", [{}, dict(o_max=1.5, k=3)], ids=["default", "clamped"])
def test_exact_mode_passes_check_grads(x64, cfg):
    """Away from the branch points (|δ|, |Δ|, |O_raw - o_max| > 1e-2 at every step) the exact
    mode is autodiff of a smooth function: its gradients match finite differences."""
    xs, ref = _find_smooth_inputs(cfg)
    if "o_max" in cfg:
        fired = ref["delta_big"] >= 0
        assert np.any(ref["o_raw"][fired] > cfg["o_max"])  # the clamp is active somewhere
    f_scan, f_default = _smooth_run_fns(cfg)
    args = (jnp.asarray(xs),) + tuple(jnp.float64(v) for v in SMOOTH_ARGS)
    ys, u, _ = f_scan(*args)
    np.testing.assert_allclose(ys, ref["s"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(u, ref["u"], rtol=0, atol=1e-9)
    modes = ("rev",) if cfg else ("rev", "fwd")
    check_grads(f_scan, args, order=1, modes=modes, eps=1e-6)
    if cfg:
        return

    # the default backend (whole-sequence custom_vjp) gives the same gradient (inputs, constants)
    def loss_scan(*a):
        ys, u, _ = f_scan(*a)
        return jnp.sum(ys) + jnp.sum(u[-1])

    def loss_default(*a):
        ys, u, _, _ = f_default(*a)
        return jnp.sum(ys) + jnp.sum(u)

    argnums = (0, 1, 2, 3, 4)
    g_scan = jax.jit(jax.grad(loss_scan, argnums))(*args)
    g_def = jax.jit(jax.grad(loss_default, argnums))(*args)
    for a, b in zip(g_scan, g_def):
        assert np.all(np.isfinite(a)) and np.any(np.asarray(a) != 0)
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


# --- transformations and dtypes -------------------------------------------------------------------


def test_polara_jit_vmap_grad_compose():
    xs = jnp.asarray(_inputs(3, t=30, shape=(3, 4)).astype(np.float32))
    A0 = jnp.float32(0.25)

    def outs(xs):
        return snnjax.run(polara.step, neurons.PolaraParams(grad="mask"), xs)[1]

    def loss(A, xs):
        final, ys = snnjax.run(polara.step, neurons.PolaraParams(A=A, grad="mask"), xs)
        weights = jnp.cos(jnp.arange(xs.shape[0], dtype=xs.dtype))
        weights = weights.reshape((-1,) + (1,) * (xs.ndim - 1))
        return jnp.sum(ys * weights) + jnp.sum(final.u)

    eager = outs(xs)
    assert 0.1 < float((eager > 0).mean()) < 0.9
    # jit of vmap of the per-example function over the batch axis == the eager batched call
    vmapped = jax.jit(jax.vmap(outs, in_axes=1, out_axes=1))(xs)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-6, atol=1e-6)
    # per-example gradients (jit of vmap of grad) are finite and nonzero
    per_example = jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(None, 1), out_axes=(0, 1))
    gA, gx = jax.jit(per_example)(A0, xs)
    assert gA.shape == (xs.shape[1],) and np.all(np.isfinite(gA)) and np.all(gA != 0)
    assert np.all(np.isfinite(gx)) and np.any(gx != 0)


def test_polara_float64_state(x64):
    p = neurons.PolaraParams(k=4, theta0=0.7)
    final, ys = snnjax.run(polara.step, p, jnp.asarray(_inputs(4, t=5)))
    assert ys.dtype == jnp.float64 and all(leaf.dtype == jnp.float64 for leaf in final)
    st = polara.init_state(SHAPE, jnp.float64, params=p)
    assert all(leaf.dtype == jnp.float64 for leaf in st)
    assert st.hist.shape == (4,) + SHAPE and not np.any(st.hist) and not np.any(st.u)
    np.testing.assert_array_equal(st.theta, np.full(SHAPE, 0.7))


# --- no NaN / inf on long, large inputs --------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [dict(grad="exact"), dict(grad="eq13"), dict(grad="mask"), dict(gated=False)],
    ids=["exact", "eq13", "mask", "ungated"],
)
def test_polara_finite_on_long_large_inputs(cfg):
    rng = np.random.default_rng(10)
    xs = np.empty((10_000, 6, 8), np.float32)  # rows 0-1 uniform in [-100, 100], 2-3 +100, 4-5 -100
    xs[:, :2] = rng.uniform(-100.0, 100.0, (10_000, 2, 8))
    xs[:, 2:4] = 100.0
    xs[:, 4:] = -100.0
    xs = jnp.asarray(xs)

    @jax.jit
    def f(A, B, xs):
        def loss(A, B, xs):
            final, ys = snnjax.run(polara.step, neurons.PolaraParams(A=A, B=B, **cfg), xs)
            return jnp.sum(ys), (final, ys)

        return jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(A, B, xs)

    (_, (final, ys)), (gA, gB, gx) = f(jnp.float32(0.25), jnp.float32(0.1), xs)
    arrays = [("s", ys), ("grad A", gA), ("grad B", gB), ("grad xs", gx)]
    for name, a in arrays + list(final._asdict().items()):
        bad = ~np.isfinite(np.asarray(a))
        assert not np.any(bad), f"non-finite {name} ({bad.sum()} entries)"
    assert np.all(np.asarray(ys)[:, 4:] == 0)  # constant -100 never fires


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(k=0), r"k \(window size\) must be an int >= 1"),
        (dict(k=-1), r"k \(window size\) must be an int >= 1, got -1"),  # negative window
        (dict(k=2.5), r"k \(window size\) must be an int >= 1, got 2\.5"),
        (dict(k=True), r"k \(window size\)"),
        (dict(sigma=(0.5, 0.0, 1.5)), r"sigma must be > 0"),
        (dict(sigma=(0.5, 1.0, -1.5)), r"sigma must be > 0"),
        (dict(o_max=0.0), r"o_max must be > 0"),
        (dict(o_max=-1.0), r"o_max must be > 0"),
        (dict(theta0=0.0), r"theta0 must be > 0"),
        (dict(theta0=-0.5), r"theta0 must be > 0"),
        (dict(grad="surrogate"), r"grad must be one of \('exact', 'eq13', 'mask'\), got 'surr"),
        (dict(leak="linear"), r"leak must be one of \('polar', 'static'\)"),
        (dict(activation="relu"), r"activation must be one of \('shaped', 'heaviside'\)"),
        (dict(D=(-0.3, -0.1)), r"D, mu and sigma must be 1-D with equal lengths"),
        (dict(mu=(1.0, 2.0, 3.0, 4.0)), r"D, mu and sigma"),
        (dict(D=(-0.1,), mu=(1.0,), sigma=(1.0, 2.0)), r"D, mu and sigma"),
        (dict(output="spikes"), r"output must be one of \('continuous', 'binary'\)"),
        (dict(amplify="never"), r"amplify must be one of \('after_input', 'before_input'\)"),
        (dict(theta_tau=0.0), r"theta_tau must be > 0"),
        (dict(decay="kernel"), r"decay must be one of \('last', 'window'\)"),
        (dict(theta_tau=-3.0), r"theta_tau must be > 0"),
        (dict(A=float("nan")), r"A must be finite"),
        (dict(E=float("inf")), r"E must be finite"),
    ],
)
def test_polara_bad_constants_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        neurons.PolaraParams(**kw)


def test_unknown_ablation_raises():
    valid = r"\('decay_amplification', 'activation', 'refractory', 'threshold'\)"
    with pytest.raises(ValueError, match=r"ablation must be one of " + valid):
        polara.ablation("leak")
