"""Spike and energy analysis of a finished run (ILIF Figs. 3-4 and Table 5).

``python experiments/analysis.py RUN_DIR [--compare RUN_DIR2] [--batches N] [--out DIR]``

A run directory holds ``config.json`` (written by the experiment scripts, with the
command-line arguments under ``"argv"`` and the script under ``"command"``) and
``checkpoints/`` (:class:`snnjax.train.Checkpointer`). The script that wrote the run
(``experiments/ilif_cifar.py`` unless ``"command"`` names another) rebuilds it with
``build_from_config(config) -> (model, eval_data, forward[, eval_transform])``:

* ``eval_data``: ``(x, y)`` arrays (batch on axis 0), an array ``x``, or an iterable of
  batches (arrays, ``(x, y)`` tuples or dicts);
* ``forward(model, x) -> (outputs [T, B, C], spikes)`` (``None``: ``model(x, return_spikes=True)``);
* ``eval_transform(x)``: applied to every batch first (optional).

The latest checkpoint (or ``--epoch``) is restored into the model (model state only), the
model is evaluated on the first ``--batches`` batches (:func:`snnjax.analysis.analyse_model`),
and ``analysis.json``, ``analysis.md``, ``firing_rates.png``, ``over_half.png`` and
``spike_counts.png`` are written into RUN_DIR (or ``--out``). With ``--compare`` the second
run (e.g. LIF beside ILIF) is analysed on its own data and shown beside the first.

Tests call ``main(argv, builder=...)`` with their own builder.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from snnjax import analysis  # noqa: E402

Builder = Callable[[dict], tuple]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", help="a run directory with config.json and checkpoints/")
    p.add_argument("--compare", default=None, help="a second run directory shown beside the first")
    p.add_argument("--batches", type=int, default=4, help="evaluation batches to analyse (default 4)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the run's eval_batch_size, else 128")
    p.add_argument("--out", default=None, help="output directory (default RUN_DIR)")
    p.add_argument("--epoch", type=int, default=None, help="checkpoint to restore (default the latest)")
    p.add_argument("--no-restore", action="store_true", help="analyse the model as built (no checkpoint)")
    p.add_argument("--threshold", type=float, default=0.0, help="an output > threshold is a spike (default 0)")
    p.add_argument(
        "--nonbinary",
        choices=("mac", "ac"),
        default="ac",
        help="non-binary layer inputs (pooled spikes, POLARA outputs): nonzero x fan-out ACs (default; "
        "the network input always costs dense MACs) or dense MACs",
    )
    p.add_argument("--no-plots", action="store_true")
    return p.parse_args(argv)


def _match(template: Any, restored: Any) -> Any:
    """``restored`` (keys as Orbax wrote them, strings) in the structure of ``template``."""
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            if k in restored:
                out[k] = _match(v, restored[k])
            elif str(k) in restored:
                out[k] = _match(v, restored[str(k)])
            else:
                raise KeyError(f"checkpoint has no entry {k!r} (has {sorted(map(str, restored))[:8]}...)")
        return out
    if isinstance(template, (list, tuple)) and isinstance(restored, (list, tuple)):
        return type(template)(_match(a, b) for a, b in zip(template, restored))
    if isinstance(template, (list, tuple)) and isinstance(restored, dict):
        return type(template)(_match(a, restored[str(i)]) for i, a in enumerate(template))
    import jax.numpy as jnp

    dtype = getattr(template, "dtype", None)
    return jnp.asarray(restored, dtype=dtype) if dtype is not None else restored


def restore_model(model: Any, ckpt_dir: str, epoch: int | None = None) -> int | None:
    """Load the model part of a :class:`snnjax.train.Checkpointer` checkpoint into ``model``
    (no optimiser needed); returns the epoch restored, ``None`` if there is none."""
    import orbax.checkpoint as ocp
    from flax import nnx

    if not os.path.isdir(ckpt_dir):
        return None
    mgr = ocp.CheckpointManager(os.path.abspath(ckpt_dir))
    try:
        epoch = mgr.latest_step() if epoch is None else epoch
        if epoch is None:
            return None
        restored = mgr.restore(epoch, args=ocp.args.StandardRestore())
    finally:
        mgr.close()
    state = nnx.state(model)
    nnx.replace_by_pure_dict(state, _match(nnx.to_pure_dict(state), restored["model"]))
    nnx.update(model, state)
    return epoch


def default_builder(config: dict) -> Builder:
    """``build_from_config`` of the script that wrote the run (``config["command"]``), else
    ``experiments/ilif_cifar.py``'s."""
    script = "ilif_cifar"
    cmd = config.get("command") or config.get("script") or ""
    if cmd:
        first = os.path.splitext(os.path.basename(str(cmd).split()[0]))[0]
        if first and os.path.exists(os.path.join(HERE, first + ".py")):
            script = first
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    module = importlib.import_module(script)
    if not hasattr(module, "build_from_config"):
        raise RuntimeError(f"experiments/{script}.py has no build_from_config(config)")
    return module.build_from_config


def analyse_run(run_dir: str, args: argparse.Namespace, builder: Builder | None = None) -> dict[str, Any]:
    """Rebuild, restore and analyse one run directory."""
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    build = builder or default_builder(config)
    built = build(config)
    if len(built) not in (3, 4):
        raise ValueError(
            f"build_from_config must return (model, data, forward[, eval_transform]), got {len(built)} items"
        )
    model, data, forward = built[:3]
    transform = built[3] if len(built) == 4 else None
    epoch = None if args.no_restore else restore_model(model, os.path.join(run_dir, "checkpoints"), args.epoch)
    bs = args.batch_size or config.get("eval_batch_size") or 128
    kw = dict(batch_size=bs, max_batches=args.batches, threshold=args.threshold, nonbinary=args.nonbinary,
              transform=transform)  # fmt: skip
    if isinstance(data, (tuple, list)) and len(data) == 2 and hasattr(data[0], "shape") and hasattr(data[1], "shape"):
        x, y = data
        n = min(len(x), args.batches * bs)
        result = analysis.analyse_model(forward, model, np.asarray(x[:n]), labels=np.asarray(y[:n]), **kw)
    else:
        result = analysis.analyse_model(forward, model, data, **kw)
    result["run_dir"] = os.path.abspath(run_dir)
    result["epoch"] = epoch
    return result


def _label(run_dir: str) -> str:
    return os.path.basename(os.path.normpath(run_dir)) or run_dir


def main(argv=None, builder: Builder | None = None) -> dict[str, Any]:
    args = parse(argv)
    result = analyse_run(args.run_dir, args, builder)
    compare = analyse_run(args.compare, args, builder) if args.compare else None
    labels = [_label(args.run_dir)]
    if compare is not None:
        lab2 = _label(args.compare)
        labels.append(lab2 if lab2 != labels[0] else lab2 + " (2)")
    out = args.out or args.run_dir
    paths = analysis.write_report(result, out, compare=compare, labels=labels, plots=not args.no_plots)
    res = {"run": analysis.summary(result), "paths": paths}
    if compare is not None:
        res["compare"] = analysis.summary(compare)
    print(json.dumps({k: v for k, v in res.items() if k != "paths"}, indent=1))
    return res


if __name__ == "__main__":
    main()
