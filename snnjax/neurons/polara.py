r"""POLARA: the polarization-aware neuron (Lai & Cao), as fixed by ``../shared/NEURONS.md``.

No official code exists; every constant the paper leaves open is a keyword
argument with the library's default. Kernels over the window ``I = {1..k}``
are computed from their parameters:

* decay ``d(i) = A·exp(-α·i)``; leak ``L = 1 - Σ_i d(i) + ε`` (≈ 0.855 by default)
* amplification ``a(δ) = B·exp(β·δ)``
* activation ``O(Δ) = min(Δ·(1 + Δ·exp(-γ·Δ)), o_max)``
* refractory ``h(i) = Σ_j D_j·exp(-(i - μ_j)² / (2σ_j²))``
* threshold ``Θ(i) = E·exp(-η·i)``

State: membrane ``u`` (0), threshold ``ϑ`` (ϑ0), spike history ``ŝ`` of the
last k outputs (``ŝ_1`` most recent; a leading axis of length k). One step,
in Algorithm 1's order (the paper's Eq. 8/9 are circular; Algorithm 1 is not):

1. ``ud = L·u``
2. ``us = ud + x``
3. ``δ = us - ϑ``; ``ua = us·(1 + a(δ))`` if ``δ <= 0`` else ``us``
4. ``Δ = ua - ϑ``; ``s = sigmoid(ua·O(Δ))`` if ``Δ >= 0`` else 0 (continuous output)
5. ``ŝ = (s, ŝ_1, …, ŝ_{k-1})``
6. ``u = ua·(1 + Σ_i h(i)·ŝ_i)`` (refractory inhibition gated by past outputs)
7. ``ϑ = ϑ·(1 + Σ_i Θ(i)·ŝ_i)`` (the threshold rises after spikes)

Fidelity-study options (issue #8, ``experiments/POLARA_STUDY.md``):
``output="binary"`` (the next layer gets ``1[Δ >= 0]``), ``amplify="before_input"``
(Eqs. 8-9 order: ``ua = amp(ud) + x`` with ``δ = ud - ϑ``) and ``theta_tau``
(the threshold relaxes toward ϑ0 before it rises), ``decay="window"`` (Algorithm 1
line 3: the decay acts on a kernel-weighted window of past membranes). Whether ϑ is updated at the
end of step t (here) or at the start of step t+1 (Eq. 12's ``ϑ_t``) gives the
same sequence: both use the same history.

``gated=False`` is the literal ungated reading (``Σ_i h(i)`` and ``Σ_i Θ(i)``
applied every step); it is stable but silences the neuron (u shrinks ≈ 0.21×
per step) — kept as a documented flag only.

Gradient modes (``grad``; default ``"mask"``, the fidelity study's choice —
NEURONS.md's reading is ``"exact"``), for the activation ``s(ua, ϑ)`` only:

* ``"exact"``: autodiff. Below threshold ``s = 0`` with zero gradient; the jump
  0 → 0.5 at Δ = 0 has no derivative.
* ``"eq13"``: the paper's Eq. 13 via ``custom_vjp``: for Δ >= 0,
  ``∂s/∂ua = σ'(z)·(O(Δ) + ua·(1 - Δ)·exp(-γΔ))`` with ``z = ua·O(Δ)``, and
  (the same derivative carried through ``Δ = ua - ϑ``, the library's choice)
  ``∂s/∂ϑ = -σ'(z)·ua·(1 - Δ)·exp(-γΔ)``; 0 for Δ < 0. This is *not* the
  true derivative of O (which is ``1 + (2Δ - γΔ²)·exp(-γΔ)`` below the clamp).
* ``"mask"``: Eq. 17: ``∂s/∂Δ = α_mask·1[|Δ| < 1]`` (α_mask = 0.3), so
  ``∂s/∂ua = α_mask`` and ``∂s/∂ϑ = -α_mask`` inside the mask.

Ablations of the paper's Table 2 (:func:`ablation` gives the keyword sets):

* ``leak="static"``: decay + amplification replaced by ``ua = β_static·u + x`` (β_static = 0.9);
* ``activation="heaviside"``: ``s = spike(Δ)`` with a surrogate (SuperSpike, β = 100);
* ``refractory=False``: h ≡ 0;
* ``adaptive_threshold=False``: ϑ stays ϑ0.

Every branch with an ``exp`` uses the double-``where`` pattern so no NaN/inf
from the branch not taken reaches the gradient. Shapes: ``x``, ``u``, ``ϑ``
share one shape; ``ŝ`` has shape ``[k, *shape]`` (leading history axis:
contiguous shifts and weighted sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from snnjax import surrogate as _surrogate
from snnjax.neurons._common import Neuron, coerce_surrogate
from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import (
    check_dtype,
    check_finite,
    check_option,
    check_positive,
    check_step_input,
    make_shape,
)

__all__ = [
    "neuron",
    "PolaraParams",
    "PolaraState",
    "init_state",
    "step",
    "kernels",
    "activation",
    "ablation",
    "flops",
    "GRAD_MODES",
    "ABLATIONS",
]

GRAD_MODES = ("exact", "eq13", "mask")
LEAKS = ("polar", "static")
ACTIVATIONS = ("shaped", "heaviside")
OUTPUTS = ("continuous", "binary")
AMPLIFY = ("after_input", "before_input")
DECAYS = ("last", "window")
ABLATIONS = ("decay_amplification", "activation", "refractory", "threshold")


@params_dataclass
class PolaraParams:
    """POLARA parameters (defaults: ``../shared/NEURONS.md``).

    Attributes:
      k: window size (number of past outputs remembered), int >= 1. Static.
      theta0: initial threshold ϑ0 (> 0).
      A, alpha, eps: decay kernel d(i) = A·exp(-α i), leak L = 1 - Σ d(i) + ε.
      B, beta: amplification a(δ) = B·exp(β δ).
      gamma, o_max: activation O(Δ) = min(Δ(1 + Δ exp(-γΔ)), o_max); o_max > 0.
      D, mu, sigma: refractory Gaussians (equal-length tuples/arrays; σ > 0).
      E, eta: threshold kernel Θ(i) = E·exp(-η i).
      alpha_mask: Eq. 17 gradient value for ``grad="mask"``.
        Note: in ``"eq13"`` and ``"mask"`` modes the activation's backward is
        hand-written and gives γ and o_max zero gradient (learn them in ``"exact"`` mode).
      beta_static: leak of the ``leak="static"`` ablation.
      surrogate: surrogate of the ``activation="heaviside"`` ablation.
      grad: ``"mask"`` (default), ``"exact"`` or ``"eq13"``. Static. The default is
        the fidelity study's choice (``experiments/POLARA_STUDY.md``): Eq. 17's mask
        gives the hidden layer a learning signal where the exact derivative is zero
        below threshold; ``../shared/NEURONS.md``'s reading is ``grad="exact"``
        (with input weight scale 2.0 in the MNIST protocol).
      gated: refractory/threshold sums gated by past outputs (default) or constant. Static.
      leak: ``"polar"`` (decay + amplification) or ``"static"`` (ablation). Static.
      activation: ``"shaped"`` or ``"heaviside"`` (ablation). Static.
      refractory: apply the refractory term (False: ablation h ≡ 0). Static.
      adaptive_threshold: update ϑ (False: ablation, fixed threshold). Static.
      output: ``"continuous"`` (default: the next layer and the history get
        ``s``) or ``"binary"`` (they get the spike ``1[Δ >= 0]``; the backward
        pass is the ``grad`` mode's derivative of ``s``, straight through).
        Fidelity-study option (issue #8, POLARA_STUDY.md choice 6). Static.
      amplify: ``"after_input"`` (default, Algorithm 1: decay → integrate →
        amplify, ``δ = û_s - ϑ``) or ``"before_input"`` (Eqs. 8-9: decay →
        amplify with ``δ = û_d - ϑ`` → integrate). Study choices 2-3. Static.
      decay: ``"last"`` (default, Eq. 7: ``û_d = L·u_{t-1}``) or ``"window"``
        (Algorithm 1 line 3 and its input list of past membranes
        ``u_{t-1} … u_{t-k}``: ``û_d = L·Σ_i w_i·u_{t-i}`` with ``w_i = d(i)/Σ_j d(j)``,
        a decay-kernel-weighted average, so a constant membrane decays exactly
        as in Eq. 7). Study choice 1; adds the membrane history to the state. Static.
      theta_tau: ``None`` (default: the threshold only rises, Eq. 12) or a
        recovery time constant τ_ϑ > 0 in steps: before the rise of step 7,
        ``ϑ ← ϑ0 + (ϑ - ϑ0)·exp(-1/τ_ϑ)``. Study choice 7.
    """

    BOUNDS = {"theta0": 0.0, "o_max": 0.0, "sigma": 0.0}
    """Lower bounds of the fields (validated here; a learnable copy in :mod:`snnjax.nn` is
    trained as ``bound + softplus(w)``, so it cannot leave the valid range)."""

    k: int = static_field(6)
    theta0: ArrayLike = 1.0
    A: ArrayLike = 0.25
    alpha: ArrayLike = 1.0
    eps: ArrayLike = 1e-4
    B: ArrayLike = 0.1
    beta: ArrayLike = 1.0
    gamma: ArrayLike = 1.0
    o_max: ArrayLike = 4.0
    D: Any = (-0.30, -0.10, -0.05)
    mu: Any = (1.0, 2.0, 4.0)
    sigma: Any = (0.5, 1.0, 1.5)
    E: ArrayLike = 0.01
    eta: ArrayLike = 1.0
    alpha_mask: ArrayLike = 0.3
    beta_static: ArrayLike = 0.9
    surrogate: Any = _surrogate.superspike(100.0)
    grad: str = static_field("mask")
    gated: bool = static_field(True)
    leak: str = static_field("polar")
    activation: str = static_field("shaped")
    refractory: bool = static_field(True)
    adaptive_threshold: bool = static_field(True)
    output: str = static_field("continuous")
    amplify: str = static_field("after_input")
    decay: str = static_field("last")
    theta_tau: ArrayLike | None = None

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"k (window size) must be an int >= 1, got {self.k!r}")
        check_positive("theta0", self.theta0)
        check_positive("o_max", self.o_max)
        check_positive("sigma", self.sigma)
        for name in ("A", "alpha", "eps", "B", "beta", "gamma", "E", "eta", "alpha_mask", "beta_static"):
            check_finite(name, getattr(self, name))
        for name in ("D", "mu", "sigma"):
            v = getattr(self, name)
            if isinstance(v, (tuple, list)):
                object.__setattr__(self, name, tuple(v))
        shapes = {name: np.shape(getattr(self, name)) for name in ("D", "mu", "sigma")}
        if len(set(shapes.values())) != 1 or len(shapes["D"]) != 1:
            raise ValueError(f"D, mu and sigma must be 1-D with equal lengths, got shapes {shapes}")
        check_option("grad", self.grad, GRAD_MODES)
        check_option("leak", self.leak, LEAKS)
        check_option("activation", self.activation, ACTIVATIONS)
        check_option("output", self.output, OUTPUTS)
        check_option("amplify", self.amplify, AMPLIFY)
        check_option("decay", self.decay, DECAYS)
        if self.theta_tau is not None:
            check_positive("theta_tau", self.theta_tau)
        coerce_surrogate(self, self.surrogate)


class PolaraState(NamedTuple):
    """POLARA state.

    Attributes:
      u: membrane, ``shape``.
      theta: threshold ϑ, ``shape`` (starts at ϑ0).
      hist: past outputs ``[k, *shape]``, ``hist[0]`` most recent.
      umem: past membranes ``[k, *shape]`` (``umem[0] = u_{t-1}``) with
        ``decay="window"``; an empty ``[0, *shape]`` otherwise.
    """

    u: jax.Array
    theta: jax.Array
    hist: jax.Array
    umem: jax.Array


def init_state(
    shape: int | Sequence[int], dtype: Any = jnp.float32, *, params: PolaraParams | None = None
) -> PolaraState:
    """``u = 0``, ``ϑ = ϑ0``, empty history; ``params`` gives k and ϑ0 (defaults if None)."""
    params = PolaraParams() if params is None else params
    shape, dtype = make_shape(shape), check_dtype(dtype)
    return PolaraState(
        u=jnp.zeros(shape, dtype),
        theta=jnp.full(shape, params.theta0, dtype),
        hist=jnp.zeros((params.k,) + shape, dtype),
        umem=jnp.zeros((params.k if params.decay == "window" else 0,) + shape, dtype),
    )


class Kernels(NamedTuple):
    """Window kernels: ``leak`` L, ``h`` ``[k]``, ``theta`` Θ ``[k]`` (see :func:`kernels` for per-neuron shapes)."""

    leak: jax.Array
    h: jax.Array
    theta: jax.Array


def kernels(params: PolaraParams, dtype: Any = jnp.float32) -> Kernels:
    """``L = 1 - Σ_i A e^{-α i} + ε``, ``h(i)`` and ``Θ(i)`` for ``i = 1..k``.

    With scalar A, α, E, η: ``leak`` is a scalar and ``h``, ``theta`` are ``[k]``.
    Per-neuron A, α (or E, η) of shape ``P`` give ``leak`` of shape ``P`` and
    ``theta`` of shape ``[k, *P]`` (the window index is the leading axis).
    """
    nd = max(jnp.ndim(params.A), jnp.ndim(params.alpha), jnp.ndim(params.E), jnp.ndim(params.eta))
    i = jnp.arange(1, params.k + 1, dtype=dtype).reshape((params.k,) + (1,) * nd)
    leak = 1.0 - jnp.sum(params.A * jnp.exp(-params.alpha * i), axis=0) + params.eps
    iv = i.reshape(-1)
    d, mu, sig = (jnp.asarray(v, dtype)[:, None] for v in (params.D, params.mu, params.sigma))
    h = jnp.sum(d * jnp.exp(-((iv[None] - mu) ** 2) / (2.0 * sig**2)), axis=0)
    th = params.E * jnp.exp(-params.eta * i)
    return Kernels(leak.astype(dtype), h.astype(dtype), th.astype(dtype))


def _window_sum(kernel: jax.Array, hist: jax.Array) -> jax.Array:
    """``Σ_i kernel[i]·hist[i]`` over the leading window axis.

    ``kernel`` is ``[k]`` (scalar constants: one contraction) or ``[k, *P]`` with
    ``P`` a per-neuron shape that broadcasts against ``hist.shape[1:]``.
    """
    if kernel.ndim == 1:
        return jnp.tensordot(kernel, hist, axes=1)
    kernel = kernel.reshape(kernel.shape[:1] + (1,) * (hist.ndim - kernel.ndim) + kernel.shape[1:])
    return jnp.sum(kernel * hist, axis=0)


def _o(delta, gamma, o_max):
    """O(Δ) for Δ >= 0 (callers pass a safe, non-negative Δ)."""
    return jnp.minimum(delta * (1.0 + delta * jnp.exp(-gamma * delta)), o_max)


def _act_forward(ua, theta, gamma, o_max):
    delta = ua - theta
    pos = delta >= 0
    d = jnp.where(pos, delta, 0.0)
    o = _o(d, gamma, o_max)
    z = ua * o
    return jnp.where(pos, jax.nn.sigmoid(z), 0.0), (pos, d, o, z)


@jax.custom_vjp
def _act_eq13(ua, theta, gamma, o_max):
    return _act_forward(ua, theta, gamma, o_max)[0]


def _act_eq13_fwd(ua, theta, gamma, o_max):
    s, (pos, d, o, z) = _act_forward(ua, theta, gamma, o_max)
    return s, (ua, pos, d, o, z, gamma, o_max)


def _act_eq13_bwd(res, ct):
    ua, pos, d, o, z, gamma, o_max = res
    gamma = jnp.asarray(gamma)  # a float residual comes back as a NumPy-like constant in JAX 0.8 (no unary minus)
    sig = jax.nn.sigmoid(z)
    dsig = sig * (1.0 - sig)
    do13 = (1.0 - d) * jnp.exp(-gamma * d)  # Eq. 13's ∂O/∂Δ
    g_ua = jnp.where(pos, ct * dsig * (o + ua * do13), 0.0)
    g_th = jnp.where(pos, -ct * dsig * ua * do13, 0.0)
    return g_ua, g_th, jnp.zeros_like(gamma), jnp.zeros_like(o_max)


_act_eq13.defvjp(_act_eq13_fwd, _act_eq13_bwd)


@jax.custom_vjp
def _act_mask(ua, theta, gamma, o_max, alpha_mask):
    return _act_forward(ua, theta, gamma, o_max)[0]


def _act_mask_fwd(ua, theta, gamma, o_max, alpha_mask):
    s, _ = _act_forward(ua, theta, gamma, o_max)
    return s, (ua - theta, gamma, o_max, alpha_mask)


def _act_mask_bwd(res, ct):
    delta, gamma, o_max, alpha_mask = res
    g = jnp.where(jnp.abs(delta) < 1.0, ct * alpha_mask, 0.0)
    return g, -g, jnp.zeros_like(gamma), jnp.zeros_like(o_max), jnp.zeros_like(alpha_mask)


_act_mask.defvjp(_act_mask_fwd, _act_mask_bwd)


# custom_jvp twins of the two hand-written backwards, for forward-mode autodiff
# (snnjax.surrogate.is_forward_mode): linear tangent rules whose transposes are the
# backwards above, so jacfwd == jacrev; γ, o_max and α_mask get no tangent.


@jax.custom_jvp
def _act_eq13_jvp(ua, theta, gamma, o_max):
    return _act_forward(ua, theta, gamma, o_max)[0]


@_act_eq13_jvp.defjvp
def _act_eq13_jvp_rule(primals, tangents):
    ua, theta, gamma, o_max = primals
    t_ua, t_th = tangents[:2]
    s, (pos, d, o, z) = _act_forward(ua, theta, gamma, o_max)
    sig = jax.nn.sigmoid(z)
    dsig = sig * (1.0 - sig)
    do13 = (1.0 - d) * jnp.exp(-gamma * d)
    return s, jnp.where(pos, t_ua * dsig * (o + ua * do13) - t_th * dsig * ua * do13, 0.0)


@jax.custom_jvp
def _act_mask_jvp(ua, theta, gamma, o_max, alpha_mask):
    return _act_forward(ua, theta, gamma, o_max)[0]


@_act_mask_jvp.defjvp
def _act_mask_jvp_rule(primals, tangents):
    ua, theta, gamma, o_max, alpha_mask = primals
    t_ua, t_th = tangents[:2]
    s = _act_forward(ua, theta, gamma, o_max)[0]
    return s, jnp.where(jnp.abs(ua - theta) < 1.0, (t_ua - t_th) * alpha_mask, 0.0)


def activation(params: PolaraParams, ua: jax.Array, theta: jax.Array) -> jax.Array:
    """Step 4: ``s(ua, ϑ)`` with the params' gradient mode (or the Heaviside ablation)."""
    if params.activation == "heaviside":
        return params.surrogate(ua - theta)
    dt = jnp.result_type(ua)
    gamma, o_max = jnp.asarray(params.gamma, dt), jnp.asarray(params.o_max, dt)
    if params.grad == "exact":
        return _act_forward(ua, theta, gamma, o_max)[0]
    alpha_mask = jnp.asarray(params.alpha_mask, dt)
    forward = _surrogate.is_forward_mode(ua, theta, gamma, o_max, alpha_mask)  # jvp/jacfwd/hessian
    if params.grad == "eq13":
        return (_act_eq13_jvp if forward else _act_eq13)(ua, theta, gamma, o_max)
    return (_act_mask_jvp if forward else _act_mask)(ua, theta, gamma, o_max, alpha_mask)


def _decay_weights(params: PolaraParams, dtype: Any) -> jax.Array:
    """``w_i = d(i)/Σ_j d(j)`` for ``decay="window"``: ``[k]`` (or ``[k, *P]`` per-neuron α)."""
    nd = jnp.ndim(params.alpha)
    i = jnp.arange(1, params.k + 1, dtype=dtype).reshape((params.k,) + (1,) * nd)
    d = jnp.exp(-params.alpha * i)  # A cancels
    return (d / jnp.sum(d, axis=0)).astype(dtype)


def _amplify(params: PolaraParams, v: jax.Array, theta: jax.Array) -> jax.Array:
    """Step 3: ``v·(1 + B·exp(β·δ))`` where ``δ = v - ϑ <= 0``, else ``v``."""
    delta = v - theta
    below = delta <= 0
    amp = params.B * jnp.exp(params.beta * jnp.where(below, delta, 0.0))
    return jnp.where(below, v * (1.0 + amp), v)


def step(params: PolaraParams, state: PolaraState, x: jax.Array) -> tuple[PolaraState, jax.Array]:
    """One POLARA step (Algorithm 1 order, see the module docstring): ``(new_state, s)``."""
    x = check_step_input(x, state)
    dt = x.dtype
    ker = kernels(params, dt)
    u, theta = state.u, state.theta
    umem = state.umem
    if params.leak == "polar":
        if params.decay == "last":
            ud = ker.leak * u  # 1
        else:  # kernel-weighted window of past membranes, u_{t-1} … u_{t-k}
            umem = jnp.concatenate([u[None], umem[:-1]], axis=0)
            ud = ker.leak * _window_sum(_decay_weights(params, dt), umem)
        if params.amplify == "after_input":  # Algorithm 1
            ua = _amplify(params, ud + x, theta)  # 2-3
        else:  # Eqs. 8-9: δ from the decayed membrane, input added after
            ua = _amplify(params, ud, theta) + x
    else:
        ua = params.beta_static * u + x
    s = activation(params, ua, theta).astype(dt)  # 4
    if params.output == "binary" and params.activation == "shaped":
        s = s + jax.lax.stop_gradient((ua - theta >= 0).astype(dt) - s)
    hist = jnp.concatenate([s[None], state.hist[:-1]], axis=0)  # 5
    if params.refractory:  # 6
        inhib = _window_sum(ker.h, hist) if params.gated else jnp.sum(ker.h)
        u_new = ua * (1.0 + inhib)
    else:
        u_new = ua
    if params.adaptive_threshold:  # 7
        if params.theta_tau is not None:
            rho = jnp.exp(-1.0 / jnp.asarray(params.theta_tau, dt))
            theta = params.theta0 + (theta - params.theta0) * rho
        rise = _window_sum(ker.theta, hist) if params.gated else jnp.sum(ker.theta, axis=0)
        theta = theta * (1.0 + rise)
    return PolaraState(u=u_new.astype(dt), theta=theta.astype(dt), hist=hist, umem=umem), s


# ~40 element-wise ops with several exp per step: the fused VJP's recomputation costs more
# than it saves (benchmarks/RESULTS.md), so where the native CPU kernel does not apply,
# run(backend="auto") scans it on CPU for T > 6 (compute_bound).
neuron = Neuron(init_state, step, params=PolaraParams, name="polara", compute_bound=True)
"""The polara neuron as a :class:`~snnjax.neurons.Neuron` record."""


def ablation(name: str | None) -> dict[str, Any]:
    """Keyword arguments of :class:`PolaraParams` for one POLARA Table 2 ablation.

    ``"decay_amplification"`` (static leak), ``"activation"`` (Heaviside with
    SuperSpike surrogate), ``"refractory"`` (h ≡ 0), ``"threshold"`` (fixed
    ϑ); ``None`` is the full model.
    """
    if name is None:
        return {}
    check_option("ablation", name, ABLATIONS)
    return {
        "decay_amplification": {"leak": "static"},
        "activation": {"activation": "heaviside"},
        "refractory": {"refractory": False},
        "threshold": {"adaptive_threshold": False},
    }[name]


def flops(params: PolaraParams) -> dict[str, int]:
    """FLOPs per neuron per time step, the paper's Table 3 (k window, n Gaussians).

    decay ``3k+3``, integration ``1``, stochastic boost ``6``, activation ``9``,
    refractory ``7nk + k + 2``, adaptive threshold ``3k + 2``. Ablated components
    count what replaces them: static leak ``1`` (β·u; the add is "integration"),
    Heaviside activation ``1`` (one comparison), removed refractory / threshold ``0``.
    Returns a dict per component plus ``"total"``.
    """
    k, n = params.k, int(np.shape(params.D)[0])
    out = {}
    if params.leak == "polar":
        out["decay"], out["integration"], out["boost"] = 3 * k + 3, 1, 6
    else:
        out["decay"], out["integration"], out["boost"] = 1, 1, 0
    out["activation"] = 9 if params.activation == "shaped" else 1
    out["refractory"] = 7 * n * k + k + 2 if params.refractory else 0
    out["threshold"] = 3 * k + 2 if params.adaptive_threshold else 0
    out["total"] = sum(out.values())
    return out
