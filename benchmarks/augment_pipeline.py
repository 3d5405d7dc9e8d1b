"""CIFAR augmentation inside the jitted train step, or on the host in a prefetch thread?

One small conv train step (conv3×3 3→16, ReLU, conv3×3 16→32 stride 2, ReLU, global average
pool, dense 32→10, softmax cross-entropy, SGD) on a batch of ``--batch`` (128) 32×32×3 uint8
images, fed three ways, in the same run:

* ``none``: no augmentation — the step gets already-normalised float32 batches (the floor);
* ``in-step``: ``snnjax.data.augment.cifar_train_transform`` (random crop 4 → torchtoolbox Cutout →
  flip → normalise) jitted *inside* the train step, fed uint8 batches, key ``fold_in(key, step)``;
* ``host-prefetch``: the same augmentation written in NumPy, run by a background thread that
  ``device_put``s finished batches into a queue of depth ``--prefetch`` (2); the main thread runs
  the plain step (as ``none``) on whatever the queue holds.

Rounds are interleaved (``none``, ``in-step``, ``host-prefetch``, order rotated each round); each
round runs 3 untimed steps (the prefetch thread is started before them) and then times ``--steps``
steps ended with ``block_until_ready``. Reported: the median per-step time over ``--rounds`` rounds
and its ratio to ``none`` (the median of the per-round ratios). Also timed alone: the jitted JAX
augmentation of one batch, and the NumPy augmentation of one batch in the main thread.

    python benchmarks/augment_pipeline.py --out benchmarks/results/augment_pipeline_cpu.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import platform
import queue
import statistics
import threading
import time

import _host  # first: glibc malloc settings, before jax allocates

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np

from snnjax.data import augment

MEAN, STD = augment.CIFAR10_MEAN, augment.CIFAR10_STD


# --------------------------------------------------------------------------- model and step


def init_params(key):
    k1, k2, k3 = jax.random.split(key, 3)

    def he(k, shape, fan_in):
        return jax.random.normal(k, shape, jnp.float32) * np.sqrt(2.0 / fan_in)

    return {
        "w1": he(k1, (3, 3, 3, 16), 27),
        "b1": jnp.zeros(16),
        "w2": he(k2, (3, 3, 16, 32), 144),
        "b2": jnp.zeros(32),
        "w3": he(k3, (32, 10), 32),
        "b3": jnp.zeros(10),
    }


def forward(params, x):
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, params["w1"], (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h + params["b1"])
    h = jax.lax.conv_general_dilated(h, params["w2"], (2, 2), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h + params["b2"])
    return h.mean(axis=(1, 2)) @ params["w3"] + params["b3"]


def loss_fn(params, x, y):
    logits = forward(params, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def sgd_step(params, x, y, lr=0.05):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss


plain_step = jax.jit(sgd_step)


@jax.jit
def augmented_step(params, key, step, x_uint8, y):
    x = augment.cifar_train_transform(jax.random.fold_in(key, step), x_uint8, mean=MEAN, std=STD)
    return sgd_step(params, x, y)


# --------------------------------------------------------------------------- host augmentation


def numpy_augment(rng: np.random.Generator, x: np.ndarray, padding: int = 4) -> np.ndarray:
    """The same pipeline in vectorised NumPy: crop → torchtoolbox Cutout → flip → normalise."""
    b, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    dy, dx = rng.integers(0, 2 * padding + 1, (2, b))
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    x = xp[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    # torchtoolbox Cutout(): p 0.5, area s ~ U(0.02, 0.4), aspect r ~ U(0.4, 2.5), fill (v, 0, 0)
    apply = rng.random(b) < 0.5
    s = rng.uniform(0.02, 0.4, b) * h * w
    r = rng.uniform(0.4, 2.5, b)
    cw = np.minimum(np.sqrt(s / r).astype(int), w)
    ch = np.minimum(np.sqrt(s * r).astype(int), h)
    top = (rng.random(b) * (h - ch + 1)).astype(int)
    left = (rng.random(b) * (w - cw + 1)).astype(int)
    v = rng.integers(0, 256, b).astype(np.uint8)
    inside = (
        ((np.arange(h) >= top[:, None]) & (np.arange(h) < (top + ch)[:, None]))[:, :, None]
        & ((np.arange(w) >= left[:, None]) & (np.arange(w) < (left + cw)[:, None]))[:, None, :]
        & apply[:, None, None]
    )
    fill = np.zeros((b, c), np.uint8)
    fill[:, 0] = v
    x = np.where(inside[..., None], fill[:, None, None, :], x)
    flip = rng.random(b) < 0.5
    x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
    mean = np.asarray(MEAN, np.float32)
    inv_std = 1.0 / np.asarray(STD, np.float32)
    return (x.astype(np.float32) * np.float32(1 / 255) - mean) * inv_std


class Prefetcher:
    """Background thread: NumPy-augment the next batch, ``device_put`` it, queue it (bounded)."""

    def __init__(self, batches, labels, depth, seed):
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.batches, self.labels = batches, labels
        self.rng = np.random.default_rng(seed)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop.is_set():
            x = numpy_augment(self.rng, self.batches[i % len(self.batches)])
            item = (jax.device_put(x), self.labels[i % len(self.labels)])
            while not self.stop.is_set():
                try:
                    self.q.put(item, timeout=0.05)
                    break
                except queue.Full:
                    pass
            i += 1

    def get(self):
        return self.q.get()

    def close(self):
        self.stop.set()
        self.thread.join()


# --------------------------------------------------------------------------- timing


def run_round(config, params, data, steps, warmup, depth, seed):
    """Seconds per step over ``steps`` steps (after ``warmup`` untimed ones)."""
    u8, normed, labels, key = data
    n = len(u8)
    pre = Prefetcher(u8, labels, depth, seed) if config == "host-prefetch" else None
    try:
        t0 = None
        for i in range(warmup + steps):
            if i == warmup:
                jax.block_until_ready(params)
                t0 = time.perf_counter()
            if config == "none":
                params, _ = plain_step(params, normed[i % n], labels[i % n])
            elif config == "in-step":
                params, _ = augmented_step(params, key, i, u8[i % n], labels[i % n])
            else:
                x, y = pre.get()
                params, _ = plain_step(params, x, y)
        jax.block_until_ready(params)
        return (time.perf_counter() - t0) / steps, params
    finally:
        if pre is not None:
            pre.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--prefetch", type=int, default=2, help="queue depth of the host pipeline")
    p.add_argument("--batches", type=int, default=8, help="distinct data batches cycled through")
    _host.add_argument(p)
    args = p.parse_args(argv)
    if min(args.batch, args.steps, args.rounds, args.prefetch, args.batches) < 1:
        p.error("--batch, --steps, --rounds, --prefetch, --batches must be >= 1")

    rng = np.random.default_rng(0)
    shape = (args.batch, 32, 32, 3)
    u8_host = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(args.batches)]
    labels = [jnp.asarray(rng.integers(0, 10, args.batch), jnp.int32) for _ in range(args.batches)]
    u8 = [jnp.asarray(x) for x in u8_host]
    normed = [augment.normalize(x, MEAN, STD) for x in u8]
    key = jax.random.key(0)
    params = init_params(jax.random.key(1))

    # compile and warm every path
    jax.block_until_ready(plain_step(params, normed[0], labels[0]))
    jax.block_until_ready(augmented_step(params, key, 0, u8[0], labels[0]))
    numpy_augment(rng, u8_host[0])

    aug_jit = jax.jit(lambda k, x: augment.cifar_train_transform(k, x, mean=MEAN, std=STD))
    aug_alone_jax = _host.median_seconds(aug_jit, (key, u8[0]), repeats=max(20, args.steps))
    t = []
    for i in range(max(20, args.steps)):
        t0 = time.perf_counter()
        numpy_augment(rng, u8_host[i % args.batches])
        t.append(time.perf_counter() - t0)
    aug_alone_numpy = statistics.median(t)

    configs = ["none", "in-step", "host-prefetch"]
    times = {c: [] for c in configs}
    ratios = {c: [] for c in configs}
    data = (u8, normed, labels, key)
    for r in range(args.rounds):
        order = configs[r % 3 :] + configs[: r % 3]
        this = {}
        for c in order:
            this[c], params = run_round(c, params, data, args.steps, 3, args.prefetch, seed=100 + r)
            times[c].append(this[c])
        for c in configs:
            ratios[c].append(this[c] / this["none"])

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(jax.devices()[0]),
        "platform": jax.default_backend(),
        "jax": jax.__version__,
        "malloc": MALLOC,
        "python": platform.python_version(),
        "host": platform.node(),
        "batch": args.batch,
        "steps": args.steps,
        "rounds": args.rounds,
        "prefetch": args.prefetch,
    }
    record = _host.JsonLines(args.out, meta)
    for c in configs:
        record.emit(
            dict(
                config=c,
                seconds_per_step=statistics.median(times[c]),
                ratio_vs_none=statistics.median(ratios[c]),
                rounds_seconds=times[c],
                rounds_ratio=ratios[c],
            )
        )
    record.emit(
        dict(
            config="augment-alone-jax-jit",
            seconds_per_step=aug_alone_jax,
            ratio_vs_none=aug_alone_jax / statistics.median(times["none"]),
        )
    )
    record.emit(
        dict(
            config="augment-alone-numpy",
            seconds_per_step=aug_alone_numpy,
            ratio_vs_none=aug_alone_numpy / statistics.median(times["none"]),
        )
    )
    record.close()

    print()
    print(
        f"device: {meta['device']}; batch {args.batch} of 32×32×3 uint8; median over "
        f"{args.rounds} interleaved rounds of {args.steps} steps"
    )
    print("| pipeline | ms / step | × no augmentation |")
    print("|---|---:|---:|")
    for r in record.rows:
        print(f"| {r['config']} | {1e3 * r['seconds_per_step']:.2f} | {r['ratio_vs_none']:.3f} |")


if __name__ == "__main__":
    main()
