"""Shared fixtures and independent plain-NumPy reference implementations.

The references below are written from ``../shared/NEURONS.md`` and the neuron
docstrings, *not* from the library code: one explicit Python loop over time per
neuron, in a chosen NumPy dtype ``dt``. Every constant is cast to ``dt`` and the
operations follow the documented order (e.g. ``λ = 1 - 1/τ`` computed as
``dt(1) - dt(1)/dt(τ)``), so a float32 reference reproduces float32 JAX up to
rounding and does not flip spikes that sit exactly at threshold.

Tests reach them through the ``np_ref`` fixture (``np_ref.lif(xs, tau=2.0)``).
Each reference returns ``(states, outs)``: ``states`` a dict ``field -> [T, ...]``
(the state *after* every step, named as the library's state fields) and ``outs``
the ``[T, ...]`` per-step outputs.
"""

from __future__ import annotations

import types

import jax
import numpy as np
import pytest

# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def x64():
    """Enable float64 in JAX for one test and restore the previous setting afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def np_ref():
    """Namespace of the NumPy reference functions of this module."""
    return types.SimpleNamespace(
        heaviside=heaviside,
        if_=ref_if,
        lif=ref_lif,
        plif=ref_plif,
        alif=ref_alif,
        spytorch_lif=ref_spytorch_lif,
        li=ref_li,
        rlif=ref_rlif,
        surrogate_grad=surrogate_grad,
        latency_times=ref_latency_times,
    )


@pytest.fixture(autouse=True)
def _x64_is_restored():
    """Guard: no test may leak ``jax_enable_x64`` into the next one."""
    before = jax.config.jax_enable_x64
    yield
    assert jax.config.jax_enable_x64 == before, "a test left jax_enable_x64 changed"


# --------------------------------------------------------------------------- helpers


def heaviside(v, dt):
    """H(v) = 1 if v >= 0 else 0 (H(0) = 1), in dtype dt."""
    return (np.asarray(v) >= 0).astype(dt)


def _c(v, dt):
    return np.asarray(v, dtype=dt)


def _reset(u, s, v_th, mode, v_reset, dt):
    if mode == "soft":
        return u - s * v_th
    if mode == "hard":
        return u * (dt(1) - s) + s * v_reset
    assert mode == "none"
    return u


def _exp(z, dt):
    """exp(z) rounded once to dt (NumPy's own float32 exp is not correctly rounded)."""
    return np.exp(np.asarray(z, dt).astype(np.float64)).astype(dt)


def _prep(xs, dt):
    xs = np.asarray(xs).astype(dt)
    return xs, np.zeros(xs.shape[1:], dt)


# --------------------------------------------------------------------------- neurons


def ref_if(xs, *, v_th=1.0, v_reset=0.0, reset="soft", dt=np.float32):
    """IF: U = m + x, S = H(U - V_th), m = reset(U, S)."""
    xs, m = _prep(xs, dt)
    v_th, v_reset = _c(v_th, dt), _c(v_reset, dt)
    ms, ss = [], []
    for x in xs:
        u = m + x
        s = heaviside(u - v_th, dt)
        m = _reset(u, s, v_th, reset, v_reset, dt)
        ms.append(m)
        ss.append(s)
    return {"m": np.stack(ms)}, np.stack(ss)


def ref_lif(xs, *, tau=1.1, v_th=1.0, v_reset=0.0, reset="soft", dt=np.float32):
    """LIF: U = λm + x with λ = 1 - 1/τ, S = H(U - V_th), m = reset(U, S)."""
    xs, m = _prep(xs, dt)
    lam = dt(1) - dt(1) / _c(tau, dt)
    v_th, v_reset = _c(v_th, dt), _c(v_reset, dt)
    ms, ss = [], []
    for x in xs:
        u = lam * m + x
        s = heaviside(u - v_th, dt)
        m = _reset(u, s, v_th, reset, v_reset, dt)
        ms.append(m)
        ss.append(s)
    return {"m": np.stack(ms)}, np.stack(ss)


def ref_plif(xs, *, w=0.0, v_th=1.0, v_reset=0.0, reset="soft", dt=np.float32):
    """PLIF: LIF with λ = sigmoid(w)."""
    xs, m = _prep(xs, dt)
    lam = (1.0 / (1.0 + np.exp(-_c(w, dt).astype(np.float64)))).astype(dt)
    v_th, v_reset = _c(v_th, dt), _c(v_reset, dt)
    ms, ss = [], []
    for x in xs:
        u = lam * m + x
        s = heaviside(u - v_th, dt)
        m = _reset(u, s, v_th, reset, v_reset, dt)
        ms.append(m)
        ss.append(s)
    return {"m": np.stack(ms)}, np.stack(ss)


def ref_alif(
    xs,
    *,
    tau=20.0,
    tau_adapt=200.0,
    beta_adapt=1.8,
    v_th=1.0,
    v_reset=0.0,
    reset="soft",
    dt=np.float32,
):
    """ALIF: θ = V_th + β_a a, S = H(U - θ), m = reset(U, S; θ), a = ρa + S."""
    xs, m = _prep(xs, dt)
    a = np.zeros_like(m)
    lam = dt(1) - dt(1) / _c(tau, dt)
    rho = dt(1) - dt(1) / _c(tau_adapt, dt)
    beta_adapt, v_th, v_reset = _c(beta_adapt, dt), _c(v_th, dt), _c(v_reset, dt)
    ms, as_, ss = [], [], []
    for x in xs:
        u = lam * m + x
        theta = v_th + beta_adapt * a
        s = heaviside(u - theta, dt)
        m = _reset(u, s, theta, reset, v_reset, dt)
        a = rho * a + s
        ms.append(m)
        as_.append(a)
        ss.append(s)
    return {"m": np.stack(ms), "a": np.stack(as_)}, np.stack(ss)


def ref_spytorch_lif(xs, *, tau_syn=5.0, tau_mem=10.0, v_th=1.0, dt=np.float32):
    """The spytorch tutorial loop: S = H(V - 1); I' = αI + x; V' = (βV + I)(1 - S)."""
    xs, i = _prep(xs, dt)
    v = np.zeros_like(i)
    alpha = _exp(dt(-1) / _c(tau_syn, dt), dt)
    beta = _exp(dt(-1) / _c(tau_mem, dt), dt)
    v_th = _c(v_th, dt)
    is_, vs, ss = [], [], []
    for x in xs:
        s = heaviside(v - v_th, dt)
        new_i = alpha * i + x
        new_v = (beta * v + i) * (dt(1) - s)
        i, v = new_i, new_v
        is_.append(i)
        vs.append(v)
        ss.append(s)
    return {"i": np.stack(is_), "v": np.stack(vs)}, np.stack(ss)


def ref_li(xs, *, tau_syn=5.0, tau_mem=10.0, synaptic=True, dt=np.float32):
    """Leaky integrator: I' = αI + x, V' = βV + I (synaptic) or V' = βV + x."""
    xs, i = _prep(xs, dt)
    v = np.zeros_like(i)
    alpha = _exp(dt(-1) / _c(tau_syn, dt), dt)
    beta = _exp(dt(-1) / _c(tau_mem, dt), dt)
    is_, vs = [], []
    for x in xs:
        if synaptic:
            i, v = alpha * i + x, beta * v + i
        else:
            v = beta * v + x
        is_.append(i)
        vs.append(v)
    return {"i": np.stack(is_), "v": np.stack(vs)}, np.stack(vs)


def ref_rlif(xs, *, w_rec, tau=1.1, v_th=1.0, v_reset=0.0, reset="soft", dt=np.float32):
    """Recurrent LIF: x~ = x + S_prev @ W_rec, then one LIF step."""
    xs, m = _prep(xs, dt)
    s = np.zeros_like(m)
    w_rec = _c(w_rec, dt)
    lam = dt(1) - dt(1) / _c(tau, dt)
    v_th, v_reset = _c(v_th, dt), _c(v_reset, dt)
    ms, ss = [], []
    for x in xs:
        u = lam * m + (x + s @ w_rec)
        s = heaviside(u - v_th, dt)
        m = _reset(u, s, v_th, reset, v_reset, dt)
        ms.append(m)
        ss.append(s)
    return {"m": np.stack(ms), "s": np.stack(ss)}, np.stack(ss)


# --------------------------------------------------------------------------- surrogates


def surrogate_grad(name, v, w):
    """The surrogate derivative table of NEURONS.md / surrogate.py, in float64."""
    v = np.asarray(v, np.float64)
    a = np.abs(v)
    if name in ("rectangle", "rect"):
        return np.where(a < w / 2, 1.0 / w, 0.0)
    if name == "triangle":
        return np.maximum(0.0, 1.0 - a / w) / w
    if name == "sigmoid":
        sig = 1.0 / (1.0 + np.exp(-w * v))
        return w * sig * (1.0 - sig)
    if name == "atan":
        return (w / 2) / (1.0 + (np.pi / 2 * w * v) ** 2)
    if name in ("superspike", "fast_sigmoid"):
        return 1.0 / (w * a + 1.0) ** 2
    if name == "gaussian":
        return np.exp(-(v**2) / (2 * w**2)) / (w * np.sqrt(2 * np.pi))
    if name == "erf":
        return w / np.sqrt(np.pi) * np.exp(-((w * v) ** 2))
    if name == "piecewise_quadratic":
        return np.where(a < 1.0 / w, w - w * w * a, 0.0)
    if name in ("straight_through", "ste"):
        return np.ones_like(v)
    raise KeyError(name)


# --------------------------------------------------------------------------- encoding


def ref_latency_times(x, num_steps, tau=20.0, thr=0.2, epsilon=1e-7):
    """spytorch's ``current2firing_time`` followed by ``np.array(..., dtype=int)``."""
    x = np.array(x, dtype=np.float64)
    idx = x < thr
    x = np.clip(x, thr + epsilon, 1e9)
    t = tau * np.log(x / (x - thr))
    t[idx] = num_steps  # tmax = T
    return np.array(t, dtype=int)
