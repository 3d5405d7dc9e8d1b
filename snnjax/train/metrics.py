"""Metrics over time-major outputs, and per-epoch metric files (JSON lines + CSV)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from snnjax.validation import check_int, describe

__all__ = ["firing_rate", "MetricsWriter"]


def firing_rate(spikes: jax.Array) -> jax.Array:
    """Mean output per neuron and step, ``spikes [T, B, ...]`` -> scalar.

    For binary spikes this is the firing rate; for continuous outputs (POLARA)
    it is the mean activation. Use ``(spikes > 0).mean()`` for POLARA's
    fraction of active steps.

    Raises:
      TypeError: ``spikes`` is not a numeric (or bool) array.
      ValueError: ``spikes`` has rank < 2 (it must be time-major ``[T, B, ...]``).
    """
    dtype = getattr(spikes, "dtype", None)
    if dtype is None:
        spikes = jnp.asarray(spikes)
        dtype = spikes.dtype
    if not (jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_):
        raise TypeError(f"spikes must be a numeric array, got {describe(spikes)}")
    if jnp.ndim(spikes) < 2:
        raise ValueError(f"spikes must be time-major [T, B, ...] (rank >= 2), got shape {jnp.shape(spikes)}")
    return jnp.mean(spikes)


class MetricsWriter:
    """Append one row per epoch to ``metrics.jsonl`` and ``metrics.csv`` in ``out_dir``.

    ``truncate(epoch)`` drops rows with ``epoch > epoch`` (used on resume so the
    files describe exactly the epochs the restored state has seen). A final line cut
    short by a killed write is ignored by :meth:`rows` (and dropped by ``truncate``);
    any other unreadable line raises ``ValueError`` naming the file and line.
    """

    def __init__(self, out_dir: str | os.PathLike):
        if not isinstance(out_dir, (str, os.PathLike)):
            raise TypeError(f"out_dir must be a str or os.PathLike, got {describe(out_dir)}")
        out_dir = os.fspath(out_dir)
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise ValueError(f"out_dir must be a directory, got the file {out_dir!r}")
        os.makedirs(out_dir, exist_ok=True)
        self.jsonl = os.path.join(out_dir, "metrics.jsonl")
        self.csv = os.path.join(out_dir, "metrics.csv")

    def rows(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.jsonl):
            return []
        with open(self.jsonl) as f:
            text = f.read()
        lines = text.split("\n")
        out = []
        for k, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                if k == len(lines) - 1:  # the last line, without its newline: a write that was cut short
                    continue
                raise ValueError(f"{self.jsonl} line {k + 1} is not a JSON row ({e}): {line[:80]!r}") from None
            if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                raise ValueError(
                    f"{self.jsonl} line {k + 1} must be a JSON object with an int 'epoch', got {line[:80]!r}"
                )
            out.append(row)
        return out

    def truncate(self, epoch: int) -> None:
        """Keep only the rows with ``row["epoch"] <= epoch`` (``-1``: none) in both files."""
        epoch = check_int("epoch", epoch, low=-1)
        rows = [r for r in self.rows() if r["epoch"] <= epoch]
        for path in (self.jsonl, self.csv):
            if os.path.exists(path):
                os.remove(path)
        for r in rows:
            self.write(r)

    def write(self, row: Mapping[str, Any]) -> None:
        """Append ``row`` (a mapping with an int ``"epoch"``; array scalars become floats)."""
        if not isinstance(row, Mapping):
            raise TypeError(f"row must be a mapping (column -> value), got {describe(row)}")
        epoch = row.get("epoch")
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"row['epoch'] must be an int >= 0, got {describe(epoch)}")
        row = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
        row["epoch"] = int(epoch)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        header = None
        if os.path.exists(self.csv):
            with open(self.csv, newline="") as f:
                header = next(csv.reader(f), None)
        if header is not None and header != list(row):
            # the columns changed (e.g. a run resumed by a newer version that logs more): the
            # CSV is rewritten from the JSON lines with every column, never misaligned
            rows = self.rows()
            cols = list(dict.fromkeys(k for r in rows for k in r))
            with open(self.csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=cols, restval="")
                w.writeheader()
                w.writerows(rows)
            return
        with open(self.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if header is None:
                w.writeheader()
            w.writerow(row)


def flatten_rates(rates: Sequence[Any]) -> dict[str, float]:
    """``[r0, r1, ...] -> {"rate_0": r0, ...}``."""
    return {f"rate_{i}": float(r) for i, r in enumerate(rates)}
