"""Spike events: a sparse, fixed-size representation of spike trains.

A dense spike train ``[T, B, C]`` of a latency code is > 99 % zeros. As
events, example ``b`` holds up to ``E`` spikes as parallel arrays
``times[b, e]`` (step), ``channels[b, e]`` (input index) and ``valid[b, e]``
(padding mask). ``E`` is static (it fixes shapes under ``jit``); padded slots
have ``valid = False`` and are ignored everywhere.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from snnjax.pytrees import params_dataclass, static_field
from snnjax.validation import _traced_check, check_float_array, check_int, concrete, describe

__all__ = ["Events", "from_dense", "to_dense", "from_times", "max_spike_count", "event_matmul"]


@params_dataclass(check_types=False)  # bool masks and int indices
class Events:
    """Fixed-size spike events of a batch (a pytree; ``num_steps``/``num_channels`` static).

    Attributes:
      times: int32 ``[B, E]``, spike step in ``[0, num_steps)`` (any value where invalid).
      channels: int32 ``[B, E]``, input channel in ``[0, num_channels)``.
      valid: bool ``[B, E]``, False for padding.
      num_steps: T (static Python int).
      num_channels: C (static Python int).
    """

    times: jax.Array
    channels: jax.Array
    valid: jax.Array
    num_steps: int = static_field()
    num_channels: int = static_field()

    @property
    def density(self) -> float:
        """Upper bound of the spike density ``E / (T·C)`` (static: from shapes only)."""
        return self.times.shape[1] / (self.num_steps * self.num_channels)


def from_times(times: jax.Array, num_steps: int, max_events: int | None = None) -> Events:
    """Events from one spike time per channel, ``times [B, C]`` (``>= num_steps``: no spike).

    Args:
      times: integer ``[B, C]``.
      num_steps: T.
      max_events: event slots per example. ``None``: ``E = C`` (every channel
        has a slot; always exact). A smaller ``E`` keeps only the first
        ``max_events`` firing channels of each example (in channel order) —
        exact only if no example has more spikes than that: for concrete ``times``
        a smaller value is a ``ValueError``; traced (under ``jit``) the excess is
        dropped, or raises inside :func:`snnjax.checks.checked`. See
        :func:`max_spike_count` to choose it from the data.
    """
    dtype = getattr(times, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.integer) or jnp.ndim(times) != 2:
        raise TypeError(f"times must be an integer array [B, C], got {describe(times)}")
    times = jnp.asarray(times)
    num_steps = check_int("num_steps", num_steps, low=1)
    max_events = check_int("max_events", max_events, low=1, allow_none=True)
    b, c = times.shape
    fires = (times >= 0) & (times < num_steps)
    if max_events is not None:
        _check_no_drop(fires.sum(axis=1), max_events, "times")
    if max_events is None:
        channels = jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), (b, c))
        return Events(jnp.where(fires, times, 0).astype(jnp.int32), channels, fires, int(num_steps), int(c))
    idx = jax.vmap(lambda row: jnp.nonzero(row, size=max_events, fill_value=c)[0])(fires)  # [B, E]
    valid = idx < c
    channels = jnp.where(valid, idx, 0).astype(jnp.int32)
    t = jnp.take_along_axis(times, channels, axis=1)
    return Events(jnp.where(valid, t, 0).astype(jnp.int32), channels, valid, int(num_steps), int(c))


def _check_no_drop(counts: jax.Array, max_events: int, name: str) -> None:
    """Spikes per example must fit in ``max_events`` slots: checked now for concrete data, inside
    :func:`snnjax.checks.checked` for traced data (by default, traced, the excess is dropped, as
    documented)."""
    if _traced_check(
        counts, lambda n: n <= max_events, f"{name}: an example has more spikes than max_events={max_events}"
    ):
        return
    v = concrete(counts)
    if v is not None and v.size and v.max() > max_events:
        raise ValueError(
            f"max_events={max_events} would drop spikes: example {int(v.argmax())} of {name} has {int(v.max())}; "
            f"pass max_events >= {int(v.max())} (see max_spike_count) or None"
        )


def max_spike_count(times, num_steps: int) -> int:
    """The largest number of spikes of one example, ``times [B, C]`` (NumPy, concrete):
    the smallest exact ``max_events`` for :func:`from_times`."""
    times = np.asarray(times)
    return int(((times >= 0) & (times < num_steps)).sum(axis=1).max(initial=0))


def from_dense(spikes: jax.Array, max_events: int) -> Events:
    """Events of a dense 0/1 train ``[T, B, C]``, at most ``max_events`` per example.

    ``max_events`` must be >= the largest spike count of an example: for concrete
    ``spikes`` a smaller value is a ``ValueError``; under ``jit`` (values unknown) the spikes
    beyond it (in time-major, then channel order) are dropped, unless the call is inside
    :func:`snnjax.checks.checked`, which raises. Works under ``jit``.
    """
    dtype = getattr(spikes, "dtype", None)
    if dtype is None or jnp.ndim(spikes) != 3 or not (jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_):
        raise TypeError(f"spikes must be a numeric array [T, B, C] of 0/1, got {describe(spikes)}")
    max_events = check_int("max_events", max_events, low=1)
    v = concrete(spikes)
    if v is not None and not np.all((v == 0) | (v == 1)):
        raise ValueError(
            f"spikes must hold only 0 and 1 (a spike train), got values such as {v[(v != 0) & (v != 1)][0]}"
        )
    t, b, c = spikes.shape
    flat = jnp.moveaxis(spikes, 1, 0).reshape(b, t * c) != 0  # [B, T*C], index = t*C + c
    _check_no_drop(flat.sum(axis=1), max_events, "spikes")
    idx = jax.vmap(lambda row: jnp.nonzero(row, size=max_events, fill_value=t * c)[0])(flat)  # [B, E]
    valid = idx < t * c
    return Events((idx // c).astype(jnp.int32) * valid, (idx % c).astype(jnp.int32) * valid, valid, t, c)


def to_dense(events: Events, dtype=jnp.float32) -> jax.Array:
    """The dense train ``[T, B, C]`` of ``events`` (padding ignored); ``dtype`` any numeric dtype."""
    _check_events(events)
    try:
        dtype = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a numeric dtype, got {dtype!r}") from err
    b, e = events.times.shape
    out = jnp.zeros((events.num_steps, b, events.num_channels), dtype)
    bi = jnp.broadcast_to(jnp.arange(b)[:, None], (b, e))
    return out.at[events.times, bi, events.channels].add(events.valid.astype(dtype))


def _check_events(events: Events) -> None:
    if not isinstance(events, Events):
        raise TypeError(f"events must be snnjax.events.Events (from from_times / from_dense), got {describe(events)}")


def _segments(events: Events) -> jax.Array:
    """Flat output row ``t·B + b`` of every event (int32); padding, and a step outside
    ``[0, T)``, gets ``T·B``, one past the last row: the scatter drops it and the gather reads
    zeros there (no dump row to slice off, and no negative row that a gather would wrap)."""
    b, e = events.times.shape
    t = events.num_steps
    bi = jnp.arange(b, dtype=jnp.int32)[:, None]
    ok = events.valid & (events.times >= 0) & (events.times < t)
    return jnp.where(ok, events.times * b + bi, t * b).astype(jnp.int32).reshape(-1)


EVENT_BACKENDS = ("auto", "xla", "native")


def _native_events(backend: str, w: jax.Array) -> bool:
    """Whether :func:`event_matmul` runs the native CPU kernel (``backend`` checked)."""
    from snnjax.kernels import native

    if backend == "xla":
        return False
    why = None
    if w.dtype != jnp.float32:
        why = f"it is float32 only, w is {w.dtype}"
    elif jax.default_backend() != "cpu" or jax.local_device_count() != 1:
        why = "it runs on a single CPU device only"
    elif not native.available():
        why = native.unavailable_reason()
    if backend == "native" and why is not None:
        raise ValueError(f"event_matmul(backend='native') cannot run: {why}; use backend='xla' or 'auto'")
    return why is None


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _event_matmul(num_segments, use_native, w, seg, channels):
    if use_native:
        out = jax.ShapeDtypeStruct((num_segments, w.shape[1]), jnp.float32)
        return jax.ffi.ffi_call("snnjax_event_matmul", out, vmap_method="sequential")(w, seg, channels)
    rows = jnp.take(w, channels, axis=0)  # [B·E, H]: the weight row of each event
    return jax.ops.segment_sum(rows, seg, num_segments=num_segments)  # padding (seg = num_segments) dropped


def _event_matmul_fwd(num_segments, use_native, w, seg, channels):
    return _event_matmul(num_segments, use_native, w, seg, channels), (w.shape[0], seg, channels)


def _event_matmul_bwd(num_segments, use_native, res, ct):
    n_in, seg, channels = res
    if use_native:
        dw = jax.ShapeDtypeStruct((n_in, ct.shape[1]), jnp.float32)
        call = jax.ffi.ffi_call("snnjax_event_matmul_bwd", dw, vmap_method="sequential")
        return call(ct.astype(jnp.float32), seg, channels), None, None
    # dL/dW[i] = Σ over events of channel i of dL/dI at the event's (t, b): a gather of
    # #events rows and a scatter-add into W — O(#events · H), never O(T · C · H).
    g = jnp.take(ct, seg, axis=0, mode="fill", fill_value=0)  # [B·E, H]; padding (out of range) reads 0
    dw = jax.ops.segment_sum(g, channels, num_segments=n_in)
    return dw, None, None


_event_matmul.defvjp(_event_matmul_fwd, _event_matmul_bwd)


def event_matmul(events: Events, w: jax.Array, *, backend: str = "auto") -> jax.Array:
    """Synaptic current ``I[t, b, :] = Σ_{events of b at step t} w[channel, :]``: ``[T, B, H]``.

    Equal to ``to_dense(events) @ w`` (forward and gradient w.r.t. ``w``) at a cost
    proportional to the number of event slots ``B·E``, not to ``T·C``. The backward
    is a ``custom_vjp`` that gathers ``dL/dI`` at the event times.

    Args:
      events: :class:`Events` with ``num_channels == w.shape[0]``.
      w: weights ``[C, H]`` (floating).
      backend: ``"xla"`` (a gather and a scatter-add), ``"native"`` (the compiled CPU kernel
        of :mod:`snnjax.kernels.native`: one pass that adds each event's weight row into its
        output row, without materialising the ``[B·E, H]`` rows; float32, one CPU device) or
        ``"auto"``: ``"native"`` where it can run, else ``"xla"``. Both give the same sums in
        the same order.
    """
    if backend not in EVENT_BACKENDS:
        raise ValueError(f"backend must be one of {EVENT_BACKENDS}, got {backend!r}")
    _check_events(events)
    w = check_float_array("w", w, rank=2)
    if w.shape[0] != events.num_channels:
        raise ValueError(f"w must have shape [C={events.num_channels}, H], got {w.shape}")
    b = events.times.shape[0]
    t = events.num_steps
    seg = _segments(events)
    # a channel outside [0, C) (only in hand-built Events) becomes C in both paths: a NaN row
    # forward (jnp.take's fill; a negative index would wrap), dropped from the gradient
    c = events.num_channels
    channels = events.channels.reshape(-1).astype(jnp.int32)
    channels = jnp.where((channels >= 0) & (channels < c), channels, c)
    out = _event_matmul(t * b, _native_events(backend, w), w, seg, channels)
    return out.reshape(t, b, w.shape[1])
