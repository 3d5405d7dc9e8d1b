"""Monitors (``snnjax.nn.record``), per-layer metrics named by layer, ``fit``'s classification
defaults with an ``encode`` hook, and ``import snnjax`` exposing the subpackages (issue 17)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax
from snnjax import encoding, models, neurons, nn, train


def _mlp(seed=0, neuron=nn.LIF):
    return models.SpikingMLP(6, (5, 4), 3, neuron=lambda: neuron(tau=2.0), rngs=nnx.Rngs(seed))


XS = jax.random.uniform(jax.random.key(1), (8, 2, 6)) * 3  # [T, B, 6]


def test_record_returns_every_layers_spikes_and_states_equal_to_running_it_by_hand():
    model = _mlp()
    out, rec = nn.record(model, states=True)(XS)
    assert set(rec) == {"neurons/0", "neurons/1", "readout"}
    np.testing.assert_array_equal(out, model(XS))  # recording changes nothing
    # layer 0 by hand: its input current is the first synapse's output
    h = model.layers[0](XS)
    _, s0, st0 = snnjax.run(neurons.lif.step, model.neurons[0].params(), h, return_states=True)
    np.testing.assert_array_equal(rec["neurons/0"]["spikes"], s0)
    np.testing.assert_array_equal(rec["neurons/0"]["states"].m, st0.m)
    assert rec["readout"]["states"].v.shape == (8, 2, 3)
    # without states=True only spikes; outside record nothing is recorded on the model
    _, rec2 = nn.record(lambda m, x: m(x))(model, XS)
    assert set(rec2["neurons/1"]) == {"spikes"}
    assert not any(isinstance(v, nn.Spikes) for _, v in nnx.iter_graph(model))


def test_record_works_under_jit_and_grad():
    model = _mlp()

    @nnx.jit
    def rates(m, xs):
        _, rec = nn.record(m)(xs)
        return {k: r["spikes"].mean() for k, r in rec.items()}

    r = rates(model, XS)
    assert set(r) == {"neurons/0", "neurons/1", "readout"} and 0 < float(r["neurons/0"]) < 1

    def loss(m):  # a firing-rate regulariser through the recorded spikes
        _, rec = nn.record(m)(XS)
        return (rec["neurons/0"]["spikes"].mean() - 0.05) ** 2

    g = nnx.grad(loss)(model)
    assert float(jnp.abs(g["layers"][0]["kernel"][...]).sum()) > 0


def test_layer_rates_names_and_active_fraction():
    s = {"a": jnp.array([[0.0, 1.0], [1.0, 1.0]]), "b": jnp.array([[0.0, 0.5], [0.0, 2.0]])}
    r = train.layer_rates(s)
    assert float(r["rate_a"]) == 0.75 and float(r["active_a"]) == 0.75
    assert float(r["rate_b"]) == 0.625 and float(r["active_b"]) == 0.5  # graded output: they differ
    assert float(r["silent_a"]) == 0.0 and float(r["silent_b"]) == 0.0
    assert set(train.layer_rates([s["a"]])) == {"rate_0", "active_0", "silent_0"}
    # [T=2, B=2, N=3]: neuron 2 never fires, neuron 0 fires once
    s3 = jnp.zeros((2, 2, 3)).at[1, 0, 0].set(1.0).at[0, 1, 1].set(1.0)
    assert float(train.layer_rates({"c": s3})["silent_c"]) == pytest.approx(1 / 3)


def test_fit_defaults_and_encode_hook(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((48, 6)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int32) + (x[:, 1] > 0.5).astype(np.int32)
    model = _mlp(1)
    opt = nnx.Optimizer(model, optax.adam(0.02), wrt=nnx.Param)
    rows = train.fit(model, opt, encode=lambda b: encoding.direct(3.0 * b, 8), train_data=(x, y),
                     test_data=(x, y), epochs=2, batch_size=16, progress=False, log=lambda s: None)  # fmt: skip
    last = rows[-1]
    for name in ("neurons/0", "neurons/1", "readout"):  # named by layer, both statistics
        assert 0.0 <= last[f"test_rate_{name}"] and 0.0 <= last[f"test_active_{name}"] <= 1.0
    # the default loss is the mean-over-time cross-entropy of the mean-over-time logits
    model.eval()
    out = model(encoding.direct(3.0 * jnp.asarray(x), 8))
    assert last["test_loss"] == pytest.approx(float(train.mean_over_time_ce(out, jnp.asarray(y))), rel=1e-5)
    assert last["test_acc"] == pytest.approx(float(np.mean(np.argmax(np.asarray(out.mean(0)), -1) == y)))


def test_import_snnjax_exposes_the_subpackages():
    assert snnjax.train.fit is train.fit and snnjax.models.SpikingMLP is models.SpikingMLP
    assert callable(snnjax.data.batches) and snnjax.nn.LIF is nn.LIF
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        snnjax.nope  # noqa: B018


def test_analysis_of_any_model_goes_through_the_monitors():
    from snnjax import analysis

    class Net(nnx.Module):  # no return_spikes: the analysis records its neuron layers by name
        def __init__(self, rngs):
            self.fc, self.lif = nnx.Linear(6, 5, rngs=rngs), nn.LIF()
            self.fc2, self.out = nnx.Linear(5, 3, rngs=rngs), nn.LIF()

        def __call__(self, xs):
            return self.out(self.fc2(self.lif(self.fc(xs))))

    m = Net(nnx.Rngs(0))
    bm = jnp.swapaxes(XS, 0, 1)  # batch-major data, made time-major by the transform
    r = analysis.analyse_model(None, m, bm, batch_size=2, transform=lambda b: jnp.swapaxes(b, 0, 1))
    assert [n["name"] for n in r["neuron_records"]] == ["lif", "out"]
    _, rec = nn.record(m)(XS)
    n_lif = float(rec["lif"]["spikes"].sum())
    assert n_lif > 0
    # the second synapse's accumulates: one per spike of "lif" and output neuron
    assert [x["ac"] for x in r["records"]] == [0, n_lif * 3]


def test_metrics_csv_stays_aligned_when_the_columns_change(tmp_path):
    import csv

    w = train.MetricsWriter(tmp_path)
    w.write({"epoch": 0, "loss": 1.0})
    w.write({"epoch": 1, "loss": 0.5, "rate_0": 0.1})  # a newer version logs one more column
    w.write({"epoch": 2, "loss": 0.25, "rate_0": 0.2})
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["loss"] for r in rows] == ["1.0", "0.5", "0.25"] and [r["rate_0"] for r in rows] == ["", "0.1", "0.2"]
    assert [r["epoch"] for r in w.rows()] == [0, 1, 2]
