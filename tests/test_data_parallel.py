"""Data-parallel training (``fit(devices=...)``) on 2 host CPU devices equals 1 device.

The 2-device run needs ``--xla_force_host_platform_device_count=2`` before jax starts, so it
runs in a subprocess (``tests/_data_parallel_run.py``).
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from snnjax import train

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def two_device_run(tmp_path_factory):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "_data_parallel_run.py"), str(tmp_path_factory.mktemp("dp"))],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_devices_give_the_one_device_training(two_device_run):
    r = two_device_run
    # same losses every epoch and the same parameters, up to float32 summation order
    np.testing.assert_allclose(r["loss_2"], r["loss_1"], rtol=1e-5)
    np.testing.assert_allclose(r["test_loss_2"], r["test_loss_1"], rtol=1e-5)
    assert r["max_param_diff"] < 1e-5
    assert r["loss_1"][1] < r["loss_1"][0]  # it trained


def test_two_devices_really_split_the_work(two_device_run):
    r = two_device_run
    assert r["param_devices_1"] == [1] and r["param_devices_2"] == [2]  # replicated on both
    assert r["full_batch_shards"] == [16, 16]  # a 32-batch is split 16 + 16
    assert r["partial_batch_shards"] == [5, 5]  # an uneven final batch runs replicated
    assert r["all_reduces_in_step"] > 0  # gradients are all-reduced across the devices
    assert "batch_size (31) must be a multiple of the number of devices (2)" in r["batch_error"]


def test_kill_and_resume_on_two_devices_is_bit_exact(two_device_run):
    assert two_device_run["resume_equal"]


def test_device_argument_errors():
    n = jax.device_count()
    assert train.data_parallel_mesh(None) is None
    assert train.data_parallel_mesh(1) is None  # one device: no sharding
    for bad in (0, n + 1):
        with pytest.raises(ValueError, match="devices must be between 1 and"):
            train.data_parallel_mesh(bad)
    with pytest.raises(TypeError, match="devices must be an int"):
        train.data_parallel_mesh([])
    with pytest.raises(TypeError, match="devices must be an int"):
        train.data_parallel_mesh(["cpu:0"])
    with pytest.raises(ValueError, match="more than once"):
        train.data_parallel_mesh([jax.devices()[0]] * 2)
