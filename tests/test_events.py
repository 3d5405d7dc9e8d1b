"""Event-driven synapses equal the dense path, forward and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import encoding, events, models, nn, train


def _dense_spikes(seed=0, t=9, b=4, c=11, p=0.15):
    return (jax.random.uniform(jax.random.key(seed), (t, b, c)) < p).astype(jnp.float32)


def test_from_dense_to_dense_roundtrip_and_padding():
    s = _dense_spikes()
    n_max = int(s.sum((0, 2)).max())
    ev = events.from_dense(s, n_max + 3)
    assert ev.times.shape == (4, n_max + 3)
    np.testing.assert_array_equal(ev.valid.sum(1), s.sum((0, 2)))
    np.testing.assert_array_equal(events.to_dense(ev), s)
    # each valid event is a spike of the dense train at (t, b, c)
    t, c = np.asarray(ev.times), np.asarray(ev.channels)
    for b in range(4):
        for e in np.nonzero(np.asarray(ev.valid[b]))[0]:
            assert s[t[b, e], b, c[b, e]] == 1


@pytest.mark.parametrize("jit", [False, True])
def test_event_matmul_equals_dense(jit):
    s = _dense_spikes(1)
    w = jax.random.normal(jax.random.key(2), (11, 6))
    ct = jax.random.normal(jax.random.key(3), (9, 4, 6))
    ev = events.from_dense(s, 40)
    f_ev = lambda w, ev: jnp.sum(events.event_matmul(ev, w) * ct)  # noqa: E731
    f_de = lambda w: jnp.sum((s @ w) * ct)  # noqa: E731
    if jit:
        f_ev = jax.jit(f_ev)
    np.testing.assert_allclose(events.event_matmul(ev, w), s @ w, atol=1e-5)
    np.testing.assert_allclose(jax.grad(f_ev)(w, ev), jax.grad(f_de)(w), atol=1e-5)


def test_event_matmul_checks_weight_shape():
    ev = events.from_dense(_dense_spikes(), 40)
    with pytest.raises(ValueError, match=r"w must have shape \[C=11, H\]"):
        events.event_matmul(ev, jnp.ones((10, 3)))


def test_latency_events_equal_dense_latency():
    x = jax.random.uniform(jax.random.key(4), (5, 30))
    ev = encoding.latency_events(x, 64)
    np.testing.assert_array_equal(events.to_dense(ev), encoding.latency(x, 64))
    assert ev.density == pytest.approx(1 / 64)


def test_spike_linear_dispatch():
    layer = nn.SpikeLinear(11, 6, rngs=nnx.Rngs(0))
    s = jnp.zeros((9, 4, 11)).at[:3, :, 1].set(1.0)  # 3 spikes per example: fits 4 slots
    ev = events.from_dense(s, 12)  # density bound 12 / (9 * 11) > 0.008: dense path
    assert not layer.uses_events(ev)
    assert not layer.uses_events(events.from_dense(s, 4))  # 0.040
    assert nn.SpikeLinear(11, 6, event_threshold=0.05, rngs=nnx.Rngs(0)).uses_events(events.from_dense(s, 4))
    wide = jnp.zeros((40, 2, 11)).at[0, :, 0].set(1.0)  # density bound 3 / (40 * 11) = 0.0068
    assert layer.uses_events(events.from_dense(wide, 3))
    assert nn.SpikeLinear(11, 6, mode="event", rngs=nnx.Rngs(0)).uses_events(ev)
    assert not nn.SpikeLinear(11, 6, mode="dense", rngs=nnx.Rngs(0)).uses_events(ev)
    with pytest.raises(ValueError, match="mode must be one of"):
        nn.SpikeLinear(11, 6, mode="sparse", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="mode='event' needs Events"):
        nn.SpikeLinear(11, 6, mode="event", rngs=nnx.Rngs(0))(s)


@pytest.mark.parametrize("neuron", [nn.SpytorchLIF, lambda: nn.Polara(grad="mask")], ids=["spytorch", "polara"])
def test_mlp_event_path_equals_dense_path(neuron):
    """Same model, same data: the latency events and the dense latency train give the
    same outputs and the same parameter gradients."""
    x = jax.random.uniform(jax.random.key(5), (6, 40))
    y = jnp.array([0, 1, 2, 0, 1, 2])
    model = models.SpikingMLP(40, (12,), 3, neuron=neuron, weight_scale=(4.0, 0.7), rngs=nnx.Rngs(0))

    def loss(model, inputs):
        return train.max_over_time_ce(model(inputs), y)

    dense_in, event_in = encoding.latency(x, 32), encoding.latency_events(x, 32)
    l_d, g_d = nnx.value_and_grad(loss)(model, dense_in)
    model.layers[0].mode = "event"
    l_e, g_e = nnx.value_and_grad(loss)(model, event_in)
    np.testing.assert_allclose(l_e, l_d, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g_e), jax.tree.leaves(g_d)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compacted_latency_events_are_exact_when_max_events_suffices():
    x = jax.random.uniform(jax.random.key(6), (7, 50))
    times = encoding.latency_times(x, 64)
    n = events.max_spike_count(times, 64)
    dense_counts = np.asarray(encoding.latency(x, 64)).sum(axis=(0, 2))
    assert n == int(dense_counts.max())
    assert n <= int(np.max(np.sum(np.asarray(x) > 0.2, axis=1)))  # inputs near θ fire after T
    ev = encoding.latency_events(x, 64, max_events=n)
    assert ev.times.shape == (7, n)
    np.testing.assert_array_equal(events.to_dense(ev), encoding.latency(x, 64))
    # one slot too few: refused for concrete data (nothing is dropped silently) ...
    with pytest.raises(ValueError, match=rf"max_events={n - 1} would drop spikes: example \d+ of times has {n}"):
        encoding.latency_events(x, 64, max_events=n - 1)
    # ... and, traced (no value to check), one spike of each fullest example is dropped, as
    # documented: the bound is tight
    short = jax.jit(lambda x: encoding.latency_events(x, 64, max_events=n - 1))(x)
    n_full = int(np.sum(dense_counts == n))
    assert float(events.to_dense(short).sum()) == float(dense_counts.sum()) - n_full
    with pytest.raises(ValueError, match=r"max_events must be an int in \[1"):
        events.from_times(times, 64, max_events=0)
