"""The native CPU kernels (``backend="native"``, snnjax/kernels/native.py + csrc/) against
autodiff through ``lax.scan`` of the pure step functions: spikes and final states equal, every
gradient (inputs, initial state, parameters) equal up to float32 reassociation, for every neuron,
option and surrogate they cover; plus vmap, the choice ``auto`` makes, and what they refuse."""

import dataclasses
import functools
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import neurons
from snnjax.kernels import native

pytestmark = pytest.mark.skipif(
    not native.available(), reason=f"native kernels not built: {native.unavailable_reason()}"
)

T, B, N = 13, 3, 6
_RNG = np.random.default_rng(11)
XS = jnp.asarray(1.2 * _RNG.standard_normal((T, B, N)) + 0.5, jnp.float32)
SURROGATES = native.SURROGATES


def _random_state(step, xs, seed=3):
    """A non-zero initial state of the neuron's own structure (so its cotangent is checked)."""
    state = neurons.neuron_of(step).init_state(xs.shape[1:], xs.dtype)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: jnp.asarray(0.3 * rng.standard_normal(a.shape), a.dtype), state)


def _weighted_loss(ys, final, use_final=True):
    """A loss that weighs every output differently (and, with ``use_final``, every final state)."""
    w = jnp.cos(jnp.arange(ys.size, dtype=ys.dtype)).reshape(ys.shape)
    value = (ys * w).sum()
    if use_final:
        value = value + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(final))
    return value


def _outputs_and_grads(step, params, xs, state, backend):
    def loss(params, xs, state):
        final, ys = snnjax.run(step, params, xs, state, backend=backend)
        return _weighted_loss(ys, final), (final, ys)

    (_, aux), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state)
    return aux, grads


def _assert_native_equals_scan(step, params, xs=XS, state=None, exact_outputs=True):
    """Native against scan. ``exact_outputs``: spikes equal (binary outputs); POLARA's
    continuous outputs pass through exp and sigmoid and agree to float32 rounding."""
    state = _random_state(step, xs) if state is None else state
    (f_n, y_n), g_n = _outputs_and_grads(step, params, xs, state, "native")
    (f_s, y_s), g_s = _outputs_and_grads(step, params, xs, state, "scan")
    if exact_outputs:
        np.testing.assert_array_equal(y_n, y_s)
    else:
        np.testing.assert_allclose(y_n, y_s, rtol=1e-5, atol=1e-6)
    assert 0 < float(jnp.mean(y_s)) < 1  # some spikes, not all
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), f_n, f_s)
    assert jax.tree.structure(g_n) == jax.tree.structure(g_s)
    for gn, gs in zip(jax.tree.leaves(g_n), jax.tree.leaves(g_s), strict=True):
        assert gn.shape == gs.shape and gn.dtype == gs.dtype
        # a parameter's gradient sums xs.size / gs.size terms (with cancellation) in another order,
        # over trajectories that differ in the last bit of exp: the rounding grows as the square
        # root of that count
        loose = max(1.0, np.sqrt(xs.size / max(1, np.size(gs))) / 10)
        scale = max(1.0, float(np.max(np.abs(gs), initial=0.0)))
        np.testing.assert_allclose(gn, gs, rtol=2e-5 * loose, atol=2e-6 * scale * loose)
    assert np.any(np.asarray(g_s[1]) != 0) and np.any(np.asarray(jax.tree.leaves(g_s[2])[0]) != 0)


def test_every_registered_surrogate_is_native():
    registered = {name for name in snnjax.surrogate.names() if snnjax.surrogate.spec(name).grad}
    canonical = {n for n in registered if n not in ("fast_sigmoid", "rect", "ste")}
    assert set(SURROGATES) == canonical and len(SURROGATES) == len(canonical)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_lif_every_surrogate(surrogate):
    _assert_native_equals_scan(neurons.lif.step, neurons.LIFParams(tau=2.0, v_th=0.9, surrogate=surrogate))


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
def test_lif_every_reset(reset, detach):
    p = neurons.LIFParams(tau=1.7, v_th=1.1, v_reset=-0.2, reset=reset, detach_reset=detach, surrogate="atan")
    _assert_native_equals_scan(neurons.lif.step, p)


def test_if_and_plif_and_parameter_shapes():
    _assert_native_equals_scan(neurons.if_.step, neurons.IFParams(v_th=1.5, reset="hard", v_reset=0.1))
    # per-neuron leak and threshold, one value per element for the reset level
    p = neurons.PLIFParams(w=jnp.linspace(-1.0, 1.0, N), v_th=jnp.linspace(0.8, 1.2, N), surrogate="sigmoid")
    _assert_native_equals_scan(neurons.plif.step, p)
    p = neurons.LIFParams(tau=jnp.full((B, N), 2.5), reset="hard", v_reset=jnp.linspace(-0.3, 0.3, N))
    _assert_native_equals_scan(neurons.lif.step, p)


@pytest.mark.parametrize("source", ["input", "current"])
@pytest.mark.parametrize("mpiu, ciu", [(True, True), (True, False), (False, True), (False, False)])
def test_ilif_every_unit_switch(mpiu, ciu, source):
    p = neurons.ILIFParams(use_mpiu=mpiu, use_ciu=ciu, ciu_source=source, lambda_u=0.8, lambda_i=0.3)
    _assert_native_equals_scan(neurons.ilif.step, p)


@pytest.mark.parametrize("surrogate", ["sigmoid", "gaussian", "erf", "piecewise_quadratic"])
def test_ilif_surrogates_and_iplif(surrogate):
    _assert_native_equals_scan(neurons.ilif.step, neurons.ILIFParams(surrogate=surrogate, tau=1.5))
    p = neurons.IPLIFParams(w=jnp.linspace(-0.5, 0.5, N), lambda_i=jnp.full((N,), 0.2), surrogate=surrogate)
    _assert_native_equals_scan(neurons.ilif.step, p)


@pytest.mark.parametrize(
    "step, params",
    [
        (neurons.lif.step, neurons.LIFParams()),
        (neurons.ilif.step, neurons.ILIFParams()),
        (neurons.clif.step, neurons.CLIFParams()),
    ],
)
def test_blocks_and_threads(step, params):
    """Element counts that are no multiple of the kernels' blocks (1024 forward, T-dependent
    backward), enough work for several threads, T = 1 and a long T."""
    rng = np.random.default_rng(5)
    for shape in [(40, 3, 1000), (1, 2, 3), (300, 1, 37)]:
        xs = jnp.asarray(1.2 * rng.standard_normal(shape) + 0.5, jnp.float32)
        _assert_native_equals_scan(step, params, xs)


@pytest.mark.parametrize(
    "step, params, per_element",
    [
        (neurons.lif.step, neurons.LIFParams(tau=2.5, v_th=0.9), ("tau", "v_th")),
        (neurons.ilif.step, neurons.ILIFParams(), ("tau", "v_th", "lambda_u", "lambda_i")),
        (neurons.clif.step, neurons.CLIFParams(tau=3.0, v_th=1.1), ("tau", "v_th")),
        (neurons.polara.step, neurons.PolaraParams(grad="exact"), ("B", "beta", "gamma", "o_max")),
    ],
)
def test_scalar_parameters_take_the_same_arithmetic_as_per_element_ones(step, params, per_element):
    """All-scalar parameters run the kernels' register path (their values broadcast), any
    per-element one the rows path: the same parameters given both ways give bit-equal outputs,
    final states and input cotangents."""
    rows = dataclasses.replace(params, **{k: jnp.full((N,), getattr(params, k), jnp.float32) for k in per_element})

    def run(params):
        def loss(xs):
            final, ys = snnjax.run(step, params, xs, backend="native")
            return _weighted_loss(ys, final), (final, ys)

        (_, aux), dxs = jax.jit(jax.value_and_grad(loss, has_aux=True))(XS)
        return aux, dxs

    (f_s, y_s), dx_s = run(params)
    (f_r, y_r), dx_r = run(rows)
    assert 0 < float(jnp.mean(y_s)) < 1
    np.testing.assert_array_equal(y_s, y_r)
    np.testing.assert_array_equal(dx_s, dx_r)
    jax.tree.map(np.testing.assert_array_equal, f_s, f_r)


def test_independent_calls_in_one_program_share_xla_threads():
    """Four independent kernel calls in one program, each large enough for two threads: XLA may
    run them at once on its intra-op pool, whose threads the kernels borrow (no call waits on a
    task that has not started). Equal to scan, and bit for bit the same on every run (the scalar
    parameters' gradients are summed per block, in block order, whichever thread ran a block)."""
    rng = np.random.default_rng(11)
    xss = [jnp.asarray(rng.standard_normal((40, 4, 1000)) + 0.5, jnp.float32) for _ in range(4)]
    taus = [1.5, 2.0, 3.0, 4.0]

    def loss(taus, xss, backend):
        total = 0.0
        for tau, xs in zip(taus, xss, strict=True):
            params = neurons.LIFParams(tau=tau, surrogate="atan")
            total += jnp.sum(snnjax.run(neurons.lif.step, params, xs, backend=backend)[1] * jnp.cos(xs))
        return total

    grad = {
        b: jax.jit(jax.value_and_grad(functools.partial(loss, backend=b), argnums=(0, 1))) for b in ("native", "scan")
    }
    v_s, g_s = grad["scan"](taus, xss)
    first = None
    for _ in range(5):
        v_n, g_n = grad["native"](taus, xss)
        np.testing.assert_allclose(v_n, v_s, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5), g_n, g_s)
        if first is None:
            first = (v_n, g_n)
        jax.tree.map(np.testing.assert_array_equal, (v_n, g_n), first)


def test_vmap_over_inputs_and_parameters():
    """vmap adds leading axes the kernels treat as independent problems (batched params too)."""

    def run_tau(tau, xs, backend):
        return snnjax.run(neurons.lif.step, neurons.LIFParams(tau=tau, surrogate="atan"), xs, backend=backend)

    taus = jnp.asarray([1.2, 2.0, 4.0])
    xss = jnp.stack([XS, XS * 0.7, XS + 0.2])

    def loss(taus, xss, backend):
        final, ys = jax.vmap(functools.partial(run_tau, backend=backend))(taus, xss)
        return jnp.sum(ys * jnp.cos(xss)) + jnp.sum(final.m**2)

    for args in [(taus, xss), (taus, XS[None].repeat(3, 0))]:
        v_n, g_n = jax.value_and_grad(loss, argnums=(0, 1))(*args, "native")
        v_s, g_s = jax.value_and_grad(loss, argnums=(0, 1))(*args, "scan")
        np.testing.assert_allclose(v_n, v_s, rtol=1e-6)
        for a, b in zip(g_n, g_s, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)
    # unbatched params, batched inputs only
    ys_n = jax.vmap(lambda xs: run_tau(2.0, xs, "native")[1])(xss)
    ys_s = jax.vmap(lambda xs: run_tau(2.0, xs, "scan")[1])(xss)
    np.testing.assert_array_equal(ys_n, ys_s)


# state=None: run hands the kernels the registered init_state's uniform fields as one value per
# problem ([1], POLARA's history [K, 1]) instead of broadcast to every element
UNIFORM_CASES = {
    neurons.if_.step: neurons.IFParams(v_th=0.9, reset="hard"),
    neurons.lif.step: neurons.LIFParams(tau=2.0, v_th=0.9, surrogate="atan"),
    neurons.plif.step: neurons.PLIFParams(w=0.3),
    neurons.ilif.step: neurons.ILIFParams(),
    neurons.clif.step: neurons.CLIFParams(),
    neurons.li.step: neurons.LIParams(tau_syn=3.0, tau_mem=5.0),
    # ϑ0 enters the initial state: its gradient goes through the kernel's initial-state cotangent
    neurons.polara.step: neurons.PolaraParams(k=3, theta0=0.8, grad="exact", output="binary"),
}


def test_registered_initial_states_are_uniform():
    """What the kernels' one-value-per-problem initial state assumes: every native neuron's
    registered init_state fills each field with one value (so that a new neuron is checked too)."""
    assert set(UNIFORM_CASES) == set(native.NEURON_STEPS)
    for step, params in UNIFORM_CASES.items():
        init = neurons.neuron_of(step).init_state
        full, one = init((4, 5), jnp.float32, params=params), init((1,), jnp.float32, params=params)
        for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(one), strict=True):
            np.testing.assert_array_equal(a, np.broadcast_to(np.asarray(b)[..., None], a.shape))


def _kernel_operand_shapes(step, params, xs):
    """The operand shapes of the forward kernel call that ``run(state=None)`` lowers to."""
    text = jax.jit(lambda xs: snnjax.run(step, params, xs, backend="native")).lower(xs).as_text()
    line = next(ln for ln in text.splitlines() if "stablehlo.custom_call @snnjax_" in ln and "_fwd(" in ln)
    signature = line.rsplit(": (", 1)[1].split(") ->")[0]
    return [tuple(int(d) for d in t.split("x")[:-1]) for t in re.findall(r"tensor<([0-9x]*f32)>", signature)]


@pytest.mark.parametrize("step", list(UNIFORM_CASES), ids=lambda s: s.__module__.rsplit(".", 1)[1])
def test_state_none_gives_the_kernels_one_value_per_problem(step):
    params = UNIFORM_CASES[step]
    xs = XS if step is not neurons.li.step else XS * 0.3
    shapes = _kernel_operand_shapes(step, params, xs)
    n_states = len(native._SPECS[step].spec(step, params).fields)
    assert shapes[0] == (T, B * N)
    assert all(shape[-1] == 1 for shape in shapes[1 : 1 + n_states]), shapes
    # and the run equals lax.scan from the same (None) state: outputs, final state, the gradients
    # to xs and every parameter (POLARA's ϑ0 through the initial state), also for T < K
    spiking = step is not neurons.li.step
    for x in (xs, xs[:2]):
        (f_n, y_n), g_n = _outputs_and_grads(step, params, x, None, "native")  # (no state: no state gradient)
        (f_s, y_s), g_s = _outputs_and_grads(step, params, x, None, "scan")
        if spiking:
            np.testing.assert_array_equal(y_n, y_s)
        else:
            np.testing.assert_allclose(y_n, y_s, rtol=1e-5, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), f_n, f_s)
        for gn, gs in zip(jax.tree.leaves(g_n), jax.tree.leaves(g_s), strict=True):
            assert gn.shape == gs.shape
            scale = max(1.0, float(np.max(np.abs(gs), initial=0.0)))
            np.testing.assert_allclose(gn, gs, rtol=1e-4, atol=1e-5 * scale)
        assert np.any(np.asarray(g_s[1]) != 0)
    if step is neurons.polara.step:
        assert float(jnp.abs(g_s[0].theta0)) > 0


def test_nonfinite_inputs_propagate_as_in_scan():
    xs = XS.at[4, 1, 2].set(jnp.nan).at[7, 0, 0].set(jnp.inf)
    for step, params in [(neurons.lif.step, neurons.LIFParams()), (neurons.ilif.step, neurons.ILIFParams())]:
        f_n, y_n = snnjax.run(step, params, xs, backend="native")
        f_s, y_s = snnjax.run(step, params, xs, backend="scan")
        np.testing.assert_array_equal(y_n, y_s)  # NaN where scan has NaN, spikes equal
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), f_n, f_s)


def test_nonfinite_inputs_through_exp_and_sigmoid():
    # the kernels' exp has no NaN / overflow selects: NaN must pass through
    # their arithmetic, ±inf saturate, as XLA's exp and logistic do in scan
    xs = XS.at[4, 1, 2].set(jnp.nan).at[7, 0, 0].set(jnp.inf).at[9, 1, 5].set(-jnp.inf)
    for step, params, exact in [
        (neurons.clif.step, neurons.CLIFParams(), True),
        (neurons.polara.step, neurons.PolaraParams(), False),
    ]:
        f_n, y_n = snnjax.run(step, params, xs, backend="native")
        f_s, y_s = snnjax.run(step, params, xs, backend="scan")
        if exact:
            np.testing.assert_array_equal(y_n, y_s)
        else:  # NaN where scan has NaN (assert_allclose compares NaN positions)
            assert np.isnan(np.asarray(y_s)).any()
            np.testing.assert_allclose(y_n, y_s, rtol=1e-5, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), f_n, f_s)


def _lowered(step, params, xs, backend="auto"):
    return jax.jit(lambda xs: snnjax.run(step, params, xs, backend=backend)[1]).lower(xs).as_text()


def test_auto_takes_native_where_it_applies_and_fused_elsewhere(monkeypatch):
    assert "snnjax_lif_fwd" in _lowered(neurons.lif.step, neurons.LIFParams(), XS)
    assert "snnjax_ilif_fwd" in _lowered(neurons.ilif.step, neurons.ILIFParams(), XS)
    # short sequences: the leaky family's unrolled fused backend is faster, ILIF's is not
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(), XS[:6])
    assert "snnjax_ilif_fwd" in _lowered(neurons.ilif.step, neurons.ILIFParams(), XS[:6])
    # not covered: another neuron, bfloat16, a custom surrogate -> the fused backend
    assert "snnjax_" not in _lowered(neurons.alif.step, neurons.ALIFParams(), XS)
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(), XS.astype(jnp.bfloat16))
    custom = snnjax.surrogate.Surrogate("mine", 1.0, grad=_my_grad)
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(surrogate=custom), XS)
    # more than one local device (a data-parallel mesh): the kernels have no partitioning rule
    monkeypatch.setattr(jax, "local_device_count", lambda: 2)
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(), XS)


def _my_grad(v, w):
    return 1.0 / (1.0 + jnp.abs(v) / w)


def test_explicit_native_refuses_what_it_does_not_cover():
    with pytest.raises(ValueError, match="no native kernel"):
        snnjax.run(neurons.alif.step, neurons.ALIFParams(), XS, backend="native")
    with pytest.raises(ValueError, match="float32 only"):
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS.astype(jnp.bfloat16), backend="native")
    custom = snnjax.surrogate.Surrogate("mine", 1.0, grad=_my_grad)
    with pytest.raises(ValueError, match="custom derivative"):
        snnjax.run(neurons.lif.step, neurons.LIFParams(surrogate=custom), XS, backend="native")
    with pytest.raises(ValueError, match="does not take return_states"):
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS, backend="native", return_states=True)
    with pytest.raises(ValueError, match="reverse-mode only"):
        jax.jvp(lambda xs: snnjax.run(neurons.lif.step, neurons.LIFParams(), xs, backend="native")[1], (XS,), (XS,))
    # auto under forward mode scans
    _, tangent = jax.jvp(lambda xs: snnjax.run(neurons.lif.step, neurons.LIFParams(), xs)[1], (XS,), (XS,))
    assert tangent.shape == XS.shape


def test_unbuilt_kernels_fall_back_and_say_why(monkeypatch):
    """Where the extension is missing (no compiler at install), auto keeps the JAX backends and
    an explicit native backend names the reason."""
    monkeypatch.setattr(native, "_state", {"reason": "the extension snnjax.kernels._native was not built (test)"})
    assert not native.available()
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(), XS)
    with pytest.raises(ValueError, match="was not built"):
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS, backend="native")


def test_nn_layer_takes_native_by_default():
    """An nn.Neuron layer with learnable parameters (what the models build) reaches the native
    kernels through auto, with the gradients of the scanned layer."""
    from flax import nnx

    def grads(backend):
        layer = snnjax.nn.ILIF(learn=("tau", "v_th", "lambda_i"), param_shape=(N,), backend=backend)
        graphdef, state = nnx.split(layer)

        def loss(state, xs):
            return jnp.sum(nnx.merge(graphdef, state)(xs) * jnp.cos(xs))

        text = jax.jit(jax.grad(loss)).lower(state, XS).as_text()
        return text, jax.grad(loss, argnums=(0, 1))(state, XS)

    text, g_auto = grads("auto")
    assert "snnjax_ilif_bwd" in text
    _, g_scan = grads("scan")
    for a, b in zip(jax.tree.leaves(g_auto), jax.tree.leaves(g_scan), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_a_refused_registration_falls_back(monkeypatch):
    """An extension XLA refuses (built against a newer FFI API than the running jaxlib's) is
    reported and not used; the CPU backend keeps working."""
    monkeypatch.setattr(native, "_state", {})

    def refuse(*args, **kwargs):
        raise RuntimeError("the handler's API version (0.3) is incompatible with the framework's API version (0.2)")

    monkeypatch.setattr(jax.ffi, "register_ffi_target", refuse)
    assert not native.available()
    assert "could not be registered" in native.unavailable_reason()
    assert "API version" in native.unavailable_reason()
    assert "snnjax_" not in _lowered(neurons.lif.step, neurons.LIFParams(), XS)
    np.testing.assert_array_equal(
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS)[1],
        snnjax.run(neurons.lif.step, neurons.LIFParams(), XS, backend="scan")[1],
    )


# --- CLIF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_clif(surrogate):
    _assert_native_equals_scan(neurons.clif.step, neurons.CLIFParams(tau=1.8, v_th=0.9, surrogate=surrogate))


def test_clif_per_neuron_parameters_and_blocks():
    p = neurons.CLIFParams(tau=jnp.linspace(1.2, 4.0, N), v_th=jnp.full((B, N), 1.1))
    _assert_native_equals_scan(neurons.clif.step, p)
    xs = jnp.asarray(1.2 * np.random.default_rng(2).standard_normal((60, 2, 1100)) + 0.5, jnp.float32)
    _assert_native_equals_scan(neurons.clif.step, neurons.CLIFParams(), xs)


# --- LI (the readout) ---------------------------------------------------------------------------


@pytest.mark.parametrize("synaptic", [True, False], ids=["synaptic", "membrane-only"])
def test_li_readout(synaptic):
    # a linear step without a surrogate: outputs (membranes, not spikes) and every gradient, per
    # neuron time constants, and a shape that spreads over several blocks and threads
    p = neurons.LIParams(tau_syn=jnp.linspace(2.0, 6.0, N), tau_mem=8.0, synaptic=synaptic)
    xs_big = jnp.asarray(np.random.default_rng(8).standard_normal((40, 2, 1100)), jnp.float32)
    for params, xs in ((p, XS), (neurons.LIParams(synaptic=synaptic), xs_big)):
        state = _random_state(neurons.li.step, xs)
        (f_n, y_n), g_n = _outputs_and_grads(neurons.li.step, params, xs, state, "native")
        (f_s, y_s), g_s = _outputs_and_grads(neurons.li.step, params, xs, state, "scan")
        np.testing.assert_allclose(y_n, y_s, rtol=1e-5, atol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), f_n, f_s)
        for gn, gs in zip(jax.tree.leaves(g_n), jax.tree.leaves(g_s), strict=True):
            scale = max(1.0, float(np.max(np.abs(gs), initial=0.0)))
            np.testing.assert_allclose(gn, gs, rtol=1e-4, atol=1e-5 * scale)
    assert float(jnp.max(jnp.abs(g_s[0].tau_mem))) > 0
    # auto takes the kernel past the unrolled and the matmul lengths
    hlo = _lowered(neurons.li.step, p, jnp.zeros((80, B, N), jnp.float32))
    assert "snnjax_li_fwd" in hlo


# --- POLARA -------------------------------------------------------------------------------------


def _polara_state(params, xs, seed=4):
    """u around 0, ϑ around ϑ0 (positive), a history of outputs in [0, 1)."""
    rng = np.random.default_rng(seed)
    shape = xs.shape[1:]
    st = neurons.polara.init_state(shape, xs.dtype, params=params)
    return st._replace(
        u=jnp.asarray(0.3 * rng.standard_normal(shape), jnp.float32),
        theta=jnp.asarray(1.0 + 0.2 * rng.random(shape), jnp.float32),
        hist=jnp.asarray(rng.random(st.hist.shape), jnp.float32),
    )


def _assert_polara(params, xs=XS):
    binary = params.output == "binary"
    _assert_native_equals_scan(neurons.polara.step, params, xs, _polara_state(params, xs), exact_outputs=binary)


@pytest.mark.parametrize("amplify", ["after_input", "before_input"])
@pytest.mark.parametrize("output", ["continuous", "binary"])
@pytest.mark.parametrize("grad", ["exact", "eq13", "mask"])
def test_polara_every_gradient_mode_and_option(grad, output, amplify):
    # o_max low enough that the clamp of O(Δ) is reached (its branch of the exact gradient)
    _assert_polara(neurons.PolaraParams(grad=grad, output=output, amplify=amplify, o_max=1.5))


@pytest.mark.parametrize("ablation", ["refractory", "threshold"])
def test_polara_ablations_the_kernel_covers(ablation):
    _assert_polara(neurons.PolaraParams(grad="exact", **neurons.polara.ablation(ablation)))


def test_polara_windows_parameter_shapes_and_blocks():
    # windows shorter than, equal to and longer than T (the ring and the initial history)
    for k in (1, 3, 9):
        _assert_polara(neurons.PolaraParams(k=k, grad="exact"), XS[:5])
    _assert_polara(neurons.PolaraParams(k=2, grad="mask"))
    # per-neuron decay (L and the threshold kernel per neuron), amplification and activation
    p = neurons.PolaraParams(
        A=jnp.linspace(0.1, 0.3, N),
        E=jnp.full((N,), 0.02),
        B=jnp.full((B, N), 0.2),
        gamma=jnp.linspace(0.5, 1.5, N),
        grad="exact",
    )
    _assert_polara(p)
    xs = jnp.asarray(np.random.default_rng(6).standard_normal((70, 2, 1030)) + 0.8, jnp.float32)
    _assert_polara(neurons.PolaraParams(), xs)


def _grad_of_one_part(step, params, xs, state, backend, part, field=None, use_final=True):
    """The gradient with respect to one part only (``"xs"``, ``"state"`` or one parameter
    ``field``), everything else closed over: the kernels then compute only what JAX asks for
    (and, without ``use_final``, read no final-state cotangent)."""

    def loss(v):
        p, x, st = params, xs, state
        if part == "xs":
            x = v
        elif part == "state":
            st = v
        else:
            p = dataclasses.replace(params, **{field: v})
        final, ys = snnjax.run(step, p, x, st, backend=backend)
        return _weighted_loss(ys, final, use_final)

    arg = {"xs": xs, "state": state}.get(part, getattr(params, field) if field else None)
    return jax.jit(jax.grad(loss))(arg)


@pytest.mark.parametrize(
    "step, params, parts",
    [
        (neurons.lif.step, neurons.LIFParams(tau=2.5, v_th=0.8), [("xs",), ("state",), ("p", "tau"), ("p", "v_th")]),
        (neurons.clif.step, neurons.CLIFParams(tau=1.8), [("xs",), ("state",), ("p", "tau")]),
        (
            neurons.polara.step,
            neurons.PolaraParams(grad="exact"),
            # B: a parameter (no window); E: the threshold kernel only (a window, no parameter);
            # A: the leak and the refractory kernel (both)
            [("xs",), ("state",), ("p", "B"), ("p", "E"), ("p", "A")],
        ),
    ],
    ids=["lif", "clif", "polara"],
)
def test_gradients_of_one_part_only(step, params, parts):
    # with symbolic zeros the backward kernels skip the cotangents nobody asked for (the
    # parameters', the window kernels', the initial state's): each one asked for alone still
    # equals lax.scan's
    xs = XS
    state = _polara_state(params, xs) if step is neurons.polara.step else _random_state(step, xs)
    for part in parts + [("xs", None, False), ("p", parts[-1][1], False)]:
        g_n = _grad_of_one_part(step, params, xs, state, "native", *part)
        g_s = _grad_of_one_part(step, params, xs, state, "scan", *part)
        for gn, gs in zip(jax.tree.leaves(g_n), jax.tree.leaves(g_s), strict=True):
            scale = max(1.0, float(np.max(np.abs(gs), initial=0.0)))
            np.testing.assert_allclose(gn, gs, rtol=2e-4, atol=2e-5 * scale, err_msg=str(part))
        assert any(np.any(np.asarray(gs) != 0) for gs in jax.tree.leaves(g_s)), part


def test_polara_vmap_over_parameters():
    def loss(beta, xs, backend):
        def one(beta):
            p = neurons.PolaraParams(beta=beta, grad="exact")
            final, ys = snnjax.run(neurons.polara.step, p, xs, _polara_state(p, xs), backend=backend)
            return jnp.sum(ys * jnp.cos(xs)) + jnp.sum(final.u**2)

        return jnp.sum(jax.vmap(one)(beta))

    betas = jnp.asarray([0.5, 1.0, 2.0])
    g_n = jax.grad(loss, argnums=(0, 1))(betas, XS, "native")
    g_s = jax.grad(loss, argnums=(0, 1))(betas, XS, "scan")
    for a, b in zip(g_n, g_s, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_polara_final_history_comes_from_the_outputs():
    """The forward kernel returns ys, u and ϑ; the final history (the last K outputs, as large as
    the sequence at T = K) is sliced from ys (and the initial history) by JAX, so XLA drops it
    where the final state is unused. Its values: tests above (final state against scan)."""
    params = neurons.PolaraParams(k=6)
    hlo = _lowered(neurons.polara.step, params, XS[:6], backend="native")
    call = next(line for line in hlo.splitlines() if "@snnjax_polara_fwd" in line)
    assert ":3 = stablehlo.custom_call" in call
    for t in (2, 6, 9):  # T < K (part of the initial history), T = K, T > K
        xs = XS[:t]
        state = neurons.polara.init_state(xs.shape[1:], xs.dtype, params=params)
        state = state._replace(hist=jnp.arange(state.hist.size, dtype=jnp.float32).reshape(state.hist.shape))
        final, ys = snnjax.run(neurons.polara.step, params, xs, state, backend="native")
        want = np.concatenate([np.asarray(ys)[::-1], np.asarray(state.hist)])[:6]
        np.testing.assert_array_equal(final.hist, want)


def test_polara_auto_and_refusals():
    p = neurons.PolaraParams()
    assert "snnjax_polara_fwd" in _lowered(neurons.polara.step, p, XS)
    for kwargs, why in [
        ({"leak": "static"}, "leak='static'"),
        ({"activation": "heaviside"}, "activation='heaviside'"),
        ({"decay": "window"}, "decay='window'"),
        ({"gated": False}, "gated=False"),
        ({"theta_tau": 5.0}, "theta_tau"),
    ]:
        q = neurons.PolaraParams(**kwargs)
        assert "snnjax_" not in _lowered(neurons.polara.step, q, XS)
        with pytest.raises(ValueError, match=why):
            snnjax.run(neurons.polara.step, q, XS, backend="native")


# --- the instruction sets -------------------------------------------------------------------------

# the checks that exercise every kernel's element loops (each neuron, option and block layout,
# the surrogates built on the vectorised exp); the slow set runs them all
_ISA_SUBSET = (
    "lif_every_reset or ilif_every_unit_switch or clif_per_neuron or (test_clif and (erf or sigmoid or gaussian))"
    " or polara_every or polara_windows or blocks_and or nonfinite or one_part_only or event_matmul_native"
    " or li_readout or (one_value_per_problem and (ilif or polara))"
)


def _run_under_isa(isas, selection):
    """The tests ``selection`` names, in a fresh process per instruction set of ``isas`` (those
    this CPU has), the processes side by side (each mostly compiles, on one core)."""
    have = [
        isa
        for isa in isas
        if native.INSTRUCTION_SETS.index(isa) <= native.INSTRUCTION_SETS.index(native.instruction_set())
    ]
    if not have:
        pytest.skip(f"this CPU has none of {isas}")
    events_tests = os.path.join(os.path.dirname(__file__), "test_events.py")  # the event kernel's
    runs = {}
    for isa in have:
        env = {**os.environ, native.ISA_ENV: isa}
        check = f"import snnjax.kernels.native as n; assert n.instruction_set() == {isa!r}, n.instruction_set()"
        subprocess.run([sys.executable, "-c", check], env=env, check=True)
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, events_tests, "-k", selection]
        runs[isa] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for isa, proc in runs.items():
        out, err = proc.communicate()
        assert proc.returncode == 0, f"under {isa}: " + out[-4000:] + err[-2000:]
        assert " passed" in out and " failed" not in out, f"under {isa}: " + out[-2000:]


def test_instruction_set_names_what_runs_and_the_variable_is_checked(monkeypatch):
    """The default is the best level this CPU supports; a bad SNNJAX_NATIVE_ISA is a ValueError."""
    assert native.instruction_set() in native.INSTRUCTION_SETS
    if os.environ.get(native.ISA_ENV) is None:
        flags = ""
        if os.path.exists("/proc/cpuinfo"):
            with open("/proc/cpuinfo") as f:
                flags = f.read()
        has = {f for line in flags.splitlines() if line.startswith("flags") for f in line.split()}
        want = "base"
        if "avx2" in has:
            want = "avx512" if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= has else "avx2"
        if flags:
            assert native.instruction_set() == want
    monkeypatch.setenv(native.ISA_ENV, "sse9")
    with pytest.raises(ValueError, match="SNNJAX_NATIVE_ISA='sse9'"):
        native.available()


def test_lower_instruction_sets_pass_the_kernel_checks():
    """The builds below the one this CPU runs by default (capped by SNNJAX_NATIVE_ISA, in a fresh
    process each) pass the checks of every kernel's element loops."""
    _run_under_isa(("base", "avx2"), f"({_ISA_SUBSET}) and not instruction_set")


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["base", "avx2"])
def test_lower_instruction_sets_pass_every_check(isa):
    _run_under_isa((isa,), "not instruction_set")
