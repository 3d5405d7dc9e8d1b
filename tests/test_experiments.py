"""The POLARA experiment scripts on the shipped MNIST subset (no network, a few seconds)."""

import importlib.util
import json
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(REPO, "experiments", "data", "mnist_small")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_holdout_split_is_fixed_disjoint_and_complete():
    pm = _load("polara_mnist")
    x = np.arange(1000)[:, None] * np.ones((1, 3), np.int64)
    y = np.arange(1000) % 10
    a = pm.holdout_split(x, y, 0.1)
    b = pm.holdout_split(x, y, 0.1)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)  # the same split every call (seed-independent)
    x_fit, y_fit, x_out, y_out = a
    assert len(y_out) == 100 and len(y_fit) == 900
    ids_fit, ids_out = set(x_fit[:, 0]), set(x_out[:, 0])
    assert not ids_fit & ids_out and ids_fit | ids_out == set(range(1000))
    np.testing.assert_array_equal(y_out, x_out[:, 0] % 10)  # labels stay with their images
    assert not np.array_equal(np.sort(x_out[:, 0]), np.arange(100))  # random, not the first 10 %


@pytest.mark.parametrize("extra", [[], ["--output", "binary", "--decay", "window", "--theta-tau", "6"]])
def test_polara_mnist_runs_on_holdout(tmp_path, extra):
    pm = _load("polara_mnist")
    out = tmp_path / "run"
    argv = ["--data-dir", SMALL, "--results-dir", str(out), "--epochs", "1", "--train-subset", "600",
            "--holdout", "0.2", "--num-steps", "32", "--no-progress", *extra]  # fmt: skip
    summary = pm.main(argv)
    config = json.loads((out / "config.json").read_text())
    assert config["eval_set"] == "holdout 0.2 of train" == summary["eval_set"]
    assert config["n_train"] == 480 and config["n_test"] == 120
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and 0.0 <= rows[0]["test_acc"] <= 1.0
    for name in ("curves.png", "raster.png", "final.json"):
        assert (out / name).exists(), name
    if extra:
        assert "output='binary'" in config["neuron_params"] and "decay='window'" in config["neuron_params"]
    else:
        # the diagnostics rebuild the run and restore its checkpoint: same accuracy on the same hold-out
        diag = _load("polara_diagnose").diagnose(str(out), n=1000)
        assert diag["epoch"] == 0 and diag["final"]["n_images"] == 120
        assert diag["final"]["accuracy"] == pytest.approx(rows[0]["test_acc"], abs=1e-9)
        for when in ("init", "final"):
            d = diag[when]
            assert 0.0 <= d["silent"] <= 1.0 and 0.0 < d["active_pairs"] <= 1.0 and d["rate"] > 0.0


def test_polara_mnist_rejects_polara_options_for_lif(tmp_path):
    pm = _load("polara_mnist")
    with pytest.raises(SystemExit):
        pm.parse(["--results-dir", str(tmp_path), "--neuron", "spytorch-lif", "--output", "binary"])
    with pytest.raises(SystemExit):
        pm.parse(["--results-dir", str(tmp_path), "--holdout", "1.5"])


def test_study_summary_is_mean_and_std_over_seeds(tmp_path):
    st = _load("polara_study")
    accs = {0: 0.90, 1: 0.92, 2: 0.97}
    for seed, acc in accs.items():
        d = st.run_dir(str(tmp_path), "mask", "mnist", seed)
        os.makedirs(d)
        with open(os.path.join(d, "metrics.jsonl"), "w") as f:
            f.write(json.dumps({"epoch": 0, "test_acc": 0.5}) + "\n")
            f.write(json.dumps({"epoch": 1, "test_acc": acc}) + "\n")
    # a run that did not finish its epochs is left out
    d = st.run_dir(str(tmp_path), "lif", "mnist", 0)
    os.makedirs(d)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        f.write(json.dumps({"epoch": 0, "test_acc": 0.5}) + "\n")
    table = st.summarize(
        st.main.__globals__["argparse"].Namespace(
            root=str(tmp_path), readings=["mask", "lif"], datasets=["mnist"], seeds=[0, 1, 2], epochs=2
        )
    )
    vals = [90.0, 92.0, 97.0]
    assert f"{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f} (n=3)" in table
    assert "- `mask` mnist: s0: 90.00, s1: 92.00, s2: 97.00" in table  # the per-seed values
    assert "| `lif` |" in table and "— |" in table.split("| `lif` |")[1]


@pytest.mark.parametrize("neuron", ["spytorch-lif", "polara"])
def test_event_input_gives_the_dense_training_curve(tmp_path, neuron):
    """Issue #7: the event-driven input layer trains exactly like the dense one (same seed):
    two epochs, the same per-epoch accuracies and losses (to float32 rounding)."""
    pm = _load("polara_mnist")
    rows = {}
    for mode in ("dense", "event"):
        out = tmp_path / mode
        argv = ["--data-dir", SMALL, "--results-dir", str(out), "--epochs", "2", "--train-subset", "512",
                "--num-steps", "32", "--neuron", neuron, "--input", mode, "--no-progress"]  # fmt: skip
        pm.main(argv)
        rows[mode] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows["dense"]) == len(rows["event"]) == 2
    for d, e in zip(rows["dense"], rows["event"]):
        assert e["train_acc"] == d["train_acc"] and e["test_acc"] == d["test_acc"]
        # float32 sums in another order: the losses agree to rounding, not bit for bit
        assert e["train_loss"] == pytest.approx(d["train_loss"], rel=1e-4)
        assert e["test_loss"] == pytest.approx(d["test_loss"], rel=1e-4)
    assert rows["event"][1]["train_loss"] < rows["event"][0]["train_loss"]  # it does train
