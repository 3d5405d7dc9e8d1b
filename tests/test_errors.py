"""Eager validation: every error has the right type and a message that names the culprit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax import encoding, neurons
from snnjax.neurons import alif, lif, rlif

XS = jnp.ones((4, 2, 3), jnp.float32)


# --------------------------------------------------------------------------- run


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, np.int64])
def test_integer_xs(dtype):
    with pytest.raises(TypeError, match=r"xs must have a floating dtype .*got (int32|bool|int64)"):
        snnjax.run(lif.step, neurons.LIFParams(), np.ones((4, 3), dtype))


def test_python_int_list_xs():
    with pytest.raises(TypeError, match="xs must have a floating dtype"):
        snnjax.run(lif.step, neurons.LIFParams(), [[1, 2], [3, 4]])


def test_rank0_xs():
    with pytest.raises(ValueError, match=r"xs must have rank >= 1, got shape \(\)"):
        snnjax.run(lif.step, neurons.LIFParams(), jnp.float32(1.0))


def test_zero_time_steps():
    with pytest.raises(ValueError, match=r"xs must have at least one time step .*got shape \(0, 2, 3\)"):
        snnjax.run(lif.step, neurons.LIFParams(), jnp.ones((0, 2, 3)))


@pytest.mark.parametrize(
    "step, params, state, bad",
    [
        (
            lif.step,
            neurons.LIFParams(),
            lif.init_state((3,)),
            r"state\.m has shape \(3,\) and dtype float32 but "
            r"init_state\(\(2, 3\), float32\) for this step has shape \(2, 3\)",
        ),
        (
            lif.step,
            neurons.LIFParams(),
            lif.init_state((2, 4)),
            r"state\.m has shape \(2, 4\) and dtype float32 but init_state\(\(2, 3\), float32\)",
        ),
        (alif.step, neurons.ALIFParams(), alif.init_state((3, 2)), r"state\.m has shape \(3, 2\)"),
    ],
    ids=["rank", "last-dim", "alif"],
)
def test_state_shape_mismatch(step, params, state, bad):
    with pytest.raises(ValueError, match=bad):
        snnjax.run(step, params, XS, state)


def test_state_shape_mismatch_in_step():
    with pytest.raises(ValueError, match=r"state\.m has shape \(3,\) but the input step has shape \(4,\)"):
        lif.step(neurons.LIFParams(), lif.init_state(3), jnp.ones(4))


def test_unknown_backend():
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'scan'.*got 'cuda'"):
        snnjax.run(lif.step, neurons.LIFParams(), XS, backend="cuda")


def test_fused_backend_rejects_scan_options():
    for kw in (
        dict(return_states=True),
        dict(remat=True),
        dict(checkpoint_every=2),
        dict(unroll=2),
    ):
        with pytest.raises(ValueError, match="backend='fused' does not take"):
            snnjax.run(lif.step, neurons.LIFParams(), XS, backend="fused", **kw)


@pytest.mark.parametrize("k, err", [(0, ValueError), (-3, ValueError), (2.0, TypeError)])
def test_bad_checkpoint_every(k, err):
    with pytest.raises(err, match=r"checkpoint_every must be an int (in \[1, inf\], got -?\d|or None, got float)"):
        snnjax.run(lif.step, neurons.LIFParams(), XS, checkpoint_every=k)


def test_bad_unroll():
    with pytest.raises(ValueError, match=r"unroll must be an int in \[1, inf\], got 0"):
        snnjax.run(lif.step, neurons.LIFParams(), XS, unroll=0)


def test_step_not_callable():
    with pytest.raises(TypeError, match="step must be callable"):
        snnjax.run(None, neurons.LIFParams(), XS)


# --------------------------------------------------------------------------- params


@pytest.mark.parametrize("tau", [0.0, -1.0, 0.5, 0, np.array([2.0, 0.5]), float("nan"), float("inf")])
def test_lif_bad_tau(tau):
    with pytest.raises(ValueError, match=r"^tau must be"):
        neurons.LIFParams(tau=tau)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: neurons.ALIFParams(tau=0.5), "tau"),
        (lambda: neurons.ALIFParams(tau_adapt=0.0), "tau_adapt"),
        (lambda: neurons.SpytorchLIFParams(tau_syn=0.0), "tau_syn"),
        (lambda: neurons.SpytorchLIFParams(tau_mem=-1.0), "tau_mem"),
        (lambda: neurons.LIParams(tau_syn=-2.0), "tau_syn"),
        (lambda: neurons.LIParams(tau_mem=0.0), "tau_mem"),
    ],
    ids=[
        "alif-tau",
        "alif-tau_adapt",
        "spytorch-tau_syn",
        "spytorch-tau_mem",
        "li-tau_syn",
        "li-tau_mem",
    ],
)
def test_other_bad_time_constants(make, name):
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        make()


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: neurons.LIFParams(v_th=v), "v_th"),
        (lambda v: neurons.LIFParams(v_reset=v), "v_reset"),
        (lambda v: neurons.IFParams(v_th=v), "v_th"),
        (lambda v: neurons.PLIFParams(w=v), "w"),
        (lambda v: neurons.ALIFParams(beta_adapt=v), "beta_adapt"),
        (lambda v: neurons.SpytorchLIFParams(v_th=v), "v_th"),
        (lambda v: neurons.RLIFParams(w_rec=jnp.full((2, 2), v)), "w_rec"),
    ],
    ids=[
        "lif-v_th",
        "lif-v_reset",
        "if-v_th",
        "plif-w",
        "alif-beta",
        "spytorch-v_th",
        "rlif-w_rec",
    ],
)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_params(make, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be finite \(no NaN/inf\)"):
        make(value)


@pytest.mark.parametrize("cls", [neurons.IFParams, neurons.LIFParams, neurons.PLIFParams, neurons.ALIFParams])
def test_unknown_reset_lists_options(cls):
    with pytest.raises(ValueError, match=r"reset must be one of \('soft', 'hard', 'none'\), got 'subtract'"):
        cls(reset="subtract")


def test_unknown_surrogate_in_params():
    with pytest.raises(ValueError, match=r"surrogate name must be one of \(.*'atan'.*\), got 'relu'"):
        neurons.LIFParams(surrogate="relu")
    with pytest.raises(TypeError, match="surrogate must be a name"):
        neurons.LIFParams(surrogate=3)


@pytest.mark.parametrize("shape", [(3, 4), (3,), (2, 2, 2)])
def test_w_rec_not_square(shape):
    with pytest.raises(ValueError, match=r"w_rec must be a square matrix \[N, N\], got shape"):
        neurons.RLIFParams(w_rec=jnp.ones(shape))


def test_rlif_input_width_mismatch():
    with pytest.raises(ValueError, match=r"x must have last dimension N = 3"):
        snnjax.run(rlif.step, neurons.RLIFParams(w_rec=jnp.zeros((3, 3))), jnp.ones((5, 4)))


def test_plif_w_from_tau():
    with pytest.raises(ValueError, match="tau must be > 1"):
        neurons.plif.w_from_tau(1.0)
    with pytest.raises(ValueError, match="tau must be >= 1"):
        neurons.plif.w_from_tau(0.5)


def test_checks_are_skipped_under_tracing():
    """Validation runs on concrete values only: traced params pass through jit/grad."""
    g = jax.jit(jax.grad(lambda tau: snnjax.run(lif.step, neurons.LIFParams(tau=tau, surrogate="atan"), XS)[1].sum()))
    assert np.isfinite(float(g(2.0)))


# --------------------------------------------------------------------------- init_state


@pytest.mark.parametrize("mod", [neurons.if_, lif, neurons.plif, alif, neurons.spytorch_lif, neurons.li, rlif])
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_init_state_integer_dtype(mod, dtype):
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        mod.init_state((2, 3), dtype)


def test_init_state_bad_shape():
    with pytest.raises(ValueError, match="shape must have non-negative entries"):
        lif.init_state((-1, 3))
    with pytest.raises(TypeError, match="shape must be an int or a sequence of ints"):
        lif.init_state(None)


@pytest.mark.parametrize("shape", [(2.5, 3), "abc"])
def test_init_state_non_integer_shape(shape):
    """A non-integer entry must be rejected, not truncated by int() (2.5 -> 2) nor
    leaked as int()'s ValueError."""
    with pytest.raises(TypeError, match="shape must be an int or a sequence of ints"):
        lif.init_state(shape)


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("num_steps", [0, -1, 2.5, True])
@pytest.mark.parametrize(
    "enc",
    [
        lambda x, n: encoding.latency(x, n),
        lambda x, n: encoding.latency_times(x, n),
        lambda x, n: encoding.rate(x, n, key=jax.random.key(0)),
        lambda x, n: encoding.direct(x, n),
    ],
    ids=["latency", "latency_times", "rate", "direct"],
)
def test_encoders_bad_num_steps(enc, num_steps):
    with pytest.raises(ValueError, match="num_steps must be a positive int, got"):
        enc(jnp.ones(3), num_steps)


@pytest.mark.parametrize(
    "enc",
    [
        lambda x: encoding.latency(x, 5),
        lambda x: encoding.rate(x, 5, key=jax.random.key(0)),
        lambda x: encoding.direct(x, 5),
    ],
    ids=["latency", "rate", "direct"],
)
def test_encoders_integer_input(enc):
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        enc(jnp.ones(3, jnp.int32))


def test_latency_bad_constants():
    with pytest.raises(ValueError, match="tau must be > 0"):
        encoding.latency(jnp.ones(3), 5, tau=0.0)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        encoding.latency(jnp.ones(3), 5, epsilon=-1.0)
