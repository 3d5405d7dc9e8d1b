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

from snnjax._src import params_dataclass, static_field

__all__ = ["Events", "from_dense", "to_dense", "from_times", "max_spike_count", "event_matmul"]


@params_dataclass
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
        exact only if no example has more spikes than that; see
        :func:`max_spike_count` to choose it from the data.
    """
    times = jnp.asarray(times)
    if times.ndim != 2 or not jnp.issubdtype(times.dtype, jnp.integer):
        raise ValueError(f"times must be an integer array [B, C], got shape {times.shape} dtype {times.dtype}")
    b, c = times.shape
    fires = (times >= 0) & (times < num_steps)
    if max_events is None:
        channels = jnp.broadcast_to(jnp.arange(c, dtype=jnp.int32), (b, c))
        return Events(jnp.where(fires, times, 0).astype(jnp.int32), channels, fires, int(num_steps), int(c))
    if not isinstance(max_events, int) or max_events < 1:
        raise ValueError(f"max_events must be a positive int or None, got {max_events!r}")
    idx = jax.vmap(lambda row: jnp.nonzero(row, size=max_events, fill_value=c)[0])(fires)  # [B, E]
    valid = idx < c
    channels = jnp.where(valid, idx, 0).astype(jnp.int32)
    t = jnp.take_along_axis(times, channels, axis=1)
    return Events(jnp.where(valid, t, 0).astype(jnp.int32), channels, valid, int(num_steps), int(c))


def max_spike_count(times, num_steps: int) -> int:
    """The largest number of spikes of one example, ``times [B, C]`` (NumPy, concrete):
    the smallest exact ``max_events`` for :func:`from_times`."""
    times = np.asarray(times)
    return int(((times >= 0) & (times < num_steps)).sum(axis=1).max(initial=0))


def from_dense(spikes: jax.Array, max_events: int) -> Events:
    """Events of a dense 0/1 train ``[T, B, C]``, at most ``max_events`` per example.

    Spikes beyond ``max_events`` (in time-major, then channel order) are dropped;
    choose ``max_events`` >= the largest spike count of an example. Works under ``jit``.
    """
    t, b, c = spikes.shape
    flat = jnp.moveaxis(spikes, 1, 0).reshape(b, t * c) != 0  # [B, T*C], index = t*C + c
    idx = jax.vmap(lambda row: jnp.nonzero(row, size=max_events, fill_value=t * c)[0])(flat)  # [B, E]
    valid = idx < t * c
    return Events((idx // c).astype(jnp.int32) * valid, (idx % c).astype(jnp.int32) * valid, valid, t, c)


def to_dense(events: Events, dtype=jnp.float32) -> jax.Array:
    """The dense train ``[T, B, C]`` of ``events`` (padding ignored)."""
    b, e = events.times.shape
    out = jnp.zeros((events.num_steps, b, events.num_channels), dtype)
    bi = jnp.broadcast_to(jnp.arange(b)[:, None], (b, e))
    return out.at[events.times, bi, events.channels].add(events.valid.astype(dtype))


def _segments(events: Events) -> jax.Array:
    """Flat output row ``t·B + b`` of every event; padding goes to the dump row ``T·B``."""
    b, e = events.times.shape
    bi = jnp.arange(b, dtype=jnp.int32)[:, None]
    return jnp.where(events.valid, events.times * b + bi, events.num_steps * b).reshape(-1)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _event_matmul(num_segments, w, seg, channels):
    rows = jnp.take(w, channels, axis=0)  # [B·E, H]: the weight row of each event
    return jax.ops.segment_sum(rows, seg, num_segments=num_segments)


def _event_matmul_fwd(num_segments, w, seg, channels):
    return _event_matmul(num_segments, w, seg, channels), (w.shape[0], seg, channels)


def _event_matmul_bwd(num_segments, res, ct):
    n_in, seg, channels = res
    # dL/dW[i] = Σ over events of channel i of dL/dI at the event's (t, b): a gather of
    # #events rows and a scatter-add into W — O(#events · H), never O(T · C · H).
    g = jnp.take(ct, seg, axis=0)  # [B·E, H]
    g = jnp.where((seg < num_segments - 1)[:, None], g, 0.0)  # padding read the dump row
    dw = jax.ops.segment_sum(g, channels, num_segments=n_in)
    return dw, None, None


_event_matmul.defvjp(_event_matmul_fwd, _event_matmul_bwd)


def event_matmul(events: Events, w: jax.Array) -> jax.Array:
    """Synaptic current ``I[t, b, :] = Σ_{events of b at step t} w[channel, :]``: ``[T, B, H]``.

    Equal to ``to_dense(events) @ w`` (forward and gradient w.r.t. ``w``) at a cost
    proportional to the number of event slots ``B·E``, not to ``T·C``. The backward
    is a ``custom_vjp`` that gathers ``dL/dI`` at the event times.

    Args:
      events: :class:`Events` with ``num_channels == w.shape[0]``.
      w: weights ``[C, H]`` (floating).
    """
    if w.ndim != 2 or w.shape[0] != events.num_channels:
        raise ValueError(f"w must have shape [C={events.num_channels}, H], got {w.shape}")
    b = events.times.shape[0]
    t = events.num_steps
    seg = _segments(events)
    out = _event_matmul(t * b + 1, w, seg, events.channels.reshape(-1))  # + 1: the padding dump row
    return out[: t * b].reshape(t, b, w.shape[1])
