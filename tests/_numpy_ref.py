"""Helpers shared by the seed-neuron tests: NumPy reference pieces and a compose check."""

import numpy as np


def sigmoid(z):
    """Overflow-free float64 logistic function."""
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def check_jit_vmap_grad(step, make_params, p0, xs):
    """jit / vmap / grad compose for an element-wise spiking neuron with one scalar parameter.

    ``make_params(p)`` builds the params pytree from the scalar ``p`` (e.g. τ); ``xs`` is
    ``[T, B, N]`` float32 with a firing fraction in (0.1, 0.9). Checks: jit of vmap over the
    batch axis equals the eager batched call exactly; the gradients w.r.t. ``p`` and ``xs``
    are finite and nonzero; per-example gradients (vmap of grad) equal the batched ones.
    """
    import jax
    import jax.numpy as jnp

    import snnjax

    def outs(xs):
        return snnjax.run(step, make_params(p0), xs)[1]

    def loss(p, xs):
        final, ys = snnjax.run(step, make_params(p), xs)
        weights = jnp.cos(jnp.arange(xs.shape[0], dtype=xs.dtype))
        weights = weights.reshape((-1,) + (1,) * (xs.ndim - 1))
        return jnp.sum(ys * weights) + jnp.sum(final.m)

    eager = outs(xs)
    assert 0.1 < float(eager.mean()) < 0.9
    np.testing.assert_array_equal(jax.jit(jax.vmap(outs, in_axes=1, out_axes=1))(xs), eager)
    gp, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(p0, xs)
    assert np.isfinite(gp) and gp != 0 and np.all(np.isfinite(gx)) and np.any(gx != 0)
    # per-example gradients (vmap of grad) equal the batched gradient: the neuron is element-wise
    per_example = jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, 1), out_axes=1)
    np.testing.assert_allclose(jax.jit(per_example)(p0, xs), gx, rtol=1e-5, atol=1e-6)
