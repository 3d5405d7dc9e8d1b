"""snnjax.viz: each plot returns a Figure, writes a non-empty PNG, draws what it was given,
and rejects bad input naming the argument."""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure

from snnjax import surrogate, viz

RNG = np.random.default_rng(0)


def _png(fig, tmp_path, name="fig.png"):
    assert isinstance(fig, Figure)
    path = tmp_path / name
    fig.savefig(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return path


def _points(ax):
    """All scatter points of an axes as a set of (t, neuron)."""
    pts = [tuple(p) for coll in ax.collections for p in np.asarray(coll.get_offsets())]
    return set(pts)


def test_raster_draws_exactly_the_spikes(tmp_path):
    s = (RNG.random((12, 3, 2, 5)) < 0.2).astype(np.float32)  # [T, B, 2, 5]
    fig = viz.raster(s, sample=1)
    _png(fig, tmp_path)
    want = {(float(t), float(n)) for t, n in zip(*np.nonzero(s[:, 1].reshape(12, -1)))}
    assert _points(fig.axes[0]) == want


def test_raster_of_two_models_splits_only_first_only_second_both(tmp_path):
    a = np.zeros((4, 3))
    b = np.zeros((4, 3))
    a[0, 0] = b[0, 0] = 1  # both
    a[1, 1] = 1  # only the first
    b[2, 2] = b[3, 2] = 1  # only the second
    fig = viz.raster({"layer 0": a}, other={"layer 0": b}, labels=("LIF", "ILIF"))
    _png(fig, tmp_path)
    ax = fig.axes[0]
    by_label = {c.get_label(): {tuple(p) for p in np.asarray(c.get_offsets())} for c in ax.collections}
    assert by_label == {"LIF (1)": {(1.0, 1.0)}, "ILIF (2)": {(2.0, 2.0), (3.0, 2.0)}, "both (1)": {(0.0, 0.0)}}


def test_raster_per_layer_panels_and_bad_input(tmp_path):
    layers = {"conv1": RNG.random((5, 2, 7)) < 0.3, "fc": RNG.random((5, 2, 3)) < 0.3}
    fig = viz.raster(layers, max_neurons=4)
    _png(fig, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["conv1", "fc"]
    assert max(n for _, n in _points(fig.axes[0])) < 4
    with pytest.raises(ValueError, match="spikes must have rank >= 2"):
        viz.raster(np.zeros(5))
    with pytest.raises(ValueError, match="other must have the layers"):
        viz.raster(layers, other={"conv1": layers["conv1"]})
    with pytest.raises(ValueError, match="sample must be in"):
        viz.raster(np.zeros((3, 2, 4)), sample=2)
    with pytest.raises(TypeError, match="spikes"):
        viz.raster(np.array(["a", "b"]).reshape(1, 2))


def test_traces_lines_equal_the_data(tmp_path):
    v = RNG.normal(size=(20, 2, 6))
    th = RNG.normal(size=(20,))
    s = (RNG.random((20, 2, 6)) < 0.2).astype(float)
    fig = viz.traces({"membrane": v, "threshold": th, "overlay": {"LIF": v, "ILIF": 2 * v}}, spikes=s, neurons=[1, 4])
    _png(fig, tmp_path)
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 20]
    np.testing.assert_array_equal(lines[0].get_ydata(), v[:, 0, 1])
    np.testing.assert_array_equal(lines[1].get_ydata(), v[:, 0, 4])
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_ydata(), th)
    overlay = {ln.get_label(): ln.get_ydata() for ln in fig.axes[2].get_lines() if len(ln.get_xdata()) == 20}
    np.testing.assert_array_equal(overlay["ILIF 1"], 2 * v[:, 0, 4])
    # spike ticks: one vertical line per spike of the drawn neurons, on every panel
    ticks = [ln for ln in fig.axes[1].get_lines() if len(ln.get_xdata()) == 2]
    assert len(ticks) == int(s[:, 0, [1, 4]].sum())
    with pytest.raises(ValueError, match="same number of steps"):
        viz.traces({"a": np.zeros(5), "b": np.zeros(6)})
    with pytest.raises(ValueError, match="neurons must be in"):
        viz.traces({"a": np.zeros((5, 3))}, neurons=[3])
    with pytest.raises(TypeError, match="traces must be a non-empty mapping"):
        viz.traces(np.zeros(5))


def test_firing_rates_bars(tmp_path):
    fig = viz.firing_rates({"LIF": [0.3, 0.2, 0.1], "ILIF": [0.2, 0.1, 0.05]}, errors={"LIF": [0.01] * 3,
                           "ILIF": [0.02] * 3}, layer_names=["c1", "c2", "fc"])  # fmt: skip
    _png(fig, tmp_path)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [0.3, 0.2, 0.1, 0.2, 0.1, 0.05])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["c1", "c2", "fc"]
    _png(viz.firing_rates([0.5, 0.25]), tmp_path, "single.png")
    with pytest.raises(ValueError, match="layer_names must have 3"):
        viz.firing_rates([1, 2, 3], layer_names=["a"])
    with pytest.raises(ValueError, match=r"rates\['a'\] must have rank 1"):
        viz.firing_rates({"a": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="errors must have"):
        viz.firing_rates({"a": [1.0]}, errors={"b": [1.0]})


def test_spike_counts_per_step_and_per_layer(tmp_path):
    c = RNG.integers(0, 50, size=(3, 4)).astype(float)  # [L, T]
    fig = viz.spike_counts({"LIF": c, "ILIF": c / 2})
    _png(fig, tmp_path)
    drawn = [ax for ax in fig.axes if ax.patches]
    assert len(drawn) == 3
    np.testing.assert_allclose([p.get_height() for p in drawn[1].patches], np.r_[c[1], c[1] / 2])
    _png(viz.spike_counts(np.array([5.0, 3.0, 2.0, 1.0])), tmp_path, "one.png")
    with pytest.raises(ValueError, match="same shape"):
        viz.spike_counts({"a": np.zeros(4), "b": np.zeros(5)})


def test_surrogates_plot_the_backward_of_the_spike(tmp_path):
    x = np.linspace(-2, 2, 81)
    fig = viz.surrogates({"rectangle γ=1": surrogate.get("rectangle", 1.0), "atan": "atan"}, x=x)
    _png(fig, tmp_path)
    g = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].get_lines()}
    # the rectangle derivative, by hand: 1/γ on |v| < γ/2 (NEURONS.md), 0 outside
    rect = np.where(np.abs(x) < 0.5, 1.0, 0.0)
    inside = np.abs(np.abs(x) - 0.5) > 1e-6  # the edges' convention is not the plot's business
    np.testing.assert_allclose(g["rectangle γ=1"][inside], rect[inside], atol=1e-6)
    np.testing.assert_allclose(g["atan"], surrogate.get("atan").derivative(x.astype(np.float32)), rtol=1e-5)
    # its integral over the grid is ~1 (the surrogate integrates to the Heaviside's jump)
    prim = fig.axes[1].get_lines()[0].get_ydata()
    assert abs(prim[-1] - 1.0) < 0.06
    with pytest.raises(ValueError, match="unknown|surrogate"):
        viz.surrogates(["no_such_surrogate"])
    with pytest.raises(ValueError, match="x must be increasing"):
        viz.surrogates(["atan"], x=[1.0, 0.0])


def test_training_curves_from_jsonl(tmp_path):
    rows = [{"epoch": e, "lr": 0.1 / (e + 1), "train_loss": 2.0 - e / 10, "test_loss": 2.1 - e / 10,
             "train_acc": 0.1 * e, "test_acc": 0.09 * e, "test_rate_0": 0.2, "test_rate_1": 0.1 + e / 100}
            for e in range(4)]  # fmt: skip
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + '{"epoch": 4, "tr')  # a cut-short last line
    assert viz.read_jsonl(path) == rows
    fig = viz.training_curves(path)
    _png(fig, tmp_path)
    panels = {ax.get_ylabel(): {ln.get_label(): ln for ln in ax.get_lines()} for ax in fig.axes}
    assert set(panels) == {"accuracy", "loss", "firing rate", "lr"}
    np.testing.assert_allclose(panels["loss"]["test_loss"].get_ydata(), [r["test_loss"] for r in rows])
    np.testing.assert_allclose(panels["loss"]["test_loss"].get_xdata(), [1, 2, 3, 4])  # epochs 1-based
    np.testing.assert_allclose(panels["firing rate"]["test_rate"].get_ydata(), [0.15, 0.155, 0.16, 0.165])
    fig2 = viz.training_curves({"a": rows, "b": path}, keys=["test_acc"])
    assert [ln.get_label() for ln in fig2.axes[0].get_lines()] == ["a test_acc", "b test_acc"]
    with pytest.raises(ValueError, match=r"keys \['nope'\]"):
        viz.training_curves(rows, keys=["nope"])
    with pytest.raises(TypeError, match="JSONL path or a non-empty list"):
        viz.training_curves([])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"epoch": 0}\nnot json\n{"epoch": 1}\n')
    with pytest.raises(ValueError, match="line 2"):
        viz.read_jsonl(bad)


def test_sweep_panels_and_errors(tmp_path):
    g = [0.5, 1, 2, 4]
    fig = viz.sweep(g, {"accuracy": {"LIF": [70, 71, 69, 60], "ILIF": [71, 71, 70, np.nan]},
                        "grad": {"LIF": [1e-3, 1e-2, 1e-1, 1.0]}},
                    errors={"accuracy": {"LIF": [1, 1, 1, 2]}}, xlabel="γ", log_y=["grad"])  # fmt: skip
    _png(fig, tmp_path)
    assert fig.axes[1].get_yscale() == "log" and fig.axes[0].get_xlabel() == "γ"
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [70, 71, 69, 60])
    with pytest.raises(ValueError, match="has 2 values, x has 4"):
        viz.sweep(g, {"a": {"b": [1, 2]}})
    with pytest.raises(ValueError, match="log_y names panels"):
        viz.sweep(g, {"a": {"b": g}}, log_y=["z"])
