"""Training loop: schedules, exact resume, metrics files, and a real 1-epoch run on shipped data."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax
from snnjax import data, models, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_MNIST = os.path.join(REPO, "experiments", "data", "mnist_small")


def test_step_lr_matches_pytorch_steplr_per_epoch():
    spe = 7
    sched = train.step_lr(0.1, spe, step_size=2, gamma=0.8)
    for epoch in range(12):
        expected = 0.1 * 0.8 ** (epoch // 2)  # torch.optim.lr_scheduler.StepLR(step_size=2, gamma=0.8)
        for step in (epoch * spe, epoch * spe + spe - 1):
            assert float(sched(step)) == pytest.approx(expected, rel=1e-6), (epoch, step)


def test_multistep_and_cosine():
    spe = 5
    ms = train.multistep_lr(0.0628, spe, milestones=(50, 60), gamma=0.1)
    assert float(ms(49 * spe)) == pytest.approx(0.0628)
    assert float(ms(50 * spe)) == pytest.approx(0.00628)
    assert float(ms(65 * spe)) == pytest.approx(0.000628)
    cos = train.cosine_lr(0.1, spe, epochs=200)
    for epoch in (0, 50, 100, 199):
        expected = 0.05 * (1 + np.cos(np.pi * epoch / 200))
        assert float(cos(epoch * spe + 3)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive int"):
        train.step_lr(0.1, 0)


def _toy_data(n, seed):
    """Two-class images: class 1 has a bright upper half. uint8 [n, 64]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 120, (n, 64))
    x[y == 1, :32] += 130
    return x.astype(np.uint8), y.astype(np.int64)


def _setup(seed=0):
    model = models.SpikingMLP(64, (16,), 2, rngs=nnx.Rngs(seed), weight_scale=3.0)
    optimizer = nnx.Optimizer(model, optax.sgd(train.step_lr(0.05, 4), momentum=0.9), wrt=nnx.Param)

    def forward(model, x):
        return model(snnjax.encoding.latency(x.astype(jnp.float32) / 255.0, 16), return_spikes=True)

    return model, optimizer, forward


def _fit(out_dir, epochs, resume=False):
    model, optimizer, forward = _setup()
    rows = train.fit(
        model,
        optimizer,
        forward=forward,
        loss_fn=train.max_over_time_ce,
        logits_fn=train.max_over_time_logits,
        train_data=_toy_data(100, 0),
        test_data=_toy_data(37, 1),  # 37: the final partial eval batch must count
        epochs=epochs,
        batch_size=32,
        seed=3,
        out_dir=out_dir,
        resume=resume,
        eval_batch_size=16,
        progress=False,
        log=lambda s: None,
    )
    return model, optimizer, rows


def test_kill_and_resume_is_bit_exact(tmp_path):
    m2, o2, rows2 = _fit(str(tmp_path / "straight"), epochs=2)
    _fit(str(tmp_path / "resumed"), epochs=1)
    m1, o1, rows1 = _fit(str(tmp_path / "resumed"), epochs=2, resume=True)
    for a, b in zip(jax.tree.leaves(nnx.state(m2)), jax.tree.leaves(nnx.state(m1))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(nnx.state(o2)), jax.tree.leaves(nnx.state(o1))):
        np.testing.assert_array_equal(a, b)
    assert [r["epoch"] for r in rows1] == [0, 1]
    assert rows1[1]["test_acc"] == rows2[1]["test_acc"]
    assert rows1[1]["train_loss"] == rows2[1]["train_loss"]


def test_metrics_files_and_eval_counts_every_example(tmp_path):
    out = tmp_path / "run"
    _, _, rows = _fit(str(out), epochs=1)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epoch"] == 0
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,") and len(csv_lines) == 2
    # accuracy over 37 test examples is a multiple of 1/37
    acc = rows[0]["test_acc"]
    assert abs(acc * 37 - round(acc * 37)) < 1e-9
    assert json.loads((out / "final.json").read_text())["test_acc"] == acc
    assert 0.0 <= rows[0]["test_rate_0"] <= 1.0


def test_fit_argument_errors():
    model, optimizer, forward = _setup()
    kw = dict(
        forward=forward,
        loss_fn=train.max_over_time_ce,
        logits_fn=train.max_over_time_logits,
        train_data=_toy_data(8, 0),
        test_data=_toy_data(8, 1),
        batch_size=4,
        progress=False,
    )
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        train.fit(model, optimizer, epochs=0, **kw)
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        train.fit(model, optimizer, epochs=1, resume=True, **kw)


def test_one_epoch_on_shipped_mnist_subset_learns():
    """A real assertion on real data: 1 epoch of the spytorch network on 6k MNIST images."""
    x_train, y_train = data.load_mnist(SMALL_MNIST, "train")
    x_test, y_test = data.load_mnist(SMALL_MNIST, "test")
    model = models.SpikingMLP(784, (100,), 10, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(2e-3), wrt=nnx.Param)

    def forward(model, x):
        xs = snnjax.encoding.latency(x.reshape(x.shape[0], -1).astype(jnp.float32) / 255.0, 100)
        return model(xs, return_spikes=True)

    rows = train.fit(
        model,
        optimizer,
        forward=forward,
        loss_fn=train.max_over_time_ce,
        logits_fn=train.max_over_time_logits,
        train_data=(x_train, y_train),
        test_data=(x_test, y_test),
        epochs=1,
        batch_size=64,
        seed=0,
        progress=False,
        log=lambda s: None,
    )
    assert rows[0]["test_acc"] > 0.80, rows[0]
