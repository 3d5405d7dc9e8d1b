"""Native CPU kernels: the whole sequence of a seed neuron, forward and backward, in compiled C++
called through ``jax.ffi`` (``backend="native"`` of :func:`snnjax.run`).

Why. On the CPU, XLA runs a ``lax.scan`` as a while loop whose every step copies the carried
state and writes each per-step output through a dynamic-update-slice: a fixed cost per step and
per carried array that keeps the fused backend at 4–10× the memory floor
(``benchmarks/RESULTS.md``). The kernels in ``csrc/neurons.cc`` run the time loop inside each
block of neurons instead, with the block's state in cache: the forward reads ``x`` and writes
the spikes once per element and step, the backward recomputes the block's forward and runs the
reverse-time pass reading ``x`` and the output cotangent and writing the input cotangent once —
the 8 and 20 bytes per element of ``neuron_speed.py``'s memory floor.

What. The leaky family (IF, LIF, PLIF: every reset mode, ``detach_reset``), ILIF/IPLIF (every
unit switch and CIU source), CLIF, the LI readout (both forms), and POLARA (every gradient mode,
both outputs, both amplification orders, any window k, the refractory and threshold ablations;
not the static-leak, Heaviside, windowed-decay, ungated or threshold-recovery variants, which
``auto`` scans), float32,
every registered surrogate, parameters of any shape that broadcasts to one time step's shape
(POLARA's window kernels ``h``, ``Θ`` are computed by JAX and passed in, so their gradients reach
A, α, D, μ, σ, E, η by autodiff); the same ``custom_vjp`` contract as the fused backend
(reverse mode only; gradients to the inputs, the initial state and every floating parameter; the
surrogate width gets a zero cotangent, as the spike's own VJP gives it). Leading ``vmap`` axes
are independent problems to the kernel. The backward computes only the cotangents JAX asks for
(``custom_vjp`` with symbolic zeros): without parameter gradients (constants, as in most training
networks) the reverse pass keeps no per-parameter accumulators (POLARA's also skips its window
kernels' and initial history's cotangents), and an unused final state's cotangent is neither
materialised nor read. POLARA's final history (its last K outputs) is taken from the outputs by
JAX, not written by the kernel, so that XLA drops it where it is unused. The kernels run on XLA's
own intra-op thread pool (the FFI hands it to them), not on threads of their own. The same
extension holds the event-driven synaptic product of :func:`snnjax.events.event_matmul`
(``backend="native"``, its ``"auto"`` on one CPU device).

The exception to "kernels call the pure step": the C++ transcribes the step's equations and
their derivatives by hand. ``tests/test_native.py`` holds it to ``lax.scan`` of the pure step
(outputs, final state, every gradient) for every neuron, option and surrogate, so the Python
step stays the source of truth and the kernel its checked copy.

Build. ``pip install`` compiles ``csrc/neurons.cc`` as the optional extension
``snnjax.kernels._native`` (``setup.py``; the XLA FFI headers come from the oldest supported
jaxlib, 0.8.1, whose FFI API version every later jaxlib accepts). Where no C++17 compiler is
found the install goes on without it; where XLA refuses the handlers (an extension built against
a newer FFI API than the running jaxlib's) they are not used. In both cases :func:`available` is
``False``, :func:`unavailable_reason` says why, ``backend="auto"`` keeps the pure-JAX backends
and an explicit ``backend="native"`` raises a ``ValueError`` that says so.

Instruction sets. The kernels are compiled three times, for the baseline x86-64 instruction set,
AVX2 (with FMA) and AVX-512, and run with the best the CPU supports (:func:`instruction_set`); the
AVX2 and AVX-512 builds evaluate ``exp`` with fused multiply-adds, the baseline with separate
roundings (a sigmoid's reciprocal is a division in all three); the environment variable
``SNNJAX_NATIVE_ISA`` (``base``, ``avx2``, ``avx512``) caps it, fixed when the extension is loaded
(``tests/test_native.py`` runs the lower levels this CPU has in a subprocess: the kernels' checks by
default, all of them in the ``slow`` set).
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import neurons as _neurons
from snnjax import surrogate as _surrogate
from snnjax.kernels.fused import UNROLL_MAX_T
from snnjax.neurons._common import decay_from_tau

__all__ = [
    "available",
    "unavailable_reason",
    "supported",
    "preferred",
    "unsupported_reason",
    "native_run",
    "NEURON_STEPS",
    "SURROGATES",
]

_TARGETS = {
    "snnjax_lif_fwd": "SnnjaxLifFwd",
    "snnjax_lif_bwd": "SnnjaxLifBwd",
    "snnjax_ilif_fwd": "SnnjaxIlifFwd",
    "snnjax_ilif_bwd": "SnnjaxIlifBwd",
    "snnjax_clif_fwd": "SnnjaxClifFwd",
    "snnjax_clif_bwd": "SnnjaxClifBwd",
    "snnjax_polara_fwd": "SnnjaxPolaraFwd",
    "snnjax_polara_bwd": "SnnjaxPolaraBwd",
    "snnjax_li_fwd": "SnnjaxLiFwd",
    "snnjax_li_bwd": "SnnjaxLiBwd",
    "snnjax_event_matmul": "SnnjaxEventMatmul",
    "snnjax_event_matmul_bwd": "SnnjaxEventMatmulBwd",
}

SURROGATES = (
    "rectangle",
    "triangle",
    "sigmoid",
    "atan",
    "superspike",
    "gaussian",
    "erf",
    "piecewise_quadratic",
    "straight_through",
)
"""The registered surrogates the kernels implement, in the order of ``enum Surrogate`` in
``csrc/kernels.h`` (their ids)."""

# the kernels' surrogate id of each derivative function they mirror
_SURROGATE_IDS = {_surrogate.spec(name).grad: i for i, name in enumerate(SURROGATES)}

_RESET_IDS = {"soft": 0, "hard": 1, "none": 2}

_state: dict[str, Any] = {}

ISA_ENV = "SNNJAX_NATIVE_ISA"
"""Environment variable capping the kernels' instruction set: ``base``, ``avx2`` or ``avx512``
(unset: the best the CPU supports). The level is fixed when the extension is loaded; its value
is checked then and at every later use (a bad value is a ``ValueError``)."""
INSTRUCTION_SETS = ("base", "avx2", "avx512")


def _load() -> str | None:
    """Load the extension and register its handlers with XLA once; ``None`` or why not."""
    cap = os.environ.get(ISA_ENV)
    if cap is not None and cap not in INSTRUCTION_SETS:
        raise ValueError(f"environment variable {ISA_ENV}={cap!r}: expected one of {', '.join(INSTRUCTION_SETS)}")
    if "reason" in _state:
        return _state["reason"]
    reason = None
    spec = importlib.util.find_spec("snnjax.kernels._native")
    if spec is None or spec.origin is None:
        reason = (
            "the extension snnjax.kernels._native was not built (no C++17 compiler or no jaxlib headers when "
            "snnjax was installed; reinstall with a compiler: pip install -e .)"
        )
    else:
        try:
            # the CPU backend first: registration with a live backend happens now and raises here
            # (e.g. an extension built against a newer XLA FFI API than this jaxlib's), instead
            # of being deferred and failing the backend's own initialisation later
            jax.devices("cpu")
            lib = ctypes.CDLL(spec.origin)
            for target, symbol in _TARGETS.items():
                jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
            _state["lib"] = lib
            lib.SnnjaxNativeIsa()  # fixes the instruction set now, under the value just checked
        except Exception as e:  # an ABI mismatch or a broken build: say so, keep the JAX backends
            reason = f"the extension {spec.origin} could not be registered with XLA: {type(e).__name__}: {e}"
    _state["reason"] = reason
    return reason


def available() -> bool:
    """Whether the native kernels are built and registered (on the CPU)."""
    return _load() is None


def unavailable_reason() -> str | None:
    """Why :func:`available` is ``False`` (``None`` when it is ``True``)."""
    return _load()


def instruction_set() -> str | None:
    """The instruction set the kernels run with, ``"base"``, ``"avx2"`` or ``"avx512"`` (the best
    this CPU supports, at most :data:`ISA_ENV`'s), or ``None`` when they are not available."""
    if _load() is not None:
        return None
    return INSTRUCTION_SETS[_state["lib"].SnnjaxNativeIsa()]


# --- the neurons the kernels implement ----------------------------------------------------------


def _leaky_decay(step, params):
    if step is _neurons.if_.step:
        return 1.0  # U = m + x: 1·m is m exactly
    if step is _neurons.lif.step:
        return decay_from_tau(params.tau)
    return params.decay  # PLIF: sigmoid(w)


class _Call(NamedTuple):
    """One kernel call's makings: the FFI target, the state fields it runs (name, leading shape
    before one time step's shape), the parameter arrays (value, leading shape: each is one value
    per leading index, or broadcasts to one step's shape after it) and the attributes. ``history``:
    the index in ``fields`` of a state field that holds the last K outputs (POLARA's ``hist``,
    [K, ...], newest first), which the forward kernel does not return: :func:`_last_outputs`
    takes it from the outputs, so that XLA drops it where the final state is unused (at T = K it is
    as large as the outputs)."""

    target: str
    fields: tuple[tuple[str, tuple[int, ...]], ...]
    arrays: tuple[tuple[Any, tuple[int, ...]], ...]
    attrs: dict[str, Any]
    history: int | None = None


def _plain(target, fields, arrays, attrs):
    return _Call(target, tuple((f, ()) for f in fields), tuple((a, ()) for a in arrays), attrs)


def _lif_spec(step, params):
    arrays = (_leaky_decay(step, params), params.v_th, params.v_reset, params.surrogate.width)
    attrs = {"reset": np.int32(_RESET_IDS[params.reset]), "detach": bool(params.detach_reset)}
    return _plain("snnjax_lif", ("m",), arrays, attrs)


def _ilif_spec(step, params):
    arrays = (params.decay, params.v_th, params.lambda_u, params.lambda_i, params.surrogate.width)
    attrs = {
        "use_mpiu": bool(params.use_mpiu),
        "use_ciu": bool(params.use_ciu),
        "ciu_input": bool(params.use_ciu) and params.ciu_source == "input",
    }
    return _plain("snnjax_ilif", ("m", "i_i", "i_u"), arrays, attrs)


def _clif_spec(step, params):
    arrays = (decay_from_tau(params.tau), params.v_th, 1.0 / params.tau, params.surrogate.width)
    return _plain("snnjax_clif", ("m", "c"), arrays, {})


def _li_spec(step, params):
    return _plain("snnjax_li", ("i", "v"), (params.alpha, params.beta), {"synaptic": bool(params.synaptic)})


_POLARA_GRAD_IDS = {"exact": 0, "eq13": 1, "mask": 2}


def _polara_unsupported(params):
    for name, covered in (("leak", "polar"), ("activation", "shaped"), ("decay", "last")):
        if getattr(params, name) != covered:
            return f"POLARA's {name}={getattr(params, name)!r} (native: {name}={covered!r})"
    if not params.gated:
        return "POLARA's gated=False (native: the gated windows)"
    if params.theta_tau is not None:
        return "POLARA's theta_tau (native: theta_tau=None)"
    return None


def _polara_spec(step, params):
    # the window kernels are computed here, by JAX (their gradients to A, α, D, μ, σ, E, η by
    # autodiff); the ablations of the refractory term and the adaptive threshold are zero kernels
    k = params.k
    ker = _neurons.polara.kernels(params, jnp.float32)
    h = ker.h if params.refractory else jnp.zeros_like(ker.h)
    theta = ker.theta if params.adaptive_threshold else jnp.zeros_like(ker.theta)
    scalars = (ker.leak, params.B, params.beta, params.gamma, params.o_max, params.alpha_mask)
    attrs = {
        "grad": np.int32(_POLARA_GRAD_IDS[params.grad]),
        "binary": params.output == "binary",
        "before_input": params.amplify == "before_input",
    }
    fields = (("u", ()), ("theta", ()), ("hist", (k,)))
    arrays = tuple((a, ()) for a in scalars) + ((h, (k,)), (theta, (k,)))
    return _Call("snnjax_polara", fields, arrays, attrs, history=2)


class _Kernel(NamedTuple):
    spec: Callable  # (step, params) -> _Call
    auto_min_t: int  # backend="auto" takes the kernels from this many steps on
    surrogate: bool = True  # the backward takes the spike's surrogate (its id an attribute)
    unsupported: Callable = lambda params: None  # options the kernel does not cover -> why


# The leaky family's step is so cheap that up to T = UNROLL_MAX_T the fused backend's trace-time
# unrolling, which XLA fuses across steps, is faster (LIF at (6, 128, 8192), fwd+bwd: 14.9 ms
# fused, 20.0 ms native); ILIF's is not (40 ms native, 60 ms fused). benchmarks/RESULTS.md,
# "Native CPU kernels".
_SPECS: dict[Callable, _Kernel] = {
    _neurons.if_.step: _Kernel(_lif_spec, UNROLL_MAX_T + 1),
    _neurons.lif.step: _Kernel(_lif_spec, UNROLL_MAX_T + 1),
    _neurons.plif.step: _Kernel(_lif_spec, UNROLL_MAX_T + 1),
    _neurons.ilif.step: _Kernel(_ilif_spec, 1),
    _neurons.clif.step: _Kernel(_clif_spec, 1),
    # the readout: a linear step (no surrogate), cheap as LIF's; auto takes the [T, T] matmul
    # (backend "linear") up to scan.LINEAR_MAX_T first
    _neurons.li.step: _Kernel(_li_spec, UNROLL_MAX_T + 1, surrogate=False),
    _neurons.polara.step: _Kernel(_polara_spec, 1, surrogate=False, unsupported=_polara_unsupported),
}

NEURON_STEPS = frozenset(_SPECS)
"""The step functions the native kernels implement."""


def _unwrap(step):
    while isinstance(step, partial) and not step.args and not step.keywords:
        step = step.func
    return getattr(step, "__wrapped__", step)


def unsupported_reason(step: Callable, params: Any, xs: Any, state: Any) -> str | None:
    """Why the native kernels cannot run ``step`` on these arguments (``None`` if they can)."""
    step = _unwrap(step)
    if step not in _SPECS:
        return f"no native kernel for this step (native: {', '.join(sorted({s.__module__ for s in _SPECS}))})"
    if jnp.result_type(xs) != jnp.float32:
        return f"the native kernels are float32 only, xs is {jnp.result_type(xs)}"
    kernel = _SPECS[step]
    reason = kernel.unsupported(params)
    if reason is not None:
        return reason
    if kernel.surrogate and _SURROGATE_IDS.get(params.surrogate.grad) is None:
        return f"the surrogate {params.surrogate!r} has a custom derivative (native: the registered surrogates)"
    call = kernel.spec(step, params)
    step_shape = tuple(xs.shape[1:])
    for name, lead in call.fields:
        leaf = getattr(state, name)
        if tuple(leaf.shape) != lead + step_shape or leaf.dtype != jnp.float32:
            return f"state.{name} is {leaf.dtype}{tuple(leaf.shape)}, not float32{lead + step_shape}"
    for a, lead in call.arrays:
        shape = np.shape(a)[len(lead) :]
        try:
            if np.broadcast_shapes(shape, step_shape) != step_shape:
                return f"a parameter of shape {shape} would broadcast one time step's shape {step_shape}"
        except ValueError:
            return f"a parameter of shape {shape} does not broadcast to one time step's shape {step_shape}"
        dtype = jnp.result_type(a)
        weak = not isinstance(a, (jax.Array, np.ndarray)) or getattr(a, "weak_type", False)
        if dtype != jnp.float32 and not weak and jnp.issubdtype(dtype, jnp.floating):
            return f"a parameter is {dtype}; the native kernels are float32 only"
    return None


def supported(step: Callable, params: Any, xs: Any, state: Any) -> bool:
    """Whether ``backend="native"`` can run these arguments (built, and the neuron/options covered)."""
    return available() and unsupported_reason(step, params, xs, state) is None


def preferred(step: Callable, params: Any, xs: Any, state: Any) -> bool:
    """Whether ``backend="auto"`` takes the kernels: :func:`supported`, and ``T`` long enough for
    them to beat the fused backend's unrolled short sequences."""
    return supported(step, params, xs, state) and xs.shape[0] >= _SPECS[_unwrap(step)].auto_min_t


# --- the custom_vjp over the kernels ------------------------------------------------------------


def _call(target, results, args, attrs):
    return jax.ffi.ffi_call(target, results, vmap_method="broadcast_all")(*args, **attrs)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3, 4))
def _native(target, attrs, surrogate_id, n_windows, history, xs, states, prm):
    del surrogate_id, n_windows
    return _forward(target, attrs, history, xs, states, prm)


def _last_outputs(ys, h0):
    """The last K outputs, newest first, of ``ys [T, E]`` after the history ``h0 [K, E]`` (or
    ``[K, 1]``: uniform, see :func:`native_run`)."""
    k, t = h0.shape[0], ys.shape[0]
    newest = ys[max(0, t - k) :][::-1]
    if newest.shape[0] == k:
        return newest
    older = h0[: k - newest.shape[0]]
    return jnp.concatenate([newest, jnp.broadcast_to(older, older.shape[:-1] + ys.shape[-1:])])


def _full_shape(state, xs):
    """The shape of a state field as the kernels write it: ``[..., E]``, E of ``xs [T, E]``."""
    return state.shape[:-1] + xs.shape[-1:]


def _forward(target, attrs, history, xs, states, prm):
    f32 = jax.ShapeDtypeStruct
    results = (f32(xs.shape, jnp.float32),) + tuple(
        f32(_full_shape(s, xs), jnp.float32) for i, s in enumerate(states) if i != history
    )
    ys, *final = _call(target + "_fwd", results, (xs, *states, *prm), dict(attrs))
    if history is not None:
        final.insert(history, _last_outputs(ys, states[history]))
    return ys, tuple(final)


# The cotangents a backward kernel computes beyond the input's (GradBits in csrc/kernels.h): the
# parameters', the window kernels' (the last n_windows parameter arrays, those with a leading
# window axis: POLARA's h and Θ), the initial state's; and _ZERO_FINAL: the final state's
# cotangents are all zero and not passed.
_GRAD_PARAMS, _GRAD_WINDOWS, _GRAD_INITIAL, _ZERO_FINAL = 1, 2, 4, 8


def _native_fwd(target, attrs, surrogate_id, n_windows, history, xs, states, prm):
    # symbolic zeros: each argument comes with whether JAX differentiates it (perturbed); the
    # backward kernel computes only the cotangents that are (the residual's structure carries
    # which: () where perturbed, None where not)
    need = (tuple(() if s.perturbed else None for s in states), tuple(() if p.perturbed else None for p in prm))
    xs, states, prm = xs.value, tuple(s.value for s in states), tuple(p.value for p in prm)
    return _forward(target, attrs, history, xs, states, prm), (xs, states, prm, need)


def _zeros_where_symbolic(ct, like):
    return jnp.zeros(like.shape, jnp.float32) if isinstance(ct, jax.custom_derivatives.SymbolicZero) else ct


def _native_bwd(target, attrs, surrogate_id, n_windows, history, res, ct):
    del history  # the backward kernel takes the history's final cotangent like any other
    xs, states, prm, (need_states, need_prm) = res
    d_ys, d_final = ct
    d_ys = _zeros_where_symbolic(d_ys, xs)
    full = tuple(jax.ShapeDtypeStruct(_full_shape(s, xs), jnp.float32) for s in states)
    zero_final = all(isinstance(c, jax.custom_derivatives.SymbolicZero) for c in d_final)
    if zero_final:  # the final state unused: one-float placeholders, never read (POLARA's history is [K, ...])
        d_final = tuple(jnp.zeros((1,), jnp.float32) for _ in d_final)
    else:
        d_final = tuple(_zeros_where_symbolic(c, s) for c, s in zip(d_final, full, strict=True))
    n_plain = len(prm) - n_windows
    grads = _GRAD_PARAMS if any(n is not None for n in need_prm[:n_plain]) else 0
    grads |= _GRAD_WINDOWS if any(n is not None for n in need_prm[n_plain:]) else 0
    grads |= _GRAD_INITIAL if any(n is not None for n in need_states) else 0
    grads |= _ZERO_FINAL if zero_final else 0
    f32 = jax.ShapeDtypeStruct
    # a uniform initial state's cotangent, where asked for, comes per element and is summed here
    written = full if grads & _GRAD_INITIAL else states
    results = (
        (f32(xs.shape, jnp.float32),)
        + tuple(f32(s.shape, jnp.float32) for s in written)
        + tuple(f32(p.shape, jnp.float32) for p in prm)
    )
    attrs = dict(attrs, grads=np.int32(grads))
    out = _call(
        target + "_bwd",
        results,
        (xs, *states, *prm, d_ys, *d_final),
        attrs if surrogate_id is None else dict(attrs, surrogate=np.int32(surrogate_id)),
    )
    n = len(states)
    # the cotangents not asked for are not written by the kernel: none (zero) is returned for them
    d_states = tuple(
        None if need is None else o if o.shape == s.shape else o.sum(-1, keepdims=True)
        for o, s, need in zip(out[1 : 1 + n], states, need_states, strict=True)
    )
    d_prm = tuple(o if need is not None else None for o, need in zip(out[1 + n :], need_prm, strict=True))
    return out[0], d_states, d_prm


_native.defvjp(_native_fwd, _native_bwd, symbolic_zeros=True)


def _flat_parameter(a, lead, step_shape):
    """A parameter as the kernels take it: ``lead + (1,)`` where it is one value per leading
    index (the kernel sums its gradient), else ``lead + (E,)``, broadcast (after the leading
    axes) to one time step's shape."""
    a = jnp.asarray(a, jnp.float32)
    if a.size == math.prod(lead):
        return a.reshape(lead + (1,))
    rest = a.shape[len(lead) :]
    a = a.reshape(lead + (1,) * (len(step_shape) - len(rest)) + rest)
    return jnp.broadcast_to(a, lead + step_shape).reshape(lead + (math.prod(step_shape),))


def native_run(
    step: Callable, params: Any, xs: jax.Array, state: Any, *, init: Callable | None = None
) -> tuple[Any, jax.Array]:
    """``(final_state, ys)`` of ``step`` over ``xs [T, ...]`` by the native kernels: equal to
    ``lax.scan(lambda c, x: step(params, c, x), state, xs)`` in value and gradient (up to
    floating-point reassociation and the last bit of ``exp``). Raises ``ValueError`` where
    :func:`unsupported_reason` or :func:`unavailable_reason` says why not.

    ``init``: ``state`` is ``init(xs.shape[1:], xs.dtype, params=params)``, and ``init`` is the
    step's registered ``init_state``, which fills every field uniformly (zeros; POLARA's ϑ0): the
    kernels then take each field as one value per problem (``init`` on one element) instead of
    reading it broadcast to every element (``run`` passes it for ``state=None``). At T = 6 the
    broadcast written and read twice cost as much memory traffic as the neuron's input (POLARA's
    K = 6 history)."""
    reason = unavailable_reason() or unsupported_reason(step, params, xs, state)
    if reason is not None:
        raise ValueError(f"backend='native' cannot run this call: {reason}; use backend='fused' or 'auto'")
    step = _unwrap(step)
    kernel = _SPECS[step]
    call = kernel.spec(step, params)
    t, step_shape = xs.shape[0], tuple(xs.shape[1:])
    e = math.prod(step_shape)
    flat_xs = xs.reshape(t, e)
    record = _neurons.neuron_of(step)
    if init is not None and record is not None and init is record.init_state:
        one = init((1,), xs.dtype, params=params)
        flat_states = tuple(getattr(one, name).reshape(lead + (1,)) for name, lead in call.fields)
    else:
        flat_states = tuple(getattr(state, name).reshape(lead + (e,)) for name, lead in call.fields)
    flat_prm = tuple(_flat_parameter(a, lead, step_shape) for a, lead in call.arrays)
    surrogate_id = _SURROGATE_IDS[params.surrogate.grad] if kernel.surrogate else None
    n_windows = sum(1 for _, lead in call.arrays if lead)  # the arrays with a leading window axis
    attrs = tuple(sorted(call.attrs.items()))
    ys, final = _native(call.target, attrs, surrogate_id, n_windows, call.history, flat_xs, flat_states, flat_prm)
    final_state = state._replace(
        **{name: f.reshape(lead + step_shape) for (name, lead), f in zip(call.fields, final, strict=True)}
    )
    return final_state, ys.reshape(xs.shape)
