"""Train a spiking MLP on the small MNIST subset shipped in experiments/data/mnist_small.

The README's first command runs this. It is the spytorch/POLARA network
(784-100-10, latency encoding, spytorch synaptic LIF, leaky-integrator readout,
max-over-time cross-entropy), trained with Adam for a few epochs on 6,000
images, and prints the test accuracy on 1,000 held-out images.

    python experiments/quickstart.py [--epochs 3] [--neuron spytorch-lif|lif|alif]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax
from snnjax import data, models, train

HERE = os.path.dirname(os.path.abspath(__file__))

NEURONS = {
    "spytorch-lif": lambda: snnjax.nn.SpytorchLIF(),
    "lif": lambda: snnjax.nn.LIF(tau=10.0, surrogate="superspike"),
    "alif": lambda: snnjax.nn.ALIF(tau=10.0, tau_adapt=50.0, beta_adapt=0.2),
}


def encode(images: jax.Array, num_steps: int) -> jax.Array:
    """uint8 images [B, 28, 28] -> latency spikes [T, B, 784] (spytorch's encoding)."""
    x = images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0
    return snnjax.encoding.latency(x, num_steps)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.path.join(HERE, "data", "mnist_small"))
    p.add_argument("--neuron", default="spytorch-lif", choices=sorted(NEURONS))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--num-steps", type=int, default=100, help="time steps T")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x_train, y_train = data.load_mnist(args.data_dir, "train")
    x_test, y_test = data.load_mnist(args.data_dir, "test")
    print(f"data: {len(x_train)} train / {len(x_test)} test images from {args.data_dir}")

    model = models.SpikingMLP(784, (args.hidden,), 10, neuron=NEURONS[args.neuron], rngs=nnx.Rngs(args.seed))
    optimizer = nnx.Optimizer(model, optax.adam(args.lr), wrt=nnx.Param)
    T = args.num_steps

    @nnx.jit
    def train_step(model, optimizer, images, labels):
        def loss_fn(model):
            return train.max_over_time_ce(model(encode(images, T)), labels)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def eval_step(model, images, labels):
        logits = train.max_over_time_logits(model(encode(images, T)))
        return jnp.sum(jnp.argmax(logits, -1) == labels)

    def evaluate() -> float:
        correct = 0
        for xb, yb in data.batches((x_test, y_test), 500, shuffle=False):
            correct += int(eval_step(model, jnp.asarray(xb), jnp.asarray(yb, jnp.int32)))
        return correct / len(x_test)

    for epoch in range(args.epochs):
        t0, losses = time.perf_counter(), []
        for xb, yb in data.batches((x_train, y_train), args.batch_size, shuffle=True, seed=args.seed, epoch=epoch):
            losses.append(train_step(model, optimizer, jnp.asarray(xb), jnp.asarray(yb, jnp.int32)))
        acc = evaluate()
        print(
            f"epoch {epoch + 1}/{args.epochs}  loss {float(np.mean(jax.device_get(losses))):.4f}  "
            f"test accuracy {100 * acc:.2f}%  ({time.perf_counter() - t0:.1f} s)"
        )
    print(f"final test accuracy: {100 * acc:.2f}%")
    return acc


if __name__ == "__main__":
    main()
