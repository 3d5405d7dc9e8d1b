"""The deep-network experiment scripts end to end on synthetic data (``--smoke``): both overfit
a tiny set, write every artefact, resume, and feed ``experiments/analysis.py``; the protocol
defaults are the papers'."""

import importlib.util
import json
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def ilif_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("ilif") / "run"
    summary = _load("ilif_cifar").main(["--smoke", "--results-dir", str(out), "--no-progress"])
    return out, summary


def test_ilif_smoke_overfits_and_writes_everything(ilif_smoke):
    out, summary = ilif_smoke
    assert summary["train_acc_eval_mode"] > 0.95
    for name in (
        "config.json",
        "metrics.jsonl",
        "metrics.csv",
        "final.json",
        "summary.json",
        "curves.png",
        "analysis.json",
        "analysis.md",
        "firing_rates.png",
        "spike_counts.png",
        "checkpoints",
    ):
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["neuron"] == "ilif" and config["surrogate"] == "rectangle" and config["tet_lambda"] == 0.05
    assert "ILIFParams" in config["neuron_params"] and "lambda_i=0.03" in config["neuron_params"]
    rows = _rows(out / "metrics.jsonl")
    assert len(rows) == config["epochs"] and all("test_rate_0" in r for r in rows)
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == pytest.approx(0.1) and lrs == sorted(lrs, reverse=True)  # cosine, per epoch
    a = summary["analysis"]
    assert a["samples"] == 32 and a["steps"] == 2
    assert a["ac_M"] > 0 and a["mac_neuron_M"] > 0
    # ILIF Table 5's convention: E = 0.9 pJ · AC + 4.6 pJ · neuron MACs
    assert a["energy_paper_uJ"] == pytest.approx(0.9 * a["ac_M"] + 4.6 * a["mac_neuron_M"], rel=1e-6)


def test_analysis_cli_restores_the_final_model(ilif_smoke, tmp_path):
    """``experiments/analysis.py RUN_DIR`` rebuilds the model from config.json, restores the last
    checkpoint and counts the same operations as the script did on the trained model."""
    out, summary = ilif_smoke
    res = _load("analysis").main([str(out), "--out", str(tmp_path), "--no-plots"])
    assert res["run"]["samples"] == summary["analysis"]["samples"] == 32
    assert res["run"]["ac_M"] == pytest.approx(summary["analysis"]["ac_M"], rel=1e-6)
    assert res["run"]["firing_rate"] == pytest.approx(summary["analysis"]["firing_rate"], rel=1e-6)
    assert (tmp_path / "analysis.md").exists() and (tmp_path / "analysis.json").exists()


@pytest.mark.slow  # fit's resume is checked bit-exact in test_train*.py; this is the script's flag
def test_ilif_smoke_resumes_where_it_stopped(ilif_smoke, tmp_path):
    out, _ = ilif_smoke
    mod = _load("ilif_cifar")
    config = json.loads((out / "config.json").read_text())
    # one more epoch on top of the finished run: only epoch 31 is trained
    mod.main(
        [
            "--smoke",
            "--results-dir",
            str(out),
            "--no-progress",
            "--resume",
            "--epochs",
            str(config["epochs"] + 1),
            "--analysis-batches",
            "0",
        ]
    )
    rows = _rows(out / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == list(range(config["epochs"] + 1))


@pytest.mark.slow  # ~70 s; the shared pipeline (deep.execute) runs in the ILIF smoke test of the default suite
def test_polara_smoke_overfits(tmp_path):
    summary = _load("polara_cifar").main(
        ["--smoke", "--results-dir", str(tmp_path / "p"), "--no-progress", "--analysis-batches", "1"]
    )
    assert summary["train_acc_eval_mode"] > 0.95
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["grad"] == "mask" and config["window"] == 6 and "PolaraParams" in config["neuron_params"]
    assert "grad='mask'" in config["neuron_params"]


@pytest.mark.parametrize("dataset", ["dvs_gesture", pytest.param("cifar10_dvs", marks=pytest.mark.slow)])
def test_ilif_smoke_on_event_frames(tmp_path, dataset):
    summary = _load("ilif_cifar").main(
        [
            "--smoke",
            "--dataset",
            dataset,
            "--results-dir",
            str(tmp_path / "d"),
            "--no-progress",
            "--epochs",
            "2",
            "--analysis-batches",
            "1",
        ]
    )
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert config["arch"] == "vgg11" and config["lambda_i"] == (0.05 if dataset == "dvs_gesture" else 0.03)
    assert config["flip"] == ("off" if dataset == "dvs_gesture" else "on")
    assert summary["analysis"]["steps"] == 2


def test_ilif_protocol_defaults_are_table_4():
    mod = _load("ilif_cifar")
    expect = {  # ILIF Table 4 + NEURONS.md
        "cifar10": (128, 200, 0.1, 5e-5, 0.1, 0.03, 4, "preact_resnet18"),
        "cifar100": (128, 200, 0.1, 5e-4, 0.1, 0.03, 4, "preact_resnet18"),
        "cifar10_dvs": (128, 200, 0.05, 5e-4, 0.3, 0.03, 10, "vgg11"),
        "dvs_gesture": (16, 200, 0.1, 5e-4, 0.4, 0.05, 20, "vgg11"),
    }
    for ds, (bs, ep, lr, wd, drop, li, T, arch) in expect.items():
        a = mod.parse(["--dataset", ds, "--results-dir", "x"])
        assert (a.batch_size, a.epochs, a.lr, a.weight_decay, a.dropout, a.lambda_i, a.T, a.arch) == (
            bs,
            ep,
            lr,
            wd,
            drop,
            li,
            T,
            arch,
        ), ds
        assert a.seed == 1234 and a.tau == 1.1 and a.lambda_u == 1.0 and a.tet_lambda == 0.05
        assert a.frame_size == {"cifar10_dvs": 48}.get(ds)  # SLTT: DVS-CIFAR10 at 48x48, Gesture at 128
    a = mod.parse(["--results-dir", "x", "--T", "6", "--surrogate", "sigmoid", "--gamma", "4", "--lr", "0.05"])
    assert (a.T, a.surrogate, a.gamma, a.lr) == (6, "sigmoid", 4.0, 0.05)
    b = _load("polara_cifar").parse(["--results-dir", "x"])
    assert (b.T, b.epochs, b.lr, b.milestones, b.lr_gamma, b.window, b.grad) == (
        50,
        70,
        0.0628,
        (50, 60),
        0.1,
        6,
        "mask",
    )


def test_ablation_and_surrogate_reach_the_neurons():
    mod = _load("ilif_cifar")
    for ablation, (mpiu, ciu) in {
        "none": (True, True),
        "no_mpiu": (False, True),
        "no_ciu": (True, False),
        "neither": (False, False),
    }.items():
        args = mod.parse(["--results-dir", "x", "--ablation", ablation, "--gamma", "2.5"])
        p = mod.neuron_factory(args)().params()
        assert (p.use_mpiu, p.use_ciu) == (mpiu, ciu)
        assert p.surrogate.name == "rectangle" and float(p.surrogate.width) == 2.5
    p = mod.neuron_factory(mod.parse(["--results-dir", "x", "--neuron", "iplif"]))().params()
    assert type(p).__name__ == "IPLIFParams" and float(1 / (1 - 1 / (1 + np.exp(-float(p.w))))) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--neuron", "lif", "--ablation", "no_mpiu"], "--ablation applies"),
        (["--T", "0"], "--T must be a positive int"),
        (["--dropout", "1.0"], "--dropout must lie in"),
        (["--holdout", "1.5"], "--holdout must lie in"),
        (["--devices", "3", "--batch-size", "128"], "multiple of --devices"),
        (["--devices", "2", "--eval-batch-size", "255"], "--eval-batch-size (255) must be a multiple of --devices"),
        (["--arch", "vgg11", "--widths", "8,16"], "--widths / --blocks apply"),
    ],
)
def test_ilif_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        _load("ilif_cifar").parse(["--results-dir", "x", *argv])
    assert message in capsys.readouterr().err


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--data-dir is required for cifar10"):
        _load("ilif_cifar").main(["--dataset", "cifar10", "--results-dir", str(tmp_path / "r"), "--epochs", "1"])


@pytest.mark.slow
def test_ilif_smoke_in_bfloat16(tmp_path):
    """``--bf16``: bfloat16 compute with float32 parameters and optimiser, end to end."""
    summary = _load("ilif_cifar").main(
        [
            "--smoke",
            "--bf16",
            "--epochs",
            "2",
            "--results-dir",
            str(tmp_path / "b"),
            "--no-progress",
            "--analysis-batches",
            "1",
        ]
    )
    assert np.isfinite(summary["train_acc_eval_mode"])
    assert json.loads((tmp_path / "b" / "config.json").read_text())["bf16"] is True
