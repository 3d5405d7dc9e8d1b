"""Multi-process training on JAX's own distributed runtime: two CPU processes on 127.0.0.1.

Each process runs ``tests/_multiprocess_run.py`` (``jax.distributed.initialize`` with a
local coordinator, CPU collectives over gloo, one CPU device per process), and
``fit(devices=2)`` trains over a mesh spanning both. Checked against a single-process run
in this process on the same global batches: the same losses and parameters (1e-6); each
process holds and feeds only its half of every batch; exactly one process writes the
metrics files; a run stopped after epoch 1 and resumed by fresh processes ends bit-exactly
where an uninterrupted one does.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from _multiprocess_run import run as mp_run
from flax import nnx

from snnjax import models, train

HERE = os.path.dirname(os.path.abspath(__file__))
N = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(commands, cwd):
    """Run each command as one process (one CPU device each) until all exit; their outputs.
    A jaxlib without gloo CPU collectives skips the test, saying so."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    procs = [
        subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd in commands
    ]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=300)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for i, p in enumerate(procs):
        if p.returncode == 0:
            continue
        text = outputs[i] if i < len(outputs) else ""
        if "gloo" in text.lower() and ("not supported" in text.lower() or "unknown" in text.lower()):
            pytest.skip(f"this jaxlib has no gloo CPU collectives: {text[-500:]}")
        raise AssertionError(f"process {i} exited with {p.returncode}:\n{text[-4000:]}")
    return outputs


def _launch(out, mode):
    port = _free_port()
    script = os.path.join(HERE, "_multiprocess_run.py")
    _start([[sys.executable, script, str(i), str(N), str(port), str(out), mode] for i in range(N)], HERE)
    return [json.loads((out / f"{mode}-{i}.json").read_text()) for i in range(N)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("multiprocess")
    trained = _launch(out, "train")
    resumed = _launch(out, "resume")
    return out, trained, resumed


def test_two_processes_train_as_one(runs):
    _, trained, _ = runs
    single = mp_run(None, 2)  # the same script's run, here in one process with one device
    rows1, params1 = single["rows"], [np.asarray(a) for a in single["params"]]
    for r in trained:
        assert r["local_devices"] == 1
        straight = r["straight"]
        assert straight["param_devices"] == [N]  # replicated over the devices of both processes
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_allclose([row[key] for row in straight["rows"]], [row[key] for row in rows1], atol=1e-6)
        for a, b in zip(straight["params"], params1):
            np.testing.assert_allclose(np.asarray(a), b, atol=1e-6)
    assert rows1[1]["train_loss"] < rows1[0]["train_loss"]  # it trained
    # both processes end with the same parameters (bit for bit: one replicated state)
    assert trained[0]["straight"]["params"] == trained[1]["straight"]["params"]


def test_each_process_feeds_only_its_half_of_a_batch(runs):
    _, trained, _ = runs
    for i, r in enumerate(trained):
        assert r["global_batch_shape"] == [32, 64]
        assert r["local_rows"] == [16]  # 16 of the 32 rows live on this process's device
        assert r["local_labels"] == [[(16 * i + k) % 2 for k in range(16)]]  # rows 16i .. 16i + 15


def test_one_process_writes_the_metrics(runs):
    out, trained, _ = runs
    lines = (out / "straight" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [0, 1]  # one row per epoch, not one per process
    final = json.loads((out / "straight" / "final.json").read_text())
    assert final["epochs"] == 2 and final["test_acc"] == trained[0]["straight"]["rows"][-1]["test_acc"]


def test_stop_and_resume_in_new_processes_is_bit_exact(runs):
    out, trained, resumed = runs
    for t, r in zip(trained, resumed):
        assert r["resumed"]["params"] == t["straight"]["params"]
        assert r["resumed"]["rows"][-1]["train_loss"] == t["straight"]["rows"][-1]["train_loss"]
        assert [row["epoch"] for row in r["resumed"]["rows"]] == [0, 1]
    lines = (out / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [0, 1]


def test_to_local_hands_one_process_its_own_copy(runs):
    _, trained, _ = runs
    for r in trained:
        assert r["straight"]["local_after_to_local"] and r["straight"]["local_params_equal"]
    # both processes, alone, compute the same forward pass on the same images
    assert trained[0]["straight"]["local_forward_sum"] == trained[1]["straight"]["local_forward_sum"]


def test_initialize_checks_its_arguments_before_touching_jax():
    with pytest.raises(ValueError, match="coordinator_address must be 'host:port'"):
        train.distributed.initialize("localhost", 2, 0)
    with pytest.raises(TypeError, match="coordinator_address"):
        train.distributed.initialize(1234, 2, 0)
    with pytest.raises(ValueError, match=r"process_id must be < num_processes \(2\)"):
        train.distributed.initialize("127.0.0.1:1", 2, 2)
    with pytest.raises(ValueError, match="num_processes"):
        train.distributed.initialize("127.0.0.1:1", 0, 0)
    with pytest.raises(ValueError, match="cpu_collectives must be 'gloo' or 'mpi'"):
        train.distributed.initialize("127.0.0.1:1", 2, 0, cpu_collectives="nccl")


def test_single_process_helpers_are_no_ops():
    assert train.distributed.is_primary()
    train.distributed.barrier("nothing to wait for")
    model = models.SpikingMLP(4, (3,), 2, rngs=nnx.Rngs(0))
    before = [np.asarray(a) for a in jax.tree.leaves(nnx.state(model))]
    train.distributed.to_local(model)
    for a, b in zip(before, jax.tree.leaves(nnx.state(model))):
        np.testing.assert_array_equal(a, np.asarray(b))


REPO = os.path.dirname(HERE)


def test_polara_mnist_script_on_two_processes_equals_one(tmp_path):
    """``experiments/polara_mnist.py --distributed`` (the scripts' own path: the options, joining
    the runtime, fit over both processes, process 0 writing the files) on two processes gives
    the single-process run's metrics."""
    script = os.path.join(REPO, "experiments", "polara_mnist.py")
    small = os.path.join(REPO, "experiments", "data", "mnist_small")
    args = ["--data-dir", small, "--epochs", "1", "--train-subset", "256", "--batch-size", "64",
            "--num-steps", "16", "--hidden", "32", "--no-progress"]  # fmt: skip
    port = _free_port()
    two = [
        [sys.executable, script, *args, "--results-dir", str(tmp_path / "two"), "--distributed",
         "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(N), "--process-id", str(i)]
        for i in range(N)
    ]  # fmt: skip
    outputs = _start([*two, [sys.executable, script, *args, "--results-dir", str(tmp_path / "one")]], REPO)
    summaries = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
    assert summaries[0]["test_acc"] == summaries[1]["test_acc"]  # both processes report the global result
    rows = {
        k: [json.loads(x) for x in (tmp_path / k / "metrics.jsonl").read_text().splitlines()] for k in ("two", "one")
    }
    assert len(rows["two"]) == 1  # one row: process 0 alone writes
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose(rows["two"][0][key], rows["one"][0][key], atol=1e-5, err_msg=key)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["distributed"] and config["devices"] == N and config["process_id"] == 0
    for name in ("curves.png", "raster.png", "final.json"):
        assert (tmp_path / "two" / name).exists(), name
