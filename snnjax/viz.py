"""Plots of spiking networks: rasters, traces, firing rates, spike counts, surrogates, curves.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no
display, no global figure registry, nothing to close), so it works in scripts, tests and
notebooks alike: ``fig.savefig("raster.png")`` writes it, and a notebook shows it when it is
the cell's value. Arrays are time-major like the rest of snnjax (``[T, ...]``); NumPy and JAX
arrays are both accepted. matplotlib is needed (``pip install snnjax[experiments]``).

    from snnjax import viz
    fig = viz.raster(spikes)                                  # [T, B, ...]: sample 0
    fig = viz.raster(lif_spikes, other=ilif_spikes, labels=("LIF", "ILIF"))   # ILIF Fig. 4
    fig = viz.traces({"V": v, "threshold": th}, spikes=s)     # one panel per entry
    fig = viz.firing_rates({"LIF": [0.2, 0.1], "ILIF": [0.1, 0.05]})
    fig = viz.spike_counts({"LIF": counts_lif, "ILIF": counts_ilif})    # [T] or [L, T]
    fig = viz.surrogates({"rectangle γ=1": surrogate.get("rectangle", 1.0)})
    fig = viz.training_curves("runs/x/metrics.jsonl")

Bad input (wrong rank, mismatched shapes, an unknown key) raises ``ValueError`` /
``TypeError`` naming the argument.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from snnjax.validation import describe

__all__ = [
    "raster",
    "traces",
    "firing_rates",
    "spike_counts",
    "surrogates",
    "sweep",
    "training_curves",
    "read_jsonl",
]

# the two colours of a two-model raster (only the first fires / only the second / both)
_PAIR = ("tab:blue", "tab:red")


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - matplotlib is in the dev and experiments extras
        raise ImportError("snnjax.viz needs matplotlib: pip install 'snnjax[experiments]'") from e
    return Figure(figsize=(width, height), layout="constrained")


def _array(name: str, x: Any, *, min_rank: int = 1, max_rank: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - report what was passed
        raise TypeError(f"{name} must be an array, got {describe(x)}") from e
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got {describe(x)}")
    if a.ndim < min_rank or (max_rank is not None and a.ndim > max_rank):
        want = f"rank {min_rank}" if max_rank == min_rank else f"rank >= {min_rank}"
        if max_rank not in (None, min_rank):
            want = f"rank {min_rank}..{max_rank}"
        raise ValueError(f"{name} must have {want}, got shape {a.shape}")
    return a


def _series(name: str, x: Any) -> Mapping[str, Any]:
    """``x`` as a mapping label -> value (a bare value gets the label ``""``)."""
    if isinstance(x, Mapping):
        if not x:
            raise ValueError(f"{name} must not be empty")
        for k in x:
            if not isinstance(k, str):
                raise TypeError(f"{name} keys must be str labels, got {describe(k)}")
        return x
    return {"": x}


def _time_by_neuron(name: str, spikes: Any, sample: int, max_neurons: int | None) -> np.ndarray:
    """``[T, N]`` from ``[T, N]`` or ``[T, B, ...]`` (batch element ``sample``, features flattened)."""
    a = _array(name, spikes, min_rank=2)
    if a.ndim > 2:
        if not 0 <= sample < a.shape[1]:
            raise ValueError(f"sample must be in [0, {a.shape[1]}) for {name} of shape {a.shape}, got {sample}")
        a = a[:, sample].reshape(a.shape[0], -1)
    if max_neurons is not None:
        a = a[:, :max_neurons]
    return a


def raster(
    spikes: Any,
    *,
    other: Any = None,
    labels: Sequence[str] = ("first", "second"),
    sample: int = 0,
    max_neurons: int | None = None,
    title: str | None = None,
):
    """Spike raster(s): neuron index against time step, a dot per spike.

    Args:
      spikes: ``[T, N]`` or time-major ``[T, B, ...]`` (one batch element, ``sample``, is
        drawn with its features flattened), or a mapping ``layer name -> array`` for one
        panel per layer.
      other: a second model's spikes, the same structure and shapes as ``spikes``; the
        neurons only the first fires are drawn in blue, only the second in red, both in
        black (as ILIF Fig. 4 compares LIF and ILIF).
      labels: the legend names of ``spikes`` and ``other``.
      sample: the batch element drawn from ``[T, B, ...]`` arrays.
      max_neurons: draw only the first ``max_neurons`` neurons of each layer.
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    layers = _series("spikes", spikes)
    if other is not None:
        others = _series("other", other)
        if list(others) != list(layers):
            raise ValueError(f"other must have the layers of spikes {list(layers)}, got {list(others)}")
    if len(labels) != 2 or not all(isinstance(s, str) for s in labels):
        raise ValueError(f"labels must be two str, got {labels!r}")
    fig = _figure(7.0, 1.0 + 2.2 * len(layers))
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    for ax, (name, s) in zip(axes, layers.items()):
        a = _time_by_neuron(f"spikes[{name!r}]" if name else "spikes", s, sample, max_neurons)
        if other is None:
            t, n = np.nonzero(a)
            ax.scatter(t, n, s=4, c="k", marker="|")
        else:
            b = _time_by_neuron(f"other[{name!r}]" if name else "other", others[name], sample, max_neurons)
            if b.shape != a.shape:
                raise ValueError(f"other{f'[{name!r}]' if name else ''} has shape {b.shape}, spikes {a.shape}")
            a, b = a != 0, b != 0
            for mask, colour, label in ((a & ~b, _PAIR[0], labels[0]), (b & ~a, _PAIR[1], labels[1]),
                                        (a & b, "k", "both")):  # fmt: skip
                t, n = np.nonzero(mask)
                ax.scatter(t, n, s=4, c=colour, marker="|", label=f"{label} ({mask.sum()})")
            ax.legend(fontsize=7, loc="upper right", markerscale=3)
        ax.set(xlim=(-0.5, a.shape[0] - 0.5), ylim=(-0.5, a.shape[1] - 0.5), ylabel="neuron")
        if name:
            ax.set_title(name, fontsize=9)
    axes[-1].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return fig


def traces(
    traces: Mapping[str, Any],
    *,
    spikes: Any = None,
    neurons: Sequence[int] | None = None,
    sample: int = 0,
    title: str | None = None,
):
    """Traces over time (membrane, threshold, inhibitory units, ...), one panel per entry.

    Args:
      traces: ``panel name -> array`` with the time axis first: ``[T]``, ``[T, N]`` or
        ``[T, B, ...]`` (batch element ``sample``, features flattened); or ``panel name ->
        {line label -> array}`` to overlay several lines (e.g. LIF's and ILIF's membrane) in
        one panel. All arrays have the same number of steps.
      spikes: optional spikes, ``[T]`` or shaped as the traces, marked as vertical ticks on
        every panel (for the same ``neurons``).
      neurons: which neurons (flat feature indices) to draw, default the first 4.
      sample: the batch element of ``[T, B, ...]`` arrays.
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    if not isinstance(traces, Mapping) or not traces:
        raise TypeError(f"traces must be a non-empty mapping panel name -> array, got {describe(traces)}")
    if neurons is not None and not all(isinstance(i, (int, np.integer)) for i in neurons):
        raise TypeError(f"neurons must be a sequence of int, got {neurons!r}")

    def columns(name, x):
        a = _array(name, x)
        if a.ndim == 1:
            return a[:, None]
        a = _time_by_neuron(name, a, sample, None)
        idx = list(range(min(4, a.shape[1]))) if neurons is None else list(neurons)
        if idx and not (min(idx) >= 0 and max(idx) < a.shape[1]):
            raise ValueError(f"neurons must be in [0, {a.shape[1]}) for {name} of shape {np.shape(x)}, got {idx}")
        return a[:, idx]

    panels = {p: {k: columns(f"traces[{p!r}]" + (f"[{k!r}]" if k else ""), v) for k, v in _series(p, x).items()}
              for p, x in traces.items()}  # fmt: skip
    steps = {a.shape[0] for lines in panels.values() for a in lines.values()}
    if len(steps) != 1:
        raise ValueError(f"every trace must have the same number of steps, got {sorted(steps)}")
    (T,) = steps
    marks = None
    if spikes is not None:
        marks = columns("spikes", spikes)
        if marks.shape[0] != T:
            raise ValueError(f"spikes has {marks.shape[0]} steps, the traces {T}")
    fig = _figure(7.0, 0.8 + 1.8 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(T)
    for ax, (p, lines) in zip(axes, panels.items()):
        for label, a in lines.items():
            for j in range(a.shape[1]):
                colour = f"C{j}" if len(lines) == 1 else f"C{list(lines).index(label)}"
                name = label if a.shape[1] == 1 else f"{label} {j}".strip()
                ax.plot(t, a[:, j], lw=1.2, color=colour, alpha=1.0 if len(lines) == 1 else 0.85,
                        label=name if (label or a.shape[1] > 1) and (len(lines) > 1 or j < 8) else None)  # fmt: skip
        if marks is not None:
            for j in range(marks.shape[1]):
                for ts in np.nonzero(marks[:, j])[0]:
                    ax.axvline(ts, color=f"C{j}", lw=0.6, ls=":", alpha=0.7)
        ax.set_ylabel(p, fontsize=9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right", ncol=2)
    axes[-1].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return fig


def _per_model(name: str, values: Any, *, rank: int) -> dict[str, np.ndarray]:
    out = {}
    for k, v in _series(name, values).items():
        out[k] = _array(f"{name}[{k!r}]" if k else name, v, min_rank=rank, max_rank=rank).astype(float)
    return out


def firing_rates(
    rates: Any,
    *,
    errors: Any = None,
    layer_names: Sequence[str] | None = None,
    ylabel: str = "firing rate",
    title: str | None = None,
):
    """Per-layer bars, one colour per model (firing rate, or any per-layer number).

    Args:
      rates: per-layer values ``[L]``, or a mapping ``model -> [L]`` (models may have
        different numbers of layers). :func:`snnjax.train.layer_rates` gives them for a
        network; :func:`snnjax.analysis.spike_stats`' ``layers`` rows hold them too.
      errors: the same structure as ``rates``: error bars (e.g. std over seeds), or None.
      layer_names: tick labels, default the layer index.
      ylabel: the y axis label (e.g. "share firing > T/2 steps").
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    models = _per_model("rates", rates, rank=1)
    errs = None
    if errors is not None:
        errs = _per_model("errors", errors, rank=1)
        if list(errs) != list(models) or any(errs[k].shape != models[k].shape for k in models):
            raise ValueError("errors must have the structure and shapes of rates")
    n = max(len(v) for v in models.values())
    if layer_names is not None and len(layer_names) != n:
        raise ValueError(f"layer_names must have {n} entries (the layers), got {len(layer_names)}")
    fig = _figure(max(5.0, 0.5 * n * max(1, len(models)) ** 0.5 + 2.5), 3.4)
    ax = fig.subplots()
    width = 0.8 / len(models)
    for i, (k, v) in enumerate(models.items()):
        xs = np.arange(len(v)) + (i - (len(models) - 1) / 2) * width
        ax.bar(xs, v, width, yerr=None if errs is None else errs[k], capsize=2, label=k or None)
    ax.set_xticks(range(n), layer_names if layer_names is not None else [str(i) for i in range(n)])
    ax.set(xlabel="neuron layer", ylabel=ylabel)
    ax.grid(alpha=0.3, axis="y")
    if len(models) > 1 or next(iter(models)):
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def spike_counts(counts: Any, *, errors: Any = None, ylabel: str = "spikes per sample", title: str | None = None):
    """Spikes per time step: ``[T]`` per model (one panel), or ``[L, T]`` (one panel per layer).

    ILIF's claim "the first step fires more, later steps less" reads off this plot.

    Args:
      counts: ``[T]`` or ``[L, T]``, or a mapping ``model -> array`` (all of the same rank
        and shape).
      errors: the same structure as ``counts`` (error bars), or None.
      ylabel: the y axis label.
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    series = _series("counts", counts)
    models = {}
    for k, v in series.items():
        a = _array(f"counts[{k!r}]" if k else "counts", v, min_rank=1, max_rank=2).astype(float)
        models[k] = a if a.ndim == 2 else a[None]
    shapes = {a.shape for a in models.values()}
    if len(shapes) != 1:
        raise ValueError(f"every model's counts must have the same shape, got {sorted(shapes)}")
    errs = None
    if errors is not None:
        errs = {k: np.asarray(v, float).reshape(models[k].shape) for k, v in _series("errors", errors).items()}
        if list(errs) != list(models):
            raise ValueError("errors must have the structure of counts")
    n_layers, T = next(iter(shapes))
    cols = min(n_layers, 4)
    rows = -(-n_layers // cols)
    fig = _figure(2.0 + 2.6 * cols, 0.8 + 2.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    width = 0.8 / len(models)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= n_layers:
            ax.axis("off")
            continue
        for j, (k, a) in enumerate(models.items()):
            xs = np.arange(1, T + 1) + (j - (len(models) - 1) / 2) * width
            ax.bar(xs, a[i], width, yerr=None if errs is None else errs[k][i], capsize=2, label=k or None)
        ax.set_xticks(range(1, T + 1))
        ax.grid(alpha=0.3, axis="y")
        if n_layers > 1:
            ax.set_title(f"layer {i}", fontsize=8)
    if len(models) > 1 or next(iter(models)):
        axes[0][0].legend(fontsize=7)
    fig.supxlabel("time step")
    fig.supylabel(ylabel)
    if title:
        fig.suptitle(title)
    return fig


def surrogates(surrogates: Any, *, x: Any = None, title: str | None = "surrogate derivatives"):
    """The surrogate derivative shapes ``g(v)`` (the backward of the spike), with ``∫g``.

    Args:
      surrogates: a mapping ``label -> surrogate`` (a :class:`snnjax.surrogate.Surrogate`, or
        a name for its default width), or a sequence of names.
      x: the ``v - threshold`` grid, default ``linspace(-3, 3, 601)``.
      title: the left panel's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`: left the derivative, right its integral from
      ``x[0]`` (the smooth function whose gradient the surrogate is) against the Heaviside.
      The derivative comes from ``jax.grad`` of the spike itself, so the plot shows what
      the backward pass computes.
    """
    import jax
    import jax.numpy as jnp

    from snnjax import surrogate as sg

    if isinstance(surrogates, str) or not isinstance(surrogates, (Mapping, Sequence)):
        raise TypeError(f"surrogates must be a mapping label -> surrogate or a sequence of names, got {surrogates!r}")
    items = dict(surrogates) if isinstance(surrogates, Mapping) else {n: n for n in surrogates}
    if not items:
        raise ValueError("surrogates must not be empty")
    grid = np.linspace(-3.0, 3.0, 601) if x is None else _array("x", x, min_rank=1, max_rank=1).astype(float)
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError("x must be increasing with at least 2 points")
    fig = _figure(10.0, 3.4)
    ax_g, ax_f = fig.subplots(1, 2)
    v = jnp.asarray(grid, jnp.float32)
    for label, s in items.items():
        fn = sg.get(s)
        g = np.asarray(jax.vmap(jax.grad(lambda u, fn=fn: fn(u)))(v))
        prim = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(grid))])
        ax_g.plot(grid, g, label=str(label))
        ax_f.plot(grid, prim, label=str(label))
    ax_f.plot(grid, (grid >= 0).astype(float), "k--", lw=1, label="Heaviside (forward)")
    ax_g.set(xlabel="v - threshold", ylabel="∂spike/∂v (backward)", title=title)
    ax_f.set(xlabel="v - threshold", ylabel="∫ g dv", title="integral vs the forward")
    for ax in (ax_g, ax_f):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def sweep(
    x: Any,
    panels: Mapping[str, Mapping[str, Any]],
    *,
    errors: Mapping[str, Mapping[str, Any]] | None = None,
    xlabel: str = "",
    log_y: Sequence[str] = (),
    styles: Mapping[str, str] | None = None,
    title: str | None = None,
):
    """Quantities against a swept parameter (accuracy and firing rate vs γ, gradient vs T, ...).

    Args:
      x: the swept values ``[K]``.
      panels: ``y label -> {series label -> [K] values}``, one panel per entry (NaN: missing).
      errors: the same structure (error bars, e.g. std over seeds), or None; a series may be
        left out.
      xlabel: the x axis label.
      log_y: the panels (y labels) drawn with a log y axis.
      styles: ``series label -> matplotlib line style`` (default solid).
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    xs = _array("x", x, min_rank=1, max_rank=1).astype(float)
    if not isinstance(panels, Mapping) or not panels:
        raise TypeError(f"panels must be a non-empty mapping y label -> {{series -> values}}, got {describe(panels)}")
    unknown = [p for p in log_y if p not in panels]
    if unknown:
        raise ValueError(f"log_y names panels {unknown} that are not in panels {list(panels)}")
    fig = _figure(1.0 + 4.4 * len(panels), 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (ylabel, series) in zip(axes, panels.items()):
        for label, ys in _series(f"panels[{ylabel!r}]", series).items():
            y = _array(f"panels[{ylabel!r}][{label!r}]", ys, min_rank=1, max_rank=1).astype(float)
            if y.shape != xs.shape:
                raise ValueError(f"panels[{ylabel!r}][{label!r}] has {y.size} values, x has {xs.size}")
            err = None
            if errors is not None and label in errors.get(ylabel, {}):
                err = np.asarray(errors[ylabel][label], float).reshape(xs.shape)
            ax.errorbar(xs, y, yerr=err, marker="o", capsize=3, ls=(styles or {}).get(label, "-"), label=label or None)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        if ylabel in log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a metrics JSONL file (``fit``'s and the experiments' ``metrics.jsonl``).

    A last line cut short by a killed write is skipped; any other bad line raises
    ``ValueError`` naming the file and line.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    with open(path) as f:
        lines = f.read().split("\n")
    rows = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if k == len(lines) - 1:
                continue
            raise ValueError(f"{os.fspath(path)} line {k + 1} is not a JSON row ({e})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{os.fspath(path)} line {k + 1} must be a JSON object, got {line[:80]!r}")
        rows.append(row)
    return rows


def _panel_of(key: str) -> str:
    for word in ("acc", "loss", "rate", "lr"):
        if word in key.split("_") or key.endswith(word) or (word == "rate" and "_rate_" in key):
            return word
    return key


def training_curves(
    runs: Any,
    *,
    keys: Sequence[str] | None = None,
    x: str = "epoch",
    title: str | None = None,
):
    """Training curves from metrics rows: one panel per kind (accuracy, loss, rate, lr, ...).

    Args:
      runs: a metrics JSONL path, a list of row dicts, or a mapping ``run label -> path or
        rows`` to overlay runs.
      keys: the columns to draw (default every numeric column but ``x``, with the per-layer
        ``*_rate_<i>`` / ``*_active_<i>`` columns averaged into ``*_rate`` / ``*_active``).
        Columns are grouped into panels by kind: names with ``acc``, ``loss``, ``rate``,
        ``lr``; any other column gets its own panel.
      x: the x column (default ``epoch``, drawn 1-based).
      title: the figure's title.

    Returns:
      The :class:`~matplotlib.figure.Figure`.
    """
    if isinstance(runs, Mapping):
        series = dict(runs)
    else:
        series = {"": runs}
    tables = {}
    for label, r in series.items():
        rows = read_jsonl(r) if isinstance(r, (str, os.PathLike)) else r
        if not isinstance(rows, Sequence) or not rows or not all(isinstance(row, Mapping) for row in rows):
            raise TypeError(f"runs{f'[{label!r}]' if label else ''} must be a JSONL path or a non-empty list of dicts")
        if any(x not in row for row in rows):
            raise ValueError(f"x column {x!r} is missing from some rows of run {label!r}")
        tables[label] = _columns(rows, x)
    available = {k for cols in tables.values() for k in cols if k != x}
    if keys is None:
        keys = sorted(available)
    else:
        missing = [k for k in keys if k not in available]
        if missing:
            raise ValueError(f"keys {missing} are not columns of the rows; they have {sorted(available)}")
    if not keys:
        raise ValueError("there is nothing to plot: the rows have no numeric columns besides x")
    panels: dict[str, list[str]] = {}
    for k in keys:
        panels.setdefault(_panel_of(k), []).append(k)
    fig = _figure(3.6 * len(panels) + 0.8, 3.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel, cols) in zip(axes, panels.items()):
        for i, (label, table) in enumerate(tables.items()):
            xs = np.asarray(table[x], float) + (1 if x == "epoch" else 0)
            for j, k in enumerate(cols):
                if k not in table:
                    continue
                style = ["-", "--", ":", "-."][j % 4]
                ax.plot(xs, table[k], style, color=f"C{i}", marker="o", ms=3,
                        label=f"{label} {k}".strip())  # fmt: skip
        ax.set(xlabel=x, ylabel={"acc": "accuracy", "rate": "firing rate"}.get(panel, panel))
        if panel == "lr":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def _columns(rows: Sequence[Mapping[str, Any]], x: str) -> dict[str, list[float]]:
    """Numeric columns of ``rows`` (a column missing in some row is NaN there); layer columns averaged."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    out: dict[str, list[float]] = {}
    layered: dict[str, list[str]] = {}
    for k in names:
        head, _, tail = k.rpartition("_")
        if head and tail.isdigit() and (head.endswith("_rate") or head.endswith("_active")):
            layered.setdefault(head, []).append(k)
            continue
        vals = [row.get(k) for row in rows]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals):
            out[k] = [np.nan if v is None else float(v) for v in vals]
    for head, ks in layered.items():
        out[head] = [float(np.nanmean([row.get(k, np.nan) for k in ks])) for row in rows]
    if x not in out:
        raise ValueError(f"x column {x!r} must be numeric")
    return out
