"""Losses against hand-computed values (NumPy), and their input validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import train


def _np_ce(logits, labels):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    out = rng.normal(size=(7, 5, 4)).astype(np.float32)  # [T, B, C]
    out[:, 0, :] = -np.abs(out[:, 0, :])  # example 0: all outputs negative
    labels = np.array([0, 1, 2, 3, 1])
    return out, labels


def test_max_over_time_ce_matches_numpy(data):
    out, labels = data
    logits = np.maximum(out.max(0), 0.0)  # the initial zero state counts as a step
    np.testing.assert_allclose(train.max_over_time_ce(out, labels), _np_ce(logits, labels), rtol=1e-6)
    np.testing.assert_allclose(
        train.max_over_time_ce(out, labels, include_initial_zero=False), _np_ce(out.max(0), labels), rtol=1e-6
    )
    # example 0 has only negative outputs: its logits are exactly zero
    np.testing.assert_array_equal(train.max_over_time_logits(out)[0], np.zeros(4))


def test_mean_over_time_ce_matches_numpy(data):
    out, labels = data
    np.testing.assert_allclose(train.mean_over_time_ce(out, labels), _np_ce(out.mean(0), labels), rtol=1e-6)


def test_tet_loss_matches_numpy(data):
    out, labels = data
    lam, phi = 0.05, 1.0
    ce = np.mean([_np_ce(out[t], labels) for t in range(out.shape[0])])
    mse = np.mean((out - phi) ** 2)
    np.testing.assert_allclose(train.tet_loss(out, labels, lam=lam, phi=phi), (1 - lam) * ce + lam * mse, rtol=1e-6)
    # lam = 0: TET is the per-step CE average
    np.testing.assert_allclose(train.tet_loss(out, labels, lam=0.0), ce, rtol=1e-6)


def test_accuracy():
    logits = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert float(train.accuracy(logits, jnp.array([1, 0, 0]))) == pytest.approx(2 / 3)


def test_losses_differentiate(data):
    out, labels = data
    g = jax.grad(train.max_over_time_ce)(jnp.asarray(out), labels)
    # only the arg-max time step of each (example, class) with a positive max gets gradient
    assert np.count_nonzero(np.asarray(g)) <= out.shape[1] * out.shape[2]
    assert np.all(np.asarray(g)[:, 0, :] == 0.0)  # example 0 is clamped at the zero state


@pytest.mark.parametrize(
    "fn", [train.max_over_time_ce, train.mean_over_time_ce, train.tet_loss], ids=lambda f: f.__name__
)
def test_loss_errors(fn, data):
    out, labels = data
    with pytest.raises(ValueError, match="outputs must have rank 3"):
        fn(out[0], labels)
    with pytest.raises(ValueError, match="labels must have shape"):
        fn(out, labels[:3])
    with pytest.raises(TypeError, match="labels must be integer"):
        fn(out, labels.astype(np.float32))


def test_tet_lam_range(data):
    out, labels = data
    with pytest.raises(ValueError, match="lam must lie in"):
        train.tet_loss(out, labels, lam=1.5)
