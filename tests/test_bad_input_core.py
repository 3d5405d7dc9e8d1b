"""The bad-input audit of the core API (issue 22): ``run``, every neuron's params /
``init_state`` / ``step``, the NNX layers, encoders, events, surrogates and models.

Each row of ``AUDIT`` is one wrong input: the entry point and argument, the bad value, the
error class and a regex the message must match; every regex names the argument (or the
params field). ``ACCEPTED`` lists inputs that look odd but are valid by the documented
rules (they must run). The traced-value policy (:mod:`snnjax.checks`), non-finite inputs on
every backend, state-shape and layout mistakes are tested below the table.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax
from snnjax import encoding, events, models, nn, surrogate
from snnjax import neurons as N
from snnjax.checks import JaxRuntimeError, checked

XS = jnp.full((4, 2, 3), 0.7, jnp.float32)
LIF = N.LIFParams()
KEY = jax.random.key(0)
EV = events.from_times(jnp.zeros((2, 3), jnp.int32), 5)

# --------------------------------------------------------------------------- the params classes

PARAMS = [N.LIFParams, N.IFParams, N.PLIFParams, N.ALIFParams, N.LIParams, N.ILIFParams, N.IPLIFParams,
          N.CLIFParams, N.PolaraParams, N.SpytorchLIFParams]  # fmt: skip
NUMERIC = {cls: [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static") and f.name != "surrogate"]
           for cls in PARAMS}  # fmt: skip
WRONG_TYPES = {"str": "a", "bool": True, "complex": 1 + 2j, "complex-array": np.ones(2, np.complex64),
               "bool-array": np.ones(2, bool), "object": np.array([None])}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(WRONG_TYPES))
@pytest.mark.parametrize("cls, field", [(c, f) for c in PARAMS for f in NUMERIC[c]],
                         ids=lambda v: getattr(v, "__name__", v))  # fmt: skip
def test_every_numeric_param_field_rejects_non_real_values(cls, field, kind):
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{field} must be a real number"):
        cls(**{field: WRONG_TYPES[kind]})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("cls, field", [(c, f) for c in PARAMS for f in NUMERIC[c]
                                        if not (c is N.PolaraParams and f in ("D", "mu", "sigma"))],
                         ids=lambda v: getattr(v, "__name__", v))  # fmt: skip
def test_every_numeric_param_field_rejects_non_finite_values(cls, field, bad):
    with pytest.raises(ValueError, match=rf"{field}\b.*(finite|>)"):
        cls(**{field: bad})


STATIC_BOOLS = [(c, f.name) for c in PARAMS for f in dataclasses.fields(c)
                if f.metadata.get("static") and f.type in ("bool", bool)]  # fmt: skip


@pytest.mark.parametrize("cls, field", STATIC_BOOLS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_static_flags_must_be_bools(cls, field, bad):
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{field} must be a bool"):
        cls(**{field: bad})


RANGES = [  # (class, field, bad value, message) — the documented valid ranges
    (N.LIFParams, "tau", 0.5, r"tau must be >= 1"),
    (N.ALIFParams, "tau_adapt", 0.9, r"tau_adapt must be >= 1"),
    (N.LIParams, "tau_mem", 0.0, r"tau_mem"),
    (N.ILIFParams, "tau", 0.99, r"tau must be >= 1"),
    (N.CLIFParams, "tau", 0.5, r"tau must be >= 1"),
    (N.SpytorchLIFParams, "tau_syn", -1.0, r"tau_syn"),
    (N.ILIFParams, "lambda_i", -0.1, r"lambda_i must be >= 0"),
    (N.ILIFParams, "lambda_u", -1.0, r"lambda_u must be >= 0"),
    (N.ALIFParams, "beta_adapt", -0.5, r"beta_adapt must be >= 0"),
    (N.PolaraParams, "theta0", 0.0, r"theta0 must be > 0"),
    (N.PolaraParams, "o_max", -1.0, r"o_max must be > 0"),
    *[(c, "v_th", v, r"v_th must be > 0") for c in (N.LIFParams, N.IFParams, N.PLIFParams, N.ALIFParams,
                                                   N.ILIFParams, N.IPLIFParams, N.CLIFParams, N.SpytorchLIFParams)
      for v in (0.0, -1.0)],
]  # fmt: skip


@pytest.mark.parametrize("cls, field, bad, msg", RANGES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_documented_ranges(cls, field, bad, msg):
    with pytest.raises(ValueError, match=msg):
        cls(**{field: bad})


@pytest.mark.parametrize("cls", [N.LIFParams, N.IFParams, N.ALIFParams, N.PLIFParams])
def test_unknown_options_list_the_valid_ones(cls):
    with pytest.raises(ValueError, match=r"reset must be one of \('soft', 'hard', 'none'\), got 'bogus'"):
        cls(reset="bogus")


# --------------------------------------------------------------------------- the audit table

# fmt: off
AUDIT = [
    # --- run
    ("run:step", lambda: snnjax.run(3, LIF, XS), TypeError, r"step must be callable step\(params, state, x\)"),
    ("run:xs complex", lambda: snnjax.run(N.lif.step, LIF, XS.astype(jnp.complex64)), TypeError,
     r"xs must have a floating dtype"),
    ("run:xs str", lambda: snnjax.run(N.lif.step, LIF, "abc"), TypeError, r"xs must be a floating-point array"),
    ("run:xs B=0", lambda: snnjax.run(N.lif.step, LIF, jnp.ones((4, 0, 3))), ValueError,
     r"xs must have at least one neuron .*\(4, 0, 3\)"),
    ("run:params None", lambda: snnjax.run(N.lif.step, None, XS), TypeError,
     r"step\(params, state, x\) failed with params NoneType"),
    ("run:params of another neuron", lambda: snnjax.run(N.lif.step, N.IFParams(), XS), TypeError,
     r"failed with params IFParams.*are these the params of this step's neuron"),
    ("run:state bigger than the input", lambda: snnjax.run(N.lif.step, LIF, XS, N.lif.init_state((5, 2, 3))),
     ValueError, r"state\.m has shape \(5, 2, 3\) .* init_state\(\(2, 3\), float32\)"),
    ("run:state dtype", lambda: snnjax.run(N.lif.step, LIF, XS.astype(jnp.bfloat16), N.lif.init_state((2, 3))),
     ValueError, r"state\.m has shape \(2, 3\) and dtype float32 but .*bfloat16"),
    ("run:state of another neuron", lambda: snnjax.run(N.lif.step, LIF, XS, N.ilif.init_state((2, 3))),
     ValueError, r"state has the structure"),
    ("run:unroll str", lambda: snnjax.run(N.lif.step, LIF, XS, unroll="a"), TypeError, r"unroll must be an int"),
    ("run:unroll 0", lambda: snnjax.run(N.lif.step, LIF, XS, unroll=0), ValueError, r"unroll must be an int in \[1"),
    ("run:return_states str", lambda: snnjax.run(N.lif.step, LIF, XS, return_states="yes"), TypeError,
     r"return_states must be a bool"),
    ("run:remat int", lambda: snnjax.run(N.lif.step, LIF, XS, remat=1), TypeError, r"remat must be a bool"),
    ("run:checkpoint_every 0", lambda: snnjax.run(N.lif.step, LIF, XS, checkpoint_every=0), ValueError,
     r"checkpoint_every must be an int in \[1"),
    ("run:checkpoint_every float", lambda: snnjax.run(N.lif.step, LIF, XS, checkpoint_every=2.0), TypeError,
     r"checkpoint_every must be an int or None"),
    ("run:init_state", lambda: snnjax.run(N.lif.step, LIF, XS, init_state=3), TypeError,
     r"init_state must be callable"),
    ("run:time_axis", lambda: snnjax.run(N.lif.step, LIF, XS, time_axis=3), ValueError, r"time_axis must be an int in"),
    ("run:backend", lambda: snnjax.run(N.lif.step, LIF, XS, backend="gpu"), ValueError,
     r"backend must be one of \('auto', 'scan', 'fused', 'pallas', 'linear', 'native'\), got 'gpu'"),
    # --- init_state / step of every neuron (LIF stands for all: one shared check)
    *[(f"{m.__name__.split('.')[-1]}.init_state:{what}", fn(m), err, msg)
      for m in (N.lif, N.if_, N.plif, N.alif, N.li, N.ilif, N.clif, N.polara, N.spytorch_lif)
      for what, fn, err, msg in [
          ("shape -1", lambda m: (lambda: m.init_state(-1)), ValueError, r"shape must have non-negative"),
          ("shape 2.5", lambda m: (lambda: m.init_state((2.5,))), TypeError, r"shape must be an int or a sequence"),
          ("dtype int", lambda m: (lambda: m.init_state((3,), jnp.int32)), TypeError, r"dtype must be a floating"),
          ("dtype bogus", lambda m: (lambda: m.init_state((3,), "bogus")), TypeError, r"dtype must be a floating"),
      ]],
    ("lif.step:x int", lambda: N.lif.step(LIF, N.lif.init_state(3), jnp.ones(3, jnp.int32)), TypeError,
     r"x must have a floating dtype"),
    # --- nn layers
    ("nn.LIF:xs int", lambda: nn.LIF()(jnp.ones((4, 2, 3), jnp.int32)), TypeError, r"xs must have a floating dtype"),
    ("nn.LIF:xs rank 1", lambda: nn.LIF()(jnp.ones((4,))), ValueError, r"xs must have rank >= 2"),
    ("nn.LIF:tau", lambda: nn.LIF(tau=0.5), ValueError, r"tau must be >= 1"),
    ("nn.LIF:param_shape -1", lambda: nn.LIF(learn_tau=True, param_shape=(-1,)), ValueError,
     r"param_shape must be a tuple of positive ints"),
    ("nn.LIF:param_shape str", lambda: nn.LIF(learn_tau=True, param_shape="N"), TypeError,
     r"param_shape must be a tuple of positive ints"),
    ("nn.LIF:num_steps 0", lambda: nn.LIF(num_steps=0), ValueError, r"num_steps must be an int in \[1"),
    ("nn.LIF:batch-major", lambda: nn.LIF(num_steps=4)(jnp.ones((2, 4, 3))), ValueError,
     r"xs must have num_steps = 4 time steps on axis 0, got shape \(2, 4, 3\) — axis 1 has 4: batch-major"),
    ("nn.LIF:return_states str", lambda: nn.LIF()(XS, return_states="y"), TypeError, r"return_states must be a bool"),
    ("nn.ALIF:learn unknown", lambda: nn.ALIF(learn=("bogus",)), ValueError, r"learnable parameter \(learn\) must be"),
    ("nn.ALIF:learn str", lambda: nn.ALIF(learn="tau"), TypeError, r"learn must be a tuple of parameter names"),
    ("nn.Neuron:neuron", lambda: nn.Neuron([1.0]), TypeError, r"neuron must be a snnjax.neurons.Neuron record"),
    ("nn.Neuron:params list", lambda: nn.Neuron(N.lif.neuron, [1.0]), TypeError,
     r"params must be a params dataclass .* NamedTuple"),
    ("nn.Neuron:params and keywords", lambda: nn.Neuron(N.lif.neuron, N.LIFParams(), tau=2.0), TypeError,
     r"pass either params or field keywords"),
    ("nn.LIF:learn flag", lambda: nn.LIF(learn_tau="yes"), TypeError, r"learn_tau must be a bool"),
    ("nn.LIF:unknown keyword", lambda: nn.LIF(tua=2.0), TypeError, r"tua"),
    ("nn.StepBatchNorm:num_features", lambda: nn.StepBatchNorm(0), ValueError, r"num_features must be a positive"),
    ("nn.StepBatchNorm:momentum nan", lambda: nn.StepBatchNorm(3, momentum=float("nan")), ValueError,
     r"momentum must be finite"),
    ("nn.StepBatchNorm:momentum 2", lambda: nn.StepBatchNorm(3, momentum=2.0), ValueError, r"momentum must be <= 1"),
    ("nn.StepBatchNorm:epsilon", lambda: nn.StepBatchNorm(3, epsilon=0.0), ValueError, r"epsilon must be > 0"),
    ("nn.StepBatchNorm:xs channels", lambda: nn.StepBatchNorm(3)(jnp.ones((4, 2, 5))), ValueError,
     r"xs must have num_features = 3 channels"),
    ("nn.SpikeLinear:in_features", lambda: nn.SpikeLinear(0, 3, rngs=nnx.Rngs(0)), ValueError,
     r"in_features must be an int in \[1"),
    ("nn.SpikeLinear:weight_scale", lambda: nn.SpikeLinear(3, 3, weight_scale=float("nan"), rngs=nnx.Rngs(0)),
     ValueError, r"weight_scale must be finite"),
    ("nn.SpikeLinear:spikes features", lambda: nn.SpikeLinear(3, 4, rngs=nnx.Rngs(0))(jnp.ones((4, 2, 5))),
     ValueError, r"spikes must have in_features = 3"),
    ("nn.SpikeLinear:mode", lambda: nn.SpikeLinear(3, 4, mode="sparse", rngs=nnx.Rngs(0)), ValueError,
     r"mode must be one of"),
    ("nn.fold_time:rank", lambda: nn.fold_time(jnp.ones((3,))), ValueError, r"xs must have rank >= 2"),
    ("nn.unfold_time:t", lambda: nn.unfold_time(jnp.ones((6, 3)), 4), ValueError, r"not a multiple of T = 4"),
    ("nn.unfold_time:t 0", lambda: nn.unfold_time(jnp.ones((6, 3)), 0), ValueError, r"t must be an int in \[1"),
    ("nn.TimeDistributed:layer", lambda: nn.TimeDistributed(3), TypeError, r"layer must be callable"),
    # --- encoders
    ("latency:num_steps", lambda: encoding.latency(jnp.ones(3), 0), ValueError, r"num_steps must be a positive int"),
    ("latency:x int", lambda: encoding.latency(jnp.ones(3, jnp.int32), 5), TypeError, r"x must have a floating"),
    ("latency:x nan", lambda: encoding.latency(jnp.array([0.5, np.nan]), 5), ValueError,
     r"x must be finite: it has 1 NaN/inf"),
    ("latency:tau", lambda: encoding.latency(jnp.ones(3), 5, tau=0.0), ValueError, r"tau must be > 0"),
    ("latency:threshold", lambda: encoding.latency(jnp.ones(3), 5, threshold=np.nan), ValueError,
     r"threshold must be finite"),
    ("latency:t_max", lambda: encoding.latency(jnp.ones(3), 5, t_max=-1), ValueError, r"t_max must be >= 0"),
    ("latency:dtype", lambda: encoding.latency(jnp.ones(3), 5, dtype="bogus"), TypeError,
     r"dtype must be a numeric dtype"),
    ("latency_events:rank", lambda: encoding.latency_events(jnp.ones(3), 5), ValueError, r"x must have rank 2"),
    ("rate:key", lambda: encoding.rate(jnp.ones(3), 5, key=None), TypeError, r"key must be a jax.random.key"),
    ("rate:key int", lambda: encoding.rate(jnp.ones(3), 5, key=0), TypeError, r"key must be a jax.random.key"),
    ("rate:x nan", lambda: encoding.rate(jnp.full(3, np.nan), 5, key=KEY), ValueError, r"x must be finite"),
    ("rate:gain", lambda: encoding.rate(jnp.ones(3), 5, key=KEY, gain=-1.0), ValueError, r"gain must be >= 0"),
    ("rate:num_steps float", lambda: encoding.rate(jnp.ones(3), 2.0, key=KEY), ValueError,
     r"num_steps must be a positive int"),
    ("direct:num_steps", lambda: encoding.direct(jnp.ones(3), -1), ValueError, r"num_steps must be a positive int"),
    ("direct:x str", lambda: encoding.direct(object(), 3), TypeError, r"x must be a floating-point array"),
    # --- events
    ("from_times:times float", lambda: events.from_times(jnp.ones((2, 3)), 5), TypeError,
     r"times must be an integer array \[B, C\]"),
    ("from_times:times rank", lambda: events.from_times(jnp.ones((3,), jnp.int32), 5), TypeError,
     r"times must be an integer array \[B, C\]"),
    ("from_times:num_steps", lambda: events.from_times(jnp.zeros((2, 3), jnp.int32), 0), ValueError,
     r"num_steps must be an int in \[1"),
    ("from_times:max_events drops", lambda: events.from_times(jnp.zeros((2, 3), jnp.int32), 5, max_events=1),
     ValueError, r"max_events=1 would drop spikes: example 0 of times has 3"),
    ("from_times:max_events 0", lambda: events.from_times(jnp.zeros((2, 3), jnp.int32), 5, max_events=0),
     ValueError, r"max_events must be an int in \[1"),
    ("from_dense:non-binary", lambda: events.from_dense(jnp.full((4, 2, 3), 0.5), 30), ValueError,
     r"spikes must hold only 0 and 1"),
    ("from_dense:rank", lambda: events.from_dense(jnp.ones((2, 3)), 30), TypeError, r"spikes must be a numeric array"),
    ("from_dense:max_events drops", lambda: events.from_dense(jnp.ones((4, 2, 3)), 5), ValueError,
     r"max_events=5 would drop spikes"),
    ("event_matmul:w int", lambda: events.event_matmul(EV, jnp.ones((3, 2), jnp.int32)), TypeError,
     r"w must have a floating dtype"),
    ("event_matmul:w shape", lambda: events.event_matmul(EV, jnp.ones((4, 2))), ValueError, r"w must have shape \[C=3"),
    ("event_matmul:events", lambda: events.event_matmul(jnp.ones((4, 2, 3)), jnp.ones((3, 2))), TypeError,
     r"events must be snnjax.events.Events"),
    ("to_dense:dtype", lambda: events.to_dense(EV, "bogus"), TypeError, r"dtype must be a numeric dtype"),
    # --- surrogates
    ("surrogate.get:name", lambda: surrogate.get("bogus"), ValueError, r"surrogate name must be one of .*'bogus'"),
    ("surrogate.get:width 0", lambda: surrogate.get("rectangle", 0.0), ValueError, r"surrogate width"),
    ("surrogate.get:width nan", lambda: surrogate.get("atan", np.nan), ValueError, r"surrogate width"),
    ("surrogate.get:width str", lambda: surrogate.get("rectangle", "x"), TypeError, r"surrogate width .* real number"),
    ("surrogate.get:width complex", lambda: surrogate.get("rectangle", 1j), TypeError, r"surrogate width"),
    ("surrogate.get:keyword", lambda: surrogate.get("atan", gamma=2.0), ValueError, r"takes one width argument named"),
    ("Surrogate:grad", lambda: surrogate.Surrogate("mine", 1.0, grad=3), TypeError, r"grad must be a function"),
    ("Surrogate:name", lambda: surrogate.Surrogate(3), TypeError, r"name must be a str"),
    ("spike:grad_fn", lambda: surrogate.spike(jnp.ones(3), 3), TypeError, r"grad_fn must be a function"),
    ("spike:v int", lambda: surrogate.spike(jnp.ones(3, jnp.int32), surrogate.rectangle().grad), TypeError,
     r"v must have a floating dtype"),
    ("Surrogate call:v int", lambda: surrogate.get("rectangle")(jnp.ones(3, jnp.int32)), TypeError,
     r"v must have a floating dtype"),
    ("neuron surrogate", lambda: N.LIFParams(surrogate=3), TypeError, r"surrogate must be a name"),
    # --- models
    ("SpikingMLP:n_in", lambda: models.SpikingMLP(0, (4,), 2, rngs=nnx.Rngs(0)), ValueError,
     r"layer sizes must be positive ints, got n_in=0"),
    ("SpikingMLP:hidden int", lambda: models.SpikingMLP(3, 4, 2, rngs=nnx.Rngs(0)), TypeError,
     r"hidden must be a sequence of layer sizes"),
    ("SpikingMLP:xs features", lambda: models.SpikingMLP(3, (4,), 2, rngs=nnx.Rngs(0))(jnp.ones((4, 2, 5))),
     ValueError, r"spikes must have in_features = 3"),
    ("make_neuron:name", lambda: models.make_neuron("bogus"), ValueError, r"neuron"),
    ("make_neuron:tau", lambda: models.make_neuron("lif", tau=0.5)(), ValueError, r"tau must be >= 1"),
    ("make_neuron:keyword", lambda: models.make_neuron("lif", bogus=1)(), TypeError, r"bogus"),
    ("preact_resnet18:num_classes", lambda: models.preact_resnet18(0, rngs=nnx.Rngs(0)), ValueError, r"num_classes"),
    ("preact_resnet18:dropout", lambda: models.preact_resnet18(10, dropout=1.5, rngs=nnx.Rngs(0)), ValueError,
     r"dropout must lie in \[0, 1\)"),
    ("preact_resnet18:dropout str", lambda: models.preact_resnet18(10, dropout="x", rngs=nnx.Rngs(0)), TypeError,
     r"dropout must be a real number"),
    ("spiking_vgg11:in_channels", lambda: models.spiking_vgg11(10, in_channels=0, rngs=nnx.Rngs(0)), ValueError,
     r"in_channels"),
]
# fmt: on


@pytest.mark.parametrize("case, fn, err, msg", AUDIT, ids=[row[0] for row in AUDIT])
def test_audit(case, fn, err, msg):
    with pytest.raises(err, match=msg):
        fn()


ACCEPTED = [  # valid by the documented rules, whatever they look like
    ("int time constant", lambda: N.LIFParams(tau=2)),
    ("int array time constant", lambda: N.LIFParams(tau=np.array([2, 3, 4]))),
    ("negative v_reset", lambda: N.LIFParams(v_reset=-1.0, reset="hard")),
    ("negative PLIF w (leak < 1/2)", lambda: N.PLIFParams(w=-2.0)),
    ("zero inhibition", lambda: N.ILIFParams(lambda_i=0.0)),
    ("None leaves (vmap axes prefix)", lambda: N.LIFParams(tau=None, v_th=None)),
    ("python-float xs", lambda: snnjax.run(N.lif.step, LIF, [[0.5, 1.5]])),
    ("batch-major with time_axis", lambda: snnjax.run(N.lif.step, LIF, jnp.ones((2, 4, 3)), time_axis=1)),
    (
        "counter in a custom state",
        lambda: snnjax.run(lambda p, s, x: ((s[0] + 1, s[1] + x), x), None, XS, (0, jnp.zeros((2, 3)))),
    ),
    ("int spikes densified", lambda: events.to_dense(EV, jnp.int32)),
]


@pytest.mark.parametrize("case, fn", ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_accepted(case, fn):
    fn()


# --------------------------------------------------------------------------- with and without jit


class ErrorsUnderJit(chex.TestCase):
    """The shape/type checks of ``run`` and the layers hold inside ``jit`` too: they run while tracing."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_state_bigger_than_input(self):
        f = self.variant(lambda xs: snnjax.run(N.lif.step, LIF, xs, N.lif.init_state((5, 2, 3)))[1])
        with pytest.raises(ValueError, match=r"state\.m has shape \(5, 2, 3\)"):
            f(XS)

    @chex.variants(with_jit=True, without_jit=True)
    def test_custom_step_that_changes_the_state_shape(self):
        def step(p, s, x):
            return s + x, x  # a [3] state broadcast to [2, 3]

        f = self.variant(lambda xs: snnjax.run(step, None, xs, jnp.zeros((3,)))[1])
        with pytest.raises(
            ValueError, match=r"state has shape \(3,\) .* the state the step returns has shape \(2, 3\)"
        ):
            f(XS)

    @chex.variants(with_jit=True, without_jit=True)
    def test_custom_step_failing_on_its_params(self):
        def step(p, s, x):
            return s, x * p.gain

        f = self.variant(lambda xs: snnjax.run(step, {"gain": 1.0}, xs, jnp.zeros((2, 3)))[1])
        with pytest.raises(TypeError, match=r"failed with params dict"):
            f(XS)

    @chex.variants(with_jit=True, without_jit=True)
    def test_batch_major_layer_input(self):
        layer = nn.LIF(num_steps=4)
        f = self.variant(lambda xs: layer(xs))
        with pytest.raises(ValueError, match=r"batch-major input\? pass time_axis=1"):
            f(jnp.ones((2, 4, 3)))

    @chex.variants(with_jit=True, without_jit=True)
    def test_time_axis_equals_transposing(self):
        xs = jax.random.uniform(jax.random.key(1), (2, 6, 3)) * 2  # [B, T, N]
        f = self.variant(lambda xs: snnjax.run(N.lif.step, LIF, xs, time_axis=1)[1])
        g = self.variant(lambda xs: snnjax.run(N.lif.step, LIF, jnp.swapaxes(xs, 0, 1))[1])
        chex.assert_trees_all_equal(f(xs), jnp.swapaxes(g(xs), 0, 1))
        layer = nn.LIF(num_steps=6)
        ys, states = layer(xs, time_axis=1, return_states=True)
        chex.assert_shape([ys, states.m], (2, 6, 3))
        chex.assert_trees_all_equal(ys, f(xs))


# --------------------------------------------------------------------------- traced values


def _lif_sum(tau, xs=XS):
    return snnjax.run(N.lif.step, N.LIFParams(tau=tau), xs)[1].sum()


def test_traced_tau_is_not_checked_by_default_but_is_inside_checked():
    # the documented default: a traced value is not checked (no device round trip) ...
    assert np.isfinite(float(jax.jit(_lif_sum)(0.5)))
    # ... and checked() stages the same range check the params class runs eagerly (a Python
    # number stays concrete in an un-jitted checked call: the eager ValueError)
    with pytest.raises(ValueError, match=r"tau must be (finite and )?>= 1.0"):
        checked(_lif_sum)(0.5)
    with pytest.raises(JaxRuntimeError, match=r"tau must be finite and >= 1.0 \(min 0.5"):
        checked(_lif_sum, jit=True)(0.5)
    with pytest.raises(JaxRuntimeError, match=r"tau must be finite and >= 1.0"):
        checked(_lif_sum, jit=True)(jnp.float32(0.25))
    with pytest.raises(JaxRuntimeError, match=r"tau must be finite and >= 1.0"):
        checked(jax.grad(_lif_sum), jit=True)(0.5)
    # valid values pass, with the same result as without the checks
    assert float(checked(_lif_sum, jit=True)(2.0)) == float(jax.jit(_lif_sum)(2.0))


def test_checked_sees_params_passed_into_jit_and_learnable_layers():
    # params arriving as a jit argument are rebuilt by JAX without __init__: run() re-validates them
    f = jax.jit(lambda p: snnjax.run(N.ilif.step, p, XS)[1].sum())
    p = jax.tree.map(lambda v: v, N.ILIFParams())
    leaves = jax.tree_util.tree_leaves(p)
    bad = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(p), [0.5, *leaves[1:]])  # tau = 0.5
    with pytest.raises(JaxRuntimeError, match=r"tau must be finite and >= 1.0"):
        checked(f)(bad)
    # a learnable τ in a layer is reparameterised (1 + softplus(w)): no value of w is invalid,
    # so the same check passes whatever an optimiser did to it
    layer = nn.LIF(learn_tau=True)
    layer.tau[...] = jnp.float32(-1e4)
    graphdef, state = nnx.split(layer)
    out = checked(lambda st, xs: nnx.merge(graphdef, st)(xs), jit=True)(state, XS)
    assert out.shape == XS.shape


def test_checked_rejects_non_finite_inputs_and_invalid_widths():
    xs = XS.at[2, 0, 1].set(jnp.nan)
    with pytest.raises(JaxRuntimeError, match=r"xs \(the input currents\) must be finite"):
        checked(lambda xs: snnjax.run(N.lif.step, LIF, xs)[1])(xs)
    with pytest.raises(JaxRuntimeError, match=r"x must be finite"):
        checked(jax.jit(lambda x: encoding.rate(x, 4, key=KEY)))(jnp.array([0.5, jnp.inf]))

    def f(w):
        return snnjax.run(N.lif.step, N.LIFParams(surrogate=surrogate.rectangle(w)), XS)[1].sum()

    assert np.isfinite(float(jax.jit(f)(-1.0)))  # not checked by default
    with pytest.raises(JaxRuntimeError, match=r"surrogate width"):
        checked(f, jit=True)(-1.0)


# --------------------------------------------------------------------------- non-finite inputs on every backend

NONFINITE_CASES = [
    ("lif", N.lif.step, LIF, ("scan", "fused", "pallas")),
    ("ilif", N.ilif.step, N.ILIFParams(), ("scan", "fused", "pallas")),
    ("polara", N.polara.step, N.PolaraParams(), ("scan", "fused")),
    ("li", N.li.step, N.LIParams(), ("scan", "fused", "linear")),
]


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("name, step, params, backends", NONFINITE_CASES, ids=[c[0] for c in NONFINITE_CASES])
def test_non_finite_inputs_propagate_identically_on_every_backend(name, step, params, backends, bad):
    t0 = 5
    xs = jax.random.uniform(jax.random.key(2), (12, 2, 4), minval=-0.5, maxval=1.5)
    xs_bad = xs.at[t0, 1, 2].set(bad)
    _, ref = snnjax.run(step, params, xs_bad, backend="scan")
    _, clean = snnjax.run(step, params, xs, backend="scan")
    # the policy: nothing before the bad step changes
    np.testing.assert_array_equal(np.asarray(ref[:t0]), np.asarray(clean[:t0]))
    for backend in backends:
        final, ys = snnjax.run(step, params, xs_bad, backend=backend)
        np.testing.assert_array_equal(np.asarray(ys), np.asarray(ref), err_msg=backend)  # NaN == NaN here
    if name == "li":  # a non-spiking neuron carries the NaN/inf out of the bad element only
        # (one step later: the current reaches the membrane through the synaptic trace)
        assert not np.isfinite(np.asarray(ref[t0 + 1 :, 1, 2])).any()
        assert np.isfinite(np.asarray(ref[:, 0])).all()


def test_a_nan_input_silences_a_spiking_neuron_and_poisons_its_state():
    xs = jnp.ones((6, 1, 2)).at[2, 0, 0].set(jnp.nan)
    final, ys, states = snnjax.run(N.lif.step, N.LIFParams(tau=2.0), xs, return_states=True)
    assert np.isnan(np.asarray(states.m[2:, 0, 0])).all() and np.isfinite(np.asarray(states.m[:, 0, 1])).all()
    np.testing.assert_array_equal(np.asarray(ys[2:, 0, 0]), 0.0)  # NaN >= V_th is false


# --------------------------------------------------------------------------- vmap and NamedTuple params


def test_vmap_over_stacked_params_passes_validation():
    ps = [N.LIFParams(tau=t, v_th=v) for t, v in ((1.5, 1.0), (2.0, 1.0), (4.0, 0.5))]
    stacked, axes = N.stack_params(ps)
    assert axes.tau == 0 and axes.v_th == 0 and axes.v_reset is None
    ys = jax.vmap(lambda p: snnjax.run(N.lif.step, p, XS)[1], in_axes=(axes,))(stacked)
    for i, p in enumerate(ps):
        chex.assert_trees_all_equal(ys[i], snnjax.run(N.lif.step, p, XS)[1])
    with pytest.raises(ValueError, match=r"params\[1\] differs from params\[0\]"):
        N.stack_params([N.LIFParams(), N.LIFParams(reset="hard")])
    with pytest.raises(ValueError, match=r"at least one"):
        N.stack_params([])


class _TauOnly(NamedTuple):
    tau: float = 2.0


def _tau_only_step(p, s, x):
    return N.lif.step(N.LIFParams(tau=p.tau), s, x)


class _TauOnlyNeuron(nn.Neuron):
    neuron = type("M", (), {"step": staticmethod(_tau_only_step), "init_state": staticmethod(N.lif.init_state)})
    params_cls = _TauOnly


def test_namedtuple_params_in_a_layer():
    layer = _TauOnlyNeuron(_TauOnly(tau=2.0), learn=("tau",))
    assert isinstance(layer.params(), _TauOnly) and isinstance(layer.tau, nnx.Param)
    ys = layer(XS, state=N.lif.init_state((2, 3)))
    chex.assert_trees_all_equal(ys, snnjax.run(N.lif.step, N.LIFParams(tau=2.0), XS)[1])
