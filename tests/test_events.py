"""Event-driven synapses equal the dense path, forward and gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import encoding, events, models, nn, train
from snnjax.kernels import native


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


needs_native = pytest.mark.skipif(
    not native.available() or jax.default_backend() != "cpu", reason="the native CPU kernels are not built"
)


def _event_case(seed, t=13, b=6, c=29, h=70):
    """Events from one spike time per channel (some past T: no spike; padding slots at the end),
    weights and an output cotangent."""
    rng = np.random.default_rng(seed)
    times = rng.integers(0, t + 4, (b, c))
    ev = events.from_times(jnp.asarray(times, jnp.int32), t, max_events=events.max_spike_count(times, t) + 3)
    w = jnp.asarray(rng.normal(size=(c, h)), jnp.float32)
    ct = jnp.asarray(rng.normal(size=(t, b, h)), jnp.float32)
    dense = np.zeros((t, b, c), np.float32)
    for bi in range(b):
        for ci in range(c):
            if times[bi, ci] < t:
                dense[times[bi, ci], bi, ci] = 1.0
    return ev, w, ct, dense


@needs_native
@pytest.mark.parametrize("seed", [0, 1])
def test_event_matmul_native_equals_xla_bit_for_bit(seed):
    # the kernel adds each row's events in event order, as XLA's scatter does: equal, not close
    ev, w, ct, dense = _event_case(seed)
    out = {}
    for backend in ("xla", "native"):
        f = jax.jit(lambda w, backend=backend: events.event_matmul(ev, w, backend=backend))
        y, vjp = jax.vjp(f, w)
        out[backend] = (np.asarray(y), np.asarray(vjp(ct)[0]))
    np.testing.assert_array_equal(out["native"][0], out["xla"][0])
    np.testing.assert_array_equal(out["native"][1], out["xla"][1])
    # and both are the dense product and its gradient (an independent NumPy computation)
    np.testing.assert_allclose(out["native"][0], dense @ np.asarray(w), atol=1e-5)
    np.testing.assert_allclose(out["native"][1], np.einsum("tbc,tbh->ch", dense, np.asarray(ct)), atol=1e-4)


@needs_native
def test_event_matmul_native_under_vmap_and_auto_choice():
    ev, w, ct, dense = _event_case(2, h=5)
    ws = jnp.stack([w, -2.0 * w])
    ys = jax.vmap(lambda w: events.event_matmul(ev, w, backend="native"))(ws)
    np.testing.assert_allclose(ys[1], -2.0 * (dense @ np.asarray(w)), atol=1e-5)
    # auto takes the kernel for float32 on one CPU device, XLA for other dtypes
    hlo = jax.jit(lambda w: events.event_matmul(ev, w)).lower(w).as_text()
    assert "snnjax_event_matmul" in hlo
    hlo64 = jax.jit(lambda w: events.event_matmul(ev, w)).lower(w.astype(jnp.bfloat16)).as_text()
    assert "snnjax_event_matmul" not in hlo64


@needs_native
def test_event_matmul_native_steps_out_of_range_and_bad_channels():
    # a valid event whose step is outside [0, T) is dropped by both backends (never wrapped to
    # another row); a channel outside [0, C) gives NaN rows in both, as jnp.take's fill does
    ev, w, ct, dense = _event_case(3, t=5, b=3, c=7, h=4)
    times = ev.times.at[0, 0].set(-1).at[1, 0].set(5)
    valid = ev.valid.at[0, 0].set(True).at[1, 0].set(True)
    bad = events.Events(times, ev.channels, valid, ev.num_steps, ev.num_channels)
    res = {}
    for backend in ("xla", "native"):
        y, vjp = jax.vjp(lambda w, backend=backend: events.event_matmul(bad, w, backend=backend), w)
        res[backend] = (np.asarray(y), np.asarray(vjp(ct)[0]))
    np.testing.assert_array_equal(res["native"][0], res["xla"][0])
    np.testing.assert_array_equal(res["native"][1], res["xla"][1])
    for bad_channel in (99, -1):  # past the end, or negative (which a gather would wrap to C - 1)
        chans = ev.channels.at[2, 0].set(bad_channel)
        nan_ev = events.Events(ev.times, chans, ev.valid.at[2, 0].set(True), ev.num_steps, ev.num_channels)
        y_x, vjp_x = jax.vjp(lambda w, e=nan_ev: events.event_matmul(e, w, backend="xla"), w)
        y_n, vjp_n = jax.vjp(lambda w, e=nan_ev: events.event_matmul(e, w, backend="native"), w)
        np.testing.assert_array_equal(np.asarray(y_n), np.asarray(y_x))
        assert np.isnan(np.asarray(y_n)).sum() == w.shape[1]  # one NaN row: that event's
        np.testing.assert_array_equal(np.asarray(vjp_n(ct)[0]), np.asarray(vjp_x(ct)[0]))


def test_event_matmul_backend_option_is_checked():
    ev = events.from_dense(_dense_spikes(), 40)
    with pytest.raises(ValueError, match="backend must be one of"):
        events.event_matmul(ev, jnp.ones((11, 3)), backend="dense")
    with pytest.raises(ValueError, match="float32 only"):
        events.event_matmul(ev, jnp.ones((11, 3), jnp.bfloat16), backend="native")


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
