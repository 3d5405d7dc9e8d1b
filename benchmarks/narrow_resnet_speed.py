"""Training-step speed of the narrow pre-activation ResNet at T = 4 (the ILIF study's CPU network),
against snnTorch and SpikingJelly in the same run.

The network (``experiments/ILIF_STUDY.md``): ``snnjax.models.PreActResNet((1, 1, 1), widths=(8, 16,
32), pool=7)`` on 28×28 one-channel images, direct encoding over T = 4, per-step BatchNorm, the
study's LIF / ILIF neurons (τ = 1.1, V_th = 1, soft reset, rectangle surrogate). One step: forward,
mean-over-time cross-entropy, backward, SGD with momentum 0.9 — jitted for snnjax, eager for the
peers. For snnjax each neuron is timed per backend: ``fused`` (the default before the native
kernels), ``native`` and ``auto`` (what a user gets: native for ILIF, the unrolled fused backend
for LIF at T <= 6).

The peers build the same layers (stem conv3×3 without bias; blocks BN -> LIF -> conv3×3 -> BN ->
LIF -> conv3×3 plus a 1×1 shortcut of the first spikes where the shape changes; head BN -> LIF ->
AvgPool(7) -> Linear) with their own LIF modules: snnTorch ``Leaky`` (β = 1 - 1/τ, reset by
subtraction, a Python loop over the 4 steps) and SpikingJelly ``LIFNode`` in multi-step mode
(``decay_input=False``, soft reset); both use their ``atan`` surrogate (neither ships the
rectangle), and BatchNorm over ``[T·B]`` (their usual layer; per-step statistics cost the same).
CPU torch with as many threads as CPUs. Neither peer has an ILIF neuron: the ILIF rows are
compared with the peers' LIF networks, which do less work per neuron.

Timing: every configuration once per round, ``--repeats`` interleaved rounds after two warm-up
steps, median per configuration. JSON lines to ``--out``, a Markdown table to stdout.

    python benchmarks/narrow_resnet_speed.py --out benchmarks/results/narrow_resnet_speed_cpu.jsonl
"""

from __future__ import annotations

import _host  # noqa: I001  (first: memory settings before jax / torch are imported)

MALLOC = _host.apply_from_argv()

import argparse  # noqa: E402
import os  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

import snnjax  # noqa: E402
from snnjax import models, train  # noqa: E402
from snnjax.kernels import native  # noqa: E402

WIDTHS, BLOCKS, SIZE, CLASSES, TAU = (8, 16, 32), (1, 1, 1), 28, 10, 1.1


def images(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random 28×28 one-channel images in [0, 1] (NHWC) and labels."""
    rng = np.random.default_rng(seed)
    return rng.random((batch, SIZE, SIZE, 1), dtype=np.float32), (np.arange(batch) % CLASSES).astype(np.int32)


def snnjax_step(neuron: str, backend: str, T: int, batch: int):
    model = models.PreActResNet(
        BLOCKS,
        CLASSES,
        neuron=models.make_neuron(neuron, backend=backend),
        in_channels=1,
        widths=WIDTHS,
        pool=SIZE // 2 ** (len(WIDTHS) - 1),
        rngs=nnx.Rngs(0),
    )
    optimizer = nnx.Optimizer(model, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param)
    x, y = (jnp.asarray(a) for a in images(batch))

    @nnx.jit
    def step(model, optimizer, x, y):
        def loss_fn(model):
            return train.mean_over_time_ce(model(snnjax.encoding.direct(x, T)), y)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    def run_once():
        return step(model, optimizer, x, y).block_until_ready()

    return {"library": f"snnjax {snnjax.__version__}", "neuron": neuron, "backend": backend}, run_once


def peer_step(lib: str, T: int, batch: int):
    """The same network and step in snnTorch or SpikingJelly (``None`` if not importable)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    beta = 1.0 - 1.0 / TAU
    if lib == "snntorch":
        try:
            import snntorch as snn
            from snntorch import surrogate as snn_sg
        except ImportError:
            return None
        version = snn.__version__

        class LIF(torch.nn.Module):  # [T·B, ...] in, [T·B, ...] spikes out: the loop over T inside
            def __init__(self):
                super().__init__()
                self.cell = snn.Leaky(beta=beta, threshold=1.0, spike_grad=snn_sg.atan(), reset_mechanism="subtract")

            def forward(self, x):
                xs = x.reshape(T, -1, *x.shape[1:])
                mem = self.cell.init_leaky()
                out = []
                for t in range(T):
                    spk, mem = self.cell(xs[t], mem)
                    out.append(spk)
                return torch.stack(out).reshape(x.shape)

        def reset(net):
            pass

    elif lib == "spikingjelly":
        try:
            import spikingjelly
            from spikingjelly.activation_based import functional, neuron, surrogate
        except ImportError:
            return None
        version = getattr(spikingjelly, "__version__", "2.x")

        class LIF(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.node = neuron.LIFNode(
                    tau=TAU, decay_input=False, v_threshold=1.0, v_reset=None,
                    surrogate_function=surrogate.ATan(), step_mode="m",
                )  # fmt: skip

            def forward(self, x):
                return self.node(x.reshape(T, -1, *x.shape[1:])).reshape(x.shape)

        def reset(net):
            functional.reset_net(net)

    else:
        raise ValueError(f"unknown peer {lib!r}")

    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.bn1, self.lif1 = nn.BatchNorm2d(c_in), LIF()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
            self.bn2, self.lif2 = nn.BatchNorm2d(c_out), LIF()
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else None

        def forward(self, x):
            s1 = self.lif1(self.bn1(x))
            out = self.conv2(self.lif2(self.bn2(self.conv1(s1))))
            return out + (s1 if self.shortcut is None else self.shortcut(s1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, WIDTHS[0], 3, 1, 1, bias=False)
            blocks, c = [], WIDTHS[0]
            for i, w in enumerate(WIDTHS):
                blocks.append(Block(c, w, 1 if i == 0 else 2))
                c = w
            self.blocks = nn.Sequential(*blocks)
            self.bn, self.lif = nn.BatchNorm2d(c), LIF()
            self.pool = nn.AvgPool2d(SIZE // 2 ** (len(WIDTHS) - 1))
            self.linear = nn.Linear(c, CLASSES)

        def forward(self, x):  # x: [B, 1, H, W]; direct encoding: repeated over T
            xs = x.unsqueeze(0).expand(T, *x.shape).reshape(T * x.shape[0], *x.shape[1:])
            s = self.lif(self.bn(self.blocks(self.stem(xs))))
            return self.linear(self.pool(s).flatten(1)).reshape(T, x.shape[0], CLASSES)

    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    xn, yn = images(batch)
    x = torch.as_tensor(xn).permute(0, 3, 1, 2).contiguous()
    y = torch.as_tensor(yn).long()

    def run_once():
        reset(net)
        out = net(x)
        loss = torch.nn.functional.cross_entropy(out.reshape(T * batch, CLASSES), y.repeat(T))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return {"library": f"{lib} {version}", "neuron": "lif", "backend": f"torch {torch.__version__} (cpu)"}, run_once


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON-lines output file (appended)")
    p.add_argument("--neurons", nargs="+", default=["lif", "ilif"], choices=["lif", "ilif", "clif"])
    p.add_argument(
        "--backends", nargs="+", default=["fused", "native", "auto"], choices=["scan", "fused", "native", "auto"]
    )
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=10, help="interleaved timing rounds")
    p.add_argument("--peers", nargs="*", default=["snntorch", "spikingjelly"], choices=["snntorch", "spikingjelly"])
    _host.add_argument(p)
    args = p.parse_args(argv)
    if args.T < 1 or args.batch < 1 or args.repeats < 1:
        p.error("--T, --batch and --repeats must be >= 1")
    meta = {**_host.run_meta(MALLOC), "T": args.T, "batch": args.batch, "repeats": args.repeats}
    configs = []
    for lib in args.peers:
        peer = peer_step(lib, args.T, args.batch)
        if peer is None:
            print(f"skipping {lib}: not importable", flush=True)
        else:
            configs.append(peer)
    for neuron in args.neurons:
        for backend in args.backends:
            if backend == "native" and not native.available():
                print(f"skipping native: {native.unavailable_reason()}", flush=True)
                continue
            configs.append(snnjax_step(neuron, backend, args.T, args.batch))
    # compile and warm up, then interleaved rounds (medians over rounds)
    times = _host.interleaved_times([run_once for _, run_once in configs], args.repeats)
    record = _host.JsonLines(args.out, meta)
    med = [float(np.median(ts)) for ts in times]
    ref = {r["library"].split()[0]: m for (r, _), m in zip(configs, med) if not r["library"].startswith("snnjax")}
    for (row, _), m in zip(configs, med):
        record.emit(dict(**row, median_ms=1e3 * m, **{f"speedup_vs_{k}": v / m for k, v in ref.items()}))
    peers = list(ref)
    print("\n| library | neuron | backend | step ms | " + " | ".join(f"vs {k}" for k in peers) + " |")
    print("|---|---|---|---:|" + "---:|" * len(peers))
    for (row, _), m in zip(configs, med):
        sp = " | ".join(f"{ref[k] / m:.1f}×" for k in peers)
        print(f"| {row['library']} | {row['neuron']} | {row['backend']} | {1e3 * m:.1f} | {sp} |")
    record.close()


if __name__ == "__main__":
    main()
