"""Every check of snnjax's inputs, in one place.

The rule (README, "Conventions"): bad input gets a ``ValueError`` / ``TypeError`` that names
the argument, the expected and the received value, raised before tracing where possible.
The checks run on *concrete* values (Python numbers, NumPy arrays, committed JAX arrays);
on traced values they are skipped — except inside :func:`snnjax.checks.checked`, where the
range and finite-value checks are staged with ``checkify`` — so a params pytree flows
through ``jit`` / ``vmap`` / ``grad`` unchanged. Domain checks of the data readers and the
training loop (``snnjax/data/_checks.py``, ``snnjax/train/_checks.py``) build on these.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_field_types",
    "check_real",
    "concrete",
    "traced_checks_enabled",
    "check_finite",
    "check_positive",
    "check_at_least",
    "check_in_range",
    "check_option",
    "check_float_array",
    "check_state_shapes",
    "describe",
    "check_int",
    "check_bool",
    "check_callable",
    "check_number",
    "revalidate",
    "check_finite_input",
    "check_step_input",
    "make_shape",
    "check_dtype",
]


_ARRAYLIKE = (bool, int, float, complex, str, bytes, np.generic, np.ndarray, jax.Array, list, tuple)


def check_field_types(obj: Any) -> None:
    """Every numeric field of a params dataclass holds a real number or array (int or float
    dtype: not bool, complex, str or object), a tracer, ``None`` (a ``vmap`` axes prefix) or
    a pytree object (a surrogate, nested params); every static field annotated ``bool`` a
    bool. Run by every :func:`params_dataclass` before the class's own ``__post_init__``."""
    cls = type(obj)
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        label = f"{cls.__name__}.{f.name}"
        if f.metadata.get("static", False):
            if f.type in ("bool", bool) and not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{label} must be a bool (True/False), got {describe(v)}")
            continue
        if f.name == "surrogate":  # a name or a Surrogate, checked by the class
            continue
        if v is None or not isinstance(v, _ARRAYLIKE):
            continue
        check_real(label, v)


def check_real(name: str, v: Any) -> None:
    """``v`` is a real number or array (int or float dtype; not bool, complex, str or object)
    or a tracer of a real dtype."""
    if isinstance(v, (str, bytes)) or isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or array, got {describe(v)}")
    dtype = getattr(v, "dtype", None)
    if dtype is not None and (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        return
    try:
        kind = np.asarray(v).dtype.kind if dtype is None else "O"
    except Exception:  # ragged lists etc.
        kind = "O"
    if kind not in "iuf":
        raise TypeError(f"{name} must be a real number or array (int or float dtype), got {describe(v)}")


def concrete(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array if its value is known now, else ``None``."""
    if isinstance(x, jax.core.Tracer):
        return None
    if isinstance(x, (tuple, list)):
        parts = [concrete(v) for v in x]
        if any(p is None for p in parts):
            return None
        try:
            return np.asarray(parts)
        except ValueError:
            return None
    if isinstance(x, (bool, int, float, np.ndarray, np.generic, jax.Array)):
        try:
            return np.asarray(x)
        except Exception:  # pragma: no cover - e.g. deleted buffers
            return None
    return None


def _fmt(v: np.ndarray) -> str:
    return str(v.item()) if v.size == 1 else f"array with min {v.min()} and max {v.max()}"


def traced_checks_enabled() -> bool:
    """Whether value checks on traced values are being staged (inside :func:`snnjax.checks.checked`)."""
    from snnjax.checks import enabled

    return enabled()


def _traced_check(x: Any, pred, message: str) -> bool:
    """For a traced ``x`` inside :func:`snnjax.checks.checked`: stage ``checkify.check(pred(x))``
    with ``message`` (``{}`` is replaced by the offending minimum/maximum). Returns whether
    ``x`` is traced (so the eager check is to be skipped)."""
    if not isinstance(x, jax.core.Tracer):
        return False
    if traced_checks_enabled():
        from jax.experimental import checkify

        xa = jnp.asarray(x)
        checkify.check(jnp.all(pred(xa)), message + " (min {}, max {})", jnp.min(xa), jnp.max(xa))
    return True


def check_finite(name: str, x: Any) -> None:
    if _traced_check(x, jnp.isfinite, f"{name} must be finite (no NaN/inf)"):
        return
    v = concrete(x)
    if v is not None and np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite (no NaN/inf), got {_fmt(v)}")


def check_positive(name: str, x: Any) -> None:
    """Raise ``ValueError`` unless every element of ``x`` is finite and > 0."""
    if _traced_check(x, lambda a: jnp.isfinite(a) & (a > 0), f"{name} must be finite and > 0"):
        return
    check_finite(name, x)
    v = concrete(x)
    if v is not None and not np.all(v > 0):
        raise ValueError(f"{name} must be > 0, got {_fmt(v)}")


def check_at_least(name: str, x: Any, low: float) -> None:
    if _traced_check(x, lambda a: jnp.isfinite(a) & (a >= low), f"{name} must be finite and >= {low}"):
        return
    check_finite(name, x)
    v = concrete(x)
    if v is not None and not np.all(v >= low):
        raise ValueError(f"{name} must be >= {low}, got {_fmt(v)}")


def check_in_range(name: str, x: Any, low: float, high: float, *, closed: bool = True) -> None:
    def pred(a):
        return jnp.isfinite(a) & (((a >= low) & (a <= high)) if closed else ((a > low) & (a < high)))

    if _traced_check(x, pred, f"{name} must lie in {'[' if closed else '('}{low}, {high}{']' if closed else ')'}"):
        return
    check_finite(name, x)
    v = concrete(x)
    if v is None:
        return
    ok = (v >= low) & (v <= high) if closed else (v > low) & (v < high)
    if not np.all(ok):
        brackets = "[{}, {}]" if closed else "({}, {})"
        raise ValueError(f"{name} must lie in {brackets.format(low, high)}, got {_fmt(v)}")


def check_option(name: str, value: Any, valid: Iterable[Any]) -> None:
    valid = tuple(valid)
    if value not in valid:
        raise ValueError(f"{name} must be one of {valid!r}, got {value!r}")


def check_float_array(name: str, x: Any, *, min_rank: int = 0, rank: int | None = None) -> jax.Array:
    """Validate an input array: floating dtype and rank. Returns ``jnp.asarray(x)``."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        try:
            x = jnp.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a floating-point array, got {describe(x)}") from e
        dtype = x.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {dtype}")
    ndim = jnp.ndim(x)
    if rank is not None and ndim != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {jnp.shape(x)}")
    if ndim < min_rank:
        raise ValueError(f"{name} must have rank >= {min_rank}, got shape {jnp.shape(x)}")
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def check_state_shapes(state: Any, shape: Sequence[int], *, name: str = "state") -> None:
    """Every leaf of ``state`` must have shape ``shape`` or ``[*extra, *shape]``.

    Neuron states are per-neuron arrays of the input's shape (or that shape
    behind a leading history axis), so a mismatch is a user error, never a broadcast.
    """
    shape = tuple(shape)
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        lshape = tuple(jnp.shape(leaf))
        field = name + jax.tree_util.keystr(path)
        if len(lshape) < len(shape) or lshape[len(lshape) - len(shape) :] != shape:
            raise ValueError(
                f"{field} has shape {lshape} but the input step has shape {shape}; "
                "initialise the state with init_state(x.shape[1:]) for time-major x"
            )


def describe(x: Any) -> str:
    """A short description of a received value for error messages: shape and dtype for
    arrays, the type and repr otherwise."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    r = repr(x)
    return f"{type(x).__name__} {r if len(r) <= 80 else r[:77] + '...'}"


def check_int(
    name: str, value: Any, *, low: int | None = None, high: int | None = None, allow_none: bool = False
) -> int | None:
    """A Python/NumPy integer (not a bool, not a float such as 2.0) within ``[low, high]``;
    returns it as an ``int``. ``allow_none``: ``None`` passes through."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        want = "an int" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {want}, got {describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A Python or NumPy bool (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True/False), got {describe(value)}")
    return bool(value)


def check_callable(name: str, value: Any, *, allow_none: bool = False, signature: str = "") -> Any:
    if value is None and allow_none:
        return None
    if not callable(value):
        sig = f" {signature}" if signature else ""
        raise TypeError(
            f"{name} must be callable{sig}" + (" or None" if allow_none else "") + f", got {describe(value)}"
        )
    return value


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite real Python/NumPy scalar (not a bool, not complex) within the bounds;
    returns it as a ``float``. A JAX tracer passes unchecked (returned as is)."""
    if value is None and allow_none:
        return None
    if isinstance(value, jax.core.Tracer):
        return value
    v = concrete(value)
    if (
        isinstance(value, (bool, np.bool_))
        or v is None
        or v.ndim != 0
        or not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating))
    ):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    f = float(v)
    if not np.isfinite(f):
        raise ValueError(f"{name} must be finite (no NaN/inf), got {f}")
    if low is not None and (f <= low if low_open else f < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {f}")
    if high is not None and f > high:
        raise ValueError(f"{name} must be <= {high}, got {f}")
    return f


def revalidate(params: Any) -> None:
    """Run the validation of every params dataclass inside ``params`` again (type checks and
    the class's ``__post_init__``). JAX rebuilds params pytrees without ``__init__`` (inside
    ``jit``, ``vmap``, ``grad``), so this is how traced values are checked inside
    :func:`snnjax.checks.checked`."""
    if getattr(type(params), "__snnjax_params__", False):
        for f in dataclasses.fields(params):
            revalidate(getattr(params, f.name))
        type(params).__post_init__(params)
    elif isinstance(params, (tuple, list)):
        for p in params:
            revalidate(p)
    elif isinstance(params, dict):
        for p in params.values():
            revalidate(p)


def check_finite_input(name: str, x: Any) -> None:
    """Input data (currents, intensities) must be finite where that is checkable: eagerly for
    concrete ``x``; for traced ``x`` only inside :func:`snnjax.checks.checked` (by default
    non-finite inputs propagate, see :mod:`snnjax.checks`)."""
    if _traced_check(x, jnp.isfinite, f"{name} must be finite (no NaN/inf)"):
        return
    v = concrete(x)
    if v is not None and np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
        bad = int(np.size(v) - np.count_nonzero(np.isfinite(v)))
        raise ValueError(f"{name} must be finite: it has {bad} NaN/inf value(s) (shape {v.shape})")


def check_step_input(x: Any, state: Any, name: str = "x") -> jax.Array:
    """Validate one step's input against the state (floating dtype, same leading shape)."""
    x = check_float_array(name, x)
    check_state_shapes(state, jnp.shape(x))
    return x


def make_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        shape = tuple(operator.index(d) for d in shape)  # rejects 2.5, "a", True stays an int
    except TypeError as e:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from e
    if any(d < 0 for d in shape):
        raise ValueError(f"shape must have non-negative entries, got {shape}")
    return shape


def check_dtype(dtype: Any, name: str = "dtype") -> jnp.dtype:
    """A floating dtype (``jnp.float32``, ``"bfloat16"``, ...), returned as a ``jnp.dtype``."""
    try:
        dtype = jnp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{name} must be a floating dtype (e.g. jnp.float32), got {dtype!r}") from e
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating dtype, got {dtype}")
    return dtype
