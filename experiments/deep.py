"""What the deep-network experiment scripts share: data sets by name, synthetic smoke data,
transforms, optimiser, the training run, plots and the spike/energy analysis.

Used by ``experiments/ilif_cifar.py`` (ILIF Tables 1-5) and ``experiments/polara_cifar.py``
(POLARA's CIFAR rows). Each script defines its protocol (arguments and defaults) and its
model; everything else is here, so the two scripts cannot drift apart.

Data layout: images are ``uint8 [N, H, W, C]`` (channels last) and are turned into float,
augmented and normalised *inside* the compiled train step
(:mod:`snnjax.data.augment`); event frames are ``float32 [N, T, H, W, 2]`` and are fed
time-major. Direct encoding repeats an image over T (:func:`snnjax.encoding.direct`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import data, train
from snnjax.data import augment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)


@dataclass(frozen=True)
class DatasetInfo:
    """What a script needs to know of a data set: its kind, classes and normalisation."""

    name: str
    kind: str  # "image" (uint8 [N, H, W, C], direct encoding) or "frames" (float32 [N, T, H, W, 2])
    num_classes: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


DATASETS = {
    "cifar10": DatasetInfo("cifar10", "image", 10, augment.CIFAR10_MEAN, augment.CIFAR10_STD),
    "cifar100": DatasetInfo("cifar100", "image", 100, augment.CIFAR100_MEAN, augment.CIFAR100_STD),
    "dvs_gesture": DatasetInfo("dvs_gesture", "frames", 11),
    "cifar10_dvs": DatasetInfo("cifar10_dvs", "frames", 10),
    "mnist": DatasetInfo("mnist", "image", 10, MNIST_MEAN, MNIST_STD),
    "fashion_mnist": DatasetInfo("fashion_mnist", "image", 10, FASHION_MEAN, FASHION_STD),
}


# --------------------------------------------------------------------------- data


def synthetic_images(n: int, num_classes: int, *, size: int = 32, channels: int = 3, seed: int = 0):
    """A learnable synthetic image set: class ``c`` is a fixed random colour plus a fixed
    low-frequency pattern, with per-image noise; uint8 ``[n, size, size, channels]``.

    Crop, flip and Cutout keep the class visible, so a small network overfits it quickly
    (the ``--smoke`` runs)."""
    rng = np.random.default_rng(seed)
    palette = np.random.default_rng(12345).uniform(40, 215, (num_classes, channels))
    yy, xx = np.mgrid[0:size, 0:size] / size
    freq = np.random.default_rng(54321).uniform(1, 3, (num_classes, 2))
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    pattern = 30 * np.sin(2 * np.pi * (freq[labels, 0, None, None] * yy + freq[labels, 1, None, None] * xx))
    images = palette[labels][:, None, None, :] + pattern[..., None] + rng.normal(0, 12, (n, size, size, channels))
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int32)


def synthetic_frames(n: int, num_classes: int, *, T: int, size: int = 32, seed: int = 0):
    """Synthetic event frames ``float32 [n, T, size, size, 2]``: class ``c`` has events in a
    fixed band of rows (ON) and columns (OFF), moving by one pixel per frame, plus noise."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % num_classes).astype(np.int32)
    rng.shuffle(labels)
    frames = (rng.uniform(size=(n, T, size, size, 2)) < 0.02).astype(np.float32)
    band = max(1, size // num_classes)
    for i, c in enumerate(labels):
        for t in range(T):
            r0 = (c * band + t) % size
            frames[i, t, r0 : r0 + band, :, 1] += 1.0
            frames[i, t, :, r0 : r0 + band, 0] += 1.0
    return frames, labels


def load_dataset(
    name: str,
    data_dir: str | None,
    *,
    T: int,
    frame_size: int | None = None,
    split_by: str = "number",
    cifar100_labels: str = "fine",
    cache_dir: str | None = None,
):
    """``(train, test)`` as ``(x, y)`` NumPy pairs for a data set of :data:`DATASETS`."""
    info = DATASETS[name]
    if name in ("mnist", "fashion_mnist"):
        d = data_dir or os.path.join(SHARED, name)
        load = data.load_mnist if name == "mnist" else data.load_fashion_mnist
        out = []
        for split in ("train", "test"):
            x, y = load(d, split)
            out.append((x[..., None], y.astype(np.int32)))
        return tuple(out)
    if data_dir is None:
        raise ValueError(f"--data-dir is required for {name} (no copy of it ships with snnjax; see the README)")
    if name == "cifar10":
        return tuple(data.load_cifar10(data_dir, s) for s in ("train", "test"))
    if name == "cifar100":
        return tuple(data.load_cifar100(data_dir, s, label_mode=cifar100_labels) for s in ("train", "test"))
    load = data.load_dvs_gesture if name == "dvs_gesture" else data.load_cifar10_dvs
    assert info.kind == "frames"
    return tuple(
        load(data_dir, s, T=T, split_by=split_by, size=frame_size, cache_dir=cache_dir) for s in ("train", "test")
    )


def transforms(
    info: DatasetInfo,
    *,
    augment_on: bool,
    cutout: str = "toolbox",
    cutout_length: int = 16,
    flip: bool = True,
    translate: str = "roll",
):
    """``(train_transform(key, x), eval_transform(x))``, run inside the compiled steps; both
    return float batches ``[B, H, W, C]`` (images) or ``[B, T, H, W, 2]`` (frames).

    Images: :func:`snnjax.data.augment.cifar_train_transform` (crop with 4-pixel padding,
    ``cutout`` mode, horizontal flip, per-channel normalisation) or, without augmentation,
    the normalisation alone. Frames: :func:`~snnjax.data.augment.dvs_train_transform`
    (``flip``, ``translate``)."""
    if info.kind == "image":
        mean, std = info.mean, info.std

        def eval_t(x):
            return augment.cifar_eval_transform(x, mean=mean, std=std)

        def train_t(key, x):
            return augment.cifar_train_transform(
                key, x, mean=mean, std=std, augment=augment_on, cutout=cutout, cutout_length=cutout_length
            )

        return train_t, eval_t

    def eval_f(x):
        return x.astype(jnp.float32)

    def train_f(key, x):
        x = x.astype(jnp.float32)
        return augment.dvs_train_transform(key, x, flip=flip, translate=translate) if augment_on else x

    return train_f, eval_f


def transform_options(args) -> dict[str, Any]:
    """The keyword arguments of :func:`transforms` for parsed arguments."""
    return dict(
        augment_on=not args.no_augment,
        cutout=args.cutout,
        cutout_length=args.cutout_length,
        flip=args.flip == "on",
        translate=args.translate,
    )


def make_forward(info: DatasetInfo, T: int):
    """``forward(model, x) -> (outputs [T, B, C] float32, spikes)``: direct encoding of an
    image batch, or time-major event frames."""

    def forward(model, x):
        xs = snnjax.encoding.direct(x, T) if info.kind == "image" else jnp.swapaxes(x, 0, 1)
        out, spikes = model(xs, return_spikes=True)
        return out.astype(jnp.float32), spikes

    return forward


# --------------------------------------------------------------------------- arguments


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The arguments both scripts take (each script sets its own protocol defaults)."""
    p.add_argument("--data-dir", default=None, help="data directory (CIFAR archive/folder, DVS release root)")
    p.add_argument("--results-dir", required=True, help="metrics, checkpoints, plots and analysis go here")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --results-dir")
    p.add_argument("--devices", type=int, default=None, help="data-parallel over the first N devices")
    train.distributed.add_arguments(p)
    p.add_argument("--seed", type=int, default=None, help="parameter / data-order / augmentation seed")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--eval-batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--T", type=int, default=None, help="time steps")
    p.add_argument("--no-augment", action="store_true", help="no crop / flip / Cutout (the papers' text)")
    p.add_argument(
        "--cutout",
        choices=augment.CUTOUT_MODES,
        default=None,
        help="Cutout of the image pipeline: toolbox (the official scripts' torchtoolbox Cutout), "
        "devries (a 16-pixel hole after normalisation), none",
    )
    p.add_argument("--cutout-length", type=int, default=16, help="side of the devries hole")
    p.add_argument(
        "--flip",
        choices=("on", "off"),
        default=None,
        help="DVS frames: horizontal flips (default on for cifar10_dvs, off for dvs_gesture, whose "
        "left- and right-hand gestures are different classes)",
    )
    p.add_argument(
        "--translate",
        choices=("roll", "crop", "none"),
        default=None,
        help="DVS frames: random shift by up to 5 pixels (roll: circular, as the CLIF code)",
    )
    p.add_argument("--frame-size", type=int, default=None, help="DVS frames downsampled to this size (e.g. 48)")
    p.add_argument("--split-by", choices=("number", "time"), default="number", help="DVS event-to-frame split")
    p.add_argument(
        "--cache-dir", default=None, help="DVS frame cache (.npz; default: frames_cache/ beside --results-dir)"
    )
    p.add_argument("--cifar100-labels", choices=("fine", "coarse"), default="fine")
    p.add_argument("--backend", choices=snnjax.scan.BACKENDS, default="auto", help="neuron time-loop backend")
    p.add_argument("--bf16", action="store_true", help="bfloat16 compute, float32 parameters and optimiser")
    p.add_argument(
        "--remat",
        choices=("on", "off"),
        default=None,
        help="recompute each residual block in the backward pass (memory for long T; default per script)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="every neuron layer stores its state only every K steps and recomputes the chunks in the "
        "backward pass (time-loop memory O(T/K + K) instead of O(T); with --backend auto or scan)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="evaluate on this fixed fraction of the training set instead of the test set",
    )
    p.add_argument("--train-subset", type=int, default=None, help="only the first N training examples")
    p.add_argument("--test-subset", type=int, default=None, help="only the first N test examples")
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--analysis-batches", type=int, default=2, help="test batches for the spike/energy analysis")
    p.add_argument(
        "--smoke", action="store_true", help="synthetic data and a narrow network: the whole pipeline in seconds"
    )
    p.add_argument("--no-progress", action="store_true")


def fill_defaults(args: argparse.Namespace, protocol: dict[str, Any]) -> argparse.Namespace:
    """Arguments left at ``None`` take the protocol's value."""
    for k, v in protocol.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    return args


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject bad numbers with ``p.error`` (exit 2, the usage and the argument's name), before
    any data is loaded; unknown names are rejected by the ``choices`` of the arguments."""
    for name in ("epochs", "batch_size", "eval_batch_size", "T"):
        v = getattr(args, name)
        if not isinstance(v, int) or v < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive int, got {v!r}")
    for name in ("devices", "max_steps_per_epoch", "train_subset", "test_subset", "frame_size", "checkpoint_every"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive int (or left out), got {v!r}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    if args.checkpoint_every is not None and args.backend not in ("auto", "scan"):
        p.error(f"--checkpoint-every is a lax.scan option: it needs --backend auto or scan, got {args.backend}")
    if args.analysis_batches < 0:
        p.error(f"--analysis-batches must be >= 0, got {args.analysis_batches}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr must be a finite number > 0, got {args.lr!r}")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        p.error(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if not 0.0 <= args.momentum < 1.0:
        p.error(f"--momentum must lie in [0, 1), got {args.momentum}")
    if not 0.0 <= args.dropout < 1.0:
        p.error(f"--dropout must lie in [0, 1), got {args.dropout}")
    if not 0.0 <= args.holdout < 1.0:
        p.error(f"--holdout must lie in [0, 1), got {args.holdout}")
    if args.cutout_length < 0:
        p.error(f"--cutout-length must be >= 0, got {args.cutout_length}")
    for name in ("batch_size", "eval_batch_size"):
        if args.devices is not None and getattr(args, name) % args.devices:
            p.error(
                f"--{name.replace('_', '-')} ({getattr(args, name)}) must be a multiple of --devices ({args.devices})"
            )


def neuron_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords every neuron layer of a run gets besides its equations' constants: the
    time-loop backend and its memory policy (``--backend``, ``--checkpoint-every``)."""
    kw: dict[str, Any] = {"backend": args.backend}
    if args.checkpoint_every is not None:
        kw["checkpoint_every"] = args.checkpoint_every
    return kw


# --------------------------------------------------------------------------- the run


def join_processes(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--distributed``: :func:`snnjax.train.distributed.join_from_args` (before anything else
    touches JAX); both batch sizes must be multiples of the global device count."""
    train.distributed.join_from_args(p, args, batch_sizes=("batch_size", "eval_batch_size"))


def sgd(args, steps_per_epoch: int, schedule_fn: Callable[[float, int], optax.Schedule]):
    """PyTorch's SGD (coupled weight decay added to the gradient, then momentum), with the
    schedule ``schedule_fn(lr, steps_per_epoch)``; returns ``(tx, schedule)``."""
    schedule = schedule_fn(args.lr, steps_per_epoch)
    tx = optax.chain(optax.add_decayed_weights(args.weight_decay), optax.sgd(schedule, momentum=args.momentum))
    return tx, schedule


def steps_per_epoch(args, n_train: int) -> int:
    """Optimiser steps per epoch (``--max-steps-per-epoch`` caps it), as the schedules count."""
    spe = data.num_batches(n_train, args.batch_size)
    return min(spe, args.max_steps_per_epoch) if args.max_steps_per_epoch else spe


def loss_fns(args):
    """``(loss, logits)``: TET with λ = ``--tet-lambda`` and φ = 1 (0: mean-over-time CE), and
    the time-averaged output for accuracy."""
    if args.tet_lambda > 0:

        def loss(out, y):
            return train.tet_loss(out, y, lam=args.tet_lambda, phi=1.0)
    else:
        loss = train.mean_over_time_ce
    return loss, lambda out: out.mean(0)


def prepare_data(args, info: DatasetInfo, smoke_shape: dict[str, int] | None = None):
    """Load (or synthesise) the data and apply ``--holdout`` / ``--*-subset``; returns
    ``(train, eval, eval_set_name)``."""
    if args.smoke:
        s = smoke_shape or {}
        n_train, n_test, size = s.get("n_train", 64), s.get("n_test", 32), s.get("size", 32)
        if info.kind == "image":
            ch = s.get("channels", 3)
            train_set = synthetic_images(n_train, info.num_classes, size=size, channels=ch, seed=1)
            test_set = synthetic_images(n_test, info.num_classes, size=size, channels=ch, seed=2)
        else:
            train_set = synthetic_frames(n_train, info.num_classes, T=args.T, size=size, seed=1)
            test_set = synthetic_frames(n_test, info.num_classes, T=args.T, size=size, seed=2)
    else:
        cache = args.cache_dir or os.path.join(os.path.dirname(os.path.abspath(args.results_dir)), "frames_cache")
        train_set, test_set = load_dataset(
            info.name,
            args.data_dir,
            T=args.T,
            frame_size=args.frame_size,
            split_by=args.split_by,
            cifar100_labels=args.cifar100_labels,
            cache_dir=cache if info.kind == "frames" else None,
        )
    x_tr, y_tr = train_set
    x_te, y_te = test_set
    if args.train_subset:
        x_tr, y_tr = x_tr[: args.train_subset], y_tr[: args.train_subset]
    eval_set = "test"
    if args.holdout:
        x_tr, y_tr, x_te, y_te = data.holdout_split(x_tr, y_tr, args.holdout)
        eval_set = f"holdout {args.holdout:g} of train"
    if args.test_subset:
        x_te, y_te = x_te[: args.test_subset], y_te[: args.test_subset]
    return (x_tr, np.asarray(y_tr, np.int32)), (x_te, np.asarray(y_te, np.int32)), eval_set


def describe_run(args, model, extra: dict[str, Any], script: str, argv) -> dict[str, Any]:
    """The ``config.json`` of a run: every argument, the model, versions and machine."""
    n_params = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))
    return {
        **vars(args),
        **extra,
        "n_params": n_params,
        "jax": jax.__version__,
        "snnjax": snnjax.__version__,
        "device": str(jax.devices()[0]),
        "n_devices": jax.device_count(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "command": " ".join([f"experiments/{script}", *(sys.argv[1:] if argv is None else argv)]),
    }


def plot_curves(out_dir: str, rows: list[dict], title: str) -> None:
    """``curves.png``: accuracy, loss and mean eval firing rate per epoch (:func:`snnjax.viz.training_curves`)."""
    from snnjax import viz

    keys = ["train_acc", "test_acc", "train_loss", "test_loss"] + (["test_rate"] if "test_rate_0" in rows[-1] else [])
    viz.training_curves(rows, keys=keys, title=title).savefig(os.path.join(out_dir, "curves.png"), dpi=100)


def execute(
    args,
    *,
    info: DatasetInfo,
    model,
    tx,
    schedule,
    config: dict[str, Any],
    train_set,
    eval_set_data,
    loss_fn,
    logits_fn,
    title: str,
) -> dict[str, Any]:
    """Train with :func:`snnjax.train.fit` (per-epoch metrics and Orbax checkpoints, exact
    resume), then plot the curves and run the spike / energy analysis on test batches."""
    os.makedirs(args.results_dir, exist_ok=True)
    if train.distributed.is_primary():  # one of several processes writes the run's files
        with open(os.path.join(args.results_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, default=str)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    train_t, eval_t = transforms(info, **transform_options(args))
    forward = make_forward(info, args.T)
    t0 = time.perf_counter()
    rows = train.fit(
        model, optimizer, forward=forward, loss_fn=loss_fn, logits_fn=logits_fn,
        train_data=train_set, test_data=eval_set_data, epochs=args.epochs, batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size, seed=args.seed, out_dir=args.results_dir, resume=args.resume,
        lr_schedule=schedule, progress=not args.no_progress, devices=args.devices,
        train_transform=train_t, eval_transform=eval_t, max_steps_per_epoch=args.max_steps_per_epoch,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    train.distributed.to_local(model, optimizer)  # with --distributed: the rest is process 0's alone
    if not train.distributed.is_primary():
        return {"eval_acc": rows[-1]["test_acc"], "epochs": len(rows), "process_index": jax.process_index()}
    plot_curves(args.results_dir, rows, title)
    summary = {
        "eval_acc": rows[-1]["test_acc"],
        "train_acc": rows[-1]["train_acc"],
        "eval_set": config["eval_set"],
        "epochs": len(rows),
        "wall_time_s_this_session": wall,
    }
    if args.smoke:  # the overfitting check: the training set in evaluation mode
        _, eval_step = train.make_steps(forward, loss_fn, logits_fn, eval_transform=eval_t)
        summary["train_acc_eval_mode"] = train.evaluate(eval_step, model, train_set, args.eval_batch_size)["acc"]
    if args.analysis_batches:
        summary["analysis"] = analyse(model, forward, eval_t, eval_set_data, args)
    with open(os.path.join(args.results_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: v for k, v in summary.items() if k != "analysis"}))
    return summary


def analyse(model, forward, eval_t, eval_data, args) -> dict[str, Any]:
    """Spike statistics and the SOP / energy estimate of ILIF Table 5 on the first
    ``--analysis-batches`` evaluation batches (model in evaluation mode); written to
    ``analysis.json`` / ``analysis.md`` and plotted."""
    from snnjax import analysis

    x, _ = eval_data
    n = min(len(x), args.analysis_batches * args.eval_batch_size)
    model.eval()
    try:
        xb = eval_t(jnp.asarray(x[:n]))
        result = analysis.analyse_model(forward, model, xb, batch_size=args.eval_batch_size, nonbinary="ac")
    finally:
        model.train()
    analysis.write_report(result, args.results_dir)
    return analysis.summary(result)
