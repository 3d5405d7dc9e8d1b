"""snnjax.run: states, rematerialisation/checkpointing, unroll, initial states."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons
from snnjax.kernels import native
from snnjax.neurons import alif, lif, spytorch_lif

T, B, N = 23, 2, 5
XS = jnp.asarray((0.5 + 0.6 * np.random.default_rng(1).standard_normal((T, B, N))).astype(np.float32))


def _manual_loop(step, params, xs, state):
    states, ys = [], []
    for t in range(xs.shape[0]):
        state, y = step(params, state, xs[t])
        states.append(state)
        ys.append(y)
    return state, jnp.stack(ys), jax.tree.map(lambda *a: jnp.stack(a), *states)


@pytest.mark.parametrize(
    "step, params",
    [
        (lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")),
        (alif.step, neurons.ALIFParams(tau=4.0, tau_adapt=8.0, beta_adapt=0.3)),
        (spytorch_lif.step, neurons.SpytorchLIFParams(v_th=0.5)),
    ],
    ids=["lif", "alif", "spytorch"],
)
def test_return_states_equals_manual_loop(step, params):
    init = neurons.init_state_for(step)(XS.shape[1:])
    final, ys, states = snnjax.run(step, params, XS, return_states=True)
    m_final, m_ys, m_states = _manual_loop(step, params, XS, init)
    np.testing.assert_array_equal(ys, m_ys)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), states, m_states)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), final, m_final)
    assert type(states) is type(init)
    jax.tree.map(lambda a: a.shape == (T, B, N) or pytest.fail(str(a.shape)), states)
    # without return_states: the same final state and outputs
    final2, ys2 = snnjax.run(step, params, XS)
    np.testing.assert_array_equal(ys2, ys)
    jax.tree.map(np.testing.assert_array_equal, final2, final)


def _loss_and_grads(params, xs, **kw):
    """Loss of the outputs and final state; grads w.r.t. tau, v_th, the input, the initial state."""

    def loss(tau, v_th, xs, m0):
        p = neurons.LIFParams(tau=tau, v_th=v_th, surrogate="atan")
        final, ys, *states = snnjax.run(lif.step, p, xs, lif.LIFState(m=m0), **kw)
        w = jnp.linspace(0.5, 1.5, ys.shape[0])[:, None, None]
        value = (ys * w).sum() + 0.1 * (final.m**2).sum()
        if states:  # return_states: the states enter the loss too
            value = value + 0.01 * (states[0].m * w).sum()
        return value, ys

    m0 = jnp.linspace(-0.5, 0.5, B * N).reshape(B, N)
    (value, ys), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True))(
        params["tau"], params["v_th"], xs, m0
    )
    return value, ys, grads


_PARAMS = {"tau": jnp.full((N,), 2.0), "v_th": jnp.float32(1.0)}


@functools.cache
def _plain_scan_reference(t, return_states):
    return _loss_and_grads(_PARAMS, XS[:t], backend="scan", return_states=return_states)


VARIANTS = [
    dict(),  # backend "auto": the fused whole-sequence VJP
    dict(backend="fused"),
    dict(remat=True),
    dict(checkpoint_every=4),  # 23 = 5*4 + 3: a tail of 3
    dict(checkpoint_every=23),  # one chunk, no tail
    dict(checkpoint_every=40),  # k > T: tail only
    dict(checkpoint_every=6, remat=True, unroll=2),
    dict(unroll=4),
    dict(unroll=True),  # full unroll: on the first 6 steps only (compile time)
    dict(return_states=True),
    dict(return_states=True, checkpoint_every=7),
]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_variants_give_identical_outputs_and_gradients(kw):
    t = 6 if kw.get("unroll") is True else T
    ref_value, ref_ys, ref_grads = _plain_scan_reference(t, kw.get("return_states", False))
    value, ys, grads = _loss_and_grads(_PARAMS, XS[:t], **kw)
    np.testing.assert_array_equal(ys, ref_ys)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    for g, rg in zip(grads, ref_grads, strict=True):
        assert np.all(np.isfinite(rg)) and np.any(rg != 0)
        # identical up to float32 rounding (remat/unroll change XLA's fusion and FMA use)
        np.testing.assert_allclose(g, rg, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(rg))))


def _forward_and_grads(step, params, xs, backend):
    """Outputs, final state and the gradient of a generic loss w.r.t. params and xs."""

    def loss(params, xs):
        final, ys = snnjax.run(step, params, xs, backend=backend)
        w = jnp.cos(jnp.arange(ys.size, dtype=ys.dtype)).reshape(ys.shape)
        value = (ys * w).sum() + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(final))
        return value, (final, ys)

    (_, aux), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(params, xs)
    return aux, grads


_RNG = np.random.default_rng(7)
ALL_NEURONS = [
    (neurons.if_.step, neurons.IFParams(v_th=1.0, surrogate="atan", reset="hard", v_reset=0.1)),
    (lif.step, neurons.LIFParams(tau=jnp.linspace(1.5, 3.0, N), v_th=1.0, surrogate="triangle")),
    (lif.step, neurons.LIFParams(tau=2.0, v_th=1.0, surrogate="atan", detach_reset=True)),
    (neurons.plif.step, neurons.PLIFParams(w=jnp.zeros(N), surrogate="sigmoid")),
    (alif.step, neurons.ALIFParams(tau=3.0, tau_adapt=6.0, beta_adapt=0.4, surrogate="atan")),
    (
        spytorch_lif.step,
        neurons.SpytorchLIFParams(v_th=0.5, surrogate=snnjax.surrogate.superspike(10.0)),
    ),
    (neurons.li.step, neurons.LIParams(tau_syn=3.0, tau_mem=jnp.full((N,), 6.0))),
    (
        neurons.rlif.step,
        neurons.RLIFParams(
            w_rec=jnp.asarray(0.3 * _RNG.standard_normal((N, N)), jnp.float32),
            lif=neurons.LIFParams(tau=2.0, surrogate="atan"),
        ),
    ),
]


@pytest.mark.parametrize("t", [T, 4], ids=["loop", "unrolled"])  # T <= UNROLL_MAX_T is unrolled
@pytest.mark.parametrize(
    "step, params",
    ALL_NEURONS,
    ids=["if", "lif-tau-vec", "lif-detach", "plif", "alif", "spytorch", "li", "rlif"],
)
def test_fused_backend_equals_scan(step, params, t):
    """The whole-sequence VJP (backend "fused", the default) equals autodiff through lax.scan."""
    (f_fused, y_fused), g_fused = _forward_and_grads(step, params, XS[:t], "fused")
    (f_scan, y_scan), g_scan = _forward_and_grads(step, params, XS[:t], "scan")
    np.testing.assert_array_equal(y_fused, y_scan)
    jax.tree.map(np.testing.assert_array_equal, f_fused, f_scan)
    assert jax.tree.structure(g_fused) == jax.tree.structure(g_scan)
    for gf, gs in zip(jax.tree.leaves(g_fused), jax.tree.leaves(g_scan), strict=True):
        assert gf.shape == gs.shape and gf.dtype == gs.dtype
        np.testing.assert_allclose(gf, gs, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(gs)))))
    assert np.any(np.asarray(g_scan[1]) != 0)  # the input gradient is not trivially zero


@pytest.mark.parametrize("backend", ["auto", "fused", "scan"])
def test_integer_valued_params_are_differentiable(backend):
    """``LIFParams(tau=2, v_th=1)`` (Python ints) must work under jax.grad w.r.t. the input.

    jax.grad gives integer leaves a float0 cotangent; the gradient w.r.t. xs must
    equal the one with float params.
    """
    xs = XS[:8]
    ref = jax.grad(lambda x: snnjax.run(lif.step, neurons.LIFParams(tau=2.0, v_th=1.0, surrogate="atan"), x)[1].sum())(
        xs
    )
    g = jax.grad(
        lambda x: snnjax.run(lif.step, neurons.LIFParams(tau=2, v_th=1, surrogate="atan"), x, backend=backend)[1].sum()
    )(xs)
    np.testing.assert_allclose(g, ref, rtol=1e-6)


def test_checkpoint_every_return_states_shapes():
    _, ys0, states0 = snnjax.run(lif.step, neurons.LIFParams(), XS, return_states=True)
    for k in (1, 4, 40):
        final, ys, states = snnjax.run(lif.step, neurons.LIFParams(), XS, return_states=True, checkpoint_every=k)
        assert ys.shape == (T, B, N) and states.m.shape == (T, B, N)
        np.testing.assert_array_equal(ys, ys0)
        np.testing.assert_array_equal(states.m, states0.m)
        np.testing.assert_array_equal(final.m, states0.m[-1])


def test_single_time_step():
    final, ys = snnjax.run(lif.step, neurons.LIFParams(), XS[:1], checkpoint_every=3)
    assert ys.shape == (1, B, N)
    st, y = lif.step(neurons.LIFParams(), lif.init_state((B, N)), XS[0])
    np.testing.assert_array_equal(ys[0], y)
    np.testing.assert_array_equal(final.m, st.m)


def test_state_none_uses_registered_init_and_explicit_state_is_used():
    p = neurons.ALIFParams(tau=3.0, tau_adapt=5.0, beta_adapt=0.5)
    f1, y1 = snnjax.run(alif.step, p, XS)
    f2, y2 = snnjax.run(alif.step, p, XS, alif.init_state((B, N)))
    np.testing.assert_array_equal(y1, y2)
    jax.tree.map(np.testing.assert_array_equal, f1, f2)
    # a non-zero initial state changes the result and equals continuing a run
    f_half, y_half = snnjax.run(alif.step, p, XS[:10])
    f_rest, y_rest = snnjax.run(alif.step, p, XS[10:], f_half)
    np.testing.assert_array_equal(jnp.concatenate([y_half, y_rest]), y1)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), f_rest, f1)


class CounterState(NamedTuple):
    acc: jax.Array  # [...]: running sum of the inputs
    peak: jax.Array  # [...]: running max


def _counter_step(params, state, x):
    acc = params["decay"] * state.acc + x
    peak = jnp.maximum(state.peak, acc)
    return CounterState(acc, peak), acc * 2.0


def _counter_init(shape, dtype, *, params):
    return CounterState(jnp.zeros(shape, dtype), jnp.full(shape, -jnp.inf, dtype))


def test_custom_step_with_init_state():
    params = {"decay": 0.5}
    xs = XS[:, 0]
    final, ys, states = snnjax.run(_counter_step, params, xs, init_state=_counter_init, return_states=True)
    acc, peak, acc_ref, peak_ref = 0.0, -np.inf, [], []
    for x in np.asarray(xs):
        acc = 0.5 * acc + x
        peak = np.maximum(peak, acc)
        acc_ref.append(acc)
        peak_ref.append(peak)
    np.testing.assert_allclose(ys, 2 * np.stack(acc_ref), rtol=1e-6)
    np.testing.assert_allclose(states.peak, np.stack(peak_ref), rtol=1e-6)
    np.testing.assert_allclose(final.acc, acc_ref[-1], rtol=1e-6)
    # the init function receives the step shape, the dtype and the params
    seen = {}

    def spy_init(shape, dtype, *, params):
        seen.update(shape=shape, dtype=dtype, params=params)
        return _counter_init(shape, dtype, params=params)

    snnjax.run(_counter_step, params, xs, init_state=spy_init)
    assert tuple(seen["shape"]) == (N,) and seen["dtype"] == jnp.float32 and seen["params"] is params
    # init_state= overrides the registered one of a library step
    _, ys_custom = snnjax.run(
        lif.step,
        neurons.LIFParams(tau=2.0, reset="none"),
        XS,
        init_state=lambda s, d, params: lif.LIFState(m=jnp.full(s, 10.0, d)),
    )
    assert np.all(np.asarray(ys_custom)[0] == 1.0)


def _count_step(params, state, x):
    acc, n = state  # acc: [...] running sum; n: [] scalar step counter
    return (acc + x, n + 1.0), acc / jnp.maximum(n, 1.0)


def test_custom_state_with_a_scalar_leaf_can_be_passed_back():
    """A custom step whose state has a scalar leaf (a step counter) runs with init_state=,
    so its own final state must be accepted as ``state=`` to continue the run.

    (``validation.check_state_shapes`` documents that leaves of rank < the step's rank are
    exempt; ``run`` rejects them.)
    """
    xs = XS[:, 0]  # [T, N]
    init = lambda shape, dtype, params: (jnp.zeros(shape, dtype), jnp.zeros((), dtype))  # noqa: E731
    final_all, ys_all = snnjax.run(_count_step, None, xs, init_state=init)
    assert float(final_all[1]) == T
    final_a, ys_a = snnjax.run(_count_step, None, xs[:10], init_state=init)
    final_b, ys_b = snnjax.run(_count_step, None, xs[10:], final_a)
    np.testing.assert_allclose(jnp.concatenate([ys_a, ys_b]), ys_all, rtol=1e-6)
    assert float(final_b[1]) == T


def test_unregistered_step_without_init_state_raises():
    with pytest.raises(ValueError, match="state=None needs init_state="):
        snnjax.run(_counter_step, {"decay": 0.5}, XS)


def test_run_under_jit_and_rank1_input():
    """Rank-1 xs: T steps of a scalar neuron."""
    xs = jnp.array([0.6, 0.6, 0.0, 1.0], jnp.float32)
    final, ys = jax.jit(lambda x: snnjax.run(lif.step, neurons.LIFParams(tau=2.0), x))(xs)
    # m: 0.6 -> 0.9 -> 0.45 -> 1.225 (spike) -> 0.225
    np.testing.assert_array_equal(ys, [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(final.m, 0.225, rtol=1e-6)


def test_fused_unrolls_short_sequences_only():
    """``fused_run`` lowers T <= UNROLL_MAX_T without a while loop (forward and backward)."""
    from snnjax.kernels.fused import UNROLL_MAX_T, fused_run

    params = neurons.LIFParams(tau=2.0, surrogate="atan")

    def lowered(t, unroll=None):
        xs = XS[:t]
        state = lif.init_state(xs.shape[1:])

        def f(xs):
            return jnp.sum(fused_run(lif.step, params, xs, state, unroll=unroll)[1] * xs)

        return jax.jit(jax.grad(f)).lower(xs).as_text()

    assert "while" not in lowered(UNROLL_MAX_T)
    assert "while" in lowered(UNROLL_MAX_T + 1)
    assert "while" in lowered(UNROLL_MAX_T, unroll=1)
    xs = XS[:UNROLL_MAX_T]
    state = lif.init_state(xs.shape[1:])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="unroll must be a positive int"):
            fused_run(lif.step, params, xs, state, unroll=bad)


def test_auto_scans_a_compute_bound_step_beyond_the_unroll_length(monkeypatch):
    """On CPU ``auto`` takes the fused VJP (for neurons without native kernels, e.g. ALIF; those
    with them: tests/test_native.py), except for steps registered ``compute_bound``
    (POLARA in a variant its native kernel does not cover) when T > UNROLL_MAX_T, where it takes
    autodiff through lax.scan."""
    import snnjax.scan as scan_mod
    from snnjax.kernels.fused import UNROLL_MAX_T
    from snnjax.neurons._common import is_compute_bound

    assert is_compute_bound(neurons.polara.step) and not is_compute_bound(lif.step)
    calls = []
    real = scan_mod.fused_run
    monkeypatch.setattr(scan_mod, "fused_run", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    p = neurons.PolaraParams(theta_tau=20.0)  # the native kernel covers theta_tau=None only
    assert (
        native.unsupported_reason(neurons.polara.step, p, XS, neurons.polara.init_state(XS.shape[1:], params=p))
        is not None
    )
    long_xs, short_xs = XS[: UNROLL_MAX_T + 1], XS[:UNROLL_MAX_T]
    snnjax.run(neurons.polara.step, p, long_xs)
    assert calls == []  # scanned
    snnjax.run(neurons.polara.step, p, short_xs)
    snnjax.run(alif.step, neurons.ALIFParams(), long_xs)
    assert calls == [neurons.polara.step, alif.step]

    # the scanned default gives the same values and gradients as the fused backend
    def loss(xs, backend):
        return jnp.sum(snnjax.run(neurons.polara.step, p, xs, backend=backend)[1] * jnp.cos(xs))

    np.testing.assert_allclose(loss(long_xs, "auto"), loss(long_xs, "fused"), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(loss)(long_xs, "auto"), jax.grad(loss)(long_xs, "fused"), rtol=1e-5, atol=1e-6)


def test_auto_on_an_accelerator_takes_pallas_only_with_recorded_evidence(monkeypatch):
    """``auto`` on GPU/TPU: the fused backend until the compiled Pallas kernels have passed on
    that platform with the installed JAX (``PALLAS_VERIFIED``, empty until a device run)."""
    import snnjax.scan as scan_mod

    calls = []
    monkeypatch.setattr(scan_mod.jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(scan_mod, "fused_run", lambda *a, **k: calls.append("fused") or (None, None))
    monkeypatch.setattr(scan_mod, "pallas_run", lambda *a, **k: calls.append("pallas") or (None, None))
    assert scan_mod.PALLAS_VERIFIED["gpu"] == frozenset() and not scan_mod.pallas_is_default("gpu")
    snnjax.run(lif.step, neurons.LIFParams(), XS)
    assert calls == ["fused"]
    monkeypatch.setitem(scan_mod.PALLAS_VERIFIED, "gpu", frozenset({jax.__version__}))
    assert scan_mod.pallas_is_default("gpu") and not scan_mod.pallas_is_default("tpu")
    snnjax.run(lif.step, neurons.LIFParams(), XS)
    assert calls == ["fused", "pallas"]
    snnjax.run(lif.step, neurons.LIFParams(), XS, backend="pallas")  # by name, always
    assert calls == ["fused", "pallas", "pallas"]
