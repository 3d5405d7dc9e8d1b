"""snnjax.analysis: spike statistics, synaptic-operation counts against hand / NumPy counts,
the jaxpr walk through a PreActResNet, and the experiments/analysis.py CLI."""

from __future__ import annotations

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnjax import analysis as A
from snnjax import nn
from snnjax.models.resnet import PreActResNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONES = nnx.initializers.ones  # the counts do not depend on the weights; no random init to compile


def _resnet(neuron, seed: int = 0) -> PreActResNet:
    """A narrow PreActResNet ((1, 1) blocks, widths 4 and 8, 8×8 input) with NumPy-drawn
    weights: no random initialiser to compile (the counts hold for any weights)."""
    make = lambda: PreActResNet((1, 1), 10, neuron=neuron, widths=(4, 8), pool=4, rngs=nnx.Rngs(seed))  # noqa: E731
    graphdef, state = nnx.split(nnx.eval_shape(make))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = [n for n in (str(getattr(k, "key", getattr(k, "name", k))) for k in path) if n != "value"][-1]
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key(seed)
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        if name == "kernel":
            return jnp.asarray(rng.normal(size=leaf.shape) * np.sqrt(2 / np.prod(leaf.shape[:-1])), leaf.dtype)
        return jnp.zeros(leaf.shape, leaf.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(fill, state))


def _bernoulli(shape, p, seed):
    return jnp.asarray(np.random.default_rng(seed).random(shape) < p, jnp.float32)


def _fanout(h: int, w: int, k: int, stride: int, pad: int) -> np.ndarray:
    """NumPy: for every input pixel, the number of output positions whose k×k window holds it."""
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    f = np.zeros((h, w), np.int64)
    for p in range(ho):
        for q in range(wo):
            for di in range(k):
                for dj in range(k):
                    i, j = p * stride - pad + di, q * stride - pad + dj
                    if 0 <= i < h and 0 <= j < w:
                        f[i, j] += 1
    return f


def _spike_map(shape, positions):
    x = np.zeros(shape, np.float32)
    for pos in positions:
        x[pos] = 1.0
    return jnp.asarray(x)


# --------------------------------------------------------------------------- hand counts


def test_conv3x3_same_by_hand():
    # 4×4 input, 3×3 kernel, stride 1, padding 1: a corner pixel reaches 4 outputs, an edge
    # pixel 6, an interior pixel 9 (per output channel).
    conv = nnx.Conv(1, 2, (3, 3), padding=((1, 1), (1, 1)), kernel_init=ONES, rngs=nnx.Rngs(0))
    x = _spike_map((1, 4, 4, 1), [(0, 0, 0, 0), (0, 0, 2, 0), (0, 2, 1, 0), (0, 3, 3, 0)])
    (r,) = A.synaptic_ops(conv, x)
    assert r["primitive"] == "conv_general_dilated" and r["binary"]
    assert r["ac"] == (4 + 6 + 9 + 4) * 2 and r["mac"] == 0
    assert r["density"] == pytest.approx(4 / 16)
    assert r["name"] == "conv 3x3 1->2"


def test_strided_conv_by_hand():
    # stride 2, padding 1 on 4×4 -> 2×2 outputs: rows 0, 2, 3 are in one output row's window,
    # row 1 in two, so the fan-out of (i, j) is f[i]·f[j] with f = (1, 2, 1, 1).
    f = np.array([1, 2, 1, 1])
    np.testing.assert_array_equal(_fanout(4, 4, 3, 2, 1), np.outer(f, f))
    conv = nnx.Conv(1, 3, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), kernel_init=ONES, rngs=nnx.Rngs(0))
    pos = [(0, 1, 1, 0), (0, 0, 3, 0), (1, 1, 0, 0), (1, 2, 2, 0)]
    x = _spike_map((2, 4, 4, 1), pos)
    (r,) = A.synaptic_ops(conv, x)
    assert r["ac"] == (4 + 1 + 2 + 1) * 3  # (1,1), (0,3), (1,0), (2,2)


@pytest.mark.parametrize("k,stride,pad,cin", [(3, 1, 1, 2), (3, 2, 1, 3), (1, 2, 0, 2), (5, 1, 2, 1)])
def test_conv_ac_matches_numpy_fanout(k, stride, pad, cin):
    h = w = 6
    conv = nn.TimeDistributed(nnx.Conv(cin, 4, (k, k), strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                                       kernel_init=ONES, rngs=nnx.Rngs(1)))  # fmt: skip
    s = _bernoulli((3, 2, h, w, cin), 0.3, k + stride)
    (r,) = A.synaptic_ops(conv, s)
    ref = int((np.asarray(s) * _fanout(h, w, k, stride, pad)[None, None, :, :, None]).sum()) * 4
    assert r["ac"] == ref and r["mac"] == 0 and r["binary"]


def test_linear_over_time_ac_is_nnz_times_out():
    lin = nnx.Linear(7, 5, kernel_init=ONES, rngs=nnx.Rngs(0))
    s = _bernoulli((4, 3, 7), 0.4, 0)
    (r,) = A.synaptic_ops(lin, s, samples=3, steps=4)
    assert r["primitive"] == "dot_general" and r["name"] == "dense 7->5"
    assert r["ac"] == int(np.count_nonzero(np.asarray(s))) * 5 and r["mac"] == 0
    assert r["dense_ops"] == 4 * 3 * 7 * 5
    t = A.energy([r])
    assert t["total"]["ac"] == pytest.approx(r["ac"] / 3)
    assert t["total"]["energy_uJ"] == pytest.approx(0.9e-12 * r["ac"] / 3 * 1e6)
    assert t["total"]["ann_mac"] == pytest.approx(7 * 5)
    assert "| 0 | dense 7->5 | spikes |" in t["markdown"]


def test_analog_first_layer_is_dense_macs():
    # analog input: MAC = H·W·C_out·k·k·C_in per step (and sample), padding taps included
    h = w = 5
    conv = nn.TimeDistributed(nnx.Conv(3, 4, (3, 3), padding=((1, 1), (1, 1)), kernel_init=ONES, rngs=nnx.Rngs(0)))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, h, w, 3)), jnp.float32)  # T = 2, B = 3
    (r,) = A.synaptic_ops(conv, x, samples=3, steps=2)
    assert not r["binary"] and r["ac"] == 0
    assert r["mac"] == 2 * 3 * (h * w * 4 * 3 * 3 * 3)
    t = A.energy([r], e_ac=1.0, e_mac=2.0)
    assert t["total"]["mac_synaptic"] == pytest.approx(2 * h * w * 4 * 27)
    assert t["total"]["energy_uJ"] == pytest.approx(2.0 * 2 * h * w * 4 * 27 * 1e6)


def test_scaled_spikes_are_binary_and_graded_mode():
    rng = np.random.default_rng(0)
    w1 = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)

    def f(x):
        h = jnp.maximum(x @ w1, 0.0)  # continuous, with zeros
        return h @ w2, (2.0 * (x > 0.5)) @ w1  # scaled spikes 0/2 are spikes

    x = jnp.asarray(rng.uniform(size=(5, 6)), jnp.float32)
    h = np.maximum(np.asarray(x @ w1), 0)
    r_mac = A.synaptic_ops(f, x)
    assert [r["binary"] for r in r_mac] == [False, False, True]
    assert r_mac[0]["mac"] == 5 * 6 * 4 and r_mac[1]["mac"] == 5 * 4 * 3
    assert r_mac[2]["ac"] == int((np.asarray(x) > 0.5).sum()) * 4
    r_ac = A.synaptic_ops(f, x, nonbinary="ac")
    assert r_ac[0]["from_input"] and r_ac[0]["mac"] == 5 * 6 * 4  # fed by the input: still MACs
    assert r_ac[1]["ac"] == int(np.count_nonzero(h)) * 3 and r_ac[1]["mac"] == 0


def test_walk_recurses_into_jit_and_unrolls_scan_with_matmul():
    rng = np.random.default_rng(1)
    w_in = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    w_rec = jnp.asarray(rng.normal(size=(4, 4)), jnp.float32)

    @jax.jit
    def inner(s):
        return s @ w_in

    def f(s):  # a recurrent layer: the recurrent matmul sits inside the scan
        def body(prev, x):
            new = ((x + prev @ w_rec) > 0.2).astype(jnp.float32)
            return new, new

        _, out = jax.lax.scan(body, jnp.zeros((2, 4)), inner(s))
        return out

    s = _bernoulli((6, 2, 5), 0.5, 2)
    out, recs = A.OpCounter(f)(s)
    assert len(recs) == 2
    assert recs[0]["ac"] == int(np.asarray(s).sum()) * 4
    prev = np.concatenate([np.zeros((1, 2, 4)), np.asarray(out)[:-1]])
    # the initial carry is a constant (zeros): the first step's recurrent product is not counted
    assert recs[1]["calls"] == 5 and recs[1]["ac"] == int(prev.sum()) * 4
    np.testing.assert_array_equal(out, f(s))


def test_counts_exact_beyond_float32_and_no_recompile():
    lin = nnx.Linear(512, 512, kernel_init=ONES, rngs=nnx.Rngs(0))
    s = jnp.ones((2, 40, 512))  # 40,960 inputs × 512 = 20,971,520 > 2**24 operations
    counter = A.OpCounter(lin)
    _, recs = counter(s)
    assert recs[0]["ac"] == 2 * 40 * 512 * 512
    counter(s * 0)
    assert len(counter._cache) == 1


def test_mlp_events_input_counts_as_dense_spikes():
    from snnjax import encoding
    from snnjax.models.mlp import SpikingMLP

    model = SpikingMLP(20, (8,), 3, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(4, 20)), jnp.float32)
    dense = encoding.latency(x, 16)
    ev = A.analyse_model(None, model, encoding.latency_events(x, 16))  # event path -> dense in the copy
    de = A.analyse_model(None, model, dense)
    assert ev["records"][0]["ac"] == de["records"][0]["ac"] == int(np.asarray(dense).sum()) * 8
    assert [r["name"] for r in ev["records"]] == ["dense 20->8", "dense 8->3"]  # the LI readout is no synapse
    assert ev["energy"]["total"]["mac_neuron"] == pytest.approx(16 * 8)  # 1 MAC per hidden neuron and step


# --------------------------------------------------------------------------- spike statistics


def test_spike_statistics_against_numpy():
    rng = np.random.default_rng(0)
    T, B = 4, 5
    layers = [(rng.random((T, B, 3, 2)) < 0.4).astype(np.float32), (rng.random((T, B, 7)) < 0.6).astype(np.float32)]
    st = A.spike_stats([jnp.asarray(s) for s in layers])
    for s, lay in zip(layers, st["layers"]):
        assert lay["firing_rate"] == pytest.approx(s.mean())
        count = s.sum(0)
        assert lay["over_half"] == pytest.approx((count > T / 2).mean())  # 3 or 4 of 4 steps
        np.testing.assert_allclose(lay["counts_per_step"], s.reshape(T, B, -1).sum(-1).mean(1))
    assert A.firing_rates(layers) == pytest.approx([s.mean() for s in layers])
    assert A.over_half_share(layers) == pytest.approx([(s.sum(0) > T / 2).mean() for s in layers])
    total = sum(s.sum() for s in layers) / sum(s.size for s in layers)
    assert st["overall"]["firing_rate"] == pytest.approx(total)
    merged = A.merge_spike_stats([A.spike_stats([s[:, :2] for s in layers]), A.spike_stats([s[:, 2:] for s in layers])])
    assert merged["layers"][1]["over_half"] == pytest.approx(st["layers"][1]["over_half"])
    assert merged["overall"]["firing_rate"] == pytest.approx(total)


def test_exactly_half_is_not_over_half_and_continuous_outputs():
    s = np.zeros((6, 1, 3), np.float32)
    s[:3, 0, 0] = 1  # 3 of 6: not more than half
    s[:4, 0, 1] = 1  # 4 of 6
    s[:, 0, 2] = 0.3  # continuous (POLARA): > 0 counts as a spike
    st = A.spike_stats([jnp.asarray(s)])
    assert st["layers"][0]["over_half"] == pytest.approx(2 / 3)
    assert st["layers"][0]["firing_rate"] == pytest.approx((3 + 4 + 6) / 18)
    assert st["layers"][0]["mean_output"] == pytest.approx(s.mean())
    assert A.spike_stats([jnp.asarray(s)], threshold=0.5)["layers"][0]["firing_rate"] == pytest.approx(7 / 18)


# --------------------------------------------------------------------------- a PreActResNet


@pytest.fixture(scope="module")
def resnet_result():
    model = _resnet(nn.ILIF)
    img = np.random.default_rng(0).uniform(0, 3, (1, 2, 8, 8, 3)).astype(np.float32)
    xs = jnp.broadcast_to(jnp.asarray(img), (3, 2, 8, 8, 3))
    res = A.analyse_model(None, model, xs)
    spikes = nnx.clone(model)
    spikes.eval()
    _, sp = spikes(xs, return_spikes=True)
    return model, xs, res, [np.asarray(s) for s in sp]


def test_resnet_layers_found(resnet_result):
    _, _, res, sp = resnet_result
    names = [r["name"] for r in res["records"]]
    assert names == ["conv 3x3 3->4", "conv 3x3 4->4", "conv 3x3 4->4", "conv 3x3 4->8 /2x2", "conv 3x3 8->8",
                     "conv 1x1 4->8 /2x2", "dense 8->10"]  # fmt: skip
    binary = [r["binary"] for r in res["records"]]
    assert binary == [False, True, True, True, True, True, False]  # analog stem, pooled head
    assert len(sp) == 5 and all(set(np.unique(s)) <= {0.0, 1.0} for s in sp)
    assert 0 < res["spikes"]["overall"]["firing_rate"] < 1


def test_resnet_counts_match_spikes_times_fanout(resnet_result):
    _, _, res, sp = resnet_result
    rec = res["records"]

    def ac(s, k, stride, pad, cout):
        h, w = s.shape[2:4]
        return int((s * _fanout(h, w, k, stride, pad)[None, None, :, :, None]).sum()) * cout

    # block 0: conv1 on its first neuron's spikes, conv2 on its second's (8×8, 4 channels)
    assert rec[1]["ac"] == ac(sp[0], 3, 1, 1, 4)
    assert rec[2]["ac"] == ac(sp[1], 3, 1, 1, 4)
    # block 1: the strided conv1 and the 1×1 stride-2 shortcut both take block 1's first spikes
    assert rec[3]["ac"] == ac(sp[2], 3, 2, 1, 8)
    assert rec[5]["ac"] == ac(sp[2], 1, 2, 0, 8)
    assert rec[4]["ac"] == ac(sp[3], 3, 1, 1, 8)
    # stem: analog, T·B·H·W·C_out·9·C_in MACs; head: pooled spikes, dense
    assert rec[0]["mac"] == 3 * 2 * 8 * 8 * 4 * 9 * 3
    assert rec[6]["mac"] == 3 * 2 * 8 * 10
    # ILIF: 2 MACs per neuron and step
    nr = res["neuron_records"]
    assert [r["mac"] for r in nr] == [2 * 3 * 2 * int(np.prod(s.shape[2:])) for s in sp]
    t = res["energy"]["total"]
    assert t["ac"] == pytest.approx(sum(r["ac"] for r in rec) / 2)
    assert t["mac_neuron"] == pytest.approx(2 * 3 * sum(np.prod(s.shape[2:]) for s in sp))
    assert t["energy_paper_uJ"] == pytest.approx((0.9e-12 * t["ac"] + 4.6e-12 * t["mac_neuron"]) * 1e6)


def test_lif_neuron_macs_and_model_energy_batches(resnet_result):
    _, xs, _, _ = resnet_result
    lif = _resnet(nn.LIF)
    whole = A.model_energy(lif, xs)
    assert whole["total"]["mac_neuron"] == pytest.approx(3 * (3 * 8 * 8 * 4 + 2 * 4 * 4 * 8))  # 1 per neuron·step
    # two batches of one sample == one batch of two
    halves = A.analyse_model(None, lif, [xs[:, :1], xs[:, 1:]])
    for k in ("ac", "mac", "mac_neuron"):
        assert halves["energy"]["total"][k] == pytest.approx(whole["total"][k])
    assert halves["samples"] == 2


# --------------------------------------------------------------------------- the CLI


def _tiny_model(neuron: str, seed: int) -> PreActResNet:
    return _resnet(nn.ILIF if neuron == "ilif" else nn.LIF, seed)


def _tiny_builder(built: list):
    """A ``build_from_config`` for the test runs: images [N, 8, 8, 3], direct encoding, T = 2."""

    def forward(model, x):
        return model(jnp.broadcast_to(x[None], (2,) + x.shape), return_spikes=True)

    def build(config):
        model = _tiny_model(config["neuron"], config["init_seed"])
        built.append(model)
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 3, (12, 8, 8, 3)).astype(np.float32)
        y = rng.integers(0, 10, 12).astype(np.int32)
        return model, (x, y), forward, lambda b: b * 1.0

    return build


def _make_run(path, neuron):
    from snnjax.train import Checkpointer

    os.makedirs(path)
    model = _tiny_model(neuron, 0)
    ck = Checkpointer(os.path.join(path, "checkpoints"))
    ck.save(0, model, nnx.Optimizer(model, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param))
    ck.close()
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"neuron": neuron, "eval_batch_size": 4, "init_seed": 99, "argv": []}, f)
    return model


@pytest.mark.slow  # the CLI on a real trained run: tests/test_deep_experiments.py (default suite)
def test_cli_on_tiny_runs(tmp_path):
    sys.path.insert(0, REPO)
    from experiments import analysis as cli

    saved = _make_run(str(tmp_path / "ilif"), "ilif")
    _make_run(str(tmp_path / "lif"), "lif")
    built = []
    res = cli.main([str(tmp_path / "ilif"), "--compare", str(tmp_path / "lif"), "--batches", "2"],
                   builder=_tiny_builder(built))  # fmt: skip
    # the checkpoint (seed 0) replaced the builder's initialisation (seed 99)
    np.testing.assert_array_equal(built[0].stem.layer.kernel[...], saved.stem.layer.kernel[...])
    out = tmp_path / "ilif"
    for name in ("analysis.json", "analysis.md", "firing_rates.png", "over_half.png", "spike_counts.png"):
        assert (out / name).exists(), name
    data = json.loads((out / "analysis.json").read_text())
    assert data["labels"] == ["ilif", "lif"]
    assert data["ilif"]["samples"] == 8 and data["lif"]["samples"] == 8  # --batches 2 of 4
    assert res["run"]["mac_neuron_M"] == pytest.approx(2 * res["compare"]["mac_neuron_M"])
    assert 0.0 <= res["run"]["accuracy"] <= 1.0
    md = (out / "analysis.md").read_text()
    assert "rate ilif" in md and "rate lif" in md and "ILIF Table 5" in md


def test_vgg_pooled_spikes_are_accumulates_and_pooling_is_no_synapse():
    """VGG-11's average pools feed graded values (0, 1/4, ...) to the next conv: with
    ``nonbinary="ac"`` (the scripts' setting) that conv costs nonzero × fan-out ACs, and the
    adaptive pool of the head is not counted as a layer."""
    from snnjax import models

    m = models.SpikingVGG(
        ((8, "M"), (16, "M")),
        10,
        neuron="lif",
        pool_size=(2, 2),
        in_channels=2,
        rngs=nnx.Rngs(jax.random.key(0, impl="rbg")),
    )
    xs = (jax.random.uniform(jax.random.key(1), (3, 2, 16, 16, 2)) < 0.3).astype(jnp.float32) * 2.0
    res = A.analyse_model(lambda mm, b: mm(b, return_spikes=True), m, xs, batch_size=3, nonbinary="ac")
    syn = [r for r in res["records"] if r["kind"] == "synapse"]
    assert [r["name"] for r in syn] == ["conv 3x3 2->8", "conv 3x3 8->16", "dense 64->10"]
    pooled = syn[1]
    assert not pooled["binary"] and pooled["mac"] == 0 and pooled["ac"] == pooled["nonzero_ops"] > 0
