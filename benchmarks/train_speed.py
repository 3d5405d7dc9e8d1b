"""Training-step speed of the POLARA-MNIST network (784-100-10, T = 128, batch 256).

For each hidden neuron, input path (dense latency spikes vs event-driven) and
neuron backend (scan, fused, native where it applies), time one jitted SGD step (forward + backward +
update, latency encoding included) on random MNIST-like images: median of
``--repeats`` runs after warm-up, ``block_until_ready``. Optionally the same
network in snnTorch and SpikingJelly when importable (same process; torch on the
GPU when JAX runs on one, else CPU torch with ``torch.set_num_threads`` = the number
of CPUs): the input and readout matmuls
hoisted out of the time loop (one ``[T·B, C] @ W`` each), the neuron loop in the
library's own modules — snnTorch ``Synaptic`` (hidden: reset to zero; readout:
``reset_mechanism="none"``, its membrane as the output), SpikingJelly
``SynapseFilter`` + ``LIFNode`` in multi-step mode (readout: ``v_threshold=inf``,
``store_v_seq``). Same spytorch constants (α = e^{-1/5}, β = e^{-1/10}, threshold 1,
SuperSpike-like surrogate), the same latency spikes (encoded once, outside the timed
step: the peers are timed without the encoding, which favours them), max-over-time
cross-entropy and SGD(0.1). The peers' synapse/membrane
update order differs slightly from spytorch's (the membrane sees the new current),
which does not change the work done per step.

Writes JSON lines (one per configuration) to ``--out`` and prints a Markdown table.

    python benchmarks/train_speed.py --out benchmarks/results/train_speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os

import _host  # first: glibc malloc settings, before jax / torch allocate

MALLOC = _host.apply_from_argv()

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import models, nn, train

NEURONS = {
    "spytorch-lif": lambda backend: lambda: nn.SpytorchLIF(backend=backend),
    "lif": lambda backend: lambda: nn.LIF(backend=backend),
    "ilif": lambda backend: lambda: nn.ILIF(backend=backend),
    "polara": lambda backend: lambda: nn.Polara(backend=backend),
    "polara-mask": lambda backend: lambda: nn.Polara(grad="mask", backend=backend),
}


def fake_mnist(n: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, 784] with MNIST's sparsity: ~19 % of pixels above 0.2."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 784), np.uint8)
    on = rng.uniform(size=(n, 784)) < 0.19
    x[on] = rng.integers(52, 256, on.sum())
    return x


def make_step(neuron: str, input_path: str, backend: str, *, T: int, batch: int):
    """``(row, run_once)`` for one snnjax configuration; ``run_once()`` does one SGD step and blocks."""
    model = models.SpikingMLP(
        784,
        (100,),
        10,
        neuron=NEURONS[neuron](backend),
        input_mode="event" if input_path == "event" else "dense",
        rngs=nnx.Rngs(0),
    )
    opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    x_np = fake_mnist(batch)
    if input_path == "event":
        # exact compaction, as experiments/polara_mnist.py: the largest count of inputs above θ
        max_events = int((x_np > 0.2 * 255).sum(1).max())

        def encode(x, T):
            return snnjax.encoding.latency_events(x, T, max_events=max_events)

    else:
        encode = snnjax.encoding.latency

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(model):
            return train.max_over_time_ce(model(encode(x.astype(jnp.float32) / 255.0, T)), y)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    x = jnp.asarray(x_np)
    y = jnp.asarray(np.arange(batch) % 10, jnp.int32)
    row = {"library": f"snnjax {snnjax.__version__}", "neuron": neuron, "input": input_path, "backend": backend}
    return row, lambda: step(model, opt, x, y).block_until_ready()


def _torch_device() -> str:
    """Where the peers run: CUDA when JAX itself runs on a GPU (and torch sees one), else CPU."""
    import torch

    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _torch_latency(x, T: int, tau: float = 20.0, thr: float = 0.2):
    """spytorch's latency code in torch: ``[T, B, C]`` dense 0/1 spikes of ``x [B, C]`` in [0, 1]."""
    import torch

    fire = x > thr
    t = torch.where(fire, tau * torch.log(x / (x - thr).clamp_min(1e-7)), torch.full_like(x, float(T)))
    t = t.long().clamp(0, T)  # T: no spike (the extra row is dropped)
    spikes = torch.zeros(T + 1, *x.shape, device=x.device)
    spikes.scatter_(0, t.unsqueeze(0), 1.0)
    return spikes[:T]


def make_peer(lib: str, *, T: int, batch: int):
    """``(row, run_once)``: one SGD step of the same network in snnTorch or SpikingJelly
    (``None`` if not importable)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    dev = _torch_device()
    alpha, beta = float(np.exp(-1 / 5)), float(np.exp(-1 / 10))
    ws = 7 * (1 - beta)
    w1 = (torch.randn(784, 100) * ws / np.sqrt(784)).to(dev).requires_grad_()
    w2 = (torch.randn(100, 10) * ws / np.sqrt(100)).to(dev).requires_grad_()
    if lib == "snntorch":
        try:
            import snntorch as snn
            from snntorch import surrogate as snn_sg
        except ImportError:
            return None
        version = snn.__version__
        hidden = snn.Synaptic(alpha=alpha, beta=beta, spike_grad=snn_sg.fast_sigmoid(slope=100), reset_mechanism="zero")
        readout = snn.Synaptic(alpha=alpha, beta=beta, reset_mechanism="none")
        hidden, readout = hidden.to(dev), readout.to(dev)

        def forward(spk_in):
            cur = (spk_in.reshape(T * batch, 784) @ w1).reshape(T, batch, 100)
            syn, mem = hidden.init_synaptic()
            spikes = []
            for t in range(T):
                spk, syn, mem = hidden(cur[t], syn, mem)
                spikes.append(spk)
            cur2 = (torch.stack(spikes).reshape(T * batch, 100) @ w2).reshape(T, batch, 10)
            syn, mem = readout.init_synaptic()
            out = []
            for t in range(T):
                _, syn, mem = readout(cur2[t], syn, mem)
                out.append(mem)
            return torch.stack(out)

    elif lib == "spikingjelly":
        try:
            import spikingjelly
            from spikingjelly.activation_based import functional, layer, neuron, surrogate
        except ImportError:
            return None
        version = getattr(spikingjelly, "__version__", "2.x")
        tau_syn, tau_mem = 1 / (1 - alpha), 1 / (1 - beta)  # SJ decays by (1 - 1/τ) per step
        syn1 = layer.SynapseFilter(tau=tau_syn, step_mode="m")
        lif1 = neuron.LIFNode(
            tau=tau_mem, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=True,
            surrogate_function=surrogate.SuperSpike(), step_mode="m",
        )  # fmt: skip
        syn2 = layer.SynapseFilter(tau=tau_syn, step_mode="m")
        li2 = neuron.LIFNode(
            tau=tau_mem, decay_input=False, v_threshold=float("inf"), v_reset=None, step_mode="m", store_v_seq=True
        )
        mods = [m.to(dev) for m in (syn1, lif1, syn2, li2)]

        def forward(spk_in):
            for m in mods:
                functional.reset_net(m)
            cur = (spk_in.reshape(T * batch, 784) @ w1).reshape(T, batch, 100)
            spikes = lif1(syn1(cur))
            cur2 = (spikes.reshape(T * batch, 100) @ w2).reshape(T, batch, 10)
            li2(syn2(cur2))
            return li2.v_seq

    else:
        raise ValueError(f"unknown peer {lib!r}")

    opt = torch.optim.SGD([w1, w2], lr=0.1)
    x = torch.as_tensor(fake_mnist(batch), dtype=torch.float32, device=dev) / 255.0
    y = torch.as_tensor(np.arange(batch) % 10, device=dev)

    spk_in = _torch_latency(x, T)

    def step():
        out = forward(spk_in)
        logits = torch.cat([torch.zeros_like(out[:1]), out]).amax(0)  # max over time, zero state included
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev == "cuda":
            torch.cuda.synchronize()
        return loss

    row = {
        "library": f"{lib} {version}",
        "neuron": "synaptic LIF",
        "input": "dense",
        "backend": f"torch {torch.__version__} ({dev})",
    }
    return row, step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file")
    p.add_argument("--neurons", nargs="+", default=list(NEURONS), choices=list(NEURONS))
    p.add_argument("--inputs", nargs="+", default=["dense", "event"], choices=["dense", "event"])
    p.add_argument(
        "--backends",
        nargs="+",
        default=["scan", "fused"],
        choices=["scan", "fused", "pallas", "native", "auto"],
        help="neuron backends (pallas: GPU/TPU only; native: CPU, LIF/ILIF/CLIF/POLARA; auto: the library's choice)",
    )
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10, help="interleaved timing rounds")
    p.add_argument(
        "--peers",
        nargs="*",
        default=["snntorch", "spikingjelly"],
        choices=["snntorch", "spikingjelly"],
        help="peer libraries to time when importable (none: --peers)",
    )
    _host.add_argument(p)
    args = p.parse_args(argv)
    meta = _host.run_meta(MALLOC)
    configs = []
    for lib in args.peers:
        try:
            peer = make_peer(lib, T=args.num_steps, batch=args.batch)
            if peer is not None:
                peer[1]()  # fails here (not in the timing loop) if the peer cannot run on this device
                configs.append(peer)
        except Exception as e:  # a peer is optional: report and go on
            print(f"skipping {lib}: {type(e).__name__}: {e}", flush=True)
    for neuron in args.neurons:
        for inp in args.inputs:
            for backend in args.backends:
                configs.append(make_step(neuron, inp, backend, T=args.num_steps, batch=args.batch))
    # compile and warm up, then interleaved rounds (medians over rounds)
    times = _host.interleaved_times([run_once for _, run_once in configs], args.repeats)
    ref = next((np.median(ts) for ts, (r, _) in zip(times, configs) if r["library"].startswith("snntorch")), None)
    rows = []
    for ts, (row, _) in zip(times, configs):
        med = float(np.median(ts))
        r = {
            **row,
            "T": args.num_steps,
            "batch": args.batch,
            "median_ms": 1e3 * med,
            "min_ms": 1e3 * float(np.min(ts)),
            "epoch_s_est": med * int(np.ceil(60000 / args.batch)),
            "speedup_vs_snntorch": float(ref / med) if ref is not None else None,
            "repeats": args.repeats,
            **meta,
        }
        rows.append(r)
        print(json.dumps(r), flush=True)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    print("\n| library | neuron | input | backend | step (ms) | epoch est. (s) | speed-up vs snnTorch |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        sp = f"{r['speedup_vs_snntorch']:.1f}x" if r["speedup_vs_snntorch"] else "—"
        print(
            f"| {r['library']} | {r['neuron']} | {r['input']} | {r['backend']} | {r['median_ms']:.1f} "
            f"| {r['epoch_s_est']:.0f} | {sp} |"
        )


if __name__ == "__main__":
    main()
