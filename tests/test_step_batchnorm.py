"""nn.StepBatchNorm: per-time-step batch normalisation, as T calls of a PyTorch-style BatchNorm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import nn

T, B, H, W, C = 4, 6, 3, 2, 5


def _numpy_step_bn(xs, gamma, beta, mean, var, momentum, eps, train):
    """Independent reference: a loop over t applying BatchNorm2d's training/eval rule."""
    xs = np.asarray(xs, np.float64)
    ys = np.empty_like(xs)
    mean, var = np.array(mean, np.float64), np.array(var, np.float64)
    for t in range(xs.shape[0]):
        x = xs[t].reshape(-1, xs.shape[-1])  # [B·H·W, C]
        if train:
            mu, sig2 = x.mean(0), x.var(0)  # biased variance normalises
            n = x.shape[0]
            mean = (1 - momentum) * mean + momentum * mu
            var = (1 - momentum) * var + momentum * sig2 * n / (n - 1)  # unbiased in the running average
        else:
            mu, sig2 = mean, var
        ys[t] = ((x - mu) / np.sqrt(sig2 + eps) * gamma + beta).reshape(xs[t].shape)
    return ys, mean, var


def _data(seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3.0, C)
    return (shift + rng.normal(size=(T, B, H, W, C)) * scale + np.arange(T)[:, None, None, None, None]).astype(
        np.float32
    )


def test_training_and_eval_match_a_per_step_loop():
    bn = nn.StepBatchNorm(C, momentum=0.2, epsilon=1e-3)
    rng = np.random.default_rng(1)
    gamma, beta = rng.uniform(0.5, 2, C).astype(np.float32), rng.normal(size=C).astype(np.float32)
    bn.scale[...], bn.bias[...] = jnp.asarray(gamma), jnp.asarray(beta)
    mean, var = np.zeros(C), np.ones(C)
    for seed in (0, 1):  # two training calls: the running statistics carry over
        xs = _data(seed, shift=seed)
        ys = bn(jnp.asarray(xs))
        ref, mean, var = _numpy_step_bn(xs, gamma, beta, mean, var, 0.2, 1e-3, train=True)
        np.testing.assert_allclose(ys, ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(bn.mean[...], mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bn.var[...], var, rtol=1e-5, atol=1e-5)
    # every step is normalised with its own statistics: per-step means of y are beta
    np.testing.assert_allclose(np.asarray(ys).mean(axis=(1, 2, 3)), np.tile(beta, (T, 1)), atol=1e-4)
    # evaluation mode (set by nnx's .eval()) uses the running statistics and leaves them alone
    model = nnx.Sequential(bn)
    model.eval()
    xs = _data(5)
    ref, _, _ = _numpy_step_bn(xs, gamma, beta, mean, var, 0.2, 1e-3, train=False)
    np.testing.assert_allclose(model(jnp.asarray(xs)), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.mean[...], mean, rtol=1e-5, atol=1e-5)
    model.train()
    assert bn.use_running_average is False


def test_output_equals_flax_batchnorm_called_per_step():
    """The normalised output and running mean equal T sequential calls of nnx.BatchNorm
    (Flax's momentum is the weight of the *old* value: 1 - ours)."""
    xs = jnp.asarray(_data(3))
    ours = nn.StepBatchNorm(C, momentum=0.1)
    flax_bn = nnx.BatchNorm(C, momentum=0.9, epsilon=1e-5, rngs=nnx.Rngs(0))
    ys = ours(xs)
    ref = jnp.stack([flax_bn(xs[t]) for t in range(T)])
    np.testing.assert_allclose(ys, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.mean[...], flax_bn.mean[...], rtol=1e-5, atol=1e-6)


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        xs = jnp.asarray(_data(4), jnp.float64)
        w = jnp.asarray(np.random.default_rng(2).normal(size=xs.shape))
        bn = nn.StepBatchNorm(C, dtype=jnp.float64)

        def loss(bn, xs):  # training mode: the output does not depend on the running statistics
            return jnp.sum(bn(xs) ** 3 * w)

        g_bn, gx = nnx.grad(loss, argnums=(0, 1))(bn, xs)
        h = 1e-6
        for idx in [(0, 0, 0, 0, 0), (2, 3, 1, 1, 4), (3, 5, 2, 0, 2)]:
            e = jnp.zeros_like(xs).at[idx].set(h)
            fd = (loss(bn, xs + e) - loss(bn, xs - e)) / (2 * h)
            np.testing.assert_allclose(gx[idx], fd, rtol=1e-6, atol=1e-8)
        scale = bn.scale[...]
        vals = []
        for sign in (1, -1):
            bn.scale[...] = scale.at[1].add(sign * h)
            vals.append(loss(bn, xs))
        bn.scale[...] = scale
        np.testing.assert_allclose(g_bn.scale[...][1], (vals[0] - vals[1]) / (2 * h), rtol=1e-6)
        # per-step normalisation: the loss is invariant to shifting one step's input
        shifted = xs.at[2].add(7.0)
        assert abs(float(loss(bn, shifted) - loss(bn, xs))) < 1e-6 * abs(float(loss(bn, xs)))


def test_running_statistics_update_inside_nnx_jit():
    bn = nn.StepBatchNorm(C)

    @nnx.jit
    def apply(bn, xs):
        return bn(xs)

    xs = jnp.asarray(_data(6))
    apply(bn, xs)
    _, mean, var = _numpy_step_bn(_data(6), np.ones(C), np.zeros(C), np.zeros(C), np.ones(C), 0.1, 1e-5, True)
    np.testing.assert_allclose(bn.mean[...], mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.var[...], var, rtol=1e-5, atol=1e-5)


def test_errors_name_the_argument():
    bn = nn.StepBatchNorm(C)
    with pytest.raises(ValueError, match="num_features = 5 channels"):
        bn(jnp.ones((T, B, 4)))
    with pytest.raises(ValueError, match="xs"):
        bn(jnp.ones((B, C)))
    with pytest.raises(TypeError, match="xs"):
        bn(jnp.ones((T, B, C), jnp.int32))
    with pytest.raises(ValueError, match="momentum"):
        nn.StepBatchNorm(C, momentum=1.5)
    with pytest.raises(ValueError, match="num_features"):
        nn.StepBatchNorm(0)
    with pytest.raises(ValueError, match="epsilon"):
        nn.StepBatchNorm(C, epsilon=0.0)
