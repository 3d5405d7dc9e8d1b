"""The fused backend's unroll rule: a while loop over T, or the sequence unrolled at trace time.

``snnjax.kernels.fused.fused_run`` unrolls its forward and backward scans fully when
``T <= UNROLL_MAX_T`` (6). This script is the measurement behind that constant: for each
neuron, sequence length T and per-step shape (B, N) it times forward+backward
(``vjp`` of ``run`` w.r.t. the inputs, one output cotangent) with ``unroll=1`` (a while
loop) and ``unroll=T`` (no loop), interleaved over ``--rounds`` rounds (each round: one
median of 3 runs per variant, so drift of a shared machine hits both alike), and reports
the median over rounds, the speed-up ``loop / unrolled`` and the compile times. Both
variants' outputs and input gradients are checked to agree (float32 reassociation only).

Writes JSON lines to ``--out`` and prints a Markdown table.

    python benchmarks/fused_unroll.py --out benchmarks/results/fused_unroll_cpu.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import _host  # first: glibc malloc settings, before jax / torch allocate

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from snnjax import neurons  # noqa: E402
from snnjax.kernels.fused import UNROLL_MAX_T, fused_run  # noqa: E402

NEURONS = {
    "lif": (neurons.lif.step, lambda: neurons.LIFParams(tau=2.0, surrogate="atan")),
    "plif": (neurons.plif.step, lambda: neurons.PLIFParams()),
    "alif": (neurons.alif.step, lambda: neurons.ALIFParams(tau=3.0, tau_adapt=6.0, beta_adapt=0.4)),
    "spytorch-lif": (neurons.spytorch_lif.step, lambda: neurons.SpytorchLIFParams()),
    "ilif": (neurons.ilif.step, lambda: neurons.ILIFParams()),
    "clif": (neurons.clif.step, lambda: neurons.CLIFParams()),
    "polara": (neurons.polara.step, lambda: neurons.PolaraParams()),
}


def compiled_fwd_bwd(name: str, unroll: int, xs, ct):
    step, make_params = NEURONS[name]
    params = make_params()
    state = neurons.init_state_for(step)(xs.shape[1:], xs.dtype, params=params)

    def fwd_bwd(xs, ct):
        ys, pull = jax.vjp(lambda v: fused_run(step, params, v, state, unroll=unroll)[1], xs)
        return ys, pull(ct)[0]

    t0 = time.perf_counter()
    exe = jax.jit(fwd_bwd).lower(xs, ct).compile()
    return exe, time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file (appended)")
    p.add_argument("--neurons", nargs="+", default=list(NEURONS), choices=list(NEURONS))
    p.add_argument("--ts", nargs="+", type=int, default=[2, 4, 6, 8, 12])
    p.add_argument("--shapes", nargs="+", default=["16,1024", "128,8192"], help="B,N pairs")
    p.add_argument("--rounds", type=int, default=5)
    _host.add_argument(p)
    args = p.parse_args(argv)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "malloc": MALLOC,
        "python": platform.python_version(),
        "unroll_max_t": UNROLL_MAX_T,
        "rounds": args.rounds,
    }
    record = _host.JsonLines(args.out, meta)
    rng = np.random.default_rng(0)
    for shape_s in args.shapes:
        b, n = (int(v) for v in shape_s.split(","))
        for t in args.ts:
            xs = jnp.asarray(rng.normal(0.6, 0.8, (t, b, n)).astype(np.float32))
            ct = jnp.asarray(rng.normal(size=(t, b, n)).astype(np.float32))
            for name in args.neurons:
                loop, c_loop = compiled_fwd_bwd(name, 1, xs, ct)
                unrolled, c_unr = compiled_fwd_bwd(name, t, xs, ct)
                a, u = loop(xs, ct), unrolled(xs, ct)
                for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(u), strict=True):
                    np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-5 * (1 + float(jnp.max(jnp.abs(x)))))
                t_loop, t_unr = [], []
                for _ in range(args.rounds):
                    t_loop.append(1e3 * _host.median_seconds(loop, (xs, ct), 3, warmup=0))
                    t_unr.append(1e3 * _host.median_seconds(unrolled, (xs, ct), 3, warmup=0))
                rec = {
                    "neuron": name,
                    "shape": [t, b, n],
                    "pass": "fwd+bwd",
                    "loop_ms": statistics.median(t_loop),
                    "unrolled_ms": statistics.median(t_unr),
                    "compile_loop_s": c_loop,
                    "compile_unrolled_s": c_unr,
                }
                rec["speedup"] = rec["loop_ms"] / rec["unrolled_ms"]
                record.emit(rec)
    record.close()
    print()
    print(f"device: {meta['device']}; fwd+bwd, median over {args.rounds} interleaved rounds")
    print("| neuron | T, B, N | while loop ms | unrolled ms | loop / unrolled | compile s (loop / unrolled) |")
    print("|---|---|---:|---:|---:|---|")
    for r in record.rows:
        print(
            f"| {r['neuron']} | {', '.join(map(str, r['shape']))} | {r['loop_ms']:.2f} | {r['unrolled_ms']:.2f} | "
            f"{r['speedup']:.2f}x | {r['compile_loop_s']:.1f} / {r['compile_unrolled_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
