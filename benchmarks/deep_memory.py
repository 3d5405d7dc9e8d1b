"""Peak memory of the papers' deep training steps under each rematerialisation policy (XLA's
memory analysis of the compiled step: nothing is run).

* ILIF's CIFAR network: pre-activation ResNet-18, ILIF, T = 6 (the DVS protocol's longest
  static-image setting; CIFAR uses 4–6), TET loss, SGD;
* POLARA's CIFAR network: ResNet-38, POLARA (Eq. 17 mask), T = 50, mean-over-time CE.

Each step is the experiment script's own (``benchmarks/deep_train_speed.build``: model, loss,
optimiser, augmentation inside the step), compiled with ``jax.jit(...).lower(...).compile()``;
``memory_analysis()`` gives the sizes XLA's buffer assignment fixed: arguments (parameters,
optimiser state, the batch), outputs, and the temporaries (activations kept for the backward
pass, workspace). ``peak`` = arguments + outputs + temporaries − aliased (donated) bytes: what
the device must hold at once. The policies:

==============  =================================================================================
``none``        every activation kept (the neurons' ``backend="auto"`` time loop)
``blocks``      ``--remat on``: each residual block recomputed in the backward pass (``nnx.remat``)
``neurons:K``   ``--checkpoint-every K``: every neuron layer keeps its state only every K steps
                (``lax.scan`` chunks recomputed backward: ``snnjax.run(checkpoint_every=K)``)
``both:K``      the two together
==============  =================================================================================

    python benchmarks/deep_memory.py --out benchmarks/results/deep_memory_cpu.jsonl
    python benchmarks/deep_memory.py --batch 64 --models polara_resnet38    # on a GPU
"""

from __future__ import annotations

import argparse
import time

import deep_train_speed
import jax
from _host import JsonLines, xla_memory

POLICIES = {
    "none": ("--remat", "off"),
    "blocks": ("--remat", "on"),
    "neurons": ("--remat", "off", "--checkpoint-every", "{k}"),
    "both": ("--remat", "on", "--checkpoint-every", "{k}"),
}
DEFAULT_T = {"ilif_resnet18": 6, "polara_resnet38": 50}
DEFAULT_K = {"ilif_resnet18": 2, "polara_resnet38": 10}


def measure(model: str, policy: str, batch: int, T: int, k: int, bf16: bool) -> dict:
    extra = tuple(a.format(k=k) for a in POLICIES[policy])
    step, m, opt, x, y, _, T = deep_train_speed.build(model, "auto", batch, T, bf16, extra)
    t0 = time.perf_counter()
    mem = xla_memory(step.lower(m, opt, x, y, jax.random.key(0)).compile())
    return {
        "model": model,
        "policy": f"{policy}:{k}" if "{k}" in POLICIES[policy] else policy,
        "T": T,
        "bf16": bf16,
        **{f"{key}_mib": v / 2.0**20 for key, v in mem.items()},
        "compile_s": time.perf_counter() - t0,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_T), choices=list(DEFAULT_T))
    p.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--T", type=int, default=None, help="override the time steps (default 6 / 50)")
    p.add_argument("--k", type=int, default=None, help="checkpoint_every of the neurons (default 2 / 10)")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--out", default=None, help="JSON-lines file (appended)")
    args = p.parse_args(argv)
    rec = JsonLines(
        args.out,
        {
            "bench": "deep_memory",
            "device": str(jax.devices()[0]),
            "jax": jax.__version__,
            "batch": args.batch,
            "date": time.strftime("%Y-%m-%d"),
        },
    )
    for model in args.models:
        T = args.T or DEFAULT_T[model]
        k = args.k or DEFAULT_K[model]
        for dtype in args.dtypes:
            for policy in args.policies:
                rec.emit(measure(model, policy, args.batch, T, k, dtype == "bfloat16"))
    print("\n| model | T | batch | compute | policy | arguments | temporaries | peak | vs none |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = {}
    for r in rec.rows:
        key = (r["model"], r["bf16"])
        base.setdefault(key, r["peak_mib"] if r["policy"] == "none" else None)
        ratio = "" if base[key] is None else f"{r['peak_mib'] / base[key]:.2f}×"
        print(
            f"| {r['model']} | {r['T']} | {args.batch} | {'bf16' if r['bf16'] else 'fp32'} | {r['policy']} | "
            f"{r['arguments_mib']:.0f} MiB | {r['temp_mib']:.0f} MiB | {r['peak_mib']:.0f} MiB | {ratio} |"
        )
    rec.close()


if __name__ == "__main__":
    main()
