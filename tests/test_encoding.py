"""Encoders: latency = spytorch's current2firing_time (re-implemented in conftest), rate, direct."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import encoding


def _intensities(seed=0, n=500):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, n)
    special = [0.0, 0.2, 1.0, 0.19999, 0.2000001, 0.20001, 0.21, 0.5, 0.999999]
    return np.concatenate([special, x])


@pytest.mark.parametrize("num_steps", [128, 30])
def test_latency_times_equal_spytorch_float64(num_steps, x64, np_ref):
    x = _intensities()
    times = encoding.latency_times(jnp.asarray(x), num_steps)
    ref = np_ref.latency_times(x, num_steps)
    assert times.dtype == jnp.int32
    np.testing.assert_array_equal(times, ref)
    # hand-checked values: x = 1 -> floor(20 log 1.25) = 4; x <= 0.2 -> t_max = T
    assert int(times[2]) == 4 and int(times[0]) == num_steps and int(times[3]) == num_steps
    assert int(times[1]) >= num_steps  # exactly 0.2: clipped to 0.2 + 1e-7, t ≈ 290 > T


def test_latency_times_float32_away_from_integer_boundaries(np_ref):
    x = _intensities(1)
    t_ref_float = 20.0 * np.log(np.maximum(x, 0.2 + 1e-7) / (np.maximum(x, 0.2 + 1e-7) - 0.2))
    frac = t_ref_float - np.floor(t_ref_float)
    keep = (x > 0.2001) & (frac > 0.01) & (frac < 0.99) | (x < 0.2)
    times = encoding.latency_times(jnp.asarray(x[keep], jnp.float32), 128)
    np.testing.assert_array_equal(times, np_ref.latency_times(x[keep], 128))
    assert keep.sum() > 400


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(tau=5.0, threshold=0.3), dict(t_max=7.0)],
    ids=["default", "tau-thr", "tmax"],
)
def test_latency_spikes(kw, x64, np_ref):
    num_steps = 50
    x = _intensities(2, 191).reshape(20, 10)
    spikes = np.asarray(encoding.latency(jnp.asarray(x), num_steps, **kw))
    assert spikes.shape == (num_steps, 20, 10) and spikes.dtype == np.float64
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    assert np.all(spikes.sum(0) <= 1)  # at most one spike per input
    # spike exactly at t_f where t_f < T (t_max assigned to x < thr)
    tau, thr = kw.get("tau", 20.0), kw.get("threshold", 0.2)
    t_f = np_ref.latency_times(x, num_steps, tau=tau, thr=thr)
    if "t_max" in kw:
        t_f[x < thr] = int(kw["t_max"])
    expected = np.zeros_like(spikes)
    b, c = np.nonzero(t_f < num_steps)
    expected[t_f[b, c], b, c] = 1.0
    np.testing.assert_array_equal(spikes, expected)
    assert 0 < spikes.sum() < x.size
    if "t_max" not in kw:
        assert np.all(spikes[:, x <= thr] == 0)  # pixels <= thr never fire
    else:
        assert np.all(spikes[7][x < thr] == 1)  # t_max = 7 < T: they fire at step 7


def test_latency_brighter_fires_earlier_and_dtype():
    x = jnp.array([0.25, 0.4, 0.7, 1.0], jnp.float32)
    times = np.asarray(encoding.latency_times(x, 128))
    assert np.all(np.diff(times) < 0)
    s = encoding.latency(x, 128, dtype=jnp.bfloat16)
    assert s.dtype == jnp.bfloat16 and s.shape == (128, 4)
    np.testing.assert_array_equal(np.argmax(np.asarray(s, np.float32), 0), times)


def test_rate_statistics_and_keys():
    x = jnp.array([0.0, 0.1, 0.5, 0.9, 1.0, 1.7, -0.3], jnp.float32)
    key = jax.random.key(0)
    s = encoding.rate(x, 4000, key=key)
    assert s.shape == (4000, 7) and s.dtype == jnp.float32
    assert set(np.unique(np.asarray(s))) <= {0.0, 1.0}
    p = np.clip(np.asarray(x), 0, 1)
    # 5 standard deviations of a Bernoulli mean over 4000 draws
    tol = 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / 4000) + 1e-9
    np.testing.assert_array_less(np.abs(np.asarray(s).mean(0) - p), tol)
    assert float(s[:, 0].sum()) == 0.0 and float(s[:, 4].min()) == 1.0  # p = 0 and p = 1 exactly
    np.testing.assert_array_equal(encoding.rate(x, 4000, key=key), s)  # same key, same train
    assert not np.array_equal(encoding.rate(x, 4000, key=jax.random.key(1)), s)
    # gain scales the probability
    s2 = encoding.rate(jnp.full((3,), 0.5), 4000, key=key, gain=0.4)
    assert abs(float(s2.mean()) - 0.2) < 5 * np.sqrt(0.16 / 12000)
    # independent over time steps: lag-1 autocorrelation ~ 0
    col = np.asarray(s[:, 2])
    assert abs(np.corrcoef(col[:-1], col[1:])[0, 1]) < 0.06


def test_rate_dtype_and_shape():
    x = jnp.full((2, 3), 0.5, jnp.float32)
    s = encoding.rate(x, 5, key=jax.random.key(3), dtype=jnp.int8)
    assert s.shape == (5, 2, 3) and s.dtype == jnp.int8


def test_rate_key_is_keyword_only():
    with pytest.raises(TypeError):
        encoding.rate(jnp.ones(3), 5, jax.random.key(0))  # noqa


def test_direct_repeats():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 4)), jnp.float32)
    d = encoding.direct(x, 6)
    assert d.shape == (6, 2, 3, 4) and d.dtype == jnp.float32
    for t in range(6):
        np.testing.assert_array_equal(d[t], x)
    j = jax.jit(encoding.direct, static_argnums=1)(x, 6)
    np.testing.assert_array_equal(j, d)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_rate_low_precision_inputs_fire_at_the_right_rate(dtype):
    """The firing probability must not be quantised by a low-precision uniform draw.

    With x in bfloat16 a uniform sample in bfloat16 takes only 128 values in [0, 1),
    so P(u < 0.001) = P(u = 0) = 1/128: the neuron fires ~7.5x too often.
    """
    x = jnp.array([0.001, 0.01, 0.3], dtype)
    p = np.asarray(x, np.float64)  # the probabilities the inputs actually represent
    n = 100_000
    s = np.asarray(encoding.rate(x, n, key=jax.random.key(0)), np.float64)
    assert s.dtype == np.float64 and set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_array_less(np.abs(s.mean(0) - p), 5 * np.sqrt(p * (1 - p) / n))
