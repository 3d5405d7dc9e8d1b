"""Opt-in value checks on *traced* values: :func:`checked`.

snnjax validates everything it can see before tracing (shapes, dtypes, options, and the
values of concrete parameters, e.g. ``LIFParams(tau=0.5)`` raises at once). Values that are
only known while a function is traced — a learnable τ inside ``jit``/``grad``, a threshold
computed from data, NaN in the input currents — cannot be checked that way without a
device-to-host transfer. The policy:

* **by default**, traced values are not checked and non-finite values *propagate*: a NaN
  (or inf) input current at step t makes the neuron's state non-finite from step t on (its
  spikes are 0 from then on, since a comparison with NaN is false) and its gradients NaN;
  every backend gives the same result as ``lax.scan``, and no step before t is touched;
* **inside** ``checked(fn)``, the same range checks that the params classes run eagerly are
  staged with :mod:`jax.experimental.checkify` for traced values, and :func:`snnjax.run` and
  every neuron ``step`` also check that their input currents are finite; a failed check
  raises :class:`jax.experimental.checkify.JaxRuntimeError` (a ``ValueError``) naming the
  parameter, with the offending minimum and maximum.

Example:
    >>> f = lambda tau: snnjax.run(lif.step, LIFParams(tau=tau), xs)[1].sum()
    >>> jax.jit(f)(0.5)                   # runs: a traced τ is not checked by default
    >>> checked(f)(0.5)                   # JaxRuntimeError: tau must be finite and >= 1.0 ...
    >>> checked(jax.grad(f), jit=True)(0.5)

The switch is read while ``fn`` is *traced*: wrap the outermost function. A function that
was jitted and traced before, outside ``checked``, may be reused from JAX's cache without the
checks.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable
from typing import Any

import jax
from jax.experimental import checkify

__all__ = ["checked", "enabled", "JaxRuntimeError"]

JaxRuntimeError = checkify.JaxRuntimeError

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("snnjax_traced_checks", default=False)


def enabled() -> bool:
    """Whether the function being traced is inside :func:`checked`."""
    return _ENABLED.get()


@contextlib.contextmanager
def _enabled():
    token = _ENABLED.set(True)
    try:
        yield
    finally:
        _ENABLED.reset(token)


@contextlib.contextmanager
def suspended():
    """Turn the traced checks off inside (for abstract evaluations such as ``jax.eval_shape``,
    which cannot stage a ``checkify.check``)."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def checked(fn: Callable[..., Any], *, jit: bool = False) -> Callable[..., Any]:
    """``fn`` with snnjax's value checks staged for traced values (see the module docstring).

    Returns a function with ``fn``'s signature and outputs that raises
    :class:`JaxRuntimeError` (a ``ValueError``) when a check fails. ``jit=True`` compiles the
    checked function (``jax.jit(checkify.checkify(fn))``); call it outside ``jit`` either way
    (the error is raised on the host).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")

    @functools.wraps(fn)
    def staged(*args, **kwargs):
        with _enabled():
            return fn(*args, **kwargs)

    checkified = checkify.checkify(staged, errors=checkify.user_checks)
    if jit:
        checkified = jax.jit(checkified)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _enabled():
            err, out = checkified(*args, **kwargs)
        err.throw()
        return out

    return wrapper
