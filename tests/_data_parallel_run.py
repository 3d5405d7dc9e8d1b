"""Run by tests/test_data_parallel.py in a subprocess with 2 host CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be set before jax starts).

Trains the same model with ``fit(devices=None)`` and ``fit(devices=2)``, then a killed and
resumed 2-device run, and prints one JSON line of what the test checks.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from test_train import _toy_data as toy_data  # this script runs from tests/

import snnjax
from snnjax import models, train
from snnjax.train.loop import _Placer


def run(devices, out_dir=None, epochs=2, resume=False, batch_size=32):
    model = models.SpikingMLP(64, (16,), 2, rngs=nnx.Rngs(0), weight_scale=3.0)
    optimizer = nnx.Optimizer(model, optax.sgd(0.05, momentum=0.9), wrt=nnx.Param)

    def forward(model, x):
        return model(snnjax.encoding.latency(x.astype(jnp.float32) / 255.0, 16), return_spikes=True)

    rows = train.fit(
        model,
        optimizer,
        forward=forward,
        loss_fn=train.max_over_time_ce,
        logits_fn=train.max_over_time_logits,
        train_data=toy_data(100, 0),
        test_data=toy_data(37, 1),
        epochs=epochs,
        batch_size=batch_size,
        eval_batch_size=16,
        seed=3,
        out_dir=out_dir,
        resume=resume,
        progress=False,
        log=lambda s: None,
        devices=devices,
    )
    params = [np.asarray(a) for a in jax.tree.leaves(nnx.state(model, nnx.Param))]
    n_dev = {len(a.sharding.device_set) for a in jax.tree.leaves(nnx.state(model, nnx.Param))}
    return rows, params, n_dev


def main(tmp):
    assert jax.device_count() == 2, jax.devices()
    rows1, p1, nd1 = run(None)
    rows2, p2, nd2 = run(2)
    run(2, f"{tmp}/resumed", epochs=1)
    rows_r, p_r, _ = run(2, f"{tmp}/resumed", epochs=2, resume=True)
    rows_s, p_s, _ = run(2, f"{tmp}/straight", epochs=2)
    place = _Placer(train.data_parallel_mesh(2))
    full = place.batch(np.zeros((32, 64), np.uint8), np.zeros(32))
    partial = place.batch(np.zeros((5, 64), np.uint8), np.zeros(5))
    # the compiled 2-device train step is partitioned: XLA all-reduces the gradients
    model = models.SpikingMLP(64, (16,), 2, rngs=nnx.Rngs(0), weight_scale=3.0)
    optimizer = nnx.Optimizer(model, optax.sgd(0.05), wrt=nnx.Param)
    step, _ = train.make_steps(
        lambda m, x: m(snnjax.encoding.latency(x.astype(jnp.float32) / 255.0, 16), return_spikes=True),
        train.max_over_time_ce,
        train.max_over_time_logits,
    )
    place.replicate(model, optimizer)
    hlo = step.lower(model, optimizer, *full).compile().as_text()
    try:
        run(2, epochs=1, batch_size=31)
        batch_error = None
    except ValueError as e:
        batch_error = str(e)
    print(
        json.dumps(
            {
                "loss_1": [r["train_loss"] for r in rows1],
                "loss_2": [r["train_loss"] for r in rows2],
                "test_loss_1": [r["test_loss"] for r in rows1],
                "test_loss_2": [r["test_loss"] for r in rows2],
                "max_param_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(p1, p2)),
                "param_devices_1": sorted(nd1),
                "param_devices_2": sorted(nd2),
                "full_batch_shards": sorted(sh.data.shape[0] for sh in full[0].addressable_shards),
                "partial_batch_shards": sorted(sh.data.shape[0] for sh in partial[0].addressable_shards),
                "all_reduces_in_step": hlo.count("all-reduce"),
                "batch_error": batch_error,
                "resume_equal": all(np.array_equal(a, b) for a, b in zip(p_r, p_s))
                and rows_r[-1]["train_loss"] == rows_s[-1]["train_loss"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
