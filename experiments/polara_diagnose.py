"""Hidden-layer activity of finished POLARA / LIF runs, at initialisation and after training.

For each run directory written by ``polara_mnist.py`` it rebuilds the run from
``config.json`` (same seed, same data split), measures the hidden layer on the
first ``--n`` images of the run's evaluation set, then loads the final
checkpoint and measures again:

* ``silent``: fraction of hidden neurons that never fire on any of the images
  (in POLARA's ``"exact"`` mode such a neuron also gets **no gradient**: below
  threshold ``s = 0`` with zero derivative, so it can never start firing);
* ``active_pairs``: fraction of (image, neuron) pairs with at least one spike;
* ``rate``: mean output per neuron per time step (spikes, or POLARA's continuous ``s``);
* ``grad_support``: fraction of (time step, image, neuron) positions where the
  loss gradient reaches the hidden neuron's input current ``dL/dI[t, b, n] ≠ 0``
  — where the input weights can learn from (exact/eq13: only where the neuron
  fires; mask: |Δ| < 1; LIF's SuperSpike surrogate: everywhere);
* ``accuracy`` on those images.

    python experiments/polara_diagnose.py RUN_DIR [RUN_DIR ...] [--n 2000] [--out diag.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import train

HERE = os.path.dirname(os.path.abspath(__file__))


def _polara_mnist():
    spec = importlib.util.spec_from_file_location("polara_mnist", os.path.join(HERE, "polara_mnist.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _grad_current(model, xs, y):
    """dL/dI of the hidden layer's input current I = W·x, [T, B, hidden]."""
    cur = model.layers[0](xs)

    def loss(cur):
        h = model.neurons[0](cur)
        return train.max_over_time_ce(model.readout(model.layers[-1](h)), y)

    return jax.grad(loss)(cur)


def activity(run, images, labels, batch: int = 500) -> dict:
    fired_any = None
    active, rate, support, correct, n = 0.0, 0.0, 0.0, 0, 0
    fwd = jax.jit(lambda m, x: run.forward(m, x))
    grad_cur = jax.jit(lambda m, x, y: _grad_current(m, run.encode(x), y))
    for i in range(0, len(labels), batch):
        g = np.abs(
            np.asarray(grad_cur(run.model, jnp.asarray(images[i : i + batch]), jnp.asarray(labels[i : i + batch])))
        )
        support += (g > 0).mean(axis=0).sum()
        out, spikes = fwd(run.model, jnp.asarray(images[i : i + batch]))
        h = np.asarray(spikes[0])  # [T, B, hidden]
        per_pair = (h > 0).any(axis=0)  # [B, hidden]
        fired_any = per_pair.any(0) if fired_any is None else fired_any | per_pair.any(0)
        active += per_pair.sum()
        rate += h.mean(axis=0).sum()
        correct += int((np.asarray(train.max_over_time_logits(out)).argmax(-1) == labels[i : i + batch]).sum())
        n += len(per_pair)
    hidden = fired_any.size
    return {
        "silent": float(1.0 - fired_any.mean()),
        "active_pairs": float(active / (n * hidden)),
        "rate": float(rate / (n * hidden)),
        "grad_support": float(support / (n * hidden)),
        "accuracy": correct / n,
        "n_images": n,
    }


def diagnose(run_dir: str, n: int) -> dict:
    pm = _polara_mnist()
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    defaults = vars(pm.parse(["--results-dir", run_dir]))
    args = argparse.Namespace(**{k: config.get(k, v) for k, v in defaults.items()})
    run = pm.build(args)
    x, y = run.eval
    x, y = x[:n], y[:n]
    result = {"run": run_dir, "neuron": args.neuron, "grad": args.grad, "ws": run.ws, "eval_set": run.eval_set}
    result["init"] = activity(run, x, y)
    ckpt = train.Checkpointer(os.path.join(run_dir, "checkpoints"))
    result["epoch"] = ckpt.restore(run.model, run.optimizer)
    ckpt.close()
    result["final"] = activity(run, x, y)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    results = [diagnose(r, a.n) for r in a.runs]
    print(
        "| run | epoch | silent init → final | active pairs init → final | rate init → final "
        "| grad support init → final | acc final |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        i, f = r["init"], r["final"]
        print(
            f"| {os.path.basename(os.path.normpath(r['run']))} | {r['epoch'] + 1} "
            f"| {100 * i['silent']:.0f} % → {100 * f['silent']:.0f} % "
            f"| {100 * i['active_pairs']:.1f} % → {100 * f['active_pairs']:.1f} % | {i['rate']:.4f} → {f['rate']:.4f} "
            f"| {100 * i['grad_support']:.2f} % → {100 * f['grad_support']:.2f} % "
            f"| {100 * f['accuracy']:.2f} % |"
        )
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
