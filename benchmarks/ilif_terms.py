"""Issue #21, item 2: ILIF's forward+backward cost term by term. The same shape and backend with
the inhibitory units switched off one at a time (``use_mpiu`` / ``use_ciu``; "neither" has LIF's
equations but still ILIF's three-array state), next to LIF itself (one state array), and each
against the memory floor and its own compute floor (``neuron_speed``'s roofline). Interleaved
rounds; the median of ``--repeats`` per round.

    python benchmarks/ilif_terms.py --out benchmarks/results/ilif_terms_cpu.jsonl
"""

from __future__ import annotations

import _host  # noqa: I001  (first: memory settings before jax is imported)

MALLOC = _host.apply_from_argv()

import argparse  # noqa: E402

import jax  # noqa: E402
import neuron_speed  # noqa: E402

from snnjax import neurons  # noqa: E402

VARIANTS = {
    "lif (τ = 1.1)": (neurons.lif.step, lambda: neurons.LIFParams(tau=1.1)),
    "ilif, neither unit": (neurons.ilif.step, lambda: neurons.ILIFParams(use_mpiu=False, use_ciu=False)),
    "ilif, CIU only": (neurons.ilif.step, lambda: neurons.ILIFParams(use_mpiu=False)),
    "ilif, MPIU only": (neurons.ilif.step, lambda: neurons.ILIFParams(use_ciu=False)),
    "ilif (both units)": (neurons.ilif.step, lambda: neurons.ILIFParams()),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="500,16,1024")
    p.add_argument("--backends", nargs="+", default=["scan", "fused"])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default=None)
    _host.add_argument(p)
    args = p.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    n = shape[0] * shape[1] * shape[2]
    rec = _host.JsonLines(
        args.out, {"bench": "ilif_terms", "device": str(jax.devices()[0]), "jax": jax.__version__, "malloc": MALLOC}
    )
    ops = {name: neuron_speed.step_ops(spec)["fwd+bwd"] for name, spec in VARIANTS.items()}
    compute = {
        name: neuron_speed.compute_floor_time(n, *ops[name][:2], args.repeats, divides=ops[name][2])
        for name in VARIANTS
    }
    floors = []
    for r in range(args.rounds):
        floors.append(neuron_speed.floor_time(n, neuron_speed.FLOOR_BYTES["fwd+bwd"], args.repeats))
        floor = min(floors)  # measured every round (the first pass can still fault pages in)
        for name, spec in VARIANTS.items():
            for backend in args.backends:
                sec, mem = neuron_speed.time_snnjax(spec, backend, shape, args.repeats)["fwd+bwd"]
                rec.emit(
                    {"round": r, "variant": name, "backend": backend, "shape": list(shape), "fwd_bwd_s": sec,
                     "flops_per_element": ops[name][0], "transcendentals_per_element": ops[name][1],
                     "memory_floor_s": floors[-1], "compute_floor_s": compute[name], **mem}
                )  # fmt: skip
    print("\n| variant | ops / element | backend | fwd+bwd ms (rounds) | compute floor ms | × max floor | temp MB |")
    print("|---|---|---|---|---:|---:|---:|")
    for name in VARIANTS:
        for backend in args.backends:
            rows = [x for x in rec.rows if x["variant"] == name and x["backend"] == backend]
            ms = " / ".join(f"{1e3 * x['fwd_bwd_s']:.1f}" for x in rows)
            best = min(x["fwd_bwd_s"] for x in rows) / max(floor, compute[name])
            print(
                f"| {name} | {ops[name][0]:.0f} + {ops[name][1]:.0f} tr | {backend} | {ms} | "
                f"{1e3 * compute[name]:.1f} | {best:.1f}× | {rows[-1]['temp_bytes'] / 2**20:.0f} |"
            )
    print(f"\nmemory floor (20 B/element): {1e3 * floor:.1f} ms")
    rec.close()


if __name__ == "__main__":
    main()
