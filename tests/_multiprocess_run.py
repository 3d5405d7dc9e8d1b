"""One process of a multi-process ``fit`` run, started by tests/test_multiprocess.py.

    python tests/_multiprocess_run.py PROCESS_ID NUM_PROCESSES PORT OUT_DIR MODE

Every process joins JAX's distributed runtime on 127.0.0.1:PORT (CPU collectives over
gloo), so ``jax.devices()`` is the global list (one CPU device per process) and
``fit(devices=jax.device_count())`` trains over a mesh that spans the processes. MODE:

* ``train``: a 2-epoch run into ``OUT_DIR/straight`` and a 1-epoch run into
  ``OUT_DIR/resumed`` (then the processes exit: the run is stopped after epoch 1);
* ``resume``: continues ``OUT_DIR/resumed`` to 2 epochs in fresh processes.

Each process writes ``OUT_DIR/<MODE>-<PROCESS_ID>.json`` with its rows, its final
parameters and what the test checks about sharding.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from test_train import _toy_data as toy_data  # this script runs from tests/

import snnjax
from snnjax import models, train


def run(out_dir, epochs, resume=False):
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
        batch_size=32,
        eval_batch_size=16,
        seed=3,
        out_dir=out_dir,
        resume=resume,
        progress=False,
        log=lambda s: None,
        devices=jax.device_count(),
    )
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    out = {
        "rows": rows,
        "params": [np.asarray(a).tolist() for a in leaves],
        "param_devices": sorted({len(a.sharding.device_set) for a in leaves}),
    }
    # one process alone afterwards (analysis, plots): its own copy of the replicated state
    train.distributed.to_local(model, optimizer)
    local = jax.tree.leaves(nnx.state((model, optimizer)))
    out["local_after_to_local"] = all(a.is_fully_addressable for a in local if isinstance(a, jax.Array))
    out["local_params_equal"] = [np.asarray(a).tolist() for a in jax.tree.leaves(nnx.state(model, nnx.Param))] == out[
        "params"
    ]
    x, _ = toy_data(8, 5)
    out["local_forward_sum"] = float(jnp.sum(forward(model, jnp.asarray(x))[0]))
    return out


def main(pid, n, port, out, mode):
    train.distributed.initialize(f"127.0.0.1:{port}", n, pid)  # gloo CPU collectives
    assert jax.process_count() == n and jax.device_count() == n, jax.devices()
    result = {"process_index": jax.process_index(), "local_devices": len(jax.local_devices())}
    if mode == "train":
        result["straight"] = run(os.path.join(out, "straight"), 2)
        result["first_epoch"] = run(os.path.join(out, "resumed"), 1)
        place = train.loop._Placer(train.data_parallel_mesh(n))
        xb, yb = place.batch(np.zeros((32, 64), np.uint8), np.arange(32) % 2)
        result["global_batch_shape"] = list(xb.shape)
        result["local_rows"] = [int(s.data.shape[0]) for s in xb.addressable_shards]
        result["local_labels"] = [np.asarray(s.data).tolist() for s in yb.addressable_shards]
    else:
        result["resumed"] = run(os.path.join(out, "resumed"), 2, resume=True)
    with open(os.path.join(out, f"{mode}-{pid}.json"), "w") as f:
        json.dump(result, f)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
