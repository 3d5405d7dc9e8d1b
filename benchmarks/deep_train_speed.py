"""Training-step throughput of the papers' deep networks on synthetic CIFAR batches.

* ILIF's CIFAR network: pre-activation ResNet-18, ILIF neurons, T = 4, TET loss, SGD;
* POLARA's CIFAR network: ResNet-38, POLARA neurons (Eq. 17 mask), T = 50, mean-over-time CE.

Each configuration is built by the experiment scripts themselves (``experiments/ilif_cifar.py``
and ``experiments/polara_cifar.py``: the same model, loss, optimiser and the augmentation
inside the compiled step) and timed per neuron backend (``scan``, ``fused``, ``pallas``;
``auto`` is one of them). Printed and written as JSON lines: seconds per step (median of
``--repeats`` after a compile + warm-up step), images/s, and the projected wall time of the
full protocol (epochs × 50 000 training images / images/s, evaluation not included).

    python benchmarks/deep_train_speed.py --batch 16 --out benchmarks/results/deep_train_speed_cpu.jsonl
    python benchmarks/deep_train_speed.py --batch 128 --models ilif_resnet18 polara_resnet38 \\
        --backends scan fused pallas      # on a GPU (benchmarks/device_check.sh)
"""

from __future__ import annotations

import _host  # noqa: I001  (first: memory settings before jax / torch are imported)

MALLOC = _host.apply_from_argv()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from snnjax import train  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_TRAIN = 50_000


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(model_name: str, backend: str, batch: int, T: int | None, bf16: bool, extra: tuple[str, ...] = ()):
    """``(train_step, model, optimizer, x, y, epochs, T)`` for one configuration (``extra``: more
    arguments of the experiment script, e.g. ``("--remat", "on")``)."""
    extra = [*(["--bf16"] if bf16 else []), *extra]
    if model_name == "ilif_resnet18":
        mod = _script("ilif_cifar")
        argv = [
            "--neuron",
            "ilif",
            "--dataset",
            "cifar10",
            "--results-dir",
            "/tmp/unused",
            "--backend",
            backend,
            "--batch-size",
            str(batch),
            *(["--T", str(T)] if T else []),
            *extra,
        ]
        args = mod.parse(argv)
        model = mod.build_model(args, mod.deep.DATASETS["cifar10"], 3, 32)
    elif model_name == "polara_resnet38":
        mod = _script("polara_cifar")
        argv = [
            "--dataset",
            "cifar10",
            "--results-dir",
            "/tmp/unused",
            "--backend",
            backend,
            "--batch-size",
            str(batch),
            *(["--T", str(T)] if T else []),
            *extra,
        ]
        args = mod.parse(argv)
        model = mod.build_model(args, 10)
    else:
        raise ValueError(f"unknown model {model_name!r}")
    deep = mod.deep
    info = deep.DATASETS["cifar10"]
    tx, _ = deep.sgd(args, 391, lambda lr, s: lr)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    loss, logits = mod.loss_fns(args)
    train_t, eval_t = deep.transforms(info, **deep.transform_options(args))
    step, _ = train.make_steps(
        deep.make_forward(info, args.T), loss, logits, train_transform=train_t, eval_transform=eval_t
    )
    x, y = deep.synthetic_images(batch, 10, seed=0)
    return step, model, optimizer, jnp.asarray(x), jnp.asarray(y), args.epochs, args.T


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        nargs="+",
        default=["ilif_resnet18", "polara_resnet38"],
        choices=["ilif_resnet18", "polara_resnet38"],
    )
    p.add_argument("--backends", nargs="+", default=["scan", "fused"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--T", type=int, default=None, help="override the protocol's T (default 4 / 50)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--out", default=None, help="JSON-lines file (appended)")
    _host.add_argument(p)
    args = p.parse_args(argv)
    rec = _host.JsonLines(
        args.out,
        {
            "bench": "deep_train_speed",
            "malloc": MALLOC,
            "device": str(jax.devices()[0]),
            "jax": jax.__version__,
            "bf16": args.bf16,
            "batch": args.batch,
        },
    )
    rows = []
    for name in args.models:
        for backend in args.backends:
            try:
                step, model, opt, x, y, epochs, T = build(name, backend, args.batch, args.T, args.bf16)
                key = jax.random.key(0)
                t0 = time.perf_counter()
                jax.block_until_ready(step(model, opt, x, y, key))
                compile_s = time.perf_counter() - t0
                jax.block_until_ready(step(model, opt, x, y, key))  # warm-up
                times = []
                for i in range(args.repeats):
                    t0 = time.perf_counter()
                    jax.block_until_ready(step(model, opt, x, y, jax.random.fold_in(key, i)))
                    times.append(time.perf_counter() - t0)
                sec = float(np.median(times))
                ips = args.batch / sec
                r = {
                    "model": name,
                    "backend": backend,
                    "T": T,
                    "s_per_step": sec,
                    "images_per_s": ips,
                    "compile_s": compile_s,
                    "epochs": epochs,
                    "projected_h": epochs * N_TRAIN / ips / 3600,
                }
            except Exception as e:  # noqa: BLE001 -- a backend that fails to lower is reported, not fatal
                r = {"model": name, "backend": backend, "error": f"{type(e).__name__}: {str(e)[:300]}"}
            rec.emit(r)
            rows.append(r)
    print("\n| model | backend | T | batch | s/step | images/s | full protocol (h) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['backend']} | | | failed: {r['error'][:80]} | | |")
        else:
            print(
                f"| {r['model']} | {r['backend']} | {r['T']} | {args.batch} | {r['s_per_step']:.3f} | "
                f"{r['images_per_s']:.1f} | {r['projected_h']:.1f} ({r['epochs']} epochs) |"
            )
    rec.close()


if __name__ == "__main__":
    main()
