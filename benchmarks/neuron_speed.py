"""Multi-step neuron speed: forward and forward+backward per backend, against the memory floor.

For each neuron, shape ``(T, B, N)`` and backend (``scan``, ``fused``, ``native`` on CPU where the
kernels are built; ``pallas`` only on GPU/TPU,
where its kernels are compiled — on CPU it would run the Pallas interpreter), time the neuron alone
over the whole sequence:

* ``fwd``: ``ys = run(step, params, xs)``;
* ``fwd+bwd``: ``dxs = vjp(run)(ct)`` with a given output cotangent ``ct`` (forward + backward).

The memory-bandwidth floor is measured in the same run on the same device: a jitted element-wise
pass (read + write) over a float32 array moving the same number of bytes — 8 bytes per element for
the forward (read x, write y), 20 bytes per element for forward+backward (x, y; x again, ct, dx) —
so ``floor / time`` is the fraction of the achievable bandwidth the neuron reaches. Every timing is
the median of ``--repeats`` (>= 20) runs after warm-up, each ended with ``block_until_ready``. The
snnjax configurations are timed interleaved with their floors (the neuron, the memory floor and
the compute floor's instances; ``--repeats`` rounds), so that a shared machine's drift hits the ratios' both sides alike
(timed apart, a floor measured in a fast moment put a neuron 1.6x further from it). The same
compiled compute-floor pass takes 6 or 9 ms depending on its instance (its buffers' placement; at
(6, 128, 8192), CLIF's mix): the compute floor is the fastest of ``COMPUTE_INSTANCES`` instances,
each its own compilation and buffers, all in the interleaved rounds.

The compute floor beside it (the roofline's other side): XLA's cost analysis of the neuron's
*step* (one time step on ``[E]`` arrays, divided by ``E``) gives its operation count per element —
flops and transcendentals, for ``fwd`` the step, for ``fwd+bwd`` the step's VJP (forward and backward
once each: what an implementation that recomputes or saves nothing extra must do) — and the
compiled step's HLO its divisions per element (the cost analysis counts a division as one flop;
the sigmoids' 1 / (1 + e^-z) are CLIF's two, ILIF's and POLARA's one). The machine's throughput
for that mix is measured in the same run: a jitted element-wise pass over the same number of
elements computing four independent chains of multiply-adds with the remaining flop count,
``exp``s for the transcendentals and sigmoid-like reciprocals ``1 / (1 + y)`` for the divisions
(reading x, writing y, so it is never below the memory floor). Each result is reported against
``max(memory floor, compute floor)``: ``roofline / time``. (Before 2026-12-07 evening the pass
had no divisions: ``--no-divides`` measures that floor.)

Peak memory of each snnjax configuration is XLA's own account of the compiled function
(``compiled.memory_analysis()``): arguments + outputs + temporaries (the saved residuals and
scratch; XLA allocates them as one block) − aliased bytes, as ``peak_bytes``, with the
temporaries alone as ``temp_bytes``. For the torch peers on a GPU it is
``torch.cuda.max_memory_allocated`` over the timed runs; on CPU it is not measured (``null``).

Peer libraries (snnTorch ``Leaky``, SpikingJelly ``LIFNode`` multi-step) are timed on the same
shapes only when importable (never required), LIF only.

Writes JSON lines (one per configuration) to ``--out`` and prints a Markdown table.

    python benchmarks/neuron_speed.py --out benchmarks/results/neuron_speed.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import statistics
import time

import _host  # first: glibc malloc settings, before jax / torch allocate

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np

import snnjax
from snnjax import neurons
from snnjax.kernels import native

CPU_SHAPES = [(500, 16, 1024), (128, 128, 256), (6, 128, 8192), (50, 64, 2048)]
GPU_SHAPES = [(500, 16, 4096), (128, 128, 1024), (6, 128, 65536), (50, 64, 16384)]
FLOOR_BYTES = {"fwd": 8, "fwd+bwd": 20}  # per element, float32
COMPUTE_INSTANCES = 3  # the compute floor: the fastest of this many instances of its pass

NEURONS = {
    "lif": (neurons.lif.step, lambda: neurons.LIFParams(tau=2.0, surrogate="atan")),
    "spytorch-lif": (neurons.spytorch_lif.step, lambda: neurons.SpytorchLIFParams()),
    "ilif": (neurons.ilif.step, lambda: neurons.ILIFParams()),
    "clif": (neurons.clif.step, lambda: neurons.CLIFParams()),
    "polara": (neurons.polara.step, lambda: neurons.PolaraParams()),
}


def _blocking(fn, *args):
    """A zero-argument run of ``fn(*args)`` that blocks until its result is ready."""
    return lambda: jax.block_until_ready(fn(*args))


def floor_runner(n_elements: int, bytes_per_element: int):
    """One element-wise read+write pass moving ``n_elements · bytes_per_element`` bytes (a run)."""
    n = max(1, n_elements * bytes_per_element // 8)  # a float32 pass moves 8 bytes per element
    a = jnp.zeros((n,), jnp.float32)
    return _blocking(jax.jit(lambda v: v + 1.0).lower(a).compile(), a)


def floor_time(n_elements: int, bytes_per_element: int, repeats: int) -> float:
    """Time of one element-wise read+write pass moving ``n_elements · bytes_per_element`` bytes."""
    return statistics.median(_host.interleaved_times([floor_runner(n_elements, bytes_per_element)], repeats)[0])


def _spec(neuron):
    """``(step, make_params)`` of a name of :data:`NEURONS`, or the pair itself."""
    return NEURONS[neuron] if isinstance(neuron, str) else neuron


def step_ops(name, e: int = 4096) -> dict[str, tuple[float, float, float]]:
    """``{mode: (flops, transcendentals, divisions)}`` per element from XLA's cost analysis of one
    step on ``[e]`` arrays (``fwd``: the step; ``fwd+bwd``: its VJP with unit cotangents for every
    output) and the ``divide`` operations on ``[e]`` arrays in its compiled HLO (among the flops)."""
    step, make_params = _spec(name)
    params = make_params()
    state = neurons.neuron_of(step).init_state((e,), jnp.float32, params=params)
    x = jnp.full((e,), 0.6, jnp.float32)

    def fwd(s, x):
        return step(params, s, x)

    def fwd_bwd(s, x):
        out, pull = jax.vjp(fwd, s, x)
        return pull(jax.tree.map(jnp.ones_like, out))

    def cost(f):
        compiled = jax.jit(f).lower(state, x).compile()
        c = compiled.cost_analysis()
        c = c[0] if isinstance(c, (list, tuple)) else c
        divides = len(re.findall(rf"f32\[{e}\]\S* divide\(", compiled.as_text()))
        return float(c.get("flops", 0.0)) / e, float(c.get("transcendentals", 0.0)) / e, float(divides)

    return {"fwd": cost(fwd), "fwd+bwd": cost(fwd_bwd)}


def compute_runner(n_elements: int, flops: float, transcendentals: float, divides: float = 0.0):
    """An element-wise pass over ``n_elements`` float32 values doing ``flops`` flops per element:
    ``divides`` of them divisions ``1 / (1 + y)``, the others multiply-adds in four independent
    chains, and ``transcendentals`` ``exp``s (a run)."""
    divs = round(divides)
    fmas, exps = max(0, (round(flops) - divs) // 2), round(transcendentals)

    def chain(v):
        ys = [v + 0.1 * i for i in range(4)]
        for j in range(max(fmas, exps, divs)):
            i = j % 4
            if j < fmas:
                ys[i] = ys[i] * 0.999 + 0.0005
            if j < exps:
                ys[i] = jnp.exp(-ys[i])
            if j < divs:
                ys[i] = 1.0 / (1.0 + ys[i])
        return ys[0] + ys[1] + ys[2] + ys[3]

    a = jnp.full((n_elements,), 0.5, jnp.float32)
    return _blocking(jax.jit(chain).lower(a).compile(), a)


def compute_floor_time(
    n_elements: int, flops: float, transcendentals: float, repeats: int, divides: float = 0.0
) -> float:
    """Time of :func:`compute_runner`'s pass."""
    run = compute_runner(n_elements, flops, transcendentals, divides)
    return statistics.median(_host.interleaved_times([run], repeats)[0])


def neuron_fns(name: str, backend: str):
    step, make_params = _spec(name)
    params = make_params()

    def fwd(xs):
        return snnjax.run(step, params, xs, backend=backend)[1]

    def fwd_bwd(xs, ct):
        ys, pull = jax.vjp(fwd, xs)
        return ys, pull(ct)[0]

    return jax.jit(fwd), jax.jit(fwd_bwd)


def _memory(compiled) -> dict:
    """XLA's peak-memory account of a compiled function (bytes)."""
    m = _host.xla_memory(compiled)
    if m is None:
        return {"peak_bytes": None, "temp_bytes": None}
    return {"peak_bytes": int(m["peak"]), "temp_bytes": int(m["temp"])}


def time_snnjax(name, backend, shape, repeats, floors=None) -> dict:
    """``{mode: (seconds, memory, floor seconds...)}`` for ``fwd`` and ``fwd+bwd``; ``floors``:
    ``{mode: [runs]}``, timed interleaved with the neuron, their medians after its seconds."""
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(0.6, 0.8, shape).astype(np.float32))
    ct = jnp.asarray(rng.normal(size=shape).astype(np.float32))
    fwd, fwd_bwd = neuron_fns(name, backend)
    fwd, fwd_bwd = fwd.lower(xs).compile(), fwd_bwd.lower(xs, ct).compile()
    out = {}
    for mode, fn, run in (("fwd", fwd, _blocking(fwd, xs)), ("fwd+bwd", fwd_bwd, _blocking(fwd_bwd, xs, ct))):
        extra = (floors or {}).get(mode, [])
        times = _host.interleaved_times([run, *extra], repeats)
        out[mode] = (statistics.median(times[0]), _memory(fn), *(statistics.median(t) for t in times[1:]))
    return out


def time_peer(lib: str, shape, repeats) -> dict | None:
    """snnTorch / SpikingJelly LIF over the same sequence (torch, same kind of device), if importable."""
    try:
        import torch

        if lib == "snntorch":
            import snntorch

            layer = snntorch.Leaky(beta=0.5, threshold=1.0)

            def run(x):
                mem = layer.init_leaky()
                out = []
                for t in range(x.shape[0]):
                    s, mem = layer(x[t], mem)
                    out.append(s)
                return torch.stack(out)

        else:
            from spikingjelly.activation_based import neuron as sj_neuron

            layer = sj_neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=False)

            def run(x):
                layer.reset()
                return layer(x)
    except ImportError:
        return None
    device = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"
    layer = layer.to(device)
    x = torch.randn(*shape, device=device) * 0.8 + 0.6
    ct = torch.randn(*shape, device=device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def timed(fn):
        for _ in range(2):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def fwd():
        with torch.no_grad():
            run(x)

    def fwd_bwd():
        xr = x.detach().requires_grad_(True)
        run(xr).backward(ct)

    def measured(fn):
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = timed(fn)
        peak = int(torch.cuda.max_memory_allocated()) if device == "cuda" else None
        return seconds, {"peak_bytes": peak, "temp_bytes": None}

    return {"fwd": measured(fwd), "fwd+bwd": measured(fwd_bwd)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file")
    p.add_argument("--neurons", nargs="+", default=["lif", "ilif", "clif", "polara"], choices=list(NEURONS))
    p.add_argument(
        "--backends",
        nargs="+",
        default=None,
        help="default: scan fused (+ native on CPU, pallas on GPU/TPU)",
    )
    p.add_argument("--shapes", nargs="+", default=None, help="T,B,N triples; default: the platform's set")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--peers", action="store_true", help="also time snnTorch / SpikingJelly LIF if importable")
    p.add_argument(
        "--no-divides", action="store_true", help="compute floor without divisions (as flops: the earlier model)"
    )
    _host.add_argument(p)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")

    dev = jax.default_backend()
    accel = dev in ("gpu", "tpu")
    cpu = ["scan", "fused"] + (["native"] if native.available() else [])
    backends = args.backends or (["scan", "fused", "pallas"] if accel else cpu)
    if "pallas" in backends and not accel:
        print("note: backend 'pallas' on CPU runs the Pallas interpreter (correctness only, not speed)")
    shapes = (
        [tuple(int(v) for v in s.split(",")) for s in args.shapes]
        if args.shapes
        else (GPU_SHAPES if accel else CPU_SHAPES)
    )
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(jax.devices()[0]),
        "platform": dev,
        "jax": jax.__version__,
        "malloc": MALLOC,
        "native_isa": native.instruction_set(),
        "python": platform.python_version(),
        "host": platform.node(),
        "repeats": args.repeats,
    }
    record = _host.JsonLines(args.out, meta)
    rows, emit = record.rows, record.emit

    ops = {name: step_ops(name) for name in args.neurons}  # per element: the same at every shape
    if args.no_divides:
        ops = {name: {m: (f, t, 0.0) for m, (f, t, _) in o.items()} for name, o in ops.items()}
    for shape in shapes:
        n = int(np.prod(shape))
        memory_runs = {k: floor_runner(n, b) for k, b in FLOOR_BYTES.items()}
        floors = {}  # the peers' memory floor: the last configuration's
        for name in args.neurons:
            compute_runs = {m: [compute_runner(n, *ops[name][m]) for _ in range(COMPUTE_INSTANCES)] for m in ops[name]}
            for backend in backends:
                if backend == "native" and _spec(name)[0] not in native.NEURON_STEPS:
                    continue  # no native kernel for this neuron (yet)
                runs = {m: [memory_runs[m], *compute_runs[m]] for m in FLOOR_BYTES}
                t = time_snnjax(name, backend, shape, args.repeats, runs)
                for mode in ("fwd", "fwd+bwd"):
                    sec, mem, floors[mode], *computes = t[mode]
                    compute = min(computes)
                    roof = max(floors[mode], compute)
                    emit(
                        dict(
                            library="snnjax",
                            neuron=name,
                            backend=backend,
                            shape=list(shape),
                            mode=mode,
                            seconds=sec,
                            floor_seconds=floors[mode],
                            floor_fraction=floors[mode] / sec,
                            flops_per_element=ops[name][mode][0],
                            transcendentals_per_element=ops[name][mode][1],
                            divides_per_element=ops[name][mode][2],
                            compute_floor_seconds=compute,
                            roofline_seconds=roof,
                            roofline_fraction=roof / sec,
                            elements=n,
                            **mem,
                        )
                    )
        if args.peers:
            floors = floors or {k: floor_time(n, b, args.repeats) for k, b in FLOOR_BYTES.items()}
            for lib in ("snntorch", "spikingjelly"):
                t = time_peer(lib, shape, args.repeats)
                if t is None:
                    continue
                for mode in ("fwd", "fwd+bwd"):
                    sec, mem = t[mode]
                    emit(
                        dict(
                            library=lib,
                            neuron="lif",
                            backend="torch",
                            shape=list(shape),
                            mode=mode,
                            seconds=sec,
                            floor_seconds=floors[mode],
                            floor_fraction=floors[mode] / sec,
                            elements=n,
                            **mem,
                        )
                    )
    record.close()

    print()
    print(
        f"device: {meta['device']}; median of {args.repeats} runs; floor = element-wise pass moving "
        "8 B/element (fwd) or 20 B/element (fwd+bwd)"
    )
    print(
        "| library | neuron | backend | T, B, N | mode | ms | memory floor ms | ops/elt | compute floor ms "
        "| time / max floor | peak MB |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        peak = "–" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.0f}"
        if "roofline_seconds" in r:
            ops = (
                f"{r['flops_per_element']:.0f} + {r['transcendentals_per_element']:.0f} tr"
                f" ({r['divides_per_element']:.0f} div)"
            )
            comp, ratio = f"{1e3 * r['compute_floor_seconds']:.3f}", f"{r['seconds'] / r['roofline_seconds']:.1f}×"
        else:
            ops, comp, ratio = "–", "–", f"{r['seconds'] / r['floor_seconds']:.1f}× (memory)"
        print(
            f"| {r['library']} | {r['neuron']} | {r['backend']} | {', '.join(map(str, r['shape']))} | "
            f"{r['mode']} | {1e3 * r['seconds']:.3f} | {1e3 * r['floor_seconds']:.3f} | {ops} | {comp} | "
            f"{ratio} | {peak} |"
        )


if __name__ == "__main__":
    main()
