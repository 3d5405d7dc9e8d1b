"""A minimal, deterministic NumPy mini-batch iterator.

Shuffled order is a pure function of ``(seed, epoch)``: epoch ``e`` of a run
with seed ``s`` visits the examples in the same order on every run, machine and
restart, so training resumed from an epoch-``e`` checkpoint sees exactly the
batches an uninterrupted run would have seen. The permutation is drawn by
``np.random.default_rng([seed, epoch]).permutation(n)`` (PCG64 seeded through
``SeedSequence``), see :func:`permutation`.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence

import numpy as np

from snnjax.validation import check_bool, describe

__all__ = ["batches", "num_batches", "permutation", "holdout_split", "HOLDOUT_SEED"]

HOLDOUT_SEED = 20261123
"""Seed of :func:`holdout_split`'s default split (the same for every run seed)."""


def _check_int(name: str, value, low: int) -> int:
    # (not snnjax.validation.check_int: its range message reads "in [0, inf]" where ">= 0" is clearer)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`batches` yields for ``n`` examples.

    ``ceil(n / batch_size)``, or ``n // batch_size`` when ``drop_last``.

    Raises:
      TypeError / ValueError: if ``n`` is not an int >= 0, ``batch_size`` not an int >= 1
        or ``drop_last`` not a bool.
    """
    n = _check_int("n", n, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    drop_last = check_bool("drop_last", drop_last)
    return n // batch_size if drop_last else -(-n // batch_size)


def permutation(n: int, *, seed: int, epoch: int = 0) -> np.ndarray:
    """The shuffled example order :func:`batches` uses for ``(seed, epoch)``.

    Args:
      n: number of examples (>= 0).
      seed: data-order seed (int >= 0).
      epoch: epoch number (int >= 0); each epoch gets an independent order.

    Returns:
      ``int64`` array, a permutation of ``arange(n)``.
    """
    n = _check_int("n", n, 0)
    seed = _check_int("seed", seed, 0)
    epoch = _check_int("epoch", epoch, 0)
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(
    arrays: Sequence[np.ndarray],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None = None,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Iterate over aligned mini-batches of ``arrays``.

    Example::

        for xb, yb in batches((x, y), 128, shuffle=True, seed=0, epoch=epoch):
            ...

    Arguments are validated when ``batches`` is called, not at the first ``next``.

    Args:
      arrays: tuple or list of arrays sharing the leading size ``N`` (converted
        with ``np.asarray``). A bare array is rejected: wrap it as ``(x,)``.
      batch_size: examples per batch (int >= 1).
      shuffle: visit the examples in the order :func:`permutation` gives for
        ``(seed, epoch)``; ``False`` keeps the stored order (and ``seed`` /
        ``epoch`` are ignored).
      seed: data-order seed, required when ``shuffle`` (int >= 0).
      epoch: epoch number (int >= 0) combined with ``seed``.
      drop_last: drop the final batch if it has fewer than ``batch_size``
        examples; by default it is yielded.

    Yields:
      Tuples with one ``[B, ...]`` slice per input array, ``B = batch_size``
      except possibly for the last batch. :func:`num_batches` gives the count.

    Raises:
      TypeError: if ``arrays`` is not a tuple/list, an entry is not array-like, or
        another argument has the wrong type.
      ValueError: if ``arrays`` is empty, an array is 0-d or ragged, the leading sizes
        differ or are 0 (no examples), ``batch_size < 1``, ``seed`` is missing with
        ``shuffle=True``, or ``seed``/``epoch`` is negative.
    """
    if not isinstance(arrays, (tuple, list)):
        raise TypeError(
            f"arrays must be a tuple or list of arrays, got {type(arrays).__name__}; wrap a single array as (x,)"
        )
    if not arrays:
        raise ValueError("arrays must contain at least one array")
    arrs = tuple(_as_array(f"arrays[{i}]", a) for i, a in enumerate(arrays))
    for i, a in enumerate(arrs):
        if a.ndim == 0:
            raise ValueError(
                f"arrays[{i}] is 0-d (got {describe(arrays[i])}); every array needs a leading example axis"
            )
    sizes = [a.shape[0] for a in arrs]
    if len(set(sizes)) != 1:
        raise ValueError(f"arrays must share the leading size N, got leading sizes {sizes}")
    n = sizes[0]
    if n == 0:
        raise ValueError(f"arrays hold 0 examples (shapes {[a.shape for a in arrs]}); there is nothing to batch")
    total = num_batches(n, batch_size, drop_last)
    shuffle = check_bool("shuffle", shuffle)
    _check_int("epoch", epoch, 0)
    if shuffle:
        if seed is None:
            raise ValueError("seed is required when shuffle=True (the order is a function of seed and epoch)")
        order = permutation(n, seed=seed, epoch=epoch)
    else:
        if seed is not None:
            _check_int("seed", seed, 0)
        order = None
    return _iterate(arrs, batch_size, total, order)


def _as_array(name: str, a) -> np.ndarray:
    """``np.asarray(a)``; a ragged nesting or an unconvertible object names ``name``."""
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not a rectangular array (got {describe(a)}): {e}") from None


def _iterate(arrs, batch_size, total, order):
    for b in range(total):
        lo, hi = b * batch_size, (b + 1) * batch_size
        if order is None:
            yield tuple(a[lo:hi] for a in arrs)
        else:
            idx = order[lo:hi]
            yield tuple(a[idx] for a in arrs)


def holdout_split(
    x: np.ndarray, y: np.ndarray, fraction: float, *, seed: int = HOLDOUT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a fixed random ``fraction`` of a training set for model selection.

    The split is ``np.random.default_rng(seed).permutation(n)``: the first
    ``round(fraction · n)`` indices are held out; both parts keep the original order.
    It depends on ``seed`` and ``n`` only, never on a run's seed.

    Args:
      x: an array (NumPy or JAX; lists are converted with ``np.asarray``) with
        leading size ``n``.
      y: an array of the same kind, with the same leading size ``n``.
      fraction: share held out, a real number in (0, 1); ``round(fraction · n)`` must
        leave both parts non-empty.
      seed: split seed (int >= 0).

    Returns:
      ``(x_fit, y_fit, x_holdout, y_holdout)``.

    Raises:
      TypeError: if ``fraction`` is not a real number or ``seed`` not an int.
      ValueError: if ``x``/``y`` are 0-d or differ in length, ``fraction`` is outside
        (0, 1), or a part would be empty.
    """
    x = x if hasattr(x, "shape") else _as_array("x", x)
    y = y if hasattr(y, "shape") else _as_array("y", y)
    for name, a in (("x", x), ("y", y)):
        if len(a.shape) == 0:
            raise ValueError(f"{name} must have a leading example axis, got shape {tuple(a.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"fraction must be a real number in (0, 1), got {describe(fraction)}")
    if not 0.0 < float(fraction) < 1.0:  # NaN fails too
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    seed = _check_int("seed", seed, 0)
    n = int(y.shape[0])
    n_out = int(round(float(fraction) * n))
    if not 0 < n_out < n:
        raise ValueError(
            f"fraction={fraction!r} of n={n} examples holds out {n_out}, leaving "
            f"{'no held-out' if n_out == 0 else 'no training'} examples; "
            "both parts must be non-empty"
        )
    perm = np.random.default_rng(seed).permutation(n)
    fit, out = np.sort(perm[n_out:]), np.sort(perm[:n_out])
    return x[fit], y[fit], x[out], y[out]
