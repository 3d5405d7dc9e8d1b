"""Forward-mode autodiff (jax.jvp / jacfwd / hessian) through the surrogate spike and snnjax.run.

A spiking output is piecewise constant, so its finite differences are 0 almost everywhere.
The checks are instead: ``jacfwd == jacrev`` (the custom_jvp twin's tangent rule is the
custom_vjp's backward transposed), the Hessian (forward over reverse) against central finite
differences of the surrogate *gradient* (a piecewise-smooth function of the parameters) in
float64, and smooth neurons (the spike replaced by its surrogate primitive ``F``, ``F' = g``;
the LI readout) against central finite differences of their outputs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons, surrogate
from snnjax.kernels import native
from snnjax.neurons import ilif, li, lif, polara

T, SHAPE = 8, (2, 3)  # T > UNROLL_MAX_T: no unrolled fused scans to compile


def _xs(dtype=jnp.float32, scale=1.5):
    return (scale * jax.random.uniform(jax.random.PRNGKey(0), (T, *SHAPE))).astype(dtype)


# the parameter vector s = (a time constant or threshold offset, an input scale)
MAKERS = {
    "lif": (lif.step, lambda a: neurons.LIFParams(tau=1.5 + a, surrogate="atan")),
    "ilif": (ilif.step, lambda a: neurons.ILIFParams(tau=1.5 + a, surrogate="atan")),
    "polara": (polara.step, lambda a: neurons.PolaraParams(theta0=0.5 + a)),  # grad="mask"
    "polara_eq13": (polara.step, lambda a: neurons.PolaraParams(theta0=0.5 + a, grad="eq13")),
}
S0 = (0.3, 1.0)


def _counts(name, backend="auto", dtype=jnp.float32):
    step, make = MAKERS[name]
    xs = _xs(dtype)

    def f(s):
        _, ys = snnjax.run(step, make(s[0]), xs * s[1], backend=backend)
        return ys.sum(axis=(1, 2))  # [T]

    return f


def _close(a, b, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol * max(1.0, float(np.abs(b).max())))


# --------------------------------------------------------------------------- the spike itself


def test_spike_twin_first_and_second_derivative(x64):
    sg = surrogate.atan(2.0)
    v = jnp.linspace(-1.0, 1.0, 7)
    _, t = jax.jvp(sg, (v,), (jnp.full_like(v, 3.0),))
    _close(t, 3.0 * sg.derivative(v))
    _close(jnp.diagonal(jax.jacfwd(sg)(v)), sg.derivative(v))
    # hessian: t · ∂g/∂v, compared with central differences of g (= F'')
    h = jax.hessian(lambda v: sg(v).sum())(v)
    eps = 1e-6
    fd = (sg.derivative(v + eps) - sg.derivative(v - eps)) / (2 * eps)
    _close(jnp.diagonal(h), fd, rtol=1e-6)
    _close(h - jnp.diag(jnp.diagonal(h)), jnp.zeros_like(h))
    # values stay the exact Heaviside
    assert np.array_equal(np.asarray(jax.jvp(sg, (v,), (v,))[0]), np.asarray(surrogate.heaviside(v)))


def test_twin_vjp_equals_custom_vjp_exactly():
    sg = surrogate.rectangle(0.7)
    v = jnp.linspace(-0.6, 0.6, 13, dtype=jnp.float32)
    g_rev = jax.grad(lambda v: (sg(v) * jnp.arange(13.0)).sum())(v)
    with surrogate.forward_mode():
        g_twin = jax.grad(lambda v: (sg(v) * jnp.arange(13.0)).sum())(v)
        inside = str(jax.make_jaxpr(sg)(v))
    assert np.array_equal(np.asarray(g_rev), np.asarray(g_twin))
    assert "custom_jvp_call" in inside and "custom_vjp" not in inside
    # outside forward mode the spike is the custom_vjp, as always
    outside = str(jax.make_jaxpr(sg)(v))
    assert "custom_vjp_call" in outside and "custom_jvp" not in outside


def test_is_forward_mode_detection():
    seen = []

    def probe(x):
        seen.append(surrogate.is_forward_mode(x))
        return x * 2.0

    x = jnp.ones(3)
    jax.grad(lambda x: probe(x).sum())(x)
    jax.vmap(probe)(jnp.ones((2, 3)))
    jax.jit(probe)(x)
    assert seen == [False, False, False]
    jax.jvp(probe, (x,), (x,))
    jax.hessian(lambda x: probe(x).sum())(x)  # jacrev inside jacfwd
    jax.jacfwd(jax.vmap(probe))(jnp.ones((2, 3)))
    jax.vmap(jax.jacfwd(probe))(jnp.ones((2, 3)))
    assert seen[3:] == [True] * 4
    assert not surrogate.is_forward_mode(x)
    with surrogate.forward_mode():
        assert surrogate.is_forward_mode()
        with surrogate.forward_mode(False):
            assert not surrogate.is_forward_mode(x)
        assert surrogate.is_forward_mode()
    assert not surrogate.is_forward_mode()
    with pytest.raises(TypeError, match="bool"):
        with surrogate.forward_mode("yes"):
            pass


# --------------------------------------------------------------------------- neurons through run


def _fd(f, s, eps=1e-6):
    """Central finite differences of ``f`` at ``s`` (a vector), the last axis indexing ``s``."""
    return jnp.stack(
        [(f(s + eps * e) - f(s - eps * e)) / (2 * eps) for e in jnp.eye(s.shape[0], dtype=s.dtype)], axis=-1
    )


@pytest.mark.parametrize("name", ["lif", "ilif", "polara"])
def test_jacfwd_and_hessian_through_spiking_neuron(name, x64):
    """Default backend: jacfwd (scan, twin spikes) == grad (fused / scan, custom_vjp spikes), and the
    Hessian (forward over reverse) == finite differences of that (piecewise-smooth) gradient."""
    f = _counts(name, dtype=jnp.float64)

    def loss(s):
        return f(s).sum()

    s = jnp.array(S0, jnp.float64)
    g_fwd = jax.jit(jax.jacfwd(loss))
    g_rev = jax.jit(jax.grad(loss))
    assert float(jnp.abs(g_rev(s)).max()) > 0.1  # not vacuous
    _close(g_fwd(s), g_rev(s), rtol=1e-10, atol=1e-12)
    h = jax.jit(jax.hessian(loss))(s)
    assert float(jnp.abs(h).max()) > 0.1
    _close(h, _fd(g_rev, s), rtol=1e-5, atol=1e-6)  # FD of the training (custom_vjp) gradient


def test_jacfwd_equals_jacrev_polara_eq13():
    f = _counts("polara_eq13")
    s = jnp.array(S0)
    jr = jax.jit(jax.jacrev(f))(s)
    assert float(jnp.abs(jr).max()) > 0.1
    _close(jax.jit(jax.jacfwd(f))(s), jr)


@jax.tree_util.register_pytree_node_class
class _Smooth(surrogate.Surrogate):
    """The spike replaced by the smooth surrogate primitive F (F' = g): an ordinary smooth
    function, so derivatives can be checked against finite differences of values."""

    __slots__ = ()

    def __call__(self, v):
        v = jnp.asarray(v)
        return surrogate.spec(self.name).primitive(v, jnp.asarray(self.width, v.dtype))


def test_smooth_lif_jacfwd_and_hessian_match_fd(x64):
    xs = _xs(jnp.float64)

    def loss(s):
        params = neurons.LIFParams(tau=1.5 + s[0], surrogate=_Smooth("atan", 2.0))
        return jnp.sum(snnjax.run(lif.step, params, xs * s[1])[1] ** 2)

    s = jnp.array(S0, jnp.float64)
    g_fwd = jax.jit(jax.jacfwd(loss))
    _close(g_fwd(s), _fd(jax.jit(loss), s), rtol=1e-6, atol=1e-7)
    _close(jax.jit(jax.hessian(loss))(s), _fd(g_fwd, s), rtol=1e-6, atol=1e-7)


def test_li_readout_and_return_states_match(x64):
    xs = _xs(jnp.float64)

    def readout(tau):  # auto -> linear backend (a matmul), forward mode included
        return snnjax.run(li.step, neurons.LIParams(tau_mem=tau), xs)[1].sum()

    def membranes(s):  # return_states -> scan; a loss on the spiking LIF's membrane states
        _, _, states = snnjax.run(
            lif.step, neurons.LIFParams(tau=1.5 + s[0], surrogate="atan"), xs * s[1], return_states=True
        )
        return jnp.sum(states.m**2)

    eps = 1e-6
    r = jax.jit(readout)
    _close(jax.jacfwd(readout)(2.0), (r(2.0 + eps) - r(2.0 - eps)) / (2 * eps), rtol=1e-6)
    s = jnp.array(S0, jnp.float64)
    _close(jax.jacfwd(membranes)(s), jax.grad(membranes)(s), rtol=1e-10)


# --------------------------------------------------------------------------- jit, vmap, the switch, errors


def test_jit_and_vmap_jacfwd_equal_jacrev():
    f = _counts("lif")
    ss = jnp.array([S0, (0.5, 1.1)])
    jr = jax.jit(jax.vmap(jax.jacrev(f)))(ss)
    _close(jax.jit(jax.vmap(jax.jacfwd(f)))(ss), jr)  # jit and vmap outside the transform
    _close(jax.jacfwd(jax.vmap(f))(ss)[jnp.arange(2), :, jnp.arange(2)], jr)  # vmap inside


def test_forward_mode_switch_for_jit_inside_jacfwd():
    f = _counts("lif")
    s = jnp.array(S0)
    jf = jax.jit(f)
    jf(s)  # traced (and cached) outside forward mode: fused backend, custom_vjp spikes
    with surrogate.forward_mode():  # part of the jit cache key: traced again
        d = jax.jacfwd(jf)(s)
        y, lin = jax.linearize(f, s)
        d_lin = jax.vmap(lin, out_axes=1)(jnp.eye(2))
    jr = jax.jacrev(f)(s)
    _close(d, jr)
    _close(d_lin, jr)
    _close(jf(s), f(s))  # and back outside: the first trace again


@pytest.mark.parametrize("backend", ["fused", "pallas"])
def test_explicit_fused_or_pallas_under_forward_mode_names_the_switch(backend):
    f = _counts("lif", backend=backend)
    s = jnp.array(S0)
    with pytest.raises(ValueError, match=r"reverse-mode only.*backend='scan'"):
        jax.jacfwd(f)(s)
    with pytest.raises(ValueError, match=r"backend='scan'"):
        jax.hessian(lambda s: f(s).sum())(s)
    with surrogate.forward_mode(), pytest.raises(ValueError, match=r"forward_mode\(\).*backend='scan'"):
        f(s)


def test_forward_mode_jaxpr_has_no_custom_vjp_and_reverse_keeps_fused():
    f = _counts("lif")
    s = jnp.array(S0)
    fwd = str(jax.make_jaxpr(jax.jacfwd(f))(s))
    assert "custom_vjp" not in fwd
    rev = str(jax.make_jaxpr(jax.jacrev(f))(s))
    # reverse mode keeps the whole-sequence VJP: the fused custom_vjp, or the native kernels'
    # backward where they are built
    whole_sequence = "snnjax_lif_bwd" in rev if native.available() else "custom_vjp" in rev
    assert whole_sequence and "custom_jvp_call" not in rev


def test_every_neuron_jvp_is_transpose_of_vjp():
    """<jvp(t), c> == <t, vjp(c)> w.r.t. the input currents, for every neuron record (auto backend)."""
    xs = _xs()
    records = [
        getattr(neurons, m).neuron
        for m in ("alif", "clif", "if_", "ilif", "li", "lif", "plif", "polara", "spytorch_lif")
    ]
    t = jax.random.normal(jax.random.PRNGKey(1), xs.shape)
    c = jax.random.normal(jax.random.PRNGKey(2), xs.shape)
    w_rec = 0.3 * jax.random.normal(jax.random.PRNGKey(3), (SHAPE[-1], SHAPE[-1]))
    records.append(neurons.rlif.neuron)
    for rec in records:
        params = rec.params(w_rec=w_rec) if rec is neurons.rlif.neuron else rec.params()

        @jax.jit
        def both(xs, t, c):
            f = lambda xs: snnjax.run(rec, params, xs)[1]  # noqa: E731, B023
            _, tan = jax.jvp(f, (xs,), (t,))
            _, vjp = jax.vjp(f, xs)
            return jnp.vdot(tan, c), jnp.vdot(t, vjp(c)[0])

        a, b = map(float, both(xs, t, c))
        assert abs(a - b) <= 1e-4 * max(1.0, abs(b)), (rec, a, b)
