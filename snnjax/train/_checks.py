"""Eager argument checks of the training entry points (not public API).

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad
value) with a message that names the argument, what was expected and what was received.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from snnjax.validation import describe

__all__ = ["positive_int", "check_dataset", "check_labels", "check_lr_value"]

# elements per chunk of the finiteness scan of a floating input array (bounded extra memory)
_CHUNK = 1 << 22


def positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """A Python/NumPy int >= 1 (not a bool, not 2.0); ``allow_none``: ``None`` passes."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {value}")
    return int(value)


def check_labels(name: str, y: Any, *, n: int | None = None, num_classes: int | None = None) -> np.ndarray:
    """Integer class indices, rank 1, non-negative (``< num_classes`` when given), length ``n``."""
    dtype = getattr(y, "dtype", None)
    y = np.asarray(y)
    if dtype is None and y.size == 0:
        y = y.astype(np.int64)  # an empty list
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must be integer class indices, got {describe(y)}")
    if y.ndim != 1:
        raise ValueError(f"{name} must have rank 1 (one class index per example), got shape {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} must have one entry per example ({n}), got {len(y)}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0:
            raise ValueError(f"{name} must be class indices >= 0, got min {lo} (at index {int(np.argmin(y))})")
        if num_classes is not None and hi >= num_classes:
            raise ValueError(
                f"{name} must be class indices < the model's {num_classes} classes (logits [B, {num_classes}]), "
                f"got max {hi} (at index {int(np.argmax(y))})"
            )
    return y


def _first_non_finite(x: np.ndarray) -> int | None:
    """Index (along axis 0) of the first example of a floating ``x`` with a NaN/inf, else ``None``."""
    if not np.issubdtype(x.dtype, np.inexact) or x.size == 0:
        return None
    per = max(1, x.size // max(1, x.shape[0]))
    step = max(1, _CHUNK // per)
    for i in range(0, x.shape[0], step):
        ok = np.isfinite(x[i : i + step]).reshape(min(step, x.shape[0] - i), -1).all(axis=1)
        if not ok.all():
            return i + int(np.argmin(ok))
    return None


def check_dataset(name: str, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)``: a pair of arrays with a shared leading length ``N >= 1``, numeric
    finite inputs of rank >= 1 and integer labels of rank 1, ``>= 0``. Returns NumPy arrays."""
    if isinstance(data, (str, bytes)) or not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (inputs, labels) of arrays, got {describe(data)}")
    x, y = data
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name}[0] (inputs) must be an array with a leading example axis, got {describe(x)}")
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"{name}[0] (inputs) must have a leading example axis, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"{name}[0] (inputs) must be a numeric array, got {describe(x)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one example, got inputs of shape {x.shape}")
    y = check_labels(f"{name}[1] (labels)", y)
    if len(y) != x.shape[0]:
        raise ValueError(
            f"{name} must have as many labels as inputs, got {x.shape[0]} inputs (shape {x.shape}) and {len(y)} labels"
        )
    bad = _first_non_finite(x)
    if bad is not None:
        raise ValueError(f"{name}[0] (inputs) must be finite, got NaN/inf in example {bad}")
    return x, y


def check_lr_value(name: str, value: Any) -> float:
    """A learning rate read from a schedule or an optimiser's hyperparameters: finite, >= 0."""
    try:
        v = float(np.asarray(value))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {describe(value)}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v
