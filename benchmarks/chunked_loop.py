"""Issue #21, item 3, the first two routes: a blocked time loop. ``lax.scan`` over chunks of K steps whose
body runs the K steps (Python-unrolled) and returns the chunk's K outputs stacked, so the per-step
output is written once per chunk (one ``[K, B, N]`` update) instead of once per step. Against
``snnjax.run(backend="scan")`` and ``"fused"`` on LIF, forward and forward+backward (autodiff
through the blocked loop), in interleaved rounds; every variant's output is checked equal to
``lax.scan``'s first. Second route (``scan + fori``): the same chunks, the inner K steps a
``fori_loop`` over a preallocated chunk buffer.

    python benchmarks/chunked_loop.py --out benchmarks/results/chunked_loop_cpu.jsonl
"""

from __future__ import annotations

import _host  # noqa: I001  (first: memory settings before jax is imported)

MALLOC = _host.apply_from_argv()

import argparse  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import snnjax  # noqa: E402
from snnjax import neurons  # noqa: E402

STEP, PARAMS = neurons.lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")


def blocked(k: int, shape):
    t, b, n = shape

    def f(xs):
        s0 = neurons.lif.init_state((b, n), xs.dtype, params=PARAMS)

        def body(s, xk):
            ys = []
            for i in range(k):
                s, y = STEP(PARAMS, s, xk[i])
                ys.append(y)
            return s, jnp.stack(ys)

        _, ys = jax.lax.scan(body, s0, xs.reshape(t // k, k, b, n))
        return ys.reshape(t, b, n)

    return f


def blocked_fori(k: int, shape):
    """The second route: the outer ``lax.scan`` over chunks, the inner K steps a ``fori_loop``
    writing into a preallocated ``[K, B, N]`` chunk buffer (carried), returned once per chunk."""
    t, b, n = shape

    def f(xs):
        s0 = neurons.lif.init_state((b, n), xs.dtype, params=PARAMS)

        def body(s, xk):
            def inner(i, carry):
                s, buf = carry
                s, y = STEP(PARAMS, s, xk[i])
                return s, jax.lax.dynamic_update_index_in_dim(buf, y, i, 0)

            return jax.lax.fori_loop(0, k, inner, (s, jnp.zeros((k, b, n), xs.dtype)))

        _, ys = jax.lax.scan(body, s0, xs.reshape(t // k, k, b, n))
        return ys.reshape(t, b, n)

    return f


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="500,16,1024", help="T,B,N (T divisible by every K)")
    p.add_argument("--chunks", nargs="+", type=int, default=[4, 10, 20])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default=None)
    _host.add_argument(p)
    args = p.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(0.6, 0.8, shape).astype(np.float32))
    ct = jnp.asarray(rng.normal(size=shape).astype(np.float32))
    fns = {
        "scan": lambda x: snnjax.run(STEP, PARAMS, x, backend="scan")[1],
        "fused": lambda x: snnjax.run(STEP, PARAMS, x, backend="fused")[1],
        **{f"blocked K={k}": blocked(k, shape) for k in args.chunks},
        **{f"scan + fori K={k}": blocked_fori(k, shape) for k in args.chunks},
    }
    ref = np.asarray(jax.jit(fns["scan"])(xs))
    for name, f in fns.items():
        np.testing.assert_array_equal(np.asarray(jax.jit(f)(xs)), ref, err_msg=name)

    def with_grad(f):
        def g(x, c):
            y, pull = jax.vjp(f, x)
            return y, pull(c)[0]

        return jax.jit(g)

    rec = _host.JsonLines(
        args.out, {"bench": "chunked_loop", "device": str(jax.devices()[0]), "jax": jax.__version__, "malloc": MALLOC}
    )
    for r in range(args.rounds):
        for name, f in fns.items():
            fwd = _host.median_seconds(jax.jit(f), (xs,), args.repeats)
            fb = _host.median_seconds(with_grad(f), (xs, ct), args.repeats)
            rec.emit({"round": r, "variant": name, "shape": list(shape), "fwd_s": fwd, "fwd_bwd_s": fb})
    print("\n| variant | fwd ms (per round) | fwd+bwd ms (per round) |\n|---|---|---|")
    for name in fns:
        rows = [x for x in rec.rows if x["variant"] == name]
        fwd = " / ".join(f"{1e3 * x['fwd_s']:.1f}" for x in rows)
        fb = " / ".join(f"{1e3 * x['fwd_bwd_s']:.1f}" for x in rows)
        print(f"| {name} | {fwd} | {fb} |")
    rec.close()


if __name__ == "__main__":
    main()
