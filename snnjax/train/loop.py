"""A jit-compiled training loop for time-major spiking networks (Flax NNX + Optax).

:func:`fit` trains ``model`` epoch by epoch: shuffled mini-batches (order fixed
by ``(seed, epoch)``), an ``nnx.jit`` train step, evaluation on the full test
set (the final partial batch included), per-epoch metrics to JSON lines + CSV,
an Orbax checkpoint per epoch, and ``resume=True`` continuing exactly where the
last good checkpoint left off.

Bad input fails before the first training step: every argument is checked up front
(the message names the argument, what was expected and what was received), and one
abstract evaluation (``jax.eval_shape``, nothing compiled or run) of ``forward``,
``logits_fn`` and ``loss_fn`` on a batch checks the shapes they return and that every
label is below the number of classes. A non-finite training loss stops the run
(``stop_on_nan``) before anything of that epoch is written.

Data parallelism (``devices=``): the model and optimizer state are replicated on every
device of a one-axis ``jax.sharding.Mesh`` and each batch is split along its leading axis;
``jit`` partitions the step (GSPMD), so gradients are all-reduced by XLA and the result is
the single-device computation up to floating-point summation order. On one host with
several CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) this is how
the tests check it.

Several processes (JAX's multi-controller runtime: one process per host, each started
with ``jax.distributed.initialize(coordinator_address=..., num_processes=..., process_id=...)``
before anything else touches JAX; on TPU pods and SLURM/Open MPI clusters the arguments
are found by ``jax.distributed.initialize()`` itself): every process runs the same script
and calls :func:`fit` with the same arguments; ``jax.devices()`` is then the global device
list and ``devices=jax.device_count()`` a mesh over every host. Each process holds the
data set (an array or a ``np.memmap``) but reads and transfers only *its* rows of every
global batch (``jax.make_array_from_callback``: a process's devices get their shards, no
other rows are touched); the model and optimizer state is replicated over the global mesh,
the loss and metrics are global values every process reads alike, exactly one process
(``jax.process_index() == 0``) writes ``metrics.jsonl``/``metrics.csv``/``final.json``, and
all processes write and restore the Orbax checkpoints together (``out_dir`` must be on a
file system every process sees). ``tests/test_multiprocess.py`` runs two CPU processes on
127.0.0.1 (gloo collectives) against one process on the same batches.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax.data import batches, num_batches
from snnjax.train._checks import check_dataset, check_labels, check_lr_value, positive_int
from snnjax.train.checkpoint import Checkpointer
from snnjax.train.distributed import barrier as _barrier
from snnjax.train.distributed import is_primary
from snnjax.train.metrics import MetricsWriter
from snnjax.validation import check_bool, check_callable, check_int, describe

__all__ = [
    "fit",
    "make_steps",
    "layer_rates",
    "recorded_forward",
    "data_parallel_mesh",
    "evaluate",
    "batch_key",
    "NonFiniteLossError",
]

Forward = Callable[[nnx.Module, jax.Array], tuple[jax.Array, Sequence[jax.Array]]]


class NonFiniteLossError(FloatingPointError):
    """A training step's loss was NaN or infinite (``fit(stop_on_nan=True)``)."""


def _check_fns(forward, loss_fn, logits_fn, train_transform, eval_transform) -> None:
    check_callable("forward", forward, signature="forward(model, x) -> (outputs [T, B, C], spikes)")
    check_callable("loss_fn", loss_fn, signature="loss_fn(outputs, labels) -> scalar")
    check_callable("logits_fn", logits_fn, signature="logits_fn(outputs) -> logits [B, C]")
    check_callable("train_transform", train_transform, allow_none=True, signature="train_transform(key, x) -> x")
    check_callable("eval_transform", eval_transform, allow_none=True, signature="eval_transform(x) -> x")


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
    n_correct, rate_sums)``. ``rates`` / ``rate_sums`` are dicts keyed ``rate_<layer>`` and
    ``active_<layer>`` (:func:`layer_rates`).

    Raises:
      TypeError: if an argument is not callable (or ``None`` where allowed).
    """
    _check_fns(forward, loss_fn, logits_fn, train_transform, eval_transform)

    def loss_and_aux(model, x, y):
        out, spikes = forward(model, x)
        return loss_fn(out, y), (logits_fn(out), layer_rates(spikes))

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
        return loss * b, jnp.sum(jnp.argmax(logits, -1) == y), {k: r * b for k, r in rates.items()}

    return train_step, eval_step


def _mean_over_time(outputs: jax.Array) -> jax.Array:
    """Default ``logits_fn``: ``outputs [T, B, C]`` averaged over time."""
    return jnp.mean(outputs, axis=0)


def _encoded(forward: Forward, encode: Callable) -> Forward:
    def encoded_forward(model, x):
        return forward(model, encode(x))

    return encoded_forward


def layer_rates(spikes: Any) -> dict[str, jax.Array]:
    """Per-layer activity of a forward pass's hidden outputs ``[T, B, ...]``: ``rate_<name>``
    (the mean output: the firing rate for 0/1 spikes), ``active_<name>`` (the fraction of
    neuron-steps with a non-zero output; they differ for graded outputs such as POLARA's) and
    ``silent_<name>`` (the fraction of neurons with no non-zero output at any step for any
    example of the batch; averaged over batches in the logged metrics). ``spikes`` is a list
    (names ``0, 1, ...``) or a dict of named layers (e.g. from :func:`snnjax.nn.record`)."""
    items = list(spikes.items()) if isinstance(spikes, dict) else list(enumerate(spikes))
    out = {f"rate_{k}": jnp.mean(s) for k, s in items}
    out.update({f"active_{k}": jnp.mean((s != 0).astype(jnp.float32)) for k, s in items})
    out.update({f"silent_{k}": jnp.mean(jnp.all(s == 0, axis=(0, 1)).astype(jnp.float32)) for k, s in items})
    return out


def recorded_forward(call: Callable[[nnx.Module, jax.Array], jax.Array] | None = None) -> Forward:
    """A ``forward`` for :func:`fit` whose hidden spikes are recorded by :func:`snnjax.nn.record`:
    ``forward(model, x) -> (call(model, x), {layer path: outputs})``, the metrics then named by
    layer (``rate_neurons/0``, ...). ``call`` defaults to ``model(x)``; every neuron layer is
    recorded (the readout too, if it is a neuron layer)."""
    from snnjax.nn import record

    call = call or (lambda model, x: model(x))

    def forward(model, x):
        out, rec = record(call)(model, x)
        return out, {name: r["spikes"] for name, r in rec.items()}

    return forward


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
    if isinstance(devices, (bool, np.bool_)):
        raise TypeError(f"devices must be an int, a non-empty sequence of jax.Device, or None, got {describe(devices)}")
    if isinstance(devices, (int, np.integer)):
        available = jax.devices()
        if devices < 1 or devices > len(available):
            raise ValueError(
                f"devices must be between 1 and the {len(available)} available device(s), got {int(devices)}"
            )
        devs = available[: int(devices)]
    else:
        if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence):
            raise TypeError(
                f"devices must be an int, a non-empty sequence of jax.Device, or None, got {describe(devices)}"
            )
        devs = list(devices)
        if not devs or not all(isinstance(d, jax.Device) for d in devs):
            raise TypeError(
                f"devices must be an int, a non-empty sequence of jax.Device, or None, got {describe(devices)}"
            )
        if len(set(devs)) != len(devs):
            raise ValueError(f"devices lists a device more than once, got {devs}")
    if jax.process_count() > 1:
        missing = [d for d in jax.local_devices() if d not in devs]
        if missing:
            raise ValueError(
                f"devices must include every device of every process in a multi-process run (this is process "
                f"{jax.process_index()} of {jax.process_count()}; its devices {missing} are not in the list; "
                f"use devices=jax.device_count())"
            )
    if len(devs) == 1:
        return None
    return jax.sharding.Mesh(np.asarray(devs), ("batch",))


def _put(a: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """``a`` (the same on every process) as a global array: each process transfers only the
    rows of its own devices' shards."""
    if sharding.is_fully_addressable:
        return jax.device_put(a, sharding)
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


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
        if self.replicated.is_fully_addressable:
            nnx.update(objs, jax.device_put(state, self.replicated))
            return

        # several processes: arrays committed to this process's device are copied through the host
        def put(a):
            if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jax.dtypes.prng_key):  # dropout's RNG keys
                data = _put(np.asarray(jax.random.key_data(a)), self.replicated)
                return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
            return _put(np.asarray(a), self.replicated)

        nnx.update(objs, jax.tree.map(put, state))

    def batch(self, xb, yb):
        if self.mesh is None:
            return jnp.asarray(xb), jnp.asarray(yb, jnp.int32)
        x, y = np.asarray(xb), np.asarray(yb, np.int32)
        # a final partial batch that does not divide evenly runs replicated (same result)
        sharding = self.split if len(y) % self.n == 0 else self.replicated
        return _put(x, sharding), _put(y, sharding)


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
    mode it was in before.

    Raises:
      TypeError / ValueError: ``eval_step`` not callable, ``model`` not an ``nnx.Module``,
        ``data`` not an ``(inputs, labels)`` pair of N >= 1 examples with integer labels
        ``>= 0``, or ``batch_size`` not a positive int.
    """
    check_callable("eval_step", eval_step, signature="eval_step(model, x, y) -> (loss_sum, n_correct, rate_sums)")
    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be an nnx.Module, got {describe(model)}")
    x, y = check_dataset("data", data)
    batch_size = positive_int("batch_size", batch_size)
    if place is not None and not isinstance(place, _Placer):
        raise TypeError(f"place must be None or the placer fit uses, got {describe(place)}")
    return _evaluate_mode(eval_step, model, x, y, batch_size, place or _Placer(None))


def _evaluate_mode(eval_step, model, x, y, batch_size, place):
    model.eval()
    try:
        return _evaluate(eval_step, model, x, y, batch_size, place)
    finally:
        model.train()


def _evaluate(eval_step, model, x, y, batch_size, place):
    loss_sum, correct, rate_sums = 0.0, 0, {}
    for xb, yb in batches((x, y), batch_size, shuffle=False):
        ls, c, rs = eval_step(model, *place.batch(xb, yb))
        loss_sum += float(ls)
        correct += int(c)
        for k, r in rs.items():
            rate_sums[k] = rate_sums.get(k, 0.0) + float(r)
    n = len(y)
    out = {"loss": loss_sum / n, "acc": correct / n}
    out.update({k: r / n for k, r in rate_sums.items()})
    return out


def _key_str(path) -> list[str]:
    out = []
    for k in path:
        for attr in ("key", "idx", "name"):
            if hasattr(k, attr):
                out.append(str(getattr(k, attr)))
                break
    return out


def _check_optimizer_lr(optimizer: nnx.Optimizer) -> None:
    """Learning rates readable from the optimiser state (``optax.inject_hyperparams``) must be
    finite and >= 0; an optimiser without readable hyperparameters is not checked here (a NaN
    rate then shows as a non-finite loss after the first step, see ``stop_on_nan``)."""
    pure = nnx.to_pure_dict(nnx.state(optimizer))
    for path, leaf in jax.tree_util.tree_flatten_with_path(pure)[0]:
        keys = _key_str(path)
        if "hyperparams" in keys and keys[-1] in ("learning_rate", "lr"):
            check_lr_value(
                f"optimizer learning rate (opt_state/{'/'.join(keys[keys.index('opt_state') + 1 :])})"
                if "opt_state" in keys
                else "optimizer learning rate",
                leaf,
            )


def _check_model_outputs(model, forward, loss_fn, logits_fn, eval_transform, x, b, label_sets) -> int:
    """Abstract evaluation (``jax.eval_shape``: traced, never compiled or run, the model left
    untouched) of ``forward`` -> ``logits_fn`` / ``loss_fn`` on a batch of ``b`` examples;
    checks the returned shapes and that the labels are below the number of classes C (returned)."""
    graphdef, state = nnx.split(model)
    xs = jax.ShapeDtypeStruct((b,) + tuple(x.shape[1:]), jax.dtypes.canonicalize_dtype(x.dtype))
    ys = jax.ShapeDtypeStruct((b,), jnp.int32)

    def f(state, xb, yb):
        m = nnx.merge(graphdef, state)
        if eval_transform is not None:
            xb = eval_transform(xb)
        res = forward(m, xb)
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise TypeError(f"forward must return (outputs [T, B, C], [spikes, ...]), got {describe(res)}")
        out, spikes = res
        if not isinstance(spikes, (tuple, list, dict)):
            raise TypeError(
                f"forward must return (outputs, spikes) with spikes a list (or a dict of named "
                f"layers) of arrays, possibly empty, got spikes {describe(spikes)}"
            )
        return out, logits_fn(out), loss_fn(out, yb)

    out, logits, loss = jax.eval_shape(f, state, xs, ys)
    shape = tuple(getattr(logits, "shape", ()))
    if len(shape) != 2 or shape[0] != b:
        raise ValueError(
            f"logits_fn(outputs) must return logits [B, C] = [{b}, C] for a batch of {b}, "
            f"got shape {shape} (outputs of shape {tuple(getattr(out, 'shape', ()))})"
        )
    if tuple(getattr(loss, "shape", (None,))) != ():
        raise ValueError(
            f"loss_fn(outputs, labels) must return a scalar (the batch mean), got shape "
            f"{tuple(getattr(loss, 'shape', ()))}"
        )
    c = int(shape[1])
    for name, y in label_sets:
        check_labels(name, y, num_classes=c)
    return c


def fit(
    model: nnx.Module,
    optimizer: nnx.Optimizer,
    *,
    forward: Forward | None = None,
    loss_fn: Callable | None = None,
    logits_fn: Callable | None = None,
    encode: Callable[[jax.Array], jax.Array] | None = None,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
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
    stop_on_nan: bool = True,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs; returns the per-epoch metric rows.

    Args:
      model: an NNX model.
      optimizer: ``nnx.Optimizer(model, tx, wrt=nnx.Param)``.
      forward: see :func:`make_steps`. Default for classification:
        :func:`recorded_forward` (``model(x)``, every neuron layer's outputs
        recorded, so the metrics are named by layer).
      loss_fn: see :func:`make_steps`. Default: :func:`~snnjax.train.mean_over_time_ce`.
      logits_fn: see :func:`make_steps`. Default: the mean over time.
      encode: optional ``encode(x) -> xs [T, B, ...]`` applied to every batch inside the
        compiled steps, after the transforms (e.g. ``lambda x: encoding.direct(x, T)``, or
        a latency / rate code), so the data set holds static inputs.
      train_data: ``(inputs, labels)`` arrays with a shared leading N >= 1;
        labels integer class indices in ``[0, C)`` (C: the width of ``logits_fn``'s
        output), inputs finite, the same per-example shape in both sets.
      test_data: the same, for evaluation.
      epochs: total number of epochs (a resumed run trains the remaining ones).
      batch_size: training batch size; the last partial batch of an epoch is used too.
      seed: data-order seed (int >= 0; epoch ``e`` uses ``(seed, e)``).
      out_dir: where ``metrics.jsonl``, ``metrics.csv``, ``final.json`` and
        ``checkpoints/`` go; ``None`` writes nothing (no checkpoints, no resume). Without
        ``resume`` it must not hold a run already (fit never overwrites one).
      resume: restore the newest good checkpoint in ``out_dir`` and continue (bit-exactly);
        the metrics files are cut back to that epoch. No checkpoint: a fresh start (logged).
        Damaged checkpoints: see :mod:`snnjax.train.checkpoint` (fall back to the newest good
        one, or :class:`~snnjax.train.checkpoint.CheckpointCorruptError` if there is none).
      eval_batch_size: test batch size (the final partial batch is evaluated, not dropped).
      lr_schedule: optional schedule of optimiser steps, logged per epoch as ``lr``; its
        values must be finite and >= 0.
      progress: show a tqdm progress bar (if tqdm is installed).
      log: where the one-line epoch summaries and resume notes go.
      devices: data parallelism over these devices (a count, the first ``n`` of
        ``jax.devices()``, or a list); ``batch_size`` and ``eval_batch_size`` must be
        multiples of their number. ``None`` (default): one device, no sharding.
      train_transform: see :func:`make_steps`; the key of training step ``i``
        of epoch ``e`` is :func:`batch_key` ``(augment_seed, e, i)``.
      eval_transform: see :func:`make_steps`.
      augment_seed: seed of the augmentation keys (default ``seed``).
      max_steps_per_epoch: stop each epoch after this many training steps (quick runs and
        throughput measurements; ``None``: the whole training set).
      stop_on_nan: (default ``True``) raise :class:`NonFiniteLossError` (a
        ``FloatingPointError``) naming the epoch and step as soon as a training step's loss
        is NaN/inf; nothing of that epoch is written (no metrics row, no checkpoint), so the
        last good checkpoint is what ``resume=True`` continues from. ``False``: train on
        (the loss is checked anyway, at no extra cost: it is read back every step).

    Raises:
      TypeError / ValueError: a bad argument, before anything is compiled or trained.
      NonFiniteLossError: see ``stop_on_nan``.
    """
    # ---- arguments, all before anything is compiled, restored or trained
    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be an nnx.Module, got {describe(model)}")
    if not isinstance(optimizer, nnx.Optimizer):
        raise TypeError(
            f"optimizer must be an nnx.Optimizer (nnx.Optimizer(model, tx, wrt=nnx.Param)), got {describe(optimizer)}"
        )
    if forward is None:
        forward = recorded_forward()
    if loss_fn is None:
        from snnjax.train.losses import mean_over_time_ce as loss_fn
    if logits_fn is None:
        logits_fn = _mean_over_time
    _check_fns(forward, loss_fn, logits_fn, train_transform, eval_transform)
    check_callable("encode", encode, allow_none=True, signature="encode(x) -> xs [T, B, ...]")
    if encode is not None:
        forward = _encoded(forward, encode)
    check_callable("lr_schedule", lr_schedule, allow_none=True, signature="lr_schedule(step) -> learning rate")
    check_callable("log", log, signature="log(str)")
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    eval_batch_size = positive_int("eval_batch_size", eval_batch_size)
    max_steps_per_epoch = positive_int("max_steps_per_epoch", max_steps_per_epoch, allow_none=True)
    seed = check_int("seed", seed, low=0)
    augment_seed = check_int("augment_seed", augment_seed, low=0, allow_none=True)
    resume = check_bool("resume", resume)
    progress = check_bool("progress", progress)
    stop_on_nan = check_bool("stop_on_nan", stop_on_nan)
    if out_dir is not None:
        if not isinstance(out_dir, (str, os.PathLike)):
            raise TypeError(f"out_dir must be a str, an os.PathLike or None, got {describe(out_dir)}")
        out_dir = os.fspath(out_dir)
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise ValueError(f"out_dir must be a directory, got the file {out_dir!r}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (where the checkpoints are), got out_dir=None")
    place = _Placer(data_parallel_mesh(devices))
    if place.mesh is not None:
        for name, size in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if size % place.n:
                raise ValueError(f"{name} ({size}) must be a multiple of the number of devices ({place.n})")
    x, y = check_dataset("train_data", train_data)
    x_test, y_test = check_dataset("test_data", test_data)
    if x.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"train_data and test_data inputs must have the same per-example shape, got "
            f"{x.shape[1:]} and {x_test.shape[1:]}"
        )
    spe = num_batches(len(y), batch_size, drop_last=False)
    steps = spe if max_steps_per_epoch is None else min(spe, max_steps_per_epoch)
    lrs = [None] * epochs
    if lr_schedule is not None:
        lrs = [
            check_lr_value(f"lr_schedule({e * steps}) (the learning rate of epoch {e})", lr_schedule(e * steps))
            for e in range(epochs)
        ]
    _check_optimizer_lr(optimizer)
    _check_model_outputs(
        model,
        forward,
        loss_fn,
        logits_fn,
        eval_transform,
        x,
        min(batch_size, len(y)),
        (("train_data[1] (labels)", y), ("test_data[1] (labels)", y_test)),
    )

    # ---- output directory: metrics, checkpoints, resume
    aug_seed = seed if augment_seed is None else augment_seed
    primary = is_primary()  # in a multi-process run only process 0 writes the metrics files
    writer = MetricsWriter(out_dir) if out_dir else None
    ckpt = Checkpointer(os.path.join(out_dir, "checkpoints"), log=log) if out_dir else None
    try:
        start = 0
        if out_dir and not resume:
            have, old_rows = ckpt.all_epochs(), writer.rows()
            if have or old_rows:
                raise ValueError(
                    f"out_dir {out_dir!r} already holds a run (checkpoints of epoch indices {have}, {len(old_rows)} "
                    "metrics rows); pass resume=True to continue it, or another out_dir (fit never overwrites a run)"
                )
            _barrier("snnjax.fit: out_dir checked")  # every process has looked before process 0 writes
            if primary:
                writer.truncate(-1)  # no complete row: clear a metrics file cut short before its first row
        if resume:
            old_rows = writer.rows()
            place.replicate(model, optimizer)  # restored straight into the (global) sharding
            done = ckpt.restore(model, optimizer)
            _barrier("snnjax.fit: restored")  # every process has read the metrics rows
            if done is None:
                log(f"no checkpoint in {ckpt.directory}: starting from scratch")
                if old_rows:
                    log(f"dropping the {len(old_rows)} rows of {writer.jsonl} (no checkpoint has their state)")
                if primary:
                    writer.truncate(-1)
            else:
                if done + 1 > epochs:
                    raise ValueError(
                        f"epochs must be >= the {done + 1} epochs the checkpoint in {ckpt.directory} "
                        f"has trained (resume=True), got {epochs}"
                    )
                start = done + 1
                later = sorted({r["epoch"] for r in old_rows if r["epoch"] > done})
                if later:
                    log(
                        f"dropping the metrics rows of epoch indices {later} "
                        f"(newer than the checkpoint, epoch index {done})"
                    )
                if primary:
                    writer.truncate(done)
                log(f"resumed from the checkpoint of epoch {done + 1}")
            _barrier("snnjax.fit: metrics cut back")
        place.replicate(model, optimizer)
        train_step, eval_step = make_steps(
            forward, loss_fn, logits_fn, train_transform=train_transform, eval_transform=eval_transform
        )
        rows = [r for r in writer.rows() if r["epoch"] < start] if writer else []
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            loss_sum, correct, n = 0.0, 0, 0
            it = batches((x, y), batch_size, shuffle=True, seed=seed, epoch=epoch)
            bar = _progress(it, steps, f"epoch {epoch + 1}/{epochs}", progress)
            model.train()
            for i, (xb, yb) in enumerate(bar):
                if i == steps:
                    break
                extra = () if train_transform is None else (batch_key(aug_seed, epoch, i),)
                loss, c, _ = train_step(model, optimizer, *place.batch(xb, yb), *extra)
                lv = float(loss)
                if stop_on_nan and not math.isfinite(lv):
                    last = ckpt.latest_epoch() if ckpt else None
                    where = (
                        f"the last good checkpoint is epoch {last + 1} (index {last}) in {ckpt.directory}"
                        if last is not None
                        else "there is no checkpoint"
                    )
                    raise NonFiniteLossError(
                        f"training loss is {lv} at epoch {epoch + 1}/{epochs}, step {i + 1}/{steps} (0-based: "
                        f"epoch={epoch}, step={i}); stopped without writing a metrics row or checkpoint for this "
                        f"epoch ({where}); model and optimizer hold the non-finite update "
                        "(stop_on_nan=False trains on)"
                    )
                loss_sum += lv * len(yb)
                correct += int(c)
                n += len(yb)
                if bar is not it:
                    bar.set_postfix(loss=f"{loss_sum / n:.4f}", acc=f"{100 * correct / n:.2f}%")
            train_time = time.perf_counter() - t0
            test = _evaluate_mode(eval_step, model, x_test, y_test, eval_batch_size, place)
            row = {
                "epoch": epoch,
                "lr": lrs[epoch],
                "train_loss": loss_sum / n,
                "train_acc": correct / n,
                **{f"test_{k}": v for k, v in test.items()},
                "train_time_s": train_time,
                "epoch_time_s": time.perf_counter() - t0,
            }
            rows.append(row)
            if writer:
                if primary:
                    writer.write(row)
                ckpt.save(epoch, model, optimizer)  # every process: Orbax writes a global checkpoint together
            log(
                f"epoch {epoch + 1}/{epochs}  train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%  "
                f"test loss {row['test_loss']:.4f} acc {100 * row['test_acc']:.2f}%  ({train_time:.1f} s)"
            )
        if out_dir and rows and primary:
            with open(os.path.join(out_dir, "final.json"), "w") as f:
                json.dump({"epochs": len(rows), "test_acc": rows[-1]["test_acc"], "last": rows[-1]}, f, indent=2)
    finally:
        if ckpt:
            ckpt.close()
    return rows
