"""Training-step speed of the POLARA-MNIST network (784-100-10, T = 128, batch 256).

For each hidden neuron, input path (dense latency spikes vs event-driven) and
neuron backend (scan vs fused), time one jitted SGD step (forward + backward +
update, latency encoding included) on random MNIST-like images: median of
``--repeats`` runs after warm-up, ``block_until_ready``. Optionally the same
network in snnTorch / SpikingJelly when importable (same process).

Writes JSON lines (one per configuration) to ``--out`` and prints a Markdown table.

    python benchmarks/train_speed.py --out benchmarks/results/train_speed.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import models, nn, train

NEURONS = {
    "spytorch-lif": lambda backend: (lambda: nn.SpytorchLIF(backend=backend)),
    "lif": lambda backend: (lambda: nn.LIF(backend=backend)),
    "ilif": lambda backend: (lambda: nn.ILIF(backend=backend)),
    "polara": lambda backend: (lambda: nn.Polara(backend=backend)),
    "polara-mask": lambda backend: (lambda: nn.Polara(grad="mask", backend=backend)),
}


def fake_mnist(n: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, 784] with MNIST's sparsity: ~19 % of pixels above 0.2."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 784), np.uint8)
    on = rng.uniform(size=(n, 784)) < 0.19
    x[on] = rng.integers(52, 256, on.sum())
    return x


def time_step(neuron: str, input_path: str, backend: str, *, T: int, batch: int, repeats: int) -> dict:
    model = models.SpikingMLP(
        784, (100,), 10, neuron=NEURONS[neuron](backend), input_mode="event" if input_path == "event" else "dense",
        rngs=nnx.Rngs(0),
    )
    opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    x_np = fake_mnist(batch)
    if input_path == "event":
        # exact compaction, as experiments/polara_mnist.py: the largest count of inputs above θ
        max_events = int((x_np > 0.2 * 255).sum(1).max())

        def encode(x, T):
            return snnjax.encoding.latency_events(x, T, max_events=max_events)

    else:
        encode = snnjax.encoding.latency

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(model):
            return train.max_over_time_ce(model(encode(x.astype(jnp.float32) / 255.0, T)), y)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    x = jnp.asarray(x_np)
    y = jnp.asarray(np.arange(batch) % 10, jnp.int32)
    for _ in range(2):
        step(model, opt, x, y).block_until_ready()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(model, opt, x, y).block_until_ready()
        ts.append(time.perf_counter() - t0)
    return {
        "neuron": neuron,
        "input": input_path,
        "backend": backend,
        "T": T,
        "batch": batch,
        "median_ms": 1e3 * float(np.median(ts)),
        "min_ms": 1e3 * float(np.min(ts)),
        "epoch_s_est": float(np.median(ts)) * int(np.ceil(60000 / batch)),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file")
    p.add_argument("--neurons", nargs="+", default=list(NEURONS), choices=list(NEURONS))
    p.add_argument("--inputs", nargs="+", default=["dense", "event"], choices=["dense", "event"])
    p.add_argument("--backends", nargs="+", default=["scan", "fused"], choices=["scan", "fused"])
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args(argv)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
    }
    rows = []
    for neuron in args.neurons:
        for inp in args.inputs:
            for backend in args.backends:
                r = {**time_step(neuron, inp, backend, T=args.num_steps, batch=args.batch, repeats=args.repeats), **meta}
                rows.append(r)
                print(json.dumps(r), flush=True)
                if args.out:
                    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
                    with open(args.out, "a") as f:
                        f.write(json.dumps(r) + "\n")
    print("\n| neuron | input | backend | step (ms) | epoch est. (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['neuron']} | {r['input']} | {r['backend']} | {r['median_ms']:.1f} | {r['epoch_s_est']:.0f} |")


if __name__ == "__main__":
    main()
