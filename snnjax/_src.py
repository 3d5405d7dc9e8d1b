"""Internal helpers shared by every module: pytree dataclasses and eager checks.

Nothing here is public API. The checks run only on *concrete* values (Python
numbers, NumPy arrays, committed JAX arrays); under tracing they are skipped,
so a parameter pytree can flow through ``jit``/``vmap``/``grad`` unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "params_dataclass",
    "static_field",
    "concrete",
    "check_positive",
    "check_at_least",
    "check_in_range",
    "check_finite",
    "check_option",
    "check_float_array",
    "check_state_shapes",
]


def static_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field that is static (part of the treedef, not a leaf)."""
    return dataclasses.field(default=default, metadata={"static": True}, **kwargs)


def params_dataclass(cls: type) -> type:
    """Frozen dataclass registered as a JAX pytree.

    Fields made with :func:`static_field` are metadata (hashable, trigger
    recompilation when changed: strings, flags); all other fields are leaves
    (numbers, arrays, nested pytrees such as a :class:`~snnjax.surrogate.Surrogate`).

    ``__post_init__`` (eager validation) runs only when a user constructs the
    object; JAX's unflattening bypasses it, so ``jax.tree.map`` may fill the
    fields with anything (``vmap`` ``in_axes`` prefixes, sentinels, tracers).
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    data, meta = [], []
    for f in dataclasses.fields(cls):
        (meta if f.metadata.get("static", False) else data).append(f.name)
    data, meta = tuple(data), tuple(meta)
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten_with_keys(obj):
        children = tuple((k, getattr(obj, n)) for k, n in zip(keys, data))
        return children, tuple(getattr(obj, n) for n in meta)

    def flatten(obj):
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for n, v in zip(data, children):
            object.__setattr__(obj, n, v)
        for n, v in zip(meta, aux):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


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


def check_finite(name: str, x: Any) -> None:
    v = concrete(x)
    if v is not None and np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite (no NaN/inf), got {_fmt(v)}")


def check_positive(name: str, x: Any) -> None:
    """Raise ``ValueError`` unless every element of ``x`` is finite and > 0."""
    check_finite(name, x)
    v = concrete(x)
    if v is not None and not np.all(v > 0):
        raise ValueError(f"{name} must be > 0, got {_fmt(v)}")


def check_at_least(name: str, x: Any, low: float) -> None:
    check_finite(name, x)
    v = concrete(x)
    if v is not None and not np.all(v >= low):
        raise ValueError(f"{name} must be >= {low}, got {_fmt(v)}")


def check_in_range(name: str, x: Any, low: float, high: float, *, closed: bool = True) -> None:
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
        x = jnp.asarray(x)
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
