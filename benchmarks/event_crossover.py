"""Where the event-driven input synapse stops paying off: dense vs event time against density.

For the POLARA-MNIST input layer shape (T = 128, B = 256, C = 784 -> H = 100),
random spikes at a range of densities, time ``forward + dW`` of
``SpikeLinear(mode="dense")`` on the dense train and ``mode="event"`` on the same
spikes as :class:`~snnjax.events.Events` with ``max_events`` = the largest count per
example. Median of ``--repeats`` interleaved runs. The crossover density justifies
``SpikeLinear``'s ``event_threshold`` (the ``"auto"`` dispatch).

    python benchmarks/event_crossover.py --out benchmarks/results/event_crossover_cpu.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time

import _host  # first: glibc malloc settings, before jax / torch allocate

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np

from snnjax import events


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None)
    p.add_argument("--densities", nargs="+", type=float, default=[0.003, 0.01, 0.02, 0.05, 0.1, 0.2])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--shape", nargs=4, type=int, default=[128, 256, 784, 100], metavar=("T", "B", "C", "H"))
    _host.add_argument(p)
    args = p.parse_args(argv)
    t, b, c, h = args.shape
    w = jax.random.normal(jax.random.key(0), (c, h)) / np.sqrt(c)
    g = jax.random.normal(jax.random.key(1), (t, b, h))

    dense_fn = jax.jit(jax.value_and_grad(lambda w, s: jnp.vdot(s @ w, g)))
    event_fn = jax.jit(jax.value_and_grad(lambda w, e: jnp.vdot(events.event_matmul(e, w), g)))
    rows = []
    for dens in args.densities:
        s = (np.random.default_rng(0).uniform(size=(t, b, c)) < dens).astype(np.float32)
        e_max = int(s.sum(axis=(0, 2)).max())
        s = jnp.asarray(s)
        ev = jax.jit(events.from_dense, static_argnums=1)(s, e_max)
        fns = {"dense": lambda s=s: dense_fn(w, s), "event": lambda ev=ev: event_fn(w, ev)}
        ref = fns["dense"]()
        got = fns["event"]()
        scale = float(jnp.max(jnp.abs(ref[1])))
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-4, atol=1e-5 * scale)  # the same dW
        times = {k: [] for k in fns}
        for f in fns.values():
            jax.block_until_ready(f())
        for _ in range(args.repeats):
            for k, f in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(f())
                times[k].append(time.perf_counter() - t0)
        row = {
            "density": dens,
            "max_events": e_max,
            "density_bound": e_max / (t * c),
            "dense_ms": 1e3 * float(np.median(times["dense"])),
            "event_ms": 1e3 * float(np.median(times["event"])),
            "shape": [t, b, c, h],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "jax": jax.__version__,
            "malloc": MALLOC,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    print("\n| spike density | density bound E/(T·C) | dense fwd+dW ms | event fwd+dW ms | event speed-up |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['density']} | {r['density_bound']:.4f} | {r['dense_ms']:.1f} | {r['event_ms']:.1f} "
            f"| {r['dense_ms'] / r['event_ms']:.2f}x |"
        )


if __name__ == "__main__":
    main()
