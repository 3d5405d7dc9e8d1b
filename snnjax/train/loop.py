"""A jit-compiled training loop for time-major spiking networks (Flax NNX + Optax).

:func:`fit` trains ``model`` epoch by epoch: shuffled mini-batches (order fixed
by ``(seed, epoch)``), an ``nnx.jit`` train step, evaluation on the full test
set (the final partial batch included), per-epoch metrics to JSON lines + CSV,
an Orbax checkpoint per epoch, and ``resume=True`` continuing exactly where the
last checkpoint left off.

Data parallelism (``devices=``): the model and optimizer state are replicated on every
device of a one-axis ``jax.sharding.Mesh`` and each batch is split along its leading axis;
``jit`` partitions the step (GSPMD), so gradients are all-reduced by XLA and the result is
the single-device computation up to floating-point summation order. On one host with
several CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) this is how
the tests check it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax.data import batches, num_batches
from snnjax.train.checkpoint import Checkpointer
from snnjax.train.metrics import MetricsWriter

__all__ = ["fit", "make_steps", "data_parallel_mesh"]

Forward = Callable[[nnx.Module, jax.Array], tuple[jax.Array, Sequence[jax.Array]]]


def make_steps(
    forward: Forward,
    loss_fn: Callable,
    logits_fn: Callable,
    *,
    train_transform: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    eval_transform: Callable[[jax.Array], jax.Array] | None = None,
):
    """Build ``(train_step, eval_step)``, both ``nnx.jit``-compiled.

    Args:
      forward: ``forward(model, x) -> (outputs [T, B, C], [hidden spikes [T, B, ...], ...])``.
      loss_fn: ``loss_fn(outputs, labels) -> scalar`` (mean over the batch).
      logits_fn: ``logits_fn(outputs) -> [B, C]`` for accuracy.
      train_transform: optional ``train_transform(key, x) -> x`` applied to every training
        batch *inside* the compiled step (data augmentation on the accelerator, e.g.
        :func:`snnjax.data.augment.cifar_train_transform`).
      eval_transform: optional ``eval_transform(x) -> x`` applied inside the evaluation step,
        and inside the training step when there is no ``train_transform`` (e.g. uint8 ->
        normalised float).

    Without ``train_transform``: ``train_step(model, optimizer, x, y) -> (loss, n_correct,
    rates)``, updating in place; with it the step takes the augmentation key last,
    ``train_step(model, optimizer, x, y, key)``. ``eval_step(model, x, y) -> (loss_sum,
    n_correct, rate_sums)``.
    """
    for name, fn in (("train_transform", train_transform), ("eval_transform", eval_transform)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")

    def loss_and_aux(model, x, y):
        out, spikes = forward(model, x)
        rates = [jnp.mean(s) for s in spikes]
        return loss_fn(out, y), (logits_fn(out), rates)

    def update(model, optimizer, x, y):
        (loss, (logits, rates)), grads = nnx.value_and_grad(loss_and_aux, has_aux=True)(model, x, y)
        optimizer.update(model, grads)
        return loss, jnp.sum(jnp.argmax(logits, -1) == y), rates

    if train_transform is None:

        @nnx.jit
        def train_step(model, optimizer, x, y):
            return update(model, optimizer, x if eval_transform is None else eval_transform(x), y)

    else:

        @nnx.jit
        def train_step(model, optimizer, x, y, key):
            return update(model, optimizer, train_transform(key, x), y)

    @nnx.jit
    def eval_step(model, x, y):
        if eval_transform is not None:
            x = eval_transform(x)
        loss, (logits, rates) = loss_and_aux(model, x, y)
        b = x.shape[0]
        return loss * b, jnp.sum(jnp.argmax(logits, -1) == y), [r * b for r in rates]

    return train_step, eval_step


_AUGMENT_TAG = 0x41554721  # separates the augmentation keys from nnx.Rngs(seed)'s fold_in(key(seed), i)


def batch_key(seed: int, epoch: int, step: int) -> jax.Array:
    """The augmentation key of training step ``step`` of epoch ``epoch``: a function of
    ``(seed, epoch, step)`` only, so a resumed run draws the same augmentations;
    ``fold_in(fold_in(fold_in(key(seed), TAG), epoch), step)``, the tag keeping it apart from the
    streams of ``nnx.Rngs(seed)`` (which are ``fold_in(key(seed), i)``)."""
    base = jax.random.fold_in(jax.random.key(seed), _AUGMENT_TAG)
    return jax.random.fold_in(jax.random.fold_in(base, epoch), step)


def data_parallel_mesh(devices: int | Sequence[jax.Device] | None) -> jax.sharding.Mesh | None:
    """A one-axis (``"batch"``) mesh over ``devices``: a count (the first ``n`` of
    ``jax.devices()``) or a list of devices; ``None`` or one device gives ``None`` (no sharding)."""
    if devices is None:
        return None
    if isinstance(devices, int) and not isinstance(devices, bool):
        available = jax.devices()
        if devices < 1 or devices > len(available):
            raise ValueError(
                f"devices must be between 1 and the {len(available)} available device(s), got {devices}"
            )
        devs = available[:devices]
    else:
        devs = list(devices)
        if not devs or not all(isinstance(d, jax.Device) for d in devs):
            raise TypeError("devices must be an int, a non-empty sequence of jax.Device, or None")
        if len(set(devs)) != len(devs):
            raise ValueError("devices lists a device more than once")
    if len(devs) == 1:
        return None
    return jax.sharding.Mesh(np.asarray(devs), ("batch",))


class _Placer:
    """Puts the model and optimizer on every device of the mesh and splits batches across them."""

    def __init__(self, mesh: jax.sharding.Mesh | None):
        self.mesh = mesh
        if mesh is not None:
            self.n = mesh.devices.size
            self.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
            self.split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))

    def replicate(self, *objs) -> None:
        if self.mesh is None:
            return
        state = nnx.state(objs)
        nnx.update(objs, jax.device_put(state, self.replicated))

    def batch(self, xb, yb):
        x, y = jnp.asarray(xb), jnp.asarray(yb, jnp.int32)
        if self.mesh is None:
            return x, y
        # a final partial batch that does not divide evenly runs replicated (same result)
        sharding = self.split if len(y) % self.n == 0 else self.replicated
        return jax.device_put(x, sharding), jax.device_put(y, sharding)


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def evaluate(
    eval_step, model, data: tuple[np.ndarray, np.ndarray], batch_size: int, *, place: _Placer | None = None
) -> dict[str, float]:
    """Loss, accuracy and firing rates over every example of ``data`` (partial batch included).

    The model is put in evaluation mode (``model.eval()``: running BatchNorm statistics, no
    dropout) for the pass and left in training mode (``model.train()``) afterwards, whatever
    mode it was in before."""
    x, y = data
    place = place or _Placer(None)
    model.eval()
    try:
        return _evaluate(eval_step, model, x, y, batch_size, place)
    finally:
        model.train()


def _evaluate(eval_step, model, x, y, batch_size, place):
    loss_sum, correct, rate_sums = 0.0, 0, None
    for xb, yb in batches((x, y), batch_size, shuffle=False):
        ls, c, rs = eval_step(model, *place.batch(xb, yb))
        loss_sum += float(ls)
        correct += int(c)
        rate_sums = [float(r) for r in rs] if rate_sums is None else [a + float(r) for a, r in zip(rate_sums, rs)]
    n = len(y)
    out = {"loss": loss_sum / n, "acc": correct / n}
    out.update({f"rate_{i}": r / n for i, r in enumerate(rate_sums or [])})
    return out


def fit(
    model: nnx.Module,
    optimizer: nnx.Optimizer,
    *,
    forward: Forward,
    loss_fn: Callable,
    logits_fn: Callable,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    seed: int = 0,
    out_dir: str | None = None,
    resume: bool = False,
    eval_batch_size: int = 1000,
    lr_schedule: Callable[[int], Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    devices: int | Sequence[jax.Device] | None = None,
    train_transform: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    eval_transform: Callable[[jax.Array], jax.Array] | None = None,
    augment_seed: int | None = None,
    max_steps_per_epoch: int | None = None,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs; returns the per-epoch metric rows.

    Args:
      model, optimizer: an NNX model and ``nnx.Optimizer(model, tx, wrt=nnx.Param)``.
      forward, loss_fn, logits_fn: see :func:`make_steps`.
      train_data, test_data: ``(inputs, labels)`` NumPy arrays with a shared leading N.
      epochs: total number of epochs (a resumed run trains the remaining ones).
      batch_size: training batch size; the last partial batch of an epoch is used too.
      seed: data-order seed (epoch ``e`` uses ``(seed, e)``).
      out_dir: where ``metrics.jsonl``, ``metrics.csv``, ``final.json`` and
        ``checkpoints/`` go; ``None`` writes nothing (no checkpoints, no resume).
      resume: restore the latest checkpoint in ``out_dir`` and continue.
      eval_batch_size: test batch size (the final partial batch is evaluated, not dropped).
      lr_schedule: optional schedule of optimiser steps, logged per epoch as ``lr``.
      progress: show a tqdm progress bar (if tqdm is installed).
      log: where the one-line epoch summaries go.
      devices: data parallelism over these devices (a count, the first ``n`` of
        ``jax.devices()``, or a list); ``batch_size`` and ``eval_batch_size`` must be
        multiples of their number. ``None`` (default): one device, no sharding.
      train_transform, eval_transform: see :func:`make_steps`; the key of training step ``i``
        of epoch ``e`` is :func:`batch_key` ``(augment_seed, e, i)``.
      augment_seed: seed of the augmentation keys (default ``seed``).
      max_steps_per_epoch: stop each epoch after this many training steps (quick runs and
        throughput measurements; ``None``: the whole training set).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (where the checkpoints are)")
    place = _Placer(data_parallel_mesh(devices))
    if place.mesh is not None:
        for name, size in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if size % place.n:
                raise ValueError(f"{name} ({size}) must be a multiple of the number of devices ({place.n})")
    if max_steps_per_epoch is not None and (
        isinstance(max_steps_per_epoch, bool) or not isinstance(max_steps_per_epoch, int) or max_steps_per_epoch < 1
    ):
        raise ValueError(f"max_steps_per_epoch must be a positive int or None, got {max_steps_per_epoch!r}")
    train_step, eval_step = make_steps(
        forward, loss_fn, logits_fn, train_transform=train_transform, eval_transform=eval_transform
    )
    aug_seed = seed if augment_seed is None else augment_seed
    writer = MetricsWriter(out_dir) if out_dir else None
    ckpt = Checkpointer(os.path.join(out_dir, "checkpoints")) if out_dir else None
    start = 0
    if resume:
        done = ckpt.restore(model, optimizer)
        if done is not None:
            start = done + 1
            writer.truncate(done)
            log(f"resumed from the checkpoint of epoch {done + 1}")
    place.replicate(model, optimizer)
    x, y = train_data
    spe = num_batches(len(y), batch_size, drop_last=False)
    rows = writer.rows() if writer else []
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        loss_sum, correct, n = 0.0, 0, 0
        it = batches((x, y), batch_size, shuffle=True, seed=seed, epoch=epoch)
        steps = spe if max_steps_per_epoch is None else min(spe, max_steps_per_epoch)
        bar = _progress(it, steps, f"epoch {epoch + 1}/{epochs}", progress)
        model.train()
        for i, (xb, yb) in enumerate(bar):
            if i == steps:
                break
            extra = () if train_transform is None else (batch_key(aug_seed, epoch, i),)
            loss, c, _ = train_step(model, optimizer, *place.batch(xb, yb), *extra)
            loss_sum += float(loss) * len(yb)
            correct += int(c)
            n += len(yb)
            if bar is not it:
                bar.set_postfix(loss=f"{loss_sum / n:.4f}", acc=f"{100 * correct / n:.2f}%")
        train_time = time.perf_counter() - t0
        test = evaluate(eval_step, model, test_data, eval_batch_size, place=place)
        row = {
            "epoch": epoch,
            "lr": float(lr_schedule(epoch * steps)) if lr_schedule is not None else None,
            "train_loss": loss_sum / n,
            "train_acc": correct / n,
            **{f"test_{k}": v for k, v in test.items()},
            "train_time_s": train_time,
            "epoch_time_s": time.perf_counter() - t0,
        }
        rows.append(row)
        if writer:
            writer.write(row)
            ckpt.save(epoch, model, optimizer)
        log(
            f"epoch {epoch + 1}/{epochs}  train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%  "
            f"test loss {row['test_loss']:.4f} acc {100 * row['test_acc']:.2f}%  ({train_time:.1f} s)"
        )
    if out_dir and rows:
        with open(os.path.join(out_dir, "final.json"), "w") as f:
            json.dump({"epochs": len(rows), "test_acc": rows[-1]["test_acc"], "last": rows[-1]}, f, indent=2)
    if ckpt:
        ckpt.close()
    return rows
