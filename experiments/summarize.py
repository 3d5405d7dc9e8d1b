"""Summarise POLARA MNIST-family runs into a Markdown table (for experiments/RESULTS.md).

    python experiments/summarize.py RESULTS_ROOT [RESULTS_ROOT ...]

For every run directory (one holding ``config.json`` and ``metrics.jsonl``)
prints: run, neuron, dataset, ablation, epochs done, best and final test
accuracy, the paper's number for that row, the gap, total training wall time,
and the command that reproduces it.
"""

from __future__ import annotations

import json
import os
import sys

PAPER = {  # POLARA paper, Table 1 (40 epochs) and Table 2 (MNIST ablations)
    ("polara", "mnist", None): 97.49,
    ("spytorch-lif", "mnist", None): 96.39,
    ("polara", "fashion_mnist", None): 88.78,
    ("spytorch-lif", "fashion_mnist", None): 85.00,
    ("polara", "emnist", None): 85.12,
    ("spytorch-lif", "emnist", None): 83.18,
    ("polara", "mnist", "decay_amplification"): 45.18,
    ("polara", "mnist", "activation"): 96.80,
    ("polara", "mnist", "refractory"): 94.24,
    ("polara", "mnist", "threshold"): 94.25,
}


def runs(root: str):
    for dirpath, _, files in sorted(os.walk(root)):
        if "config.json" in files and "metrics.jsonl" in files:
            yield dirpath


def row(path: str) -> dict:
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(path, "metrics.jsonl")) as f:
        metrics = [json.loads(line) for line in f if line.strip()]
    acc = [100 * m["test_acc"] for m in metrics]
    key = (cfg["neuron"], cfg["dataset"], cfg.get("ablation"))
    paper = PAPER.get(key)
    return {
        "run": os.path.basename(path),
        "neuron": cfg["neuron"] + (f" ({cfg['grad']})" if cfg["neuron"] == "polara" else ""),
        "dataset": cfg["dataset"],
        "ablation": cfg.get("ablation") or "-",
        "epochs": f"{len(metrics)}/{cfg['epochs']}",
        "final": acc[-1] if acc else float("nan"),
        "best": max(acc) if acc else float("nan"),
        "paper": paper,
        "gap": (acc[-1] - paper) if (acc and paper is not None) else None,
        "hours": sum(m["epoch_time_s"] for m in metrics) / 3600,
        "ws": cfg.get("ws"),
        "command": f"python experiments/polara_mnist.py --neuron {cfg['neuron']} --dataset {cfg['dataset']}"
        + (f" --ablation {cfg['ablation']}" if cfg.get("ablation") else "")
        + (f" --grad {cfg['grad']}" if cfg["neuron"] == "polara" else "")
        + " --results-dir <dir>",
        "machine": cfg.get("machine", ""),
    }


def main(argv=None) -> None:
    roots = (argv or sys.argv[1:]) or ["runs"]
    rows = [row(p) for r in roots for p in runs(r)]
    print("| run | neuron | dataset | ablation | epochs | final test % | best test % | paper % | gap | train h | ws |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        paper = f"{r['paper']:.2f}" if r["paper"] is not None else "-"
        gap = f"{r['gap']:+.2f}" if r["gap"] is not None else "-"
        print(
            f"| {r['run']} | {r['neuron']} | {r['dataset']} | {r['ablation']} | {r['epochs']} | {r['final']:.2f} | "
            f"{r['best']:.2f} | {paper} | {gap} | {r['hours']:.2f} | {r['ws']:.3g} |"
        )
    print()
    for r in rows:
        print(f"- `{r['run']}` ({r['machine']}): `{r['command']}`")


if __name__ == "__main__":
    main()
