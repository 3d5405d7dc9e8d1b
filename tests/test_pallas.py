"""backend='pallas': the generated Pallas kernels (interpret mode on CPU) equal autodiff through lax.scan.

On a GPU/TPU the same tests run the compiled kernels (``benchmarks/device_check.sh``).

For every neuron and option: outputs, final states and the gradients w.r.t. the
inputs, the initial state and every floating parameter leaf, float32 to 1e-5.
Shapes are ragged (``[B, N] = [2, 37]`` flattened to 74 neurons, blocks of 16
-> 5 blocks, 6 padded neurons) and tiny (T = 12): interpret mode is slow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax
from snnjax import neurons, nn
from snnjax.kernels import pallas_run
from snnjax.kernels.pallas import pallas_supported
from snnjax.neurons import alif, clif, if_, ilif, li, lif, plif, polara, rlif, spytorch_lif

T, B, N = 12, 2, 37
BLOCK = 16
RTOL = ATOL = 1e-5
ON_CPU = jax.default_backend() == "cpu"
INTERPRET = ON_CPU  # the Pallas interpreter on CPU; the compiled (Triton / Mosaic) kernels on GPU / TPU
# tiny programs: cheap XLA:CPU compiles (both the pallas and the lax.scan side, so they stay comparable)
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True} if ON_CPU else {}

_rng = np.random.default_rng(0)
XS = jnp.asarray((0.6 + 0.8 * _rng.standard_normal((T, B, N))).astype(np.float32))


def _f32(tree):
    def cast(a):
        return jnp.asarray(a, jnp.float32) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a

    return jax.tree.map(cast, tree)


def _init(step, params, shape=(B, N), seed=1):
    """A non-trivial initial state: init_state plus small positive noise."""
    rng = np.random.default_rng(seed)
    state = neurons.init_state_for(step)(shape, jnp.float32, params=params)
    return jax.tree.map(lambda a: a + jnp.asarray(0.3 * rng.uniform(size=a.shape), a.dtype), state)


def _weights(tree, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape), jnp.float32), tree)


def _value_and_grads(step, params, state, xs, backend, block=BLOCK):
    """(final, ys) and the grads w.r.t. (params, state, xs) of a loss touching every output."""
    shapes = jax.eval_shape(lambda: jax.lax.scan(lambda c, x: step(params, c, x), state, xs))
    w_final, w_ys = _weights(shapes[0], 2), _weights(shapes[1], 3)

    def loss(p, s, x):
        if backend == "scan":
            fin, ys = jax.lax.scan(lambda c, xt: step(p, c, xt), s, x)
        else:
            fin, ys = pallas_run(step, p, x, s, block=block, interpret=INTERPRET)
        terms = jax.tree.map(lambda a, w: (a.astype(jnp.float32) * w).sum(), (fin, ys), (w_final, w_ys))
        return sum(jax.tree.leaves(terms)), (fin, ys)

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, out), grads = fn.lower(params, state, xs).compile(_FAST_COMPILE)(params, state, xs)
    return out, grads


def _assert_tree_close(a, b, rtol=RTOL, atol=ATOL):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        assert jnp.shape(x) == jnp.shape(y), (jax.tree_util.keystr(path), jnp.shape(x), jnp.shape(y))
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=jax.tree_util.keystr(path))


def _check_equal_to_scan(step, params, xs=XS, block=BLOCK, state=None):
    params = _f32(params)
    state = _init(step, params, xs.shape[1:]) if state is None else state
    out_p, g_p = _value_and_grads(step, params, state, xs, "pallas", block)
    out_s, g_s = _value_and_grads(step, params, state, xs, "scan")
    _assert_tree_close(out_p, out_s)
    # gradients: float32 rounding differs between the two sides (the kernel evaluates the step per element
    # under vmap, e.g. POLARA's window sums associate differently, and it sums parameter cotangents per
    # element over time, then over neurons, where the scan sums over neurons per step, then over time), so
    # the absolute tolerance is 1e-5 of the array's scale (of the largest parameter gradient for params)
    assert jax.tree.structure(g_p) == jax.tree.structure(g_s)
    for a, b in zip(jax.tree.leaves(g_p[1:]), jax.tree.leaves(g_s[1:])):
        assert np.shape(a) == np.shape(b)
        if not np.size(b):
            continue  # an empty state leaf (POLARA's unused membrane window)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL * max(1.0, float(np.abs(np.asarray(b)).max())))
    scale = max([1.0] + [float(np.abs(np.asarray(a)).max()) for a in jax.tree.leaves(g_s[0]) if np.size(a)])
    _assert_tree_close(g_p[0], g_s[0], rtol=RTOL, atol=ATOL * scale)
    # the test is not vacuous: some spikes, some gradient
    assert np.abs(np.asarray(g_s[2])).max() > 0
    return out_s, g_s


CASES = {
    "if": (if_.step, neurons.IFParams(v_th=1.2, surrogate="triangle")),
    "lif-soft": (lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")),
    "lif-hard": (lif.step, neurons.LIFParams(tau=2.0, reset="hard", v_reset=0.1, surrogate="sigmoid")),
    "lif-none": (lif.step, neurons.LIFParams(tau=3.0, reset="none", surrogate="atan")),
    "lif-soft-detach": (lif.step, neurons.LIFParams(tau=2.0, detach_reset=True, surrogate="atan")),
    "plif": (plif.step, neurons.PLIFParams(w=0.3, v_th=0.9, surrogate="sigmoid")),
    "alif": (alif.step, neurons.ALIFParams(tau=4.0, tau_adapt=8.0, beta_adapt=0.3, v_th=0.8, surrogate="atan")),
    "spytorch-lif": (spytorch_lif.step, neurons.SpytorchLIFParams(v_th=0.5, surrogate="atan")),
    "li": (li.step, neurons.LIParams(tau_syn=4.0, tau_mem=6.0)),
    "li-nosyn": (li.step, neurons.LIParams(tau_mem=6.0, synaptic=False)),
    "iplif": (ilif.step, neurons.IPLIFParams(w=0.2, lambda_u=0.7, lambda_i=0.1, surrogate="atan")),
    "clif": (clif.step, neurons.CLIFParams(tau=2.0, v_th=0.9, surrogate="sigmoid")),
}
# ILIF: every distinct flag combination (ciu_source only matters with the CIU)
for _mpiu in (True, False):
    for _ciu, _src in ((True, "input"), (True, "current"), (False, "input")):
        CASES[f"ilif-mpiu{int(_mpiu)}-ciu{int(_ciu)}-{_src}"] = (
            ilif.step,
            neurons.ILIFParams(
                tau=2.0, lambda_u=0.8, lambda_i=0.2, surrogate="sigmoid", use_mpiu=_mpiu, use_ciu=_ciu, ciu_source=_src
            ),
        )
for _g in polara.GRAD_MODES:
    CASES[f"polara-{_g}"] = (polara.step, neurons.PolaraParams(grad=_g))
CASES["polara-ungated"] = (polara.step, neurons.PolaraParams(grad="mask", gated=False))
CASES["polara-ablation-heaviside"] = (polara.step, neurons.PolaraParams(**polara.ablation("activation")))
CASES["polara-study-options"] = (  # issue #8 options: binary output, Eq. 8-9 order, threshold recovery
    polara.step,
    neurons.PolaraParams(grad="eq13", output="binary", amplify="before_input", theta_tau=6.0, decay="window"),
)

# more options: opt-in (pytest -m slow)
SLOW_CASES = {
    "if-hard": (if_.step, neurons.IFParams(reset="hard", v_reset=0.1, surrogate="sigmoid")),
    "if-none-detach": (if_.step, neurons.IFParams(reset="none", detach_reset=True, surrogate="atan")),
    "lif-hard-detach": (lif.step, neurons.LIFParams(tau=2.0, reset="hard", detach_reset=True, surrogate="triangle")),
    "plif-hard": (plif.step, neurons.PLIFParams(w=-0.2, reset="hard", surrogate="atan")),
    "alif-hard-detach": (alif.step, neurons.ALIFParams(tau=4.0, tau_adapt=8.0, reset="hard", detach_reset=True)),
    "spytorch-lif-nodetach": (spytorch_lif.step, neurons.SpytorchLIFParams(v_th=0.5, detach_reset=False)),
    "iplif-current-nompiu": (
        ilif.step,
        neurons.IPLIFParams(w=0.2, use_mpiu=False, ciu_source="current", surrogate="sigmoid"),
    ),
    "clif-rect": (clif.step, neurons.CLIFParams(tau=3.0)),
    "polara-exact-ungated": (polara.step, neurons.PolaraParams(gated=False)),
}
for _abl in ("decay_amplification", "refractory", "threshold"):
    SLOW_CASES[f"polara-ablation-{_abl}"] = (polara.step, neurons.PolaraParams(grad="eq13", **polara.ablation(_abl)))


def _run_case(step, params):
    xs = 2.0 * XS if step is polara.step else XS  # POLARA has no synaptic gain; make it fire
    _check_equal_to_scan(step, params, xs)


@pytest.mark.parametrize("name", list(CASES))
def test_pallas_equals_scan(name):
    _run_case(*CASES[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_CASES))
def test_pallas_equals_scan_more_options(name):
    _run_case(*SLOW_CASES[name])


def test_per_neuron_params_and_lane_tiles():
    """Per-neuron parameter arrays (broadcast over the batch) and 128-lane tiles ([2, 128] blocks, padded)."""
    n = 300  # 2 blocks of 256 neurons: [rows=2, lanes=128] tiles, 212 padded
    rng = np.random.default_rng(4)
    xs = jnp.asarray((0.6 + 0.8 * rng.standard_normal((T, 1, n))).astype(np.float32))
    params = neurons.LIFParams(
        tau=jnp.asarray(rng.uniform(1.5, 4.0, n), jnp.float32),  # [N]
        v_th=jnp.asarray(rng.uniform(0.7, 1.2, (1, n)), jnp.float32),  # [1, N]
        surrogate="atan",
    )
    _, g = _check_equal_to_scan(lif.step, params, xs, block=256)
    assert g[0].tau.shape == (n,) and g[0].v_th.shape == (1, n)


@pytest.mark.slow
def test_per_neuron_params_polara():
    """POLARA with per-neuron amplification B [N] and β [B, N] (the window kernels' params stay shared scalars)."""
    rng = np.random.default_rng(5)
    params = neurons.PolaraParams(
        grad="eq13",
        B=jnp.asarray(rng.uniform(0.05, 0.15, N), jnp.float32),
        beta=jnp.asarray(rng.uniform(0.8, 1.2, (B, N)), jnp.float32),
    )
    _check_equal_to_scan(polara.step, params, 2.0 * XS)


@pytest.mark.parametrize(
    "step, params",
    [(lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")), (li.step, neurons.LIParams())],
    ids=["lif", "li"],
)
def test_bf16_inputs(step, params):
    """bfloat16 inputs: computed in float32 inside the kernel, outputs/final state/grads in bfloat16."""
    xs16 = XS.astype(jnp.bfloat16)
    state16 = neurons.init_state_for(step)((B, N), jnp.bfloat16, params=params)
    (fin, ys), g = _value_and_grads(step, _f32(params), state16, xs16, "pallas")
    assert ys.dtype == jnp.bfloat16 and g[2].dtype == jnp.bfloat16
    assert all(a.dtype == jnp.bfloat16 for a in jax.tree.leaves(fin))
    # fp32 reference on the same (rounded) inputs
    state32 = neurons.init_state_for(step)((B, N), jnp.float32, params=params)
    (fin_r, ys_r), g_r = _value_and_grads(step, _f32(params), state32, xs16.astype(jnp.float32), "scan")
    np.testing.assert_allclose(np.asarray(ys, np.float32), ys_r, rtol=1e-2, atol=1e-2)
    _assert_tree_close(fin, fin_r, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(np.asarray(g[2], np.float32), g_r[2], rtol=2e-2, atol=2e-2)
    _assert_tree_close(g[0], g_r[0], rtol=2e-2, atol=2e-2)  # dys arrive rounded to bfloat16


def test_run_backend_pallas():
    params = neurons.ALIFParams(tau=4.0, tau_adapt=8.0, beta_adapt=0.3, v_th=0.8)
    f_p, y_p = snnjax.run(alif.step, params, XS, backend="pallas")  # default block, not differentiated
    f_s, y_s = snnjax.run(alif.step, params, XS, backend="scan")
    np.testing.assert_allclose(y_p, y_s, rtol=RTOL, atol=ATOL)
    _assert_tree_close(f_p, f_s)

    def loss(tau, backend):
        p = neurons.ALIFParams(tau=tau, tau_adapt=8.0, beta_adapt=0.3, v_th=0.8)
        return snnjax.run(alif.step, p, XS, backend=backend)[1].sum()

    np.testing.assert_allclose(jax.grad(loss)(4.0, "pallas"), jax.grad(loss)(4.0, "scan"), rtol=RTOL, atol=ATOL)
    for kw in (dict(return_states=True), dict(remat=True), dict(checkpoint_every=3), dict(unroll=2)):
        with pytest.raises(ValueError, match="backend='pallas' does not take"):
            snnjax.run(alif.step, params, XS, backend="pallas", **kw)
    assert "pallas" in snnjax.scan.BACKENDS


def test_nn_module_backend_pallas():
    xs = XS[:, :, :8]
    layers = {
        b: nn.LIF(tau=2.0, surrogate="atan", learn_tau=True, learn_v_th=True, param_shape=(8,), backend=b)
        for b in ("pallas", "scan")
    }

    def loss(layer):
        return (layer(xs) * jnp.arange(1.0, 9.0)).sum()

    out = {b: layers[b](xs) for b in layers}
    np.testing.assert_allclose(out["pallas"], out["scan"], rtol=RTOL, atol=ATOL)
    grads = {b: nnx.grad(loss)(layers[b]) for b in layers}
    _assert_tree_close(nnx.state(grads["pallas"]), nnx.state(grads["scan"]))
    assert np.abs(np.asarray(grads["scan"].tau[...])).max() > 0


def test_rejects_non_elementwise_step():
    params = neurons.RLIFParams(w_rec=jnp.full((N, N), 0.1, jnp.float32))
    state = rlif.init_state((B, N))
    assert not pallas_supported(rlif.step, params, XS, state)
    assert pallas_supported(lif.step, neurons.LIFParams(), XS, lif.init_state((B, N)))
    with pytest.raises(NotImplementedError, match="element-wise"):
        pallas_run(rlif.step, params, XS, state, block=BLOCK)


@pytest.mark.slow
def test_shared_array_params_polara():
    """POLARA's refractory Gaussians as (shared, non-scalar) arrays: hoisted and differentiated outside."""
    params = neurons.PolaraParams(
        grad="mask",
        D=jnp.asarray([-0.3, -0.1, -0.05]),
        mu=jnp.asarray([1.0, 2.0, 4.0]),
        sigma=jnp.asarray([0.5, 1.0, 1.5]),
    )
    _, g = _check_equal_to_scan(polara.step, params, 2.0 * XS)
    assert g[0].D.shape == (3,) and np.abs(np.asarray(g[0].D)).max() > 0


def test_integer_params_and_state_checks():
    """Integer-valued params (float0 cotangents) and steps the kernels cannot take."""
    xs = XS[:6]
    ref = jax.grad(lambda x: snnjax.run(lif.step, neurons.LIFParams(tau=2.0, v_th=1.0), x, backend="scan")[1].sum())(xs)
    g = jax.grad(lambda x: snnjax.run(lif.step, neurons.LIFParams(tau=2, v_th=1), x, backend="pallas")[1].sum())(xs)
    np.testing.assert_allclose(g, ref, rtol=RTOL, atol=ATOL)
    counter = (jnp.zeros((B, N)), jnp.zeros(()))  # a scalar (non-per-neuron) state leaf

    def count_step(params, state, x):
        return (state[0] + x, state[1] + 1.0), state[0]

    assert not pallas_supported(count_step, None, XS, counter)
    with pytest.raises(NotImplementedError, match="per-neuron state"):
        pallas_run(count_step, None, XS, counter, block=BLOCK)


def test_bad_block():
    with pytest.raises(ValueError, match="block"):
        pallas_run(lif.step, neurons.LIFParams(), XS, lif.init_state((B, N)), block=0)


def test_one_dimensional_steps_and_single_block():
    """[T, N] inputs (no batch axis), N smaller than a block, T = 1."""
    xs = XS[:1, 0, :]
    _check_equal_to_scan(lif.step, neurons.LIFParams(tau=2.0, v_th=0.5, surrogate="atan"), xs, block=64)


# ----------------------------------------------------------------------------- compiled kernels (lowering only)
# No GPU/TPU here: lower the *compiled* (non-interpret) kernels for TPU (Mosaic) and GPU (Triton) with
# jax.export, which runs the Pallas -> Mosaic / Triton lowering rules on CPU (not the device compilers).

from snnjax.kernels import pallas as _pk  # noqa: E402

LOWERING_CASES = {
    "lif": (lif.step, neurons.LIFParams(tau=2.0, surrogate="atan")),
    "ilif": (ilif.step, neurons.ILIFParams()),
    "polara": (polara.step, neurons.PolaraParams(grad="eq13")),
}
SLOW_LOWERING_CASES = {
    name: CASES[name]
    for name in ("if", "lif-hard", "plif", "alif", "spytorch-lif", "li", "iplif", "clif", "polara-exact", "polara-mask")
}


def _export(step, params, platform, dtype=jnp.float32, block=2048):
    from jax import export

    xs = jnp.ones((6, 4, 1024), dtype)
    params = _f32(params)
    state = neurons.init_state_for(step)((4, 1024), dtype, params=params)
    cfg = _pk._Config(block=block, interpret=False, platform="tpu" if platform == "tpu" else "gpu")

    def grads(p, s, x):
        def loss(p, s, x):
            return sum(a.astype(jnp.float32).sum() for a in jax.tree.leaves(_pk._pallas(step, cfg, p, s, x)))

        return jax.grad(loss, argnums=(0, 1, 2))(p, s, x)

    checks = [export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")]
    exp = export.export(jax.jit(grads), platforms=[platform], disabled_checks=checks)(params, state, xs)
    text = exp.mlir_module()
    assert ("tpu_custom_call" if platform == "tpu" else "triton") in text


@pytest.mark.parametrize("platform", ["tpu", "cuda"])
@pytest.mark.parametrize("name", list(LOWERING_CASES))
def test_compiled_kernels_lower(name, platform):
    _export(*LOWERING_CASES[name], platform)


@pytest.mark.parametrize("platform", ["tpu", "cuda"])
def test_compiled_kernels_lower_bf16(platform):
    _export(lif.step, neurons.LIFParams(tau=2.0), platform, jnp.bfloat16)


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["tpu", "cuda"])
@pytest.mark.parametrize("name", list(SLOW_LOWERING_CASES))
def test_compiled_kernels_lower_more(name, platform):
    _export(*SLOW_LOWERING_CASES[name], platform)


@pytest.mark.parametrize("platform", ["tpu", "cuda"])
def test_compiled_kernels_lower_per_neuron_params(platform):
    _export(lif.step, neurons.LIFParams(tau=jnp.full((1024,), 2.0), v_th=jnp.full((4, 1024), 1.0)), platform)
