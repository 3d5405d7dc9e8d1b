"""A neuron written outside the package, with only public names (issue 17): an Izhikevich
neuron with a surrogate spike, run under every backend, differentiated, vmapped over its
parameters and trained inside an NNX network through ``snnjax.nn.Neuron``.

The README's "Write your own neuron" section is this file's first half.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax
from snnjax import nn, surrogate


# --------------------------------------------------------------------------- the neuron (README)
@snnjax.params_dataclass
class IzhikevichParams:
    """Izhikevich (2003) regular spiking, forward Euler with step ``dt`` (ms)."""

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    dt: float = 0.5
    spike: surrogate.Surrogate = surrogate.fast_sigmoid(0.1)

    BOUNDS = {"dt": 0.0}

    def __post_init__(self):
        if not self.dt > 0:
            raise ValueError(f"dt must be > 0, got {self.dt}")


class IzhikevichState(NamedTuple):
    v: jax.Array
    u: jax.Array


def init_state(shape, dtype=jnp.float32, *, params=None):
    p = params or IzhikevichParams()
    v = jnp.full(shape, p.c, dtype)
    return IzhikevichState(v=v, u=(p.b * v).astype(dtype))


def step(p: IzhikevichParams, state: IzhikevichState, x: jax.Array):
    v, u = state
    v = v + p.dt * (0.04 * v * v + 5.0 * v + 140.0 - u + x)
    u = u + p.dt * p.a * (p.b * v - u)
    s = p.spike(v - p.v_peak)  # Heaviside forward, surrogate backward
    r = jax.lax.stop_gradient(s)  # detached reset: the gradient flows through the spike, not the jump to c
    v = v * (1 - r) + r * p.c
    u = u + r * p.d
    return IzhikevichState(v.astype(x.dtype), u.astype(x.dtype)), s.astype(x.dtype)


izhikevich = snnjax.Neuron(init_state, step, params=IzhikevichParams, name="izhikevich")
# --------------------------------------------------------------------------- end of the README part


XS = 12.0 * jax.random.uniform(jax.random.key(0), (40, 3, 5))  # [T, B, N] input currents


def _numpy_loop(p, xs):
    """The same equations in a plain NumPy loop (float32)."""
    xs = np.asarray(xs, np.float32)
    v = np.full(xs.shape[1:], p.c, np.float32)
    u = (np.float32(p.b) * v).astype(np.float32)
    out = []
    for x in xs:
        v = (v + np.float32(p.dt) * (np.float32(0.04) * v * v + 5 * v + 140 - u + x)).astype(np.float32)
        u = (u + np.float32(p.dt * p.a) * (np.float32(p.b) * v - u)).astype(np.float32)
        s = (v - np.float32(p.v_peak) >= 0).astype(np.float32)
        v = v * (1 - s) + s * np.float32(p.c)
        u = u + s * np.float32(p.d)
        out.append(s)
    return np.stack(out)


def test_runs_under_every_backend_like_a_numpy_loop():
    p = IzhikevichParams()
    ref = _numpy_loop(p, XS)
    assert ref.sum() > 0  # it spikes
    for backend in ("scan", "fused", "pallas", "auto"):
        _, spikes = snnjax.run(izhikevich, p, XS, backend=backend)
        np.testing.assert_allclose(np.asarray(spikes), ref, atol=0, err_msg=backend)
    with pytest.raises(ValueError, match=r"backend='linear' needs a neuron whose record says linear=True"):
        snnjax.run(izhikevich, p, XS, backend="linear")


def test_the_bare_step_and_wrapped_steps_keep_the_record():
    p = IzhikevichParams()
    _, ref = snnjax.run(izhikevich, p, XS)
    for wrapped in (step, jax.jit(step), functools.partial(step)):
        _, spikes = snnjax.run(wrapped, p, XS)  # init_state found through the record
        chex.assert_trees_all_equal(spikes, ref)
        with pytest.raises(ValueError, match=r"state\.v has shape \(5,\)"):  # and the state check
            snnjax.run(wrapped, p, XS, init_state(5))
    assert snnjax.neurons.neuron_of(jax.jit(functools.partial(step))) is izhikevich
    # the auto policy's flags survive the wrappers too (POLARA: compute-bound, LI: linear)
    from snnjax.neurons import li, polara

    for wrap in (jax.jit, functools.partial):
        assert snnjax.neurons.neuron_of(wrap(polara.step)).compute_bound
        assert snnjax.neurons.neuron_of(wrap(li.step)).linear
    xs = XS[:20]  # T > UNROLL_MAX_T: auto scans POLARA on CPU, the same values as the record
    chex.assert_trees_all_close(  # (an inner jit can round 1 ulp apart: JAX 0.8 does not fuse across it)
        snnjax.run(jax.jit(polara.step), polara.PolaraParams(), xs)[1],
        snnjax.run(polara.neuron, polara.PolaraParams(), xs, backend="scan")[1],
        rtol=1e-6,
        atol=1e-7,
    )


@pytest.mark.parametrize("backend", ["fused", "pallas"])
def test_gradients_equal_autodiff_through_lax_scan(backend):
    def loss(params, xs, backend):
        return jnp.sum(
            snnjax.run(izhikevich, params, xs, backend=backend)[1] * jnp.linspace(0, 1, xs.shape[0])[:, None, None]
        )

    p = IzhikevichParams()
    g_ref = jax.grad(loss, argnums=(0, 1))(p, XS, "scan")
    g = jax.grad(loss, argnums=(0, 1))(p, XS, backend)
    chex.assert_trees_all_close(g, g_ref, rtol=2e-4, atol=1e-5)
    assert float(jnp.abs(g_ref[1]).sum()) > 0


def test_vmap_over_parameter_sets():
    ps = [IzhikevichParams(a=a, d=d) for a, d in ((0.02, 8.0), (0.1, 2.0), (0.02, 2.0))]  # RS, FS, chattering-ish
    stacked, axes = snnjax.neurons.stack_params(ps)
    spikes = jax.vmap(lambda p: snnjax.run(izhikevich, p, XS)[1], in_axes=(axes,))(stacked)
    for i, p in enumerate(ps):
        np.testing.assert_array_equal(np.asarray(spikes[i]), _numpy_loop(p, XS))


def test_trains_inside_an_nnx_network():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(5, 4, rngs=rngs)
            self.izh = nn.Neuron(izhikevich, IzhikevichParams(), learn=("a", "d"), param_shape=(4,))

        def __call__(self, xs):
            return self.izh(nn.TimeDistributed(self.fc)(xs))

    model = Net(nnx.Rngs(0))
    assert isinstance(model.izh.a, nnx.Param) and model.izh.a[...].shape == (4,)
    target = jnp.array([0.05, 0.1, 0.15, 0.2])  # firing rate per output neuron
    opt = nnx.Optimizer(model, optax.adam(0.02), wrt=nnx.Param)

    def loss_fn(m):
        return jnp.mean((jnp.mean(m(XS), axis=(0, 1)) - target) ** 2)

    @nnx.jit
    def train_step(m, o):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        o.update(m, grads)
        return loss

    losses = [float(train_step(model, opt)) for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert not np.allclose(np.asarray(model.izh.d[...]), 8.0)  # the neuron's own constants moved
