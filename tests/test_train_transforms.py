"""fit / make_steps: augmentation inside the compiled step (key per (seed, epoch, step)),
evaluation in eval mode, and the per-epoch step limit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnjax import nn, train


class _Net(nnx.Module):
    """Dense -> LIF -> dropout -> dense, over a direct-encoded [B, 8] input (T = 3)."""

    def __init__(self, rngs, rate=0.5):
        self.fc1 = nnx.Linear(8, 16, rngs=rngs)
        self.lif = nn.LIF(tau=2.0)
        self.drop = nnx.Dropout(rate, broadcast_dims=(0,), rngs=rngs)
        self.fc2 = nnx.Linear(16, 2, rngs=rngs)

    def __call__(self, x):
        xs = jnp.broadcast_to(x[None], (3,) + x.shape)
        s = self.lif(self.fc1(xs))
        return self.fc2(self.drop(s)), [s]


def _forward(model, x):
    return model(x)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.normal(size=(n, 8)).astype(np.float32) + 1.5 * y[:, None]
    return x, y


def _noise(key, x):
    return x + 0.3 * jax.random.normal(key, x.shape)


def _run(out_dir=None, epochs=2, resume=False, augment_seed=None, transform=_noise, max_steps=None, seed=5):
    model = _Net(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param)
    rows = train.fit(
        model, opt, forward=_forward, loss_fn=train.mean_over_time_ce, logits_fn=lambda o: o.mean(0),
        train_data=_data(40, 0), test_data=_data(20, 1), epochs=epochs, batch_size=8, seed=seed,
        out_dir=out_dir, resume=resume, progress=False, log=lambda s: None, train_transform=transform,
        augment_seed=augment_seed, max_steps_per_epoch=max_steps,
    )  # fmt: skip
    return model, rows


def _params(model):
    return [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]


def test_batch_key_depends_on_seed_epoch_step_only():
    k = train.batch_key(3, 1, 4)
    assert jnp.array_equal(jax.random.key_data(k), jax.random.key_data(train.batch_key(3, 1, 4)))
    for other in (train.batch_key(4, 1, 4), train.batch_key(3, 2, 4), train.batch_key(3, 1, 5)):
        assert not jnp.array_equal(jax.random.key_data(k), jax.random.key_data(other))


def test_augmented_training_is_deterministic_and_the_seed_matters():
    a, _ = _run()
    b, _ = _run()
    c, _ = _run(augment_seed=99)
    d, _ = _run(transform=None)
    for u, v in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(_params(a), _params(c)))
    assert any(not np.array_equal(u, v) for u, v in zip(_params(a), _params(d)))


def test_the_transform_sees_the_key_of_each_step():
    """A transform that replaces the batch by a function of its key: the training step must
    equal a hand-written loop that applies the same keys (seed 5, epoch e, step i)."""

    def from_key(key, x):
        return jax.random.normal(key, x.shape)

    model, _ = _run(transform=from_key, epochs=1)
    ref = _Net(nnx.Rngs(0))
    opt = nnx.Optimizer(ref, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param)
    x, y = _data(40, 0)

    def loss(m, xb, yb):
        return train.mean_over_time_ce(_forward(m, xb)[0], yb)

    from snnjax import data

    order = data.permutation(40, seed=5, epoch=0)
    for i in range(5):
        yb = jnp.asarray(y[order[8 * i : 8 * i + 8]])
        xb = from_key(train.batch_key(5, 0, i), jnp.zeros((8, 8)))
        opt.update(ref, nnx.grad(loss)(ref, xb, yb))
    for u, v in zip(_params(model), _params(ref)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_resume_with_augmentation_is_bit_exact(tmp_path):
    full, rows_full = _run(tmp_path / "full", epochs=3)
    _run(tmp_path / "cut", epochs=1)
    resumed, rows = _run(tmp_path / "cut", epochs=3, resume=True)
    for u, v in zip(_params(full), _params(resumed)):
        np.testing.assert_array_equal(u, v)
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in rows_full]


def test_evaluation_runs_in_eval_mode_and_training_resumes_in_train_mode():
    model = _Net(nnx.Rngs(0), rate=0.9)
    _, eval_step = train.make_steps(_forward, train.mean_over_time_ce, lambda o: o.mean(0))
    x, y = _data(20, 1)
    a = train.evaluate(eval_step, model, (x, y), 7)
    b = train.evaluate(eval_step, model, (x, y), 7)
    assert a == b  # no dropout noise in evaluation
    assert model.drop.deterministic is False  # back in training mode
    model.eval()
    out = model(jnp.asarray(x))[0]
    model.train()
    assert a["loss"] == pytest.approx(float(train.mean_over_time_ce(out, jnp.asarray(y))), rel=1e-5)
    assert a["acc"] == pytest.approx(float(np.mean(np.argmax(np.asarray(out.mean(0)), -1) == y)))
    noisy = train.mean_over_time_ce(model(jnp.asarray(x))[0], jnp.asarray(y))  # train mode: dropout on
    assert float(noisy) != pytest.approx(a["loss"], rel=1e-3)


def test_max_steps_per_epoch_and_validation():
    _, rows = _run(epochs=1, max_steps=2)
    assert rows[0]["train_loss"] > 0
    with pytest.raises(ValueError, match="max_steps_per_epoch must be a positive int"):
        _run(epochs=1, max_steps=0)
    with pytest.raises(TypeError, match="train_transform must be callable"):
        train.make_steps(_forward, train.mean_over_time_ce, lambda o: o.mean(0), train_transform=3)
