"""Is a hand-written LIF backward worth having? Generic whole-sequence VJP vs a specialised one.

Issue #6 asks for hand-written backward recurrences for the LIF family "where they are
measurably faster" than the generic whole-sequence VJP (``backend="fused"``, which saves the
state entering each step and pulls cotangents back with ``jax.vjp`` of the neuron's own
``step``). This script measures the best case for the specialisation: LIF with soft reset,
not detached, whose backward needs only the pre-spike membrane ``U_t``:

    forward (saves U_t):  U_t = λ m_{t-1} + x_t,  S_t = H(U_t - V_th),  m_t = U_t - S_t V_th
    backward:             g_t = σ'(U_t - V_th)
                          dU_t = dS_t g_t + dm_t (1 - V_th g_t)
                          dx_t = dU_t,  dm_{t-1} = λ dU_t

The hand-written gradient is first checked against autodiff through ``lax.scan`` (the script
stops if they differ), then ``scan``, ``fused`` and ``hand`` forward+backward are timed in
interleaved rounds (each configuration once per round, median over rounds) at the issue's four
CPU shapes. JSON lines to ``--out``, a Markdown table to stdout.

    python benchmarks/lif_backward.py --out benchmarks/results/lif_backward_cpu.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import _host  # first: glibc malloc settings, before jax / torch allocate

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np

import snnjax
from snnjax import neurons
from snnjax.neurons._common import decay_from_tau

CPU_SHAPES = [(500, 16, 1024), (128, 128, 256), (6, 128, 8192), (50, 64, 2048)]
PARAMS = neurons.LIFParams(tau=2.0, surrogate="atan")  # the neuron_speed.py benchmark's LIF


def hand_written(params: neurons.LIFParams):
    """LIF (soft reset, not detached) over ``[T, ...]`` with the backward written out by hand."""
    if params.reset != "soft" or params.detach_reset:
        raise ValueError("hand_written covers reset='soft', detach_reset=False only")
    lam = decay_from_tau(params.tau)
    v_th = params.v_th
    sg = params.surrogate

    def forward(xs, save):
        def body(m, x):
            u = lam * m + x
            s = sg(u - v_th).astype(x.dtype)  # the library's Heaviside, H(0) = 1
            return u - s * v_th, ((s, u) if save else s)

        return jax.lax.scan(body, jnp.zeros_like(xs[0]), xs)[1]

    @jax.custom_vjp
    def run(xs):
        return forward(xs, save=False)

    def run_fwd(xs):
        return forward(xs, save=True)

    def run_bwd(us, d_ys):
        def body(d_m, inp):
            u, d_s = inp
            g = sg.derivative(u - v_th)
            d_u = d_s * g + d_m * (1.0 - v_th * g)
            return lam * d_u, d_u

        return (jax.lax.scan(body, jnp.zeros_like(us[0]), (us, d_ys), reverse=True)[1],)

    run.defvjp(run_fwd, run_bwd)
    return run


def fwd_bwd(fn):
    return jax.jit(lambda xs, ct: jax.vjp(fn, xs)[1](ct)[0])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default=None, help="JSON-lines file to append to")
    _host.add_argument(ap)
    args = ap.parse_args(argv)

    variants = {
        "scan": lambda xs: snnjax.run(neurons.lif.step, PARAMS, xs, backend="scan")[1],
        "fused": lambda xs: snnjax.run(neurons.lif.step, PARAMS, xs, backend="fused")[1],
        "hand": hand_written(PARAMS),
    }
    fns, data = {}, {}
    for shape in CPU_SHAPES:
        rng = np.random.default_rng(0)
        xs = jnp.asarray(rng.normal(0.6, 0.8, shape).astype(np.float32))
        ct = jnp.asarray(rng.normal(size=shape).astype(np.float32))
        data[shape] = (xs, ct)
        for name, fn in variants.items():
            fns[shape, name] = fwd_bwd(fn)
            jax.block_until_ready(fns[shape, name](xs, ct))  # compile + warm up
        ref, got = fns[shape, "scan"](xs, ct), fns[shape, "hand"](xs, ct)
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-5, atol=1e-5)

    times = {key: [] for key in fns}
    for _ in range(args.rounds):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*data[key[0]]))
            times[key].append(1e3 * (time.perf_counter() - t0))

    date = datetime.date.today().isoformat()
    machine = f"{platform.machine()} {jax.device_count()}x{jax.devices()[0].platform}"
    print("| T, B, N | scan ms | fused ms | hand-written ms | hand / fused |")
    print("|---|---|---|---|---|")
    rows = []
    for shape in CPU_SHAPES:
        med = {name: statistics.median(times[shape, name]) for name in variants}
        print(
            f"| {', '.join(map(str, shape))} | {med['scan']:.1f} | {med['fused']:.1f} | "
            f"{med['hand']:.1f} | {med['hand'] / med['fused']:.2f} |"
        )
        rows.append(
            {
                "shape": shape,
                "ms": med,
                "rounds": args.rounds,
                "date": date,
                "machine": machine,
                "jax": jax.__version__,
                "malloc": MALLOC,
                "pass": "fwd+bwd",
                "neuron": "lif",
            }
        )
    if args.out:
        with open(args.out, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
