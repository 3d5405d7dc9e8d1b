"""POLARA MNIST-family reproduction (POLARA Table 1 and the Table 2 ablations).

Protocol (``../shared/NEURONS.md``): 784-100-C (EMNIST-byclass: 1024 hidden,
62 classes), T = 128, latency encoding (spytorch), batch 256, SGD lr 0.1 with
StepLR(step 2, ×0.8) per epoch, 40 epochs, leaky-integrator readout, max over
time, cross-entropy. The hidden neuron is POLARA (``--grad``, ``--ablation``)
or a baseline (spytorch-LIF, LIF, ILIF).

Each run writes into ``--results-dir``: ``config.json``, ``metrics.jsonl`` /
``metrics.csv`` (one row per epoch), ``final.json``, ``curves.png``,
``raster.png`` (hidden-layer output of one test example) and ``checkpoints/``
(one per epoch; ``--resume`` continues exactly).

Examples:
    python experiments/polara_mnist.py --neuron polara --dataset mnist --results-dir runs/polara_mnist
    python experiments/polara_mnist.py --neuron spytorch-lif --dataset fashion_mnist --results-dir runs/lif_fmnist
    python experiments/polara_mnist.py --neuron polara --ablation refractory --results-dir runs/abl_refractory
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import data, models, nn, train
from snnjax.models.mlp import spytorch_weight_scale
from snnjax.neurons import polara

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
DATASETS = {
    "mnist": (data.load_mnist, 10, 100),
    "fashion_mnist": (data.load_fashion_mnist, 10, 100),
    "emnist": (lambda d, split: data.load_emnist(d, split, subset="byclass"), 62, 1024),
}
NEURONS = ("polara", "spytorch-lif", "lif", "ilif")
# The latency code's threshold θ (intensities below it never fire): the library's default of
# snnjax.encoding.latency / latency_events, read from its signature so the value lives in one place.
LATENCY_THRESHOLD = inspect.signature(snnjax.encoding.latency_events).parameters["threshold"].default


def make_neuron(args) -> callable:
    if args.neuron == "polara":
        return lambda: nn.Polara(
            grad=args.grad, ablation=args.ablation, output=args.output, amplify=args.amplify, theta_tau=args.theta_tau,
            decay=args.decay,
        )  # fmt: skip
    if args.neuron == "spytorch-lif":
        return nn.SpytorchLIF
    if args.neuron == "lif":
        return nn.LIF
    return nn.ILIF


def default_ws(args) -> float:
    # POLARA has no synaptic filter (the spytorch filter's peak response to a unit
    # pulse is ~2.9), so its default input scale is 2.0 (NEURONS.md); "mask" mode and
    # the baselines use spytorch's 7(1 - beta) ~ 0.67.
    if args.neuron == "polara" and args.grad != "mask":
        return 2.0
    return spytorch_weight_scale()


holdout_split = data.holdout_split  # a fixed split of the training set, the same for every run seed


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neuron", choices=NEURONS, default="polara")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    p.add_argument("--data-dir", default=None, help="IDX directory (default ../shared/data/<dataset>)")
    p.add_argument("--results-dir", required=True)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--num-steps", type=int, default=128, help="time steps T")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default 100; EMNIST 1024)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--lr-step", type=int, default=2, help="StepLR step size in epochs")
    p.add_argument("--lr-gamma", type=float, default=0.8)
    p.add_argument(
        "--grad", choices=polara.GRAD_MODES, default="mask",
        help="POLARA gradient mode (default: the fidelity study's choice, POLARA_STUDY.md; NEURONS.md: exact)",
    )  # fmt: skip
    p.add_argument("--ablation", choices=polara.ABLATIONS, default=None, help="POLARA Table 2 ablation")
    p.add_argument("--output", choices=polara.OUTPUTS, default="continuous", help="POLARA output (issue #8)")
    p.add_argument(
        "--amplify", choices=polara.AMPLIFY, default="after_input",
        help="POLARA amplification order: Algorithm 1 (after_input) or Eqs. 8-9 (before_input)",
    )  # fmt: skip
    p.add_argument(
        "--decay", choices=polara.DECAYS, default="last",
        help="POLARA decay: Eq. 7 (last membrane) or Algorithm 1's window of past membranes",
    )  # fmt: skip
    p.add_argument("--theta-tau", type=float, default=None, help="POLARA threshold recovery time constant (steps)")
    p.add_argument(
        "--holdout", type=float, default=0.0,
        help="hold out this fraction of the training set (fixed split, seed-independent) and evaluate on it "
        "instead of the test set (model selection; the test set is not touched)",
    )  # fmt: skip
    p.add_argument("--ws", type=float, default=None, help="input-layer weight scale (default: see NEURONS.md)")
    p.add_argument("--ws-out", type=float, default=None, help="output-layer weight scale (default spytorch 0.67)")
    p.add_argument(
        "--input",
        choices=("event", "dense"),
        default="event",
        help="input layer path: event-driven latency events (default) or dense spikes; same results",
    )
    p.add_argument("--train-subset", type=int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="data-parallel over the first N devices (jax.sharding); batch size must be a multiple of N",
    )
    train.distributed.add_arguments(p)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.neuron != "polara" and (
        args.ablation
        or args.output != "continuous"
        or args.amplify != "after_input"
        or args.theta_tau is not None
        or args.decay != "last"
    ):
        p.error("--ablation, --output, --amplify, --decay and --theta-tau apply to --neuron polara only")
    if not 0.0 <= args.holdout < 1.0:
        p.error(f"--holdout must be in [0, 1), got {args.holdout}")
    for name in ("epochs", "batch_size", "num_steps", "lr_step"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive int, got {getattr(args, name)}")
    for name in ("hidden", "train_subset", "devices"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive int (or left out), got {getattr(args, name)}")
    if args.seed < 0:
        p.error(f"--seed must be >= 0, got {args.seed}")
    for name in ("lr", "lr_gamma"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            p.error(f"--{name.replace('_', '-')} must be a finite number > 0, got {getattr(args, name)}")
    for name in ("theta_tau", "ws", "ws_out"):
        if getattr(args, name) is not None and not math.isfinite(getattr(args, name)):
            p.error(f"--{name.replace('_', '-')} must be a finite number, got {getattr(args, name)}")
    if args.devices is not None and args.batch_size % args.devices:
        p.error(f"--batch-size ({args.batch_size}) must be a multiple of --devices ({args.devices})")
    train.distributed.join_from_args(p, args)  # --distributed: before anything else touches JAX
    return args


def plot(out_dir: str, rows: list[dict], raster: np.ndarray, title: str) -> None:
    """``curves.png`` (accuracy, loss per epoch) and ``raster.png`` (hidden spikes ``[T, N]`` of one example)."""
    from snnjax import viz

    curves = viz.training_curves(rows, keys=["train_acc", "test_acc", "train_loss", "test_loss"], title=title)
    curves.savefig(os.path.join(out_dir, "curves.png"), dpi=100)
    fig = viz.raster(raster, title=f"{title}: hidden-layer spikes, one test example")
    fig.savefig(os.path.join(out_dir, "raster.png"), dpi=100)


class Run(NamedTuple):
    """Everything one run needs: built from the parsed arguments by :func:`build`."""

    model: Any
    optimizer: Any
    schedule: Any
    forward: Any
    encode: Any
    train: tuple
    eval: tuple
    eval_set: str
    hidden: int
    ws: float
    ws_out: float
    max_events: int | None
    n_classes: int
    data_dir: str


def build(args) -> Run:
    """Data, model (fresh, seeded), optimiser and the encode-and-forward function of a run."""
    load, n_classes, hidden_default = DATASETS[args.dataset]
    data_dir = args.data_dir or os.path.join(SHARED, args.dataset)
    hidden = args.hidden or hidden_default
    ws = args.ws if args.ws is not None else default_ws(args)
    ws_out = args.ws_out if args.ws_out is not None else spytorch_weight_scale()

    x_train, y_train = load(data_dir, "train")
    x_test, y_test = load(data_dir, "test")
    if args.train_subset:
        x_train, y_train = x_train[: args.train_subset], y_train[: args.train_subset]
    x_train = x_train.reshape(len(x_train), -1)
    x_test = x_test.reshape(len(x_test), -1)
    eval_set = "test"
    if args.holdout:
        x_train, y_train, x_test, y_test = holdout_split(x_train, y_train, args.holdout)
        eval_set = f"holdout {args.holdout:g} of train"

    model = models.SpikingMLP(
        x_train.shape[1],
        (hidden,),
        n_classes,
        neuron=make_neuron(args),
        weight_scale=(ws, ws_out),
        input_mode=args.input,
        rngs=nnx.Rngs(args.seed),
    )
    spe = data.num_batches(len(y_train), args.batch_size, drop_last=False)
    schedule = train.step_lr(args.lr, spe, step_size=args.lr_step, gamma=args.lr_gamma)
    optimizer = nnx.Optimizer(model, optax.sgd(schedule), wrt=nnx.Param)
    T = args.num_steps

    if args.input == "event":
        # Exact compaction: no image of either split has more inputs above the latency
        # threshold (LATENCY_THRESHOLD) than this, so no spike is ever dropped (MNIST: 340 of 784).
        max_events = int(max((x > LATENCY_THRESHOLD * 255).sum(1).max() for x in (x_train, x_test)))

        def encode(x, T):
            return snnjax.encoding.latency_events(x, T, max_events=max_events)

    else:
        max_events, encode = None, snnjax.encoding.latency

    def encode_images(images):
        return encode(images.astype(jnp.float32) / 255.0, T)

    def forward(model, images):
        return model(encode_images(images), return_spikes=True)

    return Run(
        model, optimizer, schedule, forward, encode_images, (x_train, y_train), (x_test, y_test), eval_set,
        hidden, ws, ws_out, max_events, n_classes, data_dir,
    )  # fmt: skip


def main(argv=None) -> dict:
    args = parse(argv)
    os.makedirs(args.results_dir, exist_ok=True)
    run = build(args)
    model, optimizer, schedule, forward = run.model, run.optimizer, run.schedule, run.forward
    (x_train, y_train), (x_test, y_test) = run.train, run.eval
    data_dir, hidden, ws, ws_out = run.data_dir, run.hidden, run.ws, run.ws_out
    max_events, n_classes, eval_set = run.max_events, run.n_classes, run.eval_set

    config = {
        **vars(args),
        "data_dir": os.path.abspath(data_dir),
        "hidden": hidden,
        "ws": ws,
        "ws_out": ws_out,
        "max_events": max_events,
        "n_classes": n_classes,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "eval_set": eval_set,
        "neuron_params": repr(model.neurons[0].params()),
        "jax": jax.__version__,
        "snnjax": snnjax.__version__,
        "device": str(jax.devices()[0]),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "command": " ".join(
            [os.path.relpath(sys.argv[0], REPO) if sys.argv[0] else "polara_mnist.py", *(argv or sys.argv[1:])]
        ),
    }
    primary = train.distributed.is_primary()  # several processes (--distributed): process 0 writes the files
    if primary:
        with open(os.path.join(args.results_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, default=str)

    t0 = time.perf_counter()
    rows = train.fit(
        model,
        optimizer,
        forward=forward,
        loss_fn=train.max_over_time_ce,
        logits_fn=train.max_over_time_logits,
        train_data=(x_train, y_train),
        test_data=(x_test, y_test),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        out_dir=args.results_dir,
        resume=args.resume,
        lr_schedule=schedule,
        progress=not args.no_progress,
        devices=args.devices,
    )
    train.distributed.to_local(model)  # this process's own copy of the replicated model
    _, spikes = forward(model, jnp.asarray(x_test[:1]))
    title = f"{args.neuron}{'/' + args.ablation if args.ablation else ''} {args.dataset}"
    if primary:
        plot(args.results_dir, rows, np.asarray(spikes[0][:, 0]), title)
    summary = {
        "test_acc": rows[-1]["test_acc"],
        "eval_set": eval_set,
        "epochs": len(rows),
        "wall_time_s_this_session": time.perf_counter() - t0,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
