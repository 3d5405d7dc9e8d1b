"""snnjax.nir: export → import round trips (in memory and through a .nir file), graphs written the
way snnTorch and Norse write them (against NumPy loops of those libraries' updates), the
parameter mapping by hand, neurons NIR has no primitive for, and graphs that cannot import."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import nir as snnir
from snnjax import nn
from snnjax.neurons import Neuron, lif

T, B = 10, 3

# one compilation per network structure (the imports from a graph, a file and nir.read share it)
_run = nnx.jit(lambda model, xs: model(xs))


def _normal(seed, shape, scale=1.0):
    return np.random.default_rng(seed).normal(0.0, scale, shape)


def _xs(seed, shape, scale=1.5):
    return jnp.asarray(_normal(seed, (T, B) + shape, scale), jnp.float32)


_ZEROS = nnx.initializers.zeros_init()  # then NumPy weights: no random init to compile in every test


def _linear(seed, n_in, n_out, use_bias=True):
    layer = nnx.Linear(n_in, n_out, use_bias=use_bias, kernel_init=_ZEROS, bias_init=_ZEROS, rngs=nnx.Rngs(0))
    layer.kernel[...] = jnp.asarray(_normal(seed, (n_in, n_out), 1 / np.sqrt(n_in)), jnp.float32)
    if use_bias:
        layer.bias[...] = jnp.asarray(_normal(seed + 1, (n_out,), 0.1), jnp.float32)
    return layer


def _conv_layer(seed, n_in, n_out, kernel_size, **kw):
    layer = nnx.Conv(n_in, n_out, kernel_size, kernel_init=_ZEROS, bias_init=_ZEROS, rngs=nnx.Rngs(0), **kw)
    fan_in = n_in // layer.feature_group_count * int(np.prod(kernel_size))
    layer.kernel[...] = jnp.asarray(_normal(seed, layer.kernel[...].shape, 1 / np.sqrt(fan_in)), jnp.float32)
    if layer.bias is not None:
        layer.bias[...] = jnp.asarray(_normal(seed + 1, (n_out,), 0.1), jnp.float32)
    return layer


# ----------------------------------------------------------------------------- round trips


def _mlp_soft():
    return nnx.Sequential(
        nn.TimeDistributed(_linear(0, 6, 8)),
        nn.LIF(tau=jnp.linspace(1.5, 4.0, 8), v_th=0.8),  # soft reset (the default), per-neuron τ
        _linear(2, 8, 3, use_bias=False),
        nn.LI(tau_syn=3.0, tau_mem=jnp.array([5.0, 8.0, 12.0])),  # synaptic readout
    )


def _mlp_hard():
    return nnx.Sequential(
        _linear(4, 6, 8),
        nn.LIF(tau=2.5, v_th=0.7, reset="hard", v_reset=-0.2),
        nn.PLIF(tau_init=3.0, reset="hard"),
        _linear(6, 8, 3),
        nn.LI(tau_mem=6.0, synaptic=False),
    )


def _conv():
    conv = _conv_layer(8, 2, 4, (3, 2), strides=(2, 1), padding=((1, 1), (0, 0)))  # 9x6 -> 5x5
    return nnx.Sequential(
        nn.TimeDistributed(conv),
        nn.IF(v_th=jnp.array([0.5, 1.0, 1.5, 2.0]), reset="hard"),  # one threshold per channel
        nn.TimeDistributed(snnir.AvgPool2d(2, stride=1)),  # 5x5 -> 4x4
        nn.TimeDistributed(snnir.Flatten()),
        nn.TimeDistributed(_linear(10, 4 * 4 * 4, 5)),
        nn.LIF(tau=2.0, v_th=0.3),
    )


def _spytorch():
    return nnx.Sequential(
        _linear(12, 6, 8),
        nn.SpytorchLIF(tau_syn=4.0, tau_mem=jnp.linspace(6.0, 12.0, 8), v_th=0.3),
        _linear(14, 8, 3),
        nn.LI(),
    )


def _rlif():
    return nnx.Sequential(
        _linear(16, 6, 8),
        nn.RLIF(8, rngs=nnx.Rngs(4), w_scale=1.5, tau=3.0, v_th=0.6),
        _linear(18, 8, 3),
        nn.LI(synaptic=False),
    )


MODELS = {
    "mlp_soft": (_mlp_soft, (6,), None, 0.5),
    "mlp_hard_plif": (_mlp_hard, (6,), None, 1.0),
    "conv_if_pool_flatten": (_conv, (9, 6, 2), (9, 6, 2), 1e-3),
    "spytorch": (_spytorch, (6,), None, 1.0),
    "rlif": (_rlif, (6,), None, 2e-3),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip(name, tmp_path):
    build, in_shape, input_shape, dt = MODELS[name]
    model = build()
    xs = _xs(10, in_shape, 3.0 if name.startswith("conv") else 1.5)
    want = np.asarray(_run(model, xs))
    assert want.std() > 0.01  # something happens (spikes, a moving readout)
    graph = snnir.export(model, dt=dt, input_shape=input_shape)
    assert graph.metadata["snnjax_dt"] == dt
    path = tmp_path / f"{name}.nir"
    snnir.write(model, path, dt=dt, input_shape=input_shape)
    sources = [graph, path]
    if not name.startswith("conv"):  # nir.read's type check mis-infers kh != kw convolutions (nir 1.0.8)
        sources.append(nir.read(path))
    for source in sources:
        net = snnir.import_graph(source, dt=dt)
        assert net.input_shape == in_shape
        np.testing.assert_allclose(np.asarray(_run(net, xs)), want, rtol=1e-6, atol=1e-6)
    # the import exports to the same graph: the mapping is a bijection on these models
    again = snnir.export(snnir.import_graph(graph, dt=dt), dt=dt)
    for key, node in graph.nodes.items():
        if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF, nir.Affine, nir.Conv2d)):
            for field in ("tau", "r", "v_threshold", "v_reset", "weight", "bias", "tau_mem"):
                if hasattr(node, field):
                    np.testing.assert_allclose(getattr(again.nodes[key], field), getattr(node, field), rtol=1e-6)


def test_export_mapping_by_hand():
    """The NIR parameters of each neuron, computed by hand (dt = 0.5)."""
    model = [
        _linear(20, 2, 3),
        nn.LIF(tau=2.0, v_th=0.5),
        nn.IF(v_th=jnp.array([1.0, 2.0, 3.0]), reset="hard", v_reset=-1.0),
        nn.LI(tau_mem=10.0, synaptic=False),
        nn.SpytorchLIF(tau_syn=5.0, tau_mem=10.0),
        nn.LI(tau_syn=5.0, tau_mem=10.0),
    ]
    g = snnir.export(model, dt=0.5)
    assert [type(g.nodes[str(i)]).__name__ for i in range(6)] == ["Affine", "LIF", "IF", "LI", "CubaLIF", "CubaLI"]
    np.testing.assert_allclose(g.nodes["0"].weight, np.asarray(model[0].kernel[...]).T)
    lif_node, if_node, li_node, spy, cli = (g.nodes[str(i)] for i in range(1, 6))
    np.testing.assert_allclose(lif_node.tau, [1.0] * 3)  # τ·dt
    np.testing.assert_allclose(lif_node.r, [2.0] * 3)  # τ_NIR/dt: unit input gain
    np.testing.assert_allclose(lif_node.v_threshold, [0.5] * 3)  # scalar broadcast to the layer
    np.testing.assert_allclose(lif_node.v_reset, [0.0] * 3)
    assert lif_node.metadata == {"snnjax_neuron": "LIF", "snnjax_reset": "soft"}
    np.testing.assert_allclose(if_node.r, [2.0] * 3)  # 1/dt
    np.testing.assert_allclose(if_node.v_threshold, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(if_node.v_reset, [-1.0] * 3)
    assert if_node.metadata["snnjax_reset"] == "hard"
    beta, alpha = np.exp(-1 / 10), np.exp(-1 / 5)
    np.testing.assert_allclose(li_node.tau, [0.5 / (1 - beta)] * 3)  # 1 - dt/τ = β
    np.testing.assert_allclose(li_node.r, li_node.tau / 0.5)
    for node in (spy, cli):
        np.testing.assert_allclose(node.tau_syn, [0.5 / (1 - alpha)] * 3)
        np.testing.assert_allclose(node.tau_mem, [0.5 / (1 - beta)] * 3)
        np.testing.assert_allclose(node.w_in, node.tau_syn / 0.5)
        np.testing.assert_allclose(node.r, node.tau_mem / 0.5)
    assert spy.metadata["snnjax_neuron"] == "SpytorchLIF" and cli.metadata["snnjax_neuron"] == "LI"
    # without the metadata, the same nodes import in NIR's forward-Euler reading
    net = snnir.import_graph(g, dt=0.5, use_metadata=False)
    assert [type(layer).__name__ for layer in net][-2:] == ["CubaLIF", "CubaLI"]
    assert net[1].params().reset == "hard"  # NIR's reset to v_reset when nothing says otherwise


def test_rlif_subgraph():
    model = _rlif()
    g = snnir.export(model, dt=1.0)
    sub = g.nodes["1"]
    assert isinstance(sub, nir.NIRGraph)
    assert set(sub.edges) == {("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")}
    np.testing.assert_allclose(sub.nodes["w_rec"].weight, np.asarray(model.layers[1].w_rec[...]).T)  # NIR W·s
    net = snnir.import_graph(g)
    assert isinstance(net[1], nn.RLIF)
    np.testing.assert_allclose(net[1].w_rec[...], model.layers[1].w_rec[...])


@pytest.mark.parametrize(
    "conv_kwargs",
    [
        dict(kernel_size=(3, 2), strides=(2, 1), padding=((1, 1), (0, 0))),
        dict(kernel_size=(3, 3), padding="SAME", kernel_dilation=2, feature_group_count=2),
        dict(kernel_size=(2, 3), strides=2, padding="VALID", use_bias=False),
    ],
)
def test_conv_layout_against_nchw_reference(conv_kwargs):
    """The exported Conv2d (OIHW, NIR's fields), convolved in NumPy on NCHW input, equals the
    flax conv on NHWC input; NIR's Flatten of NCHW equals snnir.Flatten of NHWC."""
    conv = _conv_layer(22, 4, 6, **conv_kwargs)
    x = _normal(6, (2, 9, 7, 4))  # NHWC
    node = snnir.export([conv], input_shape=(9, 7, 4)).nodes["0"]
    assert node.weight.shape[:2] == (6, 4 // conv.feature_group_count)
    ref = _conv_nchw(
        x.transpose(0, 3, 1, 2), node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups
    )
    got = np.asarray(conv(jnp.asarray(x, jnp.float32)))  # NHWC
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(snnir.Flatten()(jnp.asarray(got)), ref.reshape(2, -1), rtol=1e-5, atol=1e-5)


def test_pooling_against_numpy():
    x = _normal(7, (2, 6, 5, 3))  # NHWC
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((2, 3, 3, 3))  # (6 + 2 - 3) // 2 + 1 = 3, (5 + 2 - 3) // 2 + 1 = 3
    for i in range(3):
        for j in range(3):
            want[:, i, j] = pad[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].sum(axis=(1, 2))
    got = snnir.SumPool2d(3, stride=2, padding=1)(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(snnir.AvgPool2d(3, 2, 1)(jnp.asarray(x, jnp.float32)), want / 9, rtol=1e-5, atol=1e-6)
    node = snnir.export([snnir.SumPool2d(3, stride=2, padding=1)], input_shape=(6, 5, 3)).nodes["0"]
    assert isinstance(node, nir.SumPool2d) and list(node.stride) == [2, 2] and list(node.padding) == [1, 1]


def _conv_nchw(x, w, b, stride, padding, dilation, groups):
    """Zero-padded grouped 2-D convolution, NCHW input and OIHW weights (PyTorch's definition)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo)) + np.asarray(b)[None, :, None, None]
    og = o // groups
    for g in range(groups):
        xg, wg = x[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
                out[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    return out


# ----------------------------------------------------------------------------- graphs of other libraries


def _affine(seed, n_in, n_out, scale):
    return nir.Affine(weight=_normal(seed, (n_out, n_in), scale), bias=_normal(seed + 1, (n_out,), 0.1))


def _apply_affine(node, x):
    return x @ node.weight.T + node.bias


def _snntorch_leaky(beta, thr, n, dt):
    # snnTorch's export_to_nir of Leaky(beta): tau = dt/(1 - beta), r = tau/dt, v_leak = 0 (snntorch/export_nir.py)
    tau = np.full(n, dt / (1 - beta))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.full(n, thr))


def _np_leaky(xs, beta, thr, subtract):
    """snnTorch Leaky with reset_delay=False (as snnTorch's import_from_nir builds it):
    mem = beta·mem + x; spk = mem > thr; reset by subtraction or to zero."""
    mem, out = np.zeros(xs.shape[1:]), []
    for x in xs:
        mem = beta * mem + x
        spk = (mem > thr).astype(float)
        mem = mem - spk * thr if subtract else mem * (1 - spk)
        out.append(spk)
    return np.stack(out)


@pytest.mark.parametrize("reset", [None, "soft"])
def test_snntorch_leaky_graph(reset):
    dt = 1e-4  # snnTorch's export hard-codes dt = 1e-4
    a1, a2 = _affine(20, 5, 7, 1.0), _affine(22, 7, 4, 1.0)
    graph = nir.NIRGraph.from_list(a1, _snntorch_leaky(0.9, 1.0, 7, dt), a2, _snntorch_leaky(0.8, 0.5, 4, dt))
    net = snnir.import_graph(graph, dt=dt, reset=reset)
    assert [type(layer).__name__ for layer in net] == ["TimeDistributed", "LIF", "TimeDistributed", "LIF"]  # unit gain
    xs = _normal(24, (T, B, 5), 1.5)
    s1 = _np_leaky(_apply_affine(a1, xs), 0.9, 1.0, subtract=reset == "soft")
    want = _np_leaky(_apply_affine(a2, s1), 0.8, 0.5, subtract=reset == "soft")
    assert 0.05 < want.mean() < 0.95
    np.testing.assert_array_equal(np.asarray(_run(net, jnp.asarray(xs, jnp.float32))), want)


def test_snntorch_synaptic_graph():
    dt, alpha, beta, thr = 1e-4, 0.7, 0.85, 1.0
    n = 6
    # snnTorch's export_to_nir of Synaptic(alpha, beta): tau_syn = dt/(1 - alpha), tau_mem = dt/(1 - beta),
    # r = tau_mem/dt, v_leak = 0, w_in = tau_syn/dt (snntorch/export_nir.py)
    tau_syn, tau_mem = np.full(n, dt / (1 - alpha)), np.full(n, dt / (1 - beta))
    cuba = nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=tau_mem / dt,
        v_leak=np.zeros(n),
        v_threshold=np.full(n, thr),
        w_in=tau_syn / dt,
    )
    a1 = _affine(30, 4, n, 0.8)
    graph = nir.NIRGraph.from_list(a1, cuba)
    net = snnir.import_graph(graph, dt=dt)
    assert isinstance(net[1], snnir.CubaLIF)
    xs = _normal(31, (T, B, 4), 1.0)
    syn, mem, want = 0.0, 0.0, []
    for x in _apply_affine(a1, xs):  # snnTorch Synaptic, reset_delay=False, reset to zero
        syn = alpha * syn + x
        mem = beta * mem + syn
        spk = (mem > thr).astype(float)
        mem = mem * (1 - spk)
        want.append(spk)
    want = np.stack(want)
    assert 0.05 < want.mean() < 0.95
    np.testing.assert_array_equal(np.asarray(_run(net, jnp.asarray(xs, jnp.float32))), want)


def test_norse_lifbox_and_libox_graph():
    """Norse's to_nir: LIFBoxCell -> LIF(tau = 1/tau_mem_inv, r = 1, v_leak, v_threshold, v_reset),
    LIBoxCell -> LI(tau = 1/tau_mem_inv, r = 1, v_leak) (norse/torch/utils/export_nir.py);
    its from_nir simulates them with dt = 1e-3: v += dt·tau_mem_inv·((v_leak - v) + x)."""
    dt, inv_lif, inv_li, n = 1e-3, 100.0, 50.0, 6
    v_th, v_reset = np.linspace(0.5, 1.0, n), np.full(n, -0.1)
    lif_node = nir.LIF(tau=np.full(n, 1 / inv_lif), r=np.ones(n), v_leak=np.zeros(n), v_threshold=v_th, v_reset=v_reset)
    li_node = nir.LI(tau=np.full(3, 1 / inv_li), r=np.ones(3), v_leak=np.zeros(3))
    a1, a2 = _affine(40, 4, n, 8.0), _affine(42, n, 3, 1.0)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([4])),
            "0": a1,
            "1": lif_node,
            "2": a2,
            "3": li_node,
            "output": nir.Output(np.array([3])),
        },
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")],
    )
    net = snnir.import_graph(graph, dt=dt)
    assert [type(layer).__name__ for layer in net] == [
        "TimeDistributed",
        "Scale",
        "LIF",
        "TimeDistributed",
        "Scale",
        "LI",
    ]
    xs = _normal(43, (T, B, 4), 1.0)
    v, spikes = np.zeros((B, n)), []
    for x in _apply_affine(a1, xs):
        v_dec = v + dt * inv_lif * ((0.0 - v) + x)
        z = (v_dec > v_th).astype(float)
        v = (1 - z) * v_dec + z * v_reset
        spikes.append(z)
    spikes = np.stack(spikes)
    assert 0.05 < spikes.mean() < 0.95
    u, want = np.zeros((B, 3)), []
    for x in _apply_affine(a2, spikes):
        u = u + dt * inv_li * ((0.0 - u) + x)
        want.append(u)
    got = _run(net, jnp.asarray(xs, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), np.stack(want), rtol=1e-5, atol=1e-5)


def test_norse_cuba_lif_graph():
    """Norse's LIFCell -> CubaLIF(tau_mem = 1/tau_mem_inv, tau_syn = 1/tau_syn_inv, r = 1, w_in = 1);
    its from_nir runs w_in·x -> LIBox(tau_syn) -> r·I -> LIFBox(tau_mem), the membrane driven by the updated current."""
    dt, inv_mem, inv_syn, n = 1e-3, 100.0, 200.0, 5
    cuba = nir.CubaLIF(
        tau_mem=np.full(n, 1 / inv_mem),
        tau_syn=np.full(n, 1 / inv_syn),
        r=np.ones(n),
        w_in=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, 0.4),
        v_reset=np.zeros(n),
    )
    a1 = _affine(50, 4, n, 6.0)
    net = snnir.import_graph(nir.NIRGraph.from_list(a1, cuba), dt=dt)
    xs = _normal(51, (T, B, 4), 1.0)
    i, v, want = 0.0, 0.0, []
    for x in _apply_affine(a1, xs):
        i = i + dt * inv_syn * (-i + x)
        v_dec = v + dt * inv_mem * (-v + i)
        z = (v_dec > 0.4).astype(float)
        v = (1 - z) * v_dec
        want.append(z)
    want = np.stack(want)
    assert 0.05 < want.mean() < 0.95
    np.testing.assert_array_equal(np.asarray(_run(net, jnp.asarray(xs, jnp.float32))), want)


def test_recurrent_lif_graph_with_gain():
    """A recurrent subgraph with r = 1 (input gain dt/τ = 0.1): the Scale before the RLIF also
    scales W_rec; against v̂ = v + (dt/τ)·(-v + x + W·z_prev), spike, reset to 0."""
    dt, tau, n = 1e-3, 1e-2, 5
    w = _normal(80, (n, n), 2.0)
    lif_node = nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.3))
    sub = nir.NIRGraph(
        nodes={**_io(n, n), "lif": lif_node, "w_rec": nir.Linear(weight=w)},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    a1 = _affine(81, 3, n, 6.0)
    net = snnir.import_graph(nir.NIRGraph.from_list(a1, sub), dt=dt)
    assert [type(layer).__name__ for layer in net] == ["TimeDistributed", "Scale", "RLIF"]
    xs = _normal(82, (T, B, 3), 1.0)
    v, z, want = np.zeros((B, n)), np.zeros((B, n)), []
    for x in _apply_affine(a1, xs):
        v_dec = v + dt / tau * (-v + x + z @ w.T)
        z = (v_dec > 0.3).astype(float)
        v = v_dec * (1 - z)
        want.append(z)
    want = np.stack(want)
    assert 0.05 < want.mean() < 0.95
    np.testing.assert_array_equal(np.asarray(_run(net, jnp.asarray(xs, jnp.float32))), want)


def test_channels_first_conv_if_graph():
    """A graph written channels first (PyTorch layout): Conv2d -> IF -> Flatten -> Affine, against NumPy in NCHW."""
    w, bias = _normal(60, (3, 2, 3, 2), 0.8), _normal(61, (3,), 0.1)
    conv = nir.Conv2d(input_shape=(6, 5), weight=w, stride=(1, 2), padding=(1, 0), dilation=1, groups=1, bias=bias)
    conv.output_type = {"output": np.array([3, 6, 2])}  # nir 1.0.8 infers both sides from kh (see snnjax.nir)
    if_node = nir.IF(r=np.ones((3, 6, 2)), v_threshold=np.full((3, 6, 2), 1.0))  # v += r·x at dt = 1 (snnTorch)
    aff = _affine(62, 36, 4, 0.5)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2, 6, 5])),
            "conv": conv,
            "if": if_node,
            "flat": nir.Flatten(input_type={"input": np.array([3, 6, 2])}, start_dim=0),
            "fc": aff,
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "conv"), ("conv", "if"), ("if", "flat"), ("flat", "fc"), ("fc", "output")],
    )
    net = snnir.import_graph(graph)
    assert net.input_shape == (6, 5, 2)  # channels last
    xs = _normal(63, (T, B, 2, 6, 5), 1.0)  # NCHW
    cur = np.stack([_conv_nchw(x, w, bias, (1, 2), (1, 0), (1, 1), 1) for x in xs])
    v, spikes = np.zeros(cur.shape[1:]), []
    for x in cur:
        v = v + x
        z = (v > 1.0).astype(float)
        v = v * (1 - z)
        spikes.append(z)
    spikes = np.stack(spikes)
    assert 0.05 < spikes.mean() < 0.95
    want = _apply_affine(aff, spikes.reshape(T, B, -1))  # NIR's Flatten: C, H, W order
    got = _run(net, jnp.asarray(xs.transpose(0, 1, 3, 4, 2), jnp.float32))  # NHWC
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- what cannot be exported


def _my_step(params, state, x):  # a user's neuron (its own step function, so lif.step stays unmarked)
    return lif.step(params, state, x)


NO_PRIMITIVE = {
    "ALIF": nn.ALIF,
    "ILIF": nn.ILIF,
    "IPLIF": lambda: nn.ILIF(plif=True),
    "CLIF": nn.CLIF,
    "Polara": nn.Polara,
    "custom": lambda: nn.Neuron(Neuron(lif.init_state, _my_step, params=lif.LIFParams, name="mine"), lif.LIFParams()),
}


@pytest.mark.parametrize("kind", list(NO_PRIMITIVE))
def test_neurons_without_nir_primitive(kind):
    name = {"IPLIF": "ILIF", "custom": "'mine'"}.get(kind, kind)  # IPLIF is an ILIF layer
    with pytest.raises(NotImplementedError, match=rf"layer 1 .*{name} cannot be exported: NIR has no primitive"):
        snnir.export([_linear(0, 3, 4), NO_PRIMITIVE[kind]()])


@pytest.mark.parametrize(
    "layer, input_shape, error, match",
    [
        (lambda: nn.LIF(reset="none"), (4,), ValueError, r"layer 0 \(LIF\): reset='none' cannot be exported"),
        (lambda: nnx.BatchNorm(4, rngs=nnx.Rngs(0)), (4,), NotImplementedError, r"layer 0 \(BatchNorm\).*primitive"),
        (lambda: _conv_layer(0, 2, 3, (2, 2), padding="SAME"), (5, 5, 2), ValueError, r"not symmetric"),
        (lambda: _conv_layer(0, 2, 3, (3, 3), padding="CIRCULAR"), (5, 5, 2), ValueError, "no NIR equivalent"),
        (lambda: _linear(0, 4, 3), (2, 2, 1), ValueError, r"layer 0 \(Linear\).*Flatten"),
        (lambda: _conv_layer(0, 2, 3, (3, 3)), None, ValueError, r"input_shape is needed"),
    ],
)
def test_export_errors(layer, input_shape, error, match):
    with pytest.raises(error, match=match):
        snnir.export([layer()], input_shape=input_shape)


# ----------------------------------------------------------------------------- graphs that cannot import


def _lif(n, **kw):
    fields = dict(tau=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    return nir.LIF(**{**fields, **kw})


def _graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _io(n_in, n_out):
    return {"input": nir.Input(np.array([n_in])), "output": nir.Output(np.array([n_out]))}


def _bad_branch():
    nodes = {**_io(3, 4), "fc": _affine(0, 3, 4, 1.0), "a": _lif(4), "b": _lif(4)}
    return _graph(nodes, [("input", "fc"), ("fc", "a"), ("fc", "b"), ("a", "output"), ("b", "output")])


def _bad_loop():
    nodes = {**_io(4, 4), "lif": _lif(4), "w": nir.Linear(weight=np.eye(4))}
    return _graph(nodes, [("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")])


def _chain(*pairs, n_in=4, n_out=4):
    nodes = {**_io(n_in, n_out), **dict(pairs)}
    names = ["input", *dict(pairs), "output"]
    return _graph(nodes, list(zip(names[:-1], names[1:])))


def _rsynaptic():
    n = 4
    cuba = nir.CubaLIF(
        tau_syn=np.full(n, 2.0), tau_mem=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.ones(n)
    )
    sub = _graph(
        {**_io(n, n), "lif": cuba, "w_rec": nir.Linear(weight=np.eye(n))},
        [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    return _chain(("rec", sub))


BAD = {
    "branch": (_bad_branch, "'fc' has 2 outgoing edges"),
    "top_level_loop": (_bad_loop, "'lif' has 2 incoming edges"),
    "unknown_type": (
        lambda: _chain(("thr", nir.Threshold(threshold=np.ones(4)))),
        r"node 'thr' \(Threshold\): NIR type Threshold is not supported",
    ),
    "v_leak": (
        lambda: _chain(("lif", _lif(4, v_leak=np.full(4, 0.5)))),
        r"node 'lif' \(LIF\): v_leak = .* is not supported",
    ),
    "tau_below_dt": (lambda: _chain(("lif", _lif(4, tau=np.full(4, 0.5)))), r"node 'lif' \(LIF\): tau = 0.5 < dt"),
    "shape": (
        lambda: _chain(("fc", _affine(0, 3, 4, 1.0))),
        r"node 'fc' \(Affine\): weight \(4, 3\) takes vectors of 3",
    ),
    "partial_flatten": (
        lambda: _graph(
            {
                "input": nir.Input(np.array([2, 3, 3])),
                "flat": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=1),
                "output": nir.Output(np.array([2, 9])),
            },
            [("input", "flat"), ("flat", "output")],
        ),
        r"node 'flat' \(Flatten\): only a full flatten",
    ),
    "recurrent_cuba": (_rsynaptic, r"node 'rec' \(NIRGraph\): the recurrent neuron 'lif' is a CubaLIF"),
    "soft_reset_v_reset": (
        lambda: _chain(("lif", _lif(4, v_reset=np.full(4, -0.5)))),
        r"node 'lif' \(LIF\): reset='soft' subtracts v_threshold",
    ),
    "two_inputs": (
        lambda: _graph(
            {**_io(4, 4), "in2": nir.Input(np.array([4])), "lif": _lif(4)}, [("input", "lif"), ("in2", "lif")]
        ),
        "exactly one Input",
    ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_graphs(name):
    build, match = BAD[name]
    reset = "soft" if name == "soft_reset_v_reset" else None
    with pytest.raises(ValueError, match=match):
        snnir.import_graph(build(), reset=reset)


def test_import_argument_errors():
    graph = _chain(("lif", _lif(4)))
    with pytest.raises(ValueError, match="reset"):
        snnir.import_graph(graph, reset="none")
    with pytest.raises(ValueError, match="dt"):
        snnir.import_graph(graph, dt=0.0)
    with pytest.raises(TypeError, match="nir.NIRGraph"):
        snnir.import_graph({"nodes": {}})
    with pytest.raises(TypeError, match="nnx.Sequential"):
        snnir.export(nn.LIF())


def test_imported_network_is_an_nnx_module():
    """The import trains like any NNX model: a jitted gradient reaches the imported weights."""
    net = snnir.import_graph(snnir.export(_mlp_soft(), dt=0.5), dt=0.5, surrogate="atan")
    xs = _xs(70, (6,))

    @nnx.jit
    def loss_grad(model, xs):
        return nnx.grad(lambda m: jnp.mean(m(xs) ** 2))(model)

    grads = loss_grad(net, xs)
    kernel_grad = grads["layers"][0]["layer"]["kernel"][...]
    assert kernel_grad.shape == (6, 8) and float(jnp.abs(kernel_grad).max()) > 0
    assert np.isfinite(np.asarray(jax.tree_util.tree_leaves(grads)[0])).all()
