"""Smoke test of experiments/neuron_dynamics.py: tiny settings, JSON contents, real properties."""

import importlib.util
import json
import math
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "experiments", "neuron_dynamics.py")


@pytest.fixture(scope="module")
def nd():
    spec = importlib.util.spec_from_file_location("neuron_dynamics", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load(path):
    with open(path) as f:
        return json.load(f)


def _all_finite(xs):
    return all(x is not None and math.isfinite(x) for x in xs)


def test_gradient_vs_T(nd, tmp_path):
    res = nd.study_gradient_vs_T(
        str(tmp_path),
        (8, 16, 32),
        batch=2,
        n_neurons=16,
        calib_T=32,
        models=("LIF", "ILIF", "POLARA-mask"),
    )
    assert (tmp_path / "gradient_vs_T.png").stat().st_size > 0
    js = _load(tmp_path / "gradient_vs_T.json")
    assert js == json.loads(json.dumps(res))
    assert js["config"]["Ts"] == [8, 16, 32]
    assert set(js["models"]) == {"LIF", "ILIF", "POLARA-mask"}
    for m in js["models"].values():
        for key in ("grad_norm_last", "grad_norm_mean", "rate_at_T", "zero_grad_fraction_last"):
            assert len(m[key]) == 3 and _all_finite(m[key]), key
        assert m["nonfinite_grad_entries"] == 0
        assert abs(m["rate_at_calib_T"] - js["config"]["target_rate"]) < 0.05  # the calibration worked
    # LIF (γ = 1) forgets x[0] within a few steps (the reset zeroes the gradient inside the
    # surrogate window, λ ≈ 0.09 outside it), so Σ_{t<T} ∂s[t]/∂x[0] is the same for every
    # T >= 8 and the gradient of the mean-over-time loss falls exactly like 1/T
    lif = js["models"]["LIF"]["grad_norm_mean"]
    np.testing.assert_allclose(np.array(lif) * np.array([8, 16, 32]), lif[0] * 8, rtol=1e-4)


def test_gamma_dilemma(nd, tmp_path):
    res = nd.study_gamma_dilemma(
        str(tmp_path),
        (0.5, 5.0),
        steps=15,
        batch=32,
        T=4,
        n_hidden=32,
        n_train=128,
        n_test=64,
        n_seeds=2,
    )
    assert (tmp_path / "gamma_dilemma.png").stat().st_size > 0
    js = _load(tmp_path / "gamma_dilemma.json")
    assert js == json.loads(json.dumps(res))
    for kind in ("LIF", "ILIF"):
        m = js["models"][kind]
        for key in (
            "train_rate",
            "test_rate",
            "train_acc",
            "test_acc",
            "init_rate",
            "w1_norm",
            "dead_fraction",
        ):
            assert len(m[key]) == 2 and _all_finite(m[key]), key
        assert len(m["per_seed"]["train_rate"]) == 2 and _all_finite(m["train_rate_std"])
        assert len(m["rate_curve"]) == 2 and len(m["rate_curve"][0]) == 15
        assert all(_all_finite(c) for c in m["loss_curve"])
        # γ only changes the backward pass: the untrained network fires identically for every γ
        assert m["init_rate"][0] == m["init_rate"][1]
        # training changed the weights differently for different γ
        assert m["w1_norm"][0] != m["w1_norm"][1]
    # the inhibitory units lower the firing rate of the same untrained network
    assert js["models"]["ILIF"]["init_rate"][0] < js["models"]["LIF"]["init_rate"][0]


def test_polara_traces(nd, tmp_path):
    res = nd.study_polara_traces(str(tmp_path), T=40, step_on=(5, 35))
    assert (tmp_path / "polara_traces.png").stat().st_size > 0
    js = _load(tmp_path / "polara_traces.json")
    assert js == json.loads(json.dumps(res))
    assert js["max_abs_u_minus_ua_times_refractory_factor"] < 1e-5  # ua recomputed consistently
    for name in ("step", "pulses"):
        tr = js["traces"][name]
        for key in ("x", "us", "ua", "u", "theta", "s", "refractory_factor"):
            assert len(tr[key]) == 40 and _all_finite(tr[key]), key
        spikes = tr["spike_times"]
        assert spikes, name
        t1 = spikes[0]
        theta, u, ua, s = (np.array(tr[k]) for k in ("theta", "u", "ua", "s"))
        assert np.all(theta[:t1] == theta[0]) and theta[t1] > theta[0]  # the threshold rises at the first spike
        assert np.all(np.diff(theta) >= 0)  # and never decays
        assert np.all(s[s > 0] >= 0.5)  # above threshold s = sigmoid(ua·O(Δ)) >= 1/2
        # refractory inhibition: after a spike the membrane is scaled below the pre-spike value
        after = np.arange(t1, min(t1 + 3, 40))
        pos = after[ua[after] > 0]
        assert len(pos) and np.all(u[pos] < ua[pos])
        assert np.all(u[:t1] == ua[:t1])  # and not before any spike
