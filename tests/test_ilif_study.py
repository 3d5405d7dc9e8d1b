"""experiments/ilif_study.py (issue 16): the queue, resuming, and the report's statistics.

The report is checked on hand-made run directories whose numbers are known, so a wrong
mean, std, row or unit fails; the runner is checked on the ``tiny`` scale (real Fashion-MNIST,
a few hundred images, a 4/8-channel network, 2 epochs; ``slow``: a few minutes, mostly XLA compiles), and its
queue on stand-in jobs (seconds)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXP = os.path.join(os.path.dirname(HERE), "experiments")
DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data", "fashion_mnist")


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXP, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


study = _load("ilif_study")


# --------------------------------------------------------------------------- the plan


def test_full_plan_lists_every_comparison_and_the_gamma_sweep():
    runs = study.plan("full")
    names = [r.name for r in runs]
    assert len(names) == len(set(names)) == 32
    compare = [r for r in runs if "compare" in r.groups]
    fashion = [r for r in compare if r.dataset == "fashion_mnist"]
    assert len(fashion) == 7 * 3 and {r.seed for r in fashion} == {0, 1, 2}
    assert {r.neuron for r in fashion} == {"lif", "ilif", "clif", "ilif_no_mpiu", "ilif_no_ciu", "plif", "iplif"}
    mnist = [r for r in compare if r.dataset == "mnist"]
    assert {(r.neuron, r.seed) for r in mnist} == {("lif", 0), ("ilif", 0), ("clif", 0)}
    assert {r.gamma for r in compare} == {1.0}
    gamma = [r for r in runs if "gamma" in r.groups]
    assert {(r.neuron, r.gamma) for r in gamma} == {(n, g) for n in ("lif", "ilif") for g in (0.5, 1, 2, 3, 4)}
    assert {r.dataset for r in gamma} == {"fashion_mnist"} and len(gamma) == 2 * 5  # seed 0
    # the γ = 1 points of the sweep are the comparison runs (one run, both groups)
    assert study.Run("lif", "fashion_mnist", 1.0, 0).name in names
    both = [r for r in runs if r.groups == ("compare", "gamma")]
    assert len(both) == 2
    # the first sizing keeps its shape, so that its runs are still read back
    assert len(study.plan("v1")) == 58
    # seed-major: every seed-0 run comes before any seed-1 run
    seeds = [r.seed for r in runs]
    assert seeds == sorted(seeds)


def test_plan_cli_prints_the_tiny_queue_with_commands(capsys, tmp_path):
    assert study.main(["--scale", "tiny", "plan", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    rows = [line.split("\t") for line in out if not line.startswith("#")]
    assert [r[0] for r in rows] == ["lif__fashion_mnist__g1__s0", "ilif__fashion_mnist__g1__s0",
                                    "lif__fashion_mnist__g2__s0"]  # fmt: skip
    assert [r[1] for r in rows] == ["compare,gamma", "compare", "gamma"]
    cmd = rows[2][3]
    for flag in ("--neuron lif", "--gamma 2", "--surrogate rectangle", "--holdout 0.1", "--T 4", "--resume",
                 "--arch preact_resnet", "--blocks 1,1", "--widths 4,8", "--seed 0", "--train-subset 300"):  # fmt: skip
        assert flag in cmd
    assert "--test-after" not in cmd  # the test set is the separate last stage
    assert out[-1] == "# 3 runs, scale tiny"


def test_commands_parse_and_reach_the_neuron():
    sys.path.insert(0, EXP)
    import ilif_cifar

    for run in study.plan("full"):
        args = ilif_cifar.parse(study.train_argv(run, "/tmp/r", "full"))
        assert args.gamma == run.gamma and args.seed == run.seed and args.T == 4 and args.tau == 1.1
        assert args.holdout == 0.1 and args.no_augment and args.tet_lambda == 0.05 and args.widths == (8, 16, 32)
        assert args.max_steps_per_epoch == 60 and args.epochs == 8 and args.train_subset is None
        assert args.batch_size == 64
        assert args.ablation == {"ilif_no_mpiu": "no_mpiu", "ilif_no_ciu": "no_ciu"}.get(run.neuron, "none")


def test_only_selects_by_pattern_and_group():
    runs = study.plan("full")
    assert {r.name for r in study._select(runs, "ilif__*__s1")} == {"ilif__fashion_mnist__g1__s1"}
    assert len(study._select(runs, "gamma")) == 10
    assert len(study._select(runs, "gamma,clif__*")) == 14


# --------------------------------------------------------------------------- the report on hand-made runs


def _fake_run(root, run, *, acc, rate, over, per_layer, steps, grad, test=None, ac=1.0, epochs=3):
    d = study.run_dir(str(root), run)
    os.makedirs(os.path.join(d, "checkpoints", str(epochs - 1)), exist_ok=True)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for e in range(epochs):
            f.write(json.dumps({"epoch": e, "test_acc": acc if e == epochs - 1 else 0.1}) + "\n")
    summary = {"eval_acc": acc, "epochs": epochs, "analysis": {
        "firing_rate": rate, "over_half": over, "firing_rates": per_layer, "ac_M": ac, "mac_M": 2.0,
        "energy_uJ": 0.9e-6 * ac * 1e6 + 9.2e-6, "energy_paper_uJ": 3.0}}  # fmt: skip
    if test is not None:
        summary["test_acc"] = test
    Path(os.path.join(d, "summary.json")).write_text(json.dumps(summary))
    layers = [{"counts_per_step": s} for s in steps]
    Path(os.path.join(d, "analysis.json")).write_text(
        json.dumps({"labels": ["run"], "run": {"spikes": {"layers": layers}}})
    )
    gn = {"init": {"first_layer": 10 * grad}, "final": {"first_layer": grad}}
    Path(os.path.join(d, "gradnorm.json")).write_text(json.dumps(gn))
    Path(os.path.join(d, "done.json")).write_text(json.dumps({"name": run.name}))
    return d


def test_report_means_and_stds_of_hand_made_runs(tmp_path):
    runs = study.plan("tiny")
    R = study.Run
    # LIF γ=1 with three seeds: hold-out 0.80 / 0.82 / 0.84 -> 82.00 ± 2.00
    for s, (acc, rate) in enumerate([(0.80, 0.10), (0.82, 0.20), (0.84, 0.30)]):
        _fake_run(tmp_path, R("lif", "fashion_mnist", 1.0, s), acc=acc, rate=rate, over=0.05 * (s + 1),
                  per_layer=[0.1 * (s + 1), 0.2], steps=[[10, 20, 30, 40], [1, 1, 1, 1]], grad=0.5 * (s + 1),
                  test=0.70 + 0.01 * s)  # fmt: skip
    # ILIF with one seed only: a mean, no std
    _fake_run(tmp_path, R("ilif", "fashion_mnist", 1.0, 0), acc=0.9, rate=0.05, over=0.01, per_layer=[0.04, 0.06],
              steps=[[40, 10, 5, 5], [2, 0, 0, 0]], grad=0.25)  # fmt: skip
    # an unfinished run (no done.json) is not counted
    d = _fake_run(tmp_path, R("lif", "fashion_mnist", 2.0, 0), acc=0.99, rate=0.99, over=0.9, per_layer=[1, 1],
                  steps=[[0] * 4, [0] * 4], grad=1.0)  # fmt: skip
    os.remove(os.path.join(d, "done.json"))
    runs_all = runs + [R("lif", "fashion_mnist", 1.0, 1, ("compare", "gamma")),
                       R("lif", "fashion_mnist", 1.0, 2, ("compare", "gamma"))]  # fmt: skip
    out = tmp_path / "rep"
    md = study.report(str(tmp_path), runs_all, str(out))

    rows = {}  # the comparison table comes first (the per-step table has LIF / ILIF rows too)
    for line in md.splitlines():
        if line.startswith(("| LIF |", "| ILIF |")):
            rows.setdefault(line.split("|")[1].strip(), [c.strip() for c in line.split("|")[2:-1]])
    lif = rows["LIF"]
    assert lif[0] == "82.00 ± 2.00"  # hold-out acc (%)
    assert lif[1] == "71.00 ± 1.00"  # test acc (%)
    assert lif[2] == "20.00 ± 10.00"  # firing rate (%)
    assert lif[3] == "10.00 ± 5.00"  # > T/2 share (%)
    assert lif[8] == "1.0000 ± 0.5000"  # final first-layer grad norm
    assert lif[9] == "3"
    ilif = rows["ILIF"]
    assert ilif[0] == "90.00" and ilif[1] == "—" and ilif[2] == "5.00" and ilif[9] == "1"
    assert "Runs finished: 4 of 5" in md

    tables = _load_json(out / "tables.json")
    t = tables["lif|fashion_mnist|1"]
    np.testing.assert_allclose(t["holdout_acc"][:2], [0.82, np.std([0.80, 0.82, 0.84], ddof=1)])
    assert t["holdout_acc"][2] == 3 and sorted(t["seeds"]) == [0, 1, 2]
    np.testing.assert_allclose(t["firing_rates"][0], [0.2, 0.2])  # per layer, mean over seeds
    np.testing.assert_allclose(t["firing_rates"][1], [0.1, 0.0], atol=1e-12)  # per layer, std over seeds
    np.testing.assert_allclose(t["spikes_per_step"][0], [11, 21, 31, 41])  # summed over layers
    assert "lif|fashion_mnist|2" not in tables  # unfinished
    # per-layer and per-step tables
    assert "| 0 | 20.00 ± 10.00 | 4.00 |" in md
    assert "| ILIF | 42 | 10 | 5 | 5 |" in md
    # γ sweep: γ = 1 from the comparison runs, γ = 2 unfinished
    sweep = md.split("### γ sweep")[1].splitlines()
    g1 = next(line for line in sweep if line.startswith("| 1 |"))
    assert g1.startswith("| 1 | 82.00 ± 2.00 | 20.00 ± 10.00 | 10.0000 ± 5.0000 | 1.0000 ± 0.5000 |")
    assert next(line for line in sweep if line.startswith("| 2 |")).startswith("| 2 | — | — | — | — | 0 |")
    for png in (
        "gamma_sweep.png",
        "gradnorm_vs_gamma.png",
        "layer_rates_fashion_mnist.png",
        "spikes_per_step_fashion_mnist.png",
    ):
        assert (out / png).stat().st_size > 1000


def test_mean_std_and_fmt():
    assert study.mean_std([1.0, 2.0, 3.0, None]) == (2.0, 1.0, 3)
    m, s, n = study.mean_std([0.5])
    assert (m, n) == (0.5, 1) and np.isnan(s)
    assert study.fmt(study.mean_std([0.5])) == "0.50"
    assert study.fmt(study.mean_std([0.1, 0.3]), 100) == "20.00 ± 14.14"
    assert study.fmt(study.mean_std([])) == "—"


def test_status_of_fresh_partial_running_and_done_runs(tmp_path):
    run = study.plan("tiny")[0]
    d = study.run_dir(str(tmp_path), run)
    assert study.status(str(tmp_path), run) == "todo"
    os.makedirs(os.path.join(d, "checkpoints", "0"))
    assert study.status(str(tmp_path), run) == "partial"
    with open(os.path.join(d, "lock"), "w") as f:
        f.write(str(os.getppid()))  # a live process
    assert study.status(str(tmp_path), run) == "running"
    with open(os.path.join(d, "lock"), "w") as f:
        f.write("999999999")  # a dead one
    assert study.status(str(tmp_path), run) == "partial"
    Path(d, "done.json").write_text("{}")
    assert study.status(str(tmp_path), run) == "done"


def test_a_run_made_with_other_sizes_is_neither_resumed_nor_counted_done(tmp_path):
    root = str(tmp_path)
    run = study.plan("tiny")[0]
    d = study.run_dir(root, run)
    os.makedirs(os.path.join(d, "checkpoints", "0"))
    s = study.SCALES["tiny"]
    config = {"epochs": s["epochs"], "batch_size": s["batch_size"], "max_steps_per_epoch": s["max_steps"],
              "train_subset": s["train_subset"], "widths": list(s["widths"])}  # fmt: skip
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    assert study.sizing_mismatch(root, run, "tiny") is None
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(dict(config, epochs=4, batch_size=128), f)
    Path(d, "done.json").write_text("{}")
    why = study.sizing_mismatch(root, run, "tiny")
    assert "epochs=4 (scale 'tiny': 2)" in why and "batch_size=128" in why
    lines = []
    codes = study.execute(root, [run], scale="tiny", jobs=1, poll=0.01, log=lines.append,
                          job_argv=lambda r: [sys.executable, "-c", "raise SystemExit(9)"])  # fmt: skip
    assert codes == {run.name: 2} and lines[1].startswith(f"skip  {run.name} (made with other sizes: epochs=4")
    with pytest.raises(ValueError, match="made with other sizes"):
        study.job(root, run.name, "tiny", "train")


# --------------------------------------------------------------------------- the runner on the tiny subset


needs_data = pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")),
                                reason="../shared/data/fashion_mnist is not here")  # fmt: skip


FAKE_JOB = r"""
import json, os, sys
d = sys.argv[1]
os.makedirs(os.path.join(d, "checkpoints", "0"), exist_ok=True)
with open(os.path.join(d, "calls"), "a") as f:
    f.write("x")
if os.path.basename(d).startswith("ilif__") and not os.path.exists(os.path.join(d, "killed_once")):
    open(os.path.join(d, "killed_once"), "w").close()
    sys.exit(137)  # killed mid-run: a checkpoint, no done.json
json.dump({}, open(os.path.join(d, "done.json"), "w"))
"""


def test_queue_runs_in_parallel_skips_done_and_retries_partial(tmp_path):
    root = str(tmp_path / "q")
    runs = study.plan("tiny")
    script = tmp_path / "job.py"
    script.write_text(FAKE_JOB)

    def argv(run):
        return [sys.executable, str(script), study.run_dir(root, run)]

    lines = []
    codes = study.execute(root, runs, scale="tiny", jobs=2, poll=0.05, log=lines.append, job_argv=argv)
    assert codes == {"lif__fashion_mnist__g1__s0": 0, "ilif__fashion_mnist__g1__s0": 137,
                     "lif__fashion_mnist__g2__s0": 0}  # fmt: skip
    assert lines[0] == "3 runs to do (train), 2 at a time"
    assert [study.status(root, r) for r in runs] == ["done", "partial", "done"]
    # restart: only the killed run goes again
    codes = study.execute(root, runs, scale="tiny", jobs=2, poll=0.05, log=lines.append, job_argv=argv)
    assert codes == {"ilif__fashion_mnist__g1__s0": 0}
    assert [Path(study.run_dir(root, r), "calls").read_text() for r in runs] == ["x", "xx", "x"]
    assert all(study.status(root, r) == "done" for r in runs)
    assert study.execute(root, runs, scale="tiny", jobs=2, poll=0.05, log=lines.append, job_argv=argv) == {}
    assert "log.txt" in os.listdir(study.run_dir(root, runs[0]))


@pytest.mark.slow
@needs_data
def test_tiny_runs_execute_resume_and_report(tmp_path):
    root = str(tmp_path / "study")
    pick = "lif__fashion_mnist__g1__s0,ilif__fashion_mnist__g1__s0"
    assert study.main(["--scale", "tiny", "run", root, "--jobs", "2", "--only", pick]) == 0
    runs = {r.name: r for r in study.plan("tiny")}
    lif, ilif = runs["lif__fashion_mnist__g1__s0"], runs["ilif__fashion_mnist__g1__s0"]
    for r in (lif, ilif):
        d = study.run_dir(root, r)
        assert study.status(root, r) == "done"
        assert [row["epoch"] for row in study.metrics_rows(d)] == [0, 1]
        gn = _load_json(os.path.join(d, "gradnorm.json"))
        assert gn["checkpoint_epoch"] == 1 and gn["init"]["first_layer"] > 0 and gn["final"]["first_layer"] > 0
        assert gn["init"]["first_layer_name"].startswith("stem")
        summary = _load_json(os.path.join(d, "summary.json"))
        assert summary["eval_set"] == "holdout 0.1 of train" and "test_acc" not in summary
        assert _load_json(os.path.join(d, "config.json"))["n_eval"] == 30  # 10 % of 300
    assert study.status(root, runs["lif__fashion_mnist__g2__s0"]) == "todo"

    # a run killed after its first epoch: the last checkpoint, its metrics row and every
    # later output gone; the runner retrains epoch 2 only
    d = study.run_dir(root, lif)
    final_before = _load_json(os.path.join(d, "summary.json"))["eval_acc"]
    shutil.rmtree(os.path.join(d, "checkpoints", "1"))
    rows = study.metrics_rows(d)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        f.write(json.dumps(rows[0]) + "\n")
    for f in ("summary.json", "gradnorm.json", "done.json", "final.json"):
        os.remove(os.path.join(d, f))
    assert study.status(root, lif) == "partial"
    mtime = os.path.getmtime(os.path.join(study.run_dir(root, ilif), "done.json"))
    assert study.main(["--scale", "tiny", "run", root, "--jobs", "2", "--only", pick]) == 0
    assert study.status(root, lif) == "done"
    assert os.path.getmtime(os.path.join(study.run_dir(root, ilif), "done.json")) == mtime  # skipped
    assert [row["epoch"] for row in study.metrics_rows(d)] == [0, 1]
    log = Path(d, "log.txt").read_text()
    assert "resumed from the checkpoint of epoch 1" in log
    # exact resume: the same final hold-out accuracy as the uninterrupted run
    assert _load_json(os.path.join(d, "summary.json"))["eval_acc"] == final_before

    # the test stage: the comparison runs once on the (cut) test set, nothing retrained
    assert study.main(["--scale", "tiny", "test", root, "--only", pick]) == 0
    for r in (lif, ilif):
        s = _load_json(os.path.join(study.run_dir(root, r), "summary.json"))
        assert 0.0 <= s["test_acc"] <= 1.0 and s["n_test"] == 100 and s["test_set"] == "test"
        assert [row["epoch"] for row in study.metrics_rows(study.run_dir(root, r))] == [0, 1]

    out = tmp_path / "report"
    md = study.report(root, list(runs.values()), str(out))
    assert "Runs finished: 2 of 3" in md
    assert md.count("| LIF |") == 2 and md.count("| ILIF |") == 2  # comparison + per-step tables
    assert (out / "layer_rates_fashion_mnist.png", "spikes_per_step_fashion_mnist.png").exists()


def test_test_after_needs_a_holdout(capsys):
    sys.path.insert(0, EXP)
    import ilif_cifar

    with pytest.raises(SystemExit):
        ilif_cifar.parse(["--results-dir", "x", "--dataset", "mnist", "--test-after"])
    assert "--test-after needs --holdout" in capsys.readouterr().err
    assert ilif_cifar.parse(["--results-dir", "x", "--dataset", "mnist", "--holdout", "0.1", "--test-after"]).test_after
