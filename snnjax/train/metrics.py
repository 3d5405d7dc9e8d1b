"""Metrics over time-major outputs, and per-epoch metric files (JSON lines + CSV)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["firing_rate", "MetricsWriter"]


def firing_rate(spikes: jax.Array) -> jax.Array:
    """Mean output per neuron and step, ``spikes [T, B, ...]`` -> scalar.

    For binary spikes this is the firing rate; for continuous outputs (POLARA)
    it is the mean activation. Use ``(spikes > 0).mean()`` for POLARA's
    fraction of active steps.
    """
    return jnp.mean(spikes)


class MetricsWriter:
    """Append one row per epoch to ``metrics.jsonl`` and ``metrics.csv`` in ``out_dir``.

    ``truncate(epoch)`` drops rows with ``epoch > epoch`` (used on resume so the
    files describe exactly the epochs the restored state has seen).
    """

    def __init__(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        self.jsonl = os.path.join(out_dir, "metrics.jsonl")
        self.csv = os.path.join(out_dir, "metrics.csv")

    def rows(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.jsonl):
            return []
        with open(self.jsonl) as f:
            return [json.loads(line) for line in f if line.strip()]

    def truncate(self, epoch: int) -> None:
        rows = [r for r in self.rows() if r["epoch"] <= epoch]
        for path in (self.jsonl, self.csv):
            if os.path.exists(path):
                os.remove(path)
        for r in rows:
            self.write(r)

    def write(self, row: Mapping[str, Any]) -> None:
        row = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        new = not os.path.exists(self.csv)
        with open(self.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)


def flatten_rates(rates: Sequence[Any]) -> dict[str, float]:
    """``[r0, r1, ...] -> {"rate_0": r0, ...}``."""
    return {f"rate_{i}": float(r) for i, r in enumerate(rates)}
