"""Forward pass of every neuron equals an independent NumPy loop (``conftest.py``).

All states and outputs over T = 60 random steps are compared (float32 both
sides, same documented order of operations): states to 1e-6, spikes exactly.
Inputs are scaled so that each spiking neuron fires on a good fraction of the
steps (asserted, so the comparison is never vacuous). Closed-form checks:
sub-threshold LIF/IF with constant input, and a hand-traced spytorch sequence.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons
from snnjax.neurons import alif, if_, li, lif, plif, rlif, spytorch_lif

T, B, N = 60, 3, 8
TAU_N = np.linspace(1.0, 4.0, N).astype(np.float32)  # per-neuron τ (includes τ = 1: λ = 0)


def _cases():
    """(id, module, Params kwargs, NumPy-reference name, input (mean, std))."""
    cases = []
    for reset in ("soft", "hard", "none"):
        for detach in (False, True):
            common = dict(reset=reset, detach_reset=detach)
            vr = dict(v_reset=-0.3) if reset == "hard" else {}
            vr_pos = dict(v_reset=0.25) if reset == "hard" else {}
            tag = f"{reset}-detach{int(detach)}"
            cases += [
                (f"if-{tag}", if_, dict(v_th=0.8, **vr, **common), "if_", (0.15, 0.5)),
                (f"lif-{tag}", lif, dict(**vr_pos, **common), "lif", (0.6, 0.6)),
                (
                    f"lif-tau2-{tag}",
                    lif,
                    dict(tau=2.0, v_th=1.2, **vr, **common),
                    "lif",
                    (0.4, 0.5),
                ),
                (f"plif-{tag}", plif, dict(w=0.3, **vr, **common), "plif", (0.4, 0.5)),
                (
                    f"alif-{tag}",
                    alif,
                    dict(tau=5.0, tau_adapt=20.0, beta_adapt=0.2, **vr, **common),
                    "alif",
                    (0.35, 0.5),
                ),
            ]
    cases += [
        ("lif-tau-per-neuron", lif, dict(tau=TAU_N, v_th=1.0), "lif", (0.5, 0.5)),
        (
            "lif-tau-per-neuron-hard",
            lif,
            dict(tau=TAU_N, reset="hard", v_reset=0.1),
            "lif",
            (0.5, 0.5),
        ),
        (
            "lif-vth-per-neuron",
            lif,
            dict(tau=3.0, v_th=np.linspace(0.5, 1.5, N).astype(np.float32)),
            "lif",
            (0.4, 0.5),
        ),
        (
            "plif-w-per-neuron",
            plif,
            dict(w=np.linspace(-2, 2, N).astype(np.float32)),
            "plif",
            (0.4, 0.5),
        ),
        (
            "alif-tau-per-neuron",
            alif,
            dict(tau=TAU_N, tau_adapt=10.0, beta_adapt=0.3),
            "alif",
            (0.5, 0.5),
        ),
        ("spytorch-default", spytorch_lif, dict(), "spytorch_lif", (0.25, 0.3)),
        (
            "spytorch-nodetach",
            spytorch_lif,
            dict(detach_reset=False, v_th=0.7),
            "spytorch_lif",
            (0.2, 0.3),
        ),
        (
            "spytorch-tau-per-neuron",
            spytorch_lif,
            dict(tau_syn=TAU_N * 2, tau_mem=TAU_N * 4),
            "spytorch_lif",
            (0.3, 0.3),
        ),
        ("li-synaptic", li, dict(), "li", (0.0, 1.0)),
        ("li-plain", li, dict(synaptic=False, tau_mem=3.0), "li", (0.0, 1.0)),
        ("li-tau-per-neuron", li, dict(tau_syn=TAU_N, tau_mem=TAU_N * 3), "li", (0.0, 1.0)),
    ]
    return cases


CASES = _cases()
PARAMS = {
    if_: neurons.IFParams,
    lif: neurons.LIFParams,
    plif: neurons.PLIFParams,
    alif: neurons.ALIFParams,
    spytorch_lif: neurons.SpytorchLIFParams,
    li: neurons.LIParams,
}
SPIKING = {if_, lif, plif, alif, spytorch_lif, rlif}


def _inputs(mean, std, seed=0, shape=(T, B, N)):
    rng = np.random.default_rng(seed)
    return (mean + std * rng.standard_normal(shape)).astype(np.float32)


def _close(got, ref, err_msg=""):
    """Normwise 1e-6: |got - ref| <= 1e-6 (|ref| + max(1, max|ref|)).

    Scaled by the signal's magnitude because XLA on CPU contracts ``a*b + c`` into
    a fused multiply-add (one rounding instead of two), so a float32 loop that
    integrates over many steps (LI gain ≈ 50) drifts by a few float32 ulps of
    its largest value from an unfused NumPy loop.
    """
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * scale, err_msg=err_msg)


def _compare(states, ys, ref_states, ref_ys, spiking):
    assert set(states._fields) == set(ref_states), (states._fields, ref_states.keys())
    if spiking:
        np.testing.assert_array_equal(np.asarray(ys), ref_ys)
        rate = float(ref_ys.mean())
        assert 0.1 < rate < 0.9, f"inputs badly scaled: firing rate {rate}"
    else:
        _close(np.asarray(ys), ref_ys)
    for name, ref in ref_states.items():
        got = np.asarray(getattr(states, name))
        assert got.dtype == np.float32 and got.shape == ref.shape
        _close(got, ref, err_msg=f"state field {name}")


@pytest.mark.parametrize("case_id, mod, kwargs, ref_name, scale", CASES, ids=[c[0] for c in CASES])
def test_forward_equals_numpy(case_id, mod, kwargs, ref_name, scale, np_ref):
    xs = _inputs(*scale)
    params = PARAMS[mod](**kwargs)
    final, ys, states = snnjax.run(mod.step, params, jnp.asarray(xs), return_states=True)
    ref_kwargs = {k: v for k, v in kwargs.items() if k != "detach_reset"}
    ref_states, ref_ys = getattr(np_ref, ref_name)(xs, **ref_kwargs)
    _compare(states, ys, ref_states, ref_ys, mod in SPIKING)
    # the final state is the last of the stacked states
    for name in final._fields:
        np.testing.assert_array_equal(getattr(final, name), getattr(states, name)[-1])


@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
@pytest.mark.parametrize("detach", [False, True])
def test_rlif_forward_equals_numpy(reset, detach, np_ref):
    rng = np.random.default_rng(3)
    w_rec = (0.4 * rng.standard_normal((N, N))).astype(np.float32)
    np.fill_diagonal(w_rec, 0.0)
    xs = _inputs(0.5, 0.5, seed=4)
    vr = dict(v_reset=-0.2) if reset == "hard" else {}
    params = neurons.RLIFParams(w_rec=w_rec, lif=neurons.LIFParams(tau=2.0, reset=reset, detach_reset=detach, **vr))
    _, ys, states = snnjax.run(rlif.step, params, jnp.asarray(xs), return_states=True)
    ref_states, ref_ys = np_ref.rlif(xs, w_rec=w_rec, tau=2.0, reset=reset, **vr)
    _compare(states, ys, ref_states, ref_ys, True)
    # the recurrence matters: without it the spikes differ
    _, ys0 = snnjax.run(lif.step, params.lif, jnp.asarray(xs))
    assert not np.array_equal(np.asarray(ys0), np.asarray(ys))


def test_rlif_equals_lif_without_recurrence():
    xs = jnp.asarray(_inputs(0.6, 0.6))
    p = neurons.LIFParams(tau=2.0, reset="hard")
    _, y_lif = snnjax.run(lif.step, p, xs)
    _, y_rlif = snnjax.run(rlif.step, neurons.RLIFParams(w_rec=jnp.zeros((N, N)), lif=p), xs)
    np.testing.assert_array_equal(y_lif, y_rlif)


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("tau", [1.5, 2.0, 10.0])
def test_subthreshold_lif_is_geometric_series(tau):
    """reset="none", constant input, no spikes: m_t = x (1 - λ^t) / (1 - λ), λ = 1 - 1/τ."""
    x = np.array([0.05, 0.1, -0.2, 0.01], np.float32)
    params = neurons.LIFParams(tau=tau, v_th=1e6, reset="none")
    _, ys, states = snnjax.run(lif.step, params, jnp.broadcast_to(jnp.asarray(x), (T, 4)), return_states=True)
    lam = 1.0 - 1.0 / tau
    t = np.arange(1, T + 1)[:, None]
    expected = x[None].astype(np.float64) * (1 - lam**t) / (1 - lam)
    np.testing.assert_allclose(states.m, expected, rtol=1e-5, atol=1e-7)
    assert not np.any(ys)
    # the limit x·τ is approached
    if tau <= 2.0:
        np.testing.assert_allclose(states.m[-1], x * tau, rtol=1e-5)


def test_subthreshold_if_integrates():
    x = np.array([0.01, -0.02, 0.003], np.float32)
    _, ys, states = snnjax.run(
        if_.step,
        neurons.IFParams(v_th=1e6),
        jnp.broadcast_to(jnp.asarray(x), (T, 3)),
        return_states=True,
    )
    np.testing.assert_allclose(states.m, np.arange(1, T + 1)[:, None] * x, rtol=1e-5, atol=1e-7)
    assert not np.any(ys)


def test_lif_constant_suprathreshold_soft_reset_rate():
    """IF, soft reset, constant input x < V_th: fires at rate x / V_th (exactly, per period)."""
    # x = 0.25, V_th = 1: a spike every 4th step (t = 4, 8, ...); m returns to 0 each time.
    _, ys = snnjax.run(if_.step, neurons.IFParams(), jnp.full((T, 1), 0.25))
    expected = np.zeros((T, 1), np.float32)
    expected[3::4] = 1.0
    np.testing.assert_array_equal(ys, expected)


def test_threshold_crossing_at_equality_spikes():
    """U = V_th exactly gives a spike (H(0) = 1), then soft reset to 0 / hard reset to v_reset."""
    xs = jnp.array([[1.0], [0.5], [0.5]], jnp.float32)
    _, ys, st = snnjax.run(lif.step, neurons.LIFParams(tau=1.0), xs, return_states=True)  # τ = 1: λ = 0
    np.testing.assert_array_equal(ys[:, 0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(st.m[:, 0], [0.0, 0.5, 0.5])
    _, ys, st = snnjax.run(lif.step, neurons.LIFParams(tau=1e30, reset="hard", v_reset=0.25), xs, return_states=True)
    np.testing.assert_array_equal(ys[:, 0], [1.0, 0.0, 1.0])  # λ ≈ 1: 0.25 + 0.5 < 1, then 0.75 + 0.5 >= 1
    np.testing.assert_allclose(st.m[:, 0], [0.25, 0.75, 0.25])


def test_spytorch_hand_trace():
    """One input pulse, traced by hand with α = e^{-1/5}, β = e^{-1/10}."""
    a, b = np.exp(-1 / 5), np.exp(-1 / 10)
    xs = np.zeros((5, 1), np.float32)
    xs[0] = 2.0
    _, ys, st = snnjax.run(spytorch_lif.step, neurons.SpytorchLIFParams(), jnp.asarray(xs), return_states=True)
    i = [2.0, 2 * a, 2 * a * a, 2 * a**3, 2 * a**4]
    v1 = 0.0  # V_1 uses I_0 = 0
    v2 = b * v1 + 2.0  # V_2 = I_1 = 2 >= 1 -> spike emitted at step 3 (from V_2)
    v3 = 0.0  # reset: (β V_2 + I_2)(1 - 1)
    v4 = b * v3 + 2 * a * a  # = I_3 ≈ 1.34 >= 1 -> spike at step 5
    v5 = 0.0
    np.testing.assert_allclose(st.i[:, 0], i, rtol=1e-6)
    np.testing.assert_allclose(st.v[:, 0], [v1, v2, v3, v4, v5], rtol=1e-6)
    np.testing.assert_array_equal(ys[:, 0], [0, 0, 1, 0, 1])
    assert v4 > 1


def test_li_impulse_response():
    """LI (synaptic) impulse response: V_t = Σ_{k<t} α^k β^{t-1-k} (x at step 1)."""
    a, b = np.exp(-1 / 5), np.exp(-1 / 10)
    xs = np.zeros((20, 1), np.float32)
    xs[0] = 1.0
    _, vs = snnjax.run(li.step, neurons.LIParams(), jnp.asarray(xs))
    expected = [sum(a**k * b ** (t - 1 - k) for k in range(t)) for t in range(20)]
    np.testing.assert_allclose(vs[:, 0], expected, rtol=1e-6, atol=1e-7)
    # and the closed form (α^t - β^t)/(α - β)
    tt = np.arange(20)
    np.testing.assert_allclose(vs[:, 0], (a**tt - b**tt) / (a - b), rtol=1e-5, atol=1e-7)


def test_plif_w_from_tau():
    for tau in (1.5, 2.0, 5.0):
        w = plif.w_from_tau(tau)
        assert float(neurons.PLIFParams(w=w).decay) == pytest.approx(1 - 1 / tau, rel=1e-6)
    assert float(neurons.PLIFParams().decay) == 0.5  # default w = 0: τ = 2


def test_defaults_follow_spec():
    p = neurons.LIFParams()
    assert p.tau == 1.1 and p.v_th == 1.0 and p.reset == "soft" and not p.detach_reset
    assert p.surrogate.name == "rectangle" and float(p.surrogate.width) == 1.0
    s = neurons.SpytorchLIFParams()
    assert s.tau_syn == 5.0 and s.tau_mem == 10.0 and s.v_th == 1.0 and s.detach_reset
    assert s.surrogate.name == "superspike" and float(s.surrogate.width) == 100.0
    assert float(s.alpha) == pytest.approx(np.exp(-1 / 5)) and float(s.beta) == pytest.approx(np.exp(-1 / 10))
    l = neurons.LIParams()  # noqa: E741
    assert (
        l.synaptic
        and float(l.alpha) == pytest.approx(np.exp(-1 / 5))
        and float(l.beta) == pytest.approx(np.exp(-1 / 10))
    )
    # surrogate names are coerced to Surrogate objects
    assert neurons.LIFParams(surrogate="atan").surrogate == snnjax.surrogate.atan()


@pytest.mark.parametrize("mod", [if_, lif, plif, alif, spytorch_lif, li, rlif], ids=lambda m: m.__name__.split(".")[-1])
def test_init_state_zero_and_registered(mod):
    st = mod.init_state((2, 3))
    assert all(np.asarray(leaf).shape == (2, 3) and not np.any(leaf) for leaf in st)
    assert all(leaf.dtype == jnp.float32 for leaf in st)
    assert mod.init_state(4)[0].shape == (4,)
    assert neurons.init_state_for(mod.step) is mod.init_state
    st16 = mod.init_state((2,), jnp.bfloat16)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in st16)


def test_step_directly_equals_run_and_bfloat16_runs():
    xs = jnp.asarray(_inputs(0.6, 0.6))
    p = neurons.LIFParams(tau=2.0)
    state = lif.init_state(xs.shape[1:])
    outs = []
    for t in range(T):
        state, s = lif.step(p, state, xs[t])
        outs.append(s)
    _, ys = snnjax.run(lif.step, p, xs)
    np.testing.assert_array_equal(jnp.stack(outs), ys)
    _, ys16 = snnjax.run(lif.step, p, xs.astype(jnp.bfloat16))
    assert ys16.dtype == jnp.bfloat16
    assert set(np.unique(np.asarray(ys16, np.float32))) <= {0.0, 1.0}
