"""POLARA fidelity study (issue #8): short runs of the paper's open readings, selected on a hold-out.

Every reading is a set of ``polara_mnist.py`` flags (see ``READINGS``); each run
trains on 90 % of the training set and evaluates on the fixed 10 % hold-out
(``--holdout 0.1``), never on the test set. Runs are independent processes,
``--jobs`` at a time, each resumable from its per-epoch checkpoints; finished
runs are skipped, so the same command continues an interrupted study.

    python experiments/polara_study.py --root runs/polara_study --epochs 5 --seeds 0 1 2 \\
        --datasets mnist fashion_mnist --readings lif neurons_md eq13 mask binary recovery eq8_9
    python experiments/polara_study.py --root runs/polara_study --epochs 5 --summarize > table.md

The summary table gives the hold-out accuracy after the last epoch, mean ± std
over the seeds that finished, per reading and data set.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (polara_mnist.py flags, what the reading is)
READINGS = {
    "lif": (["--neuron", "spytorch-lif"], "spytorch-LIF baseline, same pipeline"),
    "neurons_md": (
        ["--neuron", "polara", "--grad", "exact"],
        "NEURONS.md reading: exact autodiff, ws 2.0, continuous s, Alg. 1 order",
    ),
    "eq13": (["--neuron", "polara", "--grad", "eq13"], "Eq. 13 derivative (ws 2.0)"),
    "mask": (["--neuron", "polara", "--grad", "mask"], "Eq. 17 mask gradient (ws 0.67, spytorch init)"),
    "mask_ws2": (["--neuron", "polara", "--grad", "mask", "--ws", "2.0"], "Eq. 17 mask gradient, ws 2.0"),
    "binary": (
        ["--neuron", "polara", "--grad", "exact", "--output", "binary"],
        "binary spikes to the next layer (exact grad, straight through)",
    ),
    "recovery": (
        ["--neuron", "polara", "--grad", "exact", "--theta-tau", "6"],
        "threshold relaxes to ϑ0 with τ_ϑ = k = 6",
    ),
    "eq8_9": (
        ["--neuron", "polara", "--grad", "exact", "--amplify", "before_input"],
        "Eqs. 8-9 order: δ from û_d, amplify, then add x",
    ),
    "window": (
        ["--neuron", "polara", "--grad", "exact", "--decay", "window"],
        "Alg. 1 l. 3: decay of a d(i)-weighted window of past membranes",
    ),
    "eq13_binary": (["--neuron", "polara", "--grad", "eq13", "--output", "binary"], "Eq. 13 + binary output"),
    "mask_binary": (["--neuron", "polara", "--grad", "mask", "--output", "binary"], "Eq. 17 mask + binary output"),
    "mask_recovery": (
        ["--neuron", "polara", "--grad", "mask", "--theta-tau", "6"],
        "Eq. 17 mask + threshold recovery τ_ϑ = 6",
    ),
    "mask_eq8_9": (
        ["--neuron", "polara", "--grad", "mask", "--amplify", "before_input"],
        "Eq. 17 mask + Eqs. 8-9 order",
    ),
    "mask_window": (["--neuron", "polara", "--grad", "mask", "--decay", "window"], "Eq. 17 mask + window decay"),
}


def run_dir(root: str, reading: str, dataset: str, seed: int) -> str:
    return os.path.join(root, f"{reading}__{dataset}__s{seed}")


def finished_epochs(d: str) -> int:
    try:
        with open(os.path.join(d, "metrics.jsonl")) as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


def command(args, reading: str, dataset: str, seed: int) -> list[str]:
    flags, _ = READINGS[reading]
    return [
        sys.executable, os.path.join(HERE, "polara_mnist.py"), *flags,
        "--dataset", dataset, "--seed", str(seed), "--epochs", str(args.epochs),
        "--holdout", str(args.holdout), "--results-dir", run_dir(args.root, reading, dataset, seed),
        "--resume", "--no-progress",
    ]  # fmt: skip


def run_all(args) -> None:
    # seed-major order: every reading gets seed 0 before any gets seed 1
    todo = [
        (r, d, s)
        for s, d, r in itertools.product(args.seeds, args.datasets, args.readings)
        if finished_epochs(run_dir(args.root, r, d, s)) < args.epochs
    ]
    print(f"{len(todo)} runs to do, {args.jobs} at a time", flush=True)
    running: list[tuple[subprocess.Popen, str]] = []
    jobs_file = os.path.join(args.root, "JOBS")  # write a number here to change --jobs while running
    while todo or running:
        jobs = args.jobs
        if os.path.exists(jobs_file):
            with open(jobs_file) as f:
                jobs = int(f.read().strip() or jobs)
        while todo and len(running) < jobs:
            r, d, s = todo.pop(0)
            out = run_dir(args.root, r, d, s)
            os.makedirs(out, exist_ok=True)
            log = open(os.path.join(out, "log.txt"), "a")
            print(f"start {os.path.basename(out)} {time.strftime('%H:%M:%S')}", flush=True)
            running.append((subprocess.Popen(command(args, r, d, s), stdout=log, stderr=subprocess.STDOUT), out))
        time.sleep(5)
        for proc, out in list(running):
            if proc.poll() is not None:
                running.remove((proc, out))
                print(f"done  {os.path.basename(out)} rc={proc.returncode} {time.strftime('%H:%M:%S')}", flush=True)


def _seed_accuracies(args, reading: str, dataset: str) -> dict[int, float]:
    """Hold-out accuracy (%) after ``args.epochs`` epochs of every seed that got that far."""
    out = {}
    for s in args.seeds:
        rd = run_dir(args.root, reading, dataset, s)
        if finished_epochs(rd) >= args.epochs:
            with open(os.path.join(rd, "metrics.jsonl")) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            out[s] = 100 * rows[args.epochs - 1]["test_acc"]
    return out


def summarize(args) -> str:
    lines = [
        f"Hold-out accuracy (%) after {args.epochs} epochs, mean ± std (ddof 1) over seeds (n = seeds finished).",
        "",
        "| reading | what | " + " | ".join(args.datasets) + " |",
        "|---|---|" + "---|" * len(args.datasets),
    ]
    for r in args.readings:
        cells = []
        for d in args.datasets:
            accs = list(_seed_accuracies(args, r, d).values())
            if accs:
                spread = f" ± {np.std(accs, ddof=1):.2f}" if len(accs) > 1 else ""
                cells.append(f"{np.mean(accs):.2f}{spread} (n={len(accs)})")
            else:
                cells.append("—")
        lines.append(f"| `{r}` | {READINGS[r][1]} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed (hold-out %, seed: accuracy):", ""]
    for r in args.readings:
        for d in args.datasets:
            got = [f"s{s}: {acc:.2f}" for s, acc in _seed_accuracies(args, r, d).items()]
            if got:
                lines.append(f"- `{r}` {d}: " + ", ".join(got))
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True)
    p.add_argument("--readings", nargs="+", choices=sorted(READINGS), default=list(READINGS))
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--jobs", type=int, default=2, help="parallel runs (ROOT/JOBS, if present, overrides it live)")
    p.add_argument("--summarize", action="store_true", help="print the table of finished runs and exit")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
