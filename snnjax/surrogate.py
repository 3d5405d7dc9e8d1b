r"""Spike functions: exact Heaviside forward, surrogate derivative backward.

A spiking neuron emits ``spike(v) = H(v)`` with ``H(v) = 1 if v >= 0 else 0``
(note ``H(0) = 1``). ``H`` has zero derivative almost everywhere, so the
backward pass replaces ``H'(v)`` by a surrogate ``g(v; w)`` of width ``w``
through :func:`jax.custom_vjp`.

A :class:`Surrogate` is a small pytree: its *shape* (which ``g``) is static,
its *width* is a leaf. A neuron's params hold a ``Surrogate``, so

* changing the width does not recompile a jitted function,
* ``jax.vmap`` over a batch of widths works (the ILIF paper's γ sweep),
* the width may even be a learnable array (it receives zero gradient: the
  forward pass does not depend on it).

Forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``): a ``custom_vjp`` cannot
be pushed forward, so the spike has a ``custom_jvp`` twin with the tangent rule
``t · g(v; w)``; JAX transposes that linear rule for reverse mode, so its VJP is
the ``custom_vjp``'s backward exactly, and its own derivative (``t · ∂g/∂v``) gives
second derivatives. :func:`spike` takes the twin when ``v`` or the width is being
pushed forward (a JVP tracer, also under ``vmap``/``jacrev``) or inside
:func:`forward_mode`, the one switch: needed only where the forward-mode transform
is applied *outside* a ``jax.jit``/``jax.checkpoint``/``lax.scan`` boundary (e.g.
``jax.jacfwd(jax.jit(f))``), which hides the tracers. Elsewhere the ``custom_vjp``
stays the spike, so reverse mode costs and computes what it always has.
:func:`snnjax.run` applies the same test to choose a backend (see :mod:`snnjax.scan`).

Every shape also documents a smooth *primitive* ``F(v; w)`` with ``F' = g``;
``H`` is the limit of ``F`` as the width shrinks. The tests check each
backward against ``jax.grad`` of its primitive.

================== ===================================================== ==============
name               g(v; w)                                               default width
================== ===================================================== ==============
rectangle          ``1/γ`` if ``|v| < γ/2`` else 0                        γ = 1
triangle           ``max(0, 1 - |v|/γ) / γ``                              γ = 1
sigmoid            ``α σ(αv) (1 - σ(αv))``                                α = 4
atan               ``(α/2) / (1 + (π/2 · α v)²)``                         α = 2
superspike         ``1 / (β|v| + 1)²`` (alias ``fast_sigmoid``)           β = 100
gaussian           ``exp(-v²/(2σ²)) / (σ √(2π))``                         σ = 0.5
erf                ``(α/√π) exp(-(α v)²)``                                α = 2
piecewise_quadratic ``α - α²|v|`` if ``|v| < 1/α`` else 0                  α = 1
straight_through   ``1``                                                  (none)
================== ===================================================== ==============

Example:
    >>> from snnjax import surrogate
    >>> f = surrogate.get("atan", alpha=2.0)
    >>> f(jnp.array([-0.1, 0.0, 0.3]))          # forward: exact Heaviside
    Array([0., 1., 1.], dtype=float32)
    >>> jax.grad(lambda v: f(v).sum())(jnp.array([0.0]))  # backward: g(0) = α/2
    Array([1.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from snnjax.validation import check_float_array, check_option, check_positive, check_real

__all__ = [
    "Surrogate",
    "SurrogateSpec",
    "heaviside",
    "spike",
    "forward_mode",
    "is_forward_mode",
    "get",
    "names",
    "rectangle",
    "triangle",
    "sigmoid",
    "atan",
    "superspike",
    "fast_sigmoid",
    "gaussian",
    "erf",
    "piecewise_quadratic",
    "straight_through",
]


def heaviside(v: ArrayLike) -> jax.Array:
    """Exact ``H(v) = 1 if v >= 0 else 0`` in ``v``'s dtype (no custom gradient)."""
    v = jnp.asarray(v)
    return (v >= 0).astype(v.dtype)


# --- surrogate derivatives g(v, w) and primitives F(v, w) ---------------------
# Each g is evaluated in v's dtype. Widths arrive as arrays (possibly traced).


def _rect_g(v, w):
    return jnp.where(jnp.abs(v) < w / 2, 1.0 / w, 0.0).astype(v.dtype)


def _rect_f(v, w):
    return jnp.clip(v / w + 0.5, 0.0, 1.0)


def _tri_g(v, w):
    return (jnp.maximum(0.0, 1.0 - jnp.abs(v) / w) / w).astype(v.dtype)


def _tri_f(v, w):
    z = jnp.clip(v / w, -1.0, 1.0)
    return 0.5 + z - 0.5 * jnp.sign(z) * z * z


def _sigmoid_g(v, a):
    s = jax.nn.sigmoid(a * v)
    return (a * s * (1.0 - s)).astype(v.dtype)


def _sigmoid_f(v, a):
    return jax.nn.sigmoid(a * v)


def _atan_g(v, a):
    return ((a / 2.0) / (1.0 + (math.pi / 2.0 * a * v) ** 2)).astype(v.dtype)


def _atan_f(v, a):
    return jnp.arctan(math.pi / 2.0 * a * v) / math.pi + 0.5


def _superspike_g(v, b):
    return (1.0 / (b * jnp.abs(v) + 1.0) ** 2).astype(v.dtype)


def _superspike_f(v, b):
    # d/dv [v / (1 + b|v|)] = 1 / (1 + b|v|)^2
    return v / (1.0 + b * jnp.abs(v))


def _gauss_g(v, s):
    return (jnp.exp(-(v * v) / (2.0 * s * s)) / (s * math.sqrt(2.0 * math.pi))).astype(v.dtype)


def _gauss_f(v, s):
    return 0.5 * (1.0 + jax.scipy.special.erf(v / (s * math.sqrt(2.0))))


def _erf_g(v, a):
    return (a / math.sqrt(math.pi) * jnp.exp(-((a * v) ** 2))).astype(v.dtype)


def _erf_f(v, a):
    return 0.5 * (1.0 + jax.scipy.special.erf(a * v))


def _pwq_g(v, a):
    return jnp.where(jnp.abs(v) < 1.0 / a, a - a * a * jnp.abs(v), 0.0).astype(v.dtype)


def _pwq_f(v, a):
    z = jnp.clip(v, -1.0 / a, 1.0 / a)
    return 0.5 + a * z - 0.5 * a * a * jnp.sign(z) * z * z


def _ste_g(v, w):
    del w
    return jnp.ones_like(v)


def _ste_f(v, w):
    del w
    return v


class SurrogateSpec(NamedTuple):
    """Registry entry: derivative ``g``, primitive ``F``, width name and default."""

    grad: Callable[[jax.Array, jax.Array], jax.Array]
    primitive: Callable[[jax.Array, jax.Array], jax.Array]
    width_name: str | None
    default_width: float


_REGISTRY: dict[str, SurrogateSpec] = {
    "rectangle": SurrogateSpec(_rect_g, _rect_f, "gamma", 1.0),
    "triangle": SurrogateSpec(_tri_g, _tri_f, "gamma", 1.0),
    "sigmoid": SurrogateSpec(_sigmoid_g, _sigmoid_f, "alpha", 4.0),
    "atan": SurrogateSpec(_atan_g, _atan_f, "alpha", 2.0),
    "superspike": SurrogateSpec(_superspike_g, _superspike_f, "beta", 100.0),
    "gaussian": SurrogateSpec(_gauss_g, _gauss_f, "sigma", 0.5),
    "erf": SurrogateSpec(_erf_g, _erf_f, "alpha", 2.0),
    "piecewise_quadratic": SurrogateSpec(_pwq_g, _pwq_f, "alpha", 1.0),
    "straight_through": SurrogateSpec(_ste_g, _ste_f, None, 1.0),
}
_ALIASES = {"fast_sigmoid": "superspike", "rect": "rectangle", "ste": "straight_through"}


def names() -> tuple[str, ...]:
    """Valid surrogate names (aliases included)."""
    return tuple(_REGISTRY) + tuple(_ALIASES)


def spec(name: str) -> SurrogateSpec:
    """The registry entry of ``name`` (raises ``ValueError`` for unknown names)."""
    check_option("surrogate name", name, names())
    return _REGISTRY[_ALIASES.get(name, name)]


# --- the custom_vjp spike -----------------------------------------------------


# custom_vjp with a static (hashable) derivative function: nondiff_argnums=(2,).
_spike = jax.custom_vjp(lambda v, width, grad_fn: heaviside(v), nondiff_argnums=(2,))


def _spike_fwd(v, width, grad_fn):
    return heaviside(v), (v, width)


def _spike_bwd(grad_fn, res, ct):
    v, width = res
    return ct * grad_fn(v, width), jnp.zeros_like(width)


_spike.defvjp(_spike_fwd, _spike_bwd)


# --- its custom_jvp twin, for forward mode -------------------------------------
# The tangent rule is linear in the tangent, so JAX transposes it for reverse mode:
# the twin's VJP is ``ct · g(v, width)``, the custom_vjp's backward. The width gets no
# tangent (as it gets a zero cotangent above).

_spike_jvp = jax.custom_jvp(lambda v, width, grad_fn: heaviside(v), nondiff_argnums=(2,))


@_spike_jvp.defjvp
def _spike_jvp_rule(grad_fn, primals, tangents):
    v, width = primals
    t_v, _ = tangents
    return heaviside(v), t_v * grad_fn(v, width)


class _LocalFlag(threading.local):
    """Fallback for :data:`_FORWARD_MODE` (thread-local, not in the jit cache key)."""

    def __init__(self):
        self.local = None

    @property
    def value(self) -> bool:
        return bool(self.local)

    def swap_local(self, new):
        prev, self.local = self.local, new
        return prev

    def set_local(self, prev):
        self.local = prev


def _make_flag():
    # A JAX config state that is part of the jit cache key and the trace context, so a
    # function jitted (or a lax.scan body traced) outside forward_mode() is traced again
    # inside it. Semi-private JAX API: fall back to a thread-local flag without that.
    try:
        from jax._src import config as _config

        return _config.config_ext.Config(
            "snnjax_forward_mode", False, include_in_jit_key=True, include_in_trace_context=True
        )
    except Exception:  # pragma: no cover - other JAX versions
        return _LocalFlag()


_FORWARD_MODE = _make_flag()


@contextlib.contextmanager
def forward_mode(enabled: bool = True) -> Iterator[None]:
    """Trace spikes (and :func:`snnjax.run`) for forward-mode autodiff inside this block.

    The one switch for ``jax.jvp`` / ``jax.jacfwd`` / ``jax.hessian`` where they are
    applied outside a ``jax.jit``, ``jax.checkpoint``, ``nnx.remat`` or ``lax.scan``
    (``jax.jacfwd(jax.jit(f))``): those trace ``f`` before the forward-mode transform
    reaches it, so the automatic detection (:func:`is_forward_mode`) cannot see it.
    Inside the block every spike is the ``custom_jvp`` twin (same values, same VJP),
    ``run(backend="auto")`` picks ``"scan"`` (or ``"linear"``) and an explicit
    ``backend="fused"``/``"pallas"`` raises. The state is part of the jit cache key: a
    function jitted outside the block is traced again inside it. Also a decorator.

    Example:
        >>> with surrogate.forward_mode():
        ...     h = jax.hessian(jax.jit(loss))(tau)
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"forward_mode(enabled) takes a bool, got {type(enabled).__name__} {enabled!r}")
    prev = _FORWARD_MODE.swap_local(enabled)
    try:
        yield
    finally:
        _FORWARD_MODE.set_local(prev)


try:  # JVPTracer: the tracer of jax.jvp / jacfwd (hessian's outer transform)
    from jax.interpreters.ad import JVPTracer as _JVPTracer
except ImportError:  # pragma: no cover - other JAX versions
    _JVPTracer = None


def _pushed_forward(x: Any) -> bool:
    """Whether ``x`` is (or wraps, under vmap/jacrev/...) a forward-mode JVP tracer."""
    while isinstance(x, jax.core.Tracer):
        if _JVPTracer is not None and isinstance(x, _JVPTracer):
            return True
        # BatchTracer.val, LinearizeTracer.primal (jacrev inside jacfwd), ...
        x = getattr(x, "primal", None) if hasattr(x, "primal") else getattr(x, "val", None)
    return False


def is_forward_mode(*trees: Any) -> bool:
    """Whether forward-mode autodiff is being traced: inside :func:`forward_mode`, or
    some leaf of ``trees`` is a JVP tracer (``jax.jvp``/``jacfwd``/``hessian``, also
    under ``vmap`` or an inner ``jacrev``). Reverse mode (``grad``, ``vjp``) is not;
    neither is ``jax.linearize``, which needs :func:`forward_mode`.

    For custom neurons with their own ``jax.custom_vjp``: take a ``custom_jvp`` twin
    when this is true (as :func:`spike` and POLARA's activations do).
    """
    if _FORWARD_MODE.value:
        return True
    return any(_pushed_forward(leaf) for leaf in jax.tree_util.tree_leaves(trees))


def spike(v: ArrayLike, grad_fn: Callable[[jax.Array, jax.Array], jax.Array], width: ArrayLike = 1.0) -> jax.Array:
    """Heaviside forward, ``ct · grad_fn(v, width)`` backward.

    Args:
      v: membrane potential minus threshold, any shape, floating dtype.
      grad_fn: the surrogate derivative ``g(v, width)``; must be hashable (a
        module-level function), since it is static under ``jit``.
      width: scalar or broadcastable array; traced, never recompiles.

    Returns:
      ``H(v)`` in ``v``'s dtype, with the surrogate as its VJP (a ``custom_vjp``) and,
      under forward mode (:func:`is_forward_mode`), as its JVP ``t · g(v, width)`` (a
      ``custom_jvp`` twin with the same VJP).
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function g(v, width), got {type(grad_fn).__name__} {grad_fn!r}")
    v = check_float_array("v", v)
    check_real("width", width)
    width = jnp.asarray(width, dtype=v.dtype)
    if is_forward_mode(v, width):
        return _spike_jvp(v, width, grad_fn)
    return _spike(v, width, grad_fn)


@jax.tree_util.register_pytree_node_class
class Surrogate:
    """A spike function ``v -> H(v)`` whose backward is ``g(v; width)``.

    A pytree whose only leaf is ``width``; ``name`` (and the ``g`` it selects)
    is static. Construct with :func:`get` or the named constructors
    (:func:`atan`, :func:`rectangle`, ...). Custom shapes: pass ``grad`` (a
    module-level function ``g(v, width)``) and any ``name``.

    Attributes:
      name: registry name, or the name given with a custom ``grad``.
      width: scalar (or array, for a vmapped sweep) width; see the table above.
    """

    __slots__ = ("name", "width", "_grad")

    def __init__(self, name: str, width: ArrayLike | None = None, *, grad: Callable | None = None):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
        if grad is not None and not callable(grad):
            raise TypeError(f"grad must be a function g(v, width) or None, got {type(grad).__name__} {grad!r}")
        if width is not None:
            check_real(f"surrogate width of {name!r}", width)
        if grad is None:
            entry = spec(name)
            grad = entry.grad
            if width is None:
                width = entry.default_width
            if entry.width_name is not None:
                check_positive(f"surrogate width ({entry.width_name}) of {name!r}", width)
        elif width is None:
            width = 1.0
        self.name = name
        self.width = width
        self._grad = grad

    @property
    def grad(self) -> Callable[[jax.Array, jax.Array], jax.Array]:
        """The surrogate derivative ``g(v, width)``."""
        return self._grad

    def __call__(self, v: ArrayLike) -> jax.Array:
        return spike(v, self._grad, self.width)

    def derivative(self, v: ArrayLike) -> jax.Array:
        """``g(v; width)`` evaluated directly (for plots and tests)."""
        v = jnp.asarray(v)
        return self._grad(v, jnp.asarray(self.width, v.dtype))

    def tree_flatten(self):
        return (self.width,), (self.name, self._grad)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.name, obj._grad = aux
        (obj.width,) = children
        return obj

    def __repr__(self) -> str:
        return f"Surrogate({self.name!r}, width={self.width!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Surrogate):
            return NotImplemented
        try:
            same_width = bool(jnp.all(jnp.asarray(self.width) == jnp.asarray(other.width)))
        except jax.errors.ConcretizationTypeError:
            same_width = self.width is other.width
        return self.name == other.name and self._grad is other._grad and same_width

    def __hash__(self) -> int:
        return hash((self.name, self._grad))


def get(name: str | Surrogate, width: ArrayLike | None = None, **kwargs: ArrayLike) -> Surrogate:
    """Look up a surrogate by name; the width may be given by position or by its name.

    ``get("atan", alpha=2.0)``, ``get("rectangle", 0.5)`` and
    ``get("rectangle", gamma=0.5)`` are all valid. A :class:`Surrogate` passes
    through unchanged (so neurons accept either a name or an object).

    Raises:
      ValueError: unknown name (the message lists the valid ones) or an
        unexpected keyword.
    """
    if isinstance(name, Surrogate):
        if width is not None or kwargs:
            raise ValueError("get(surrogate, ...) with a Surrogate object takes no width")
        return name
    if not isinstance(name, str):
        raise TypeError(f"surrogate must be a name (str) or a Surrogate, got {type(name).__name__}")
    entry = spec(name)
    if kwargs:
        if len(kwargs) > 1 or width is not None or next(iter(kwargs)) != entry.width_name:
            raise ValueError(
                f"surrogate {name!r} takes one width argument named {entry.width_name!r}, got {sorted(kwargs)}"
            )
        width = next(iter(kwargs.values()))
    return Surrogate(name, width)


def _maker(name: str) -> Callable[..., Surrogate]:
    entry = _REGISTRY[name]

    def make(width: ArrayLike | None = None) -> Surrogate:
        return Surrogate(name, width)

    make.__name__ = name
    make.__doc__ = (
        f"The {name!r} surrogate; width {entry.width_name} (default {entry.default_width})."
        if entry.width_name
        else f"The {name!r} surrogate (gradient 1, no width)."
    )
    return make


rectangle = _maker("rectangle")
triangle = _maker("triangle")
sigmoid = _maker("sigmoid")
atan = _maker("atan")
superspike = _maker("superspike")
fast_sigmoid = superspike
gaussian = _maker("gaussian")
erf = _maker("erf")
piecewise_quadratic = _maker("piecewise_quadratic")
straight_through = _maker("straight_through")
