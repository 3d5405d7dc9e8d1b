"""The array layout: user arrays <-> ``[*lead, R, lanes]`` tiles, outside the kernels.

A per-step shape is flattened to ``n`` neurons, zero-padded to ``n_pad`` and laid
out as ``[R, lanes]`` rows (leading axes such as a history's ``k`` kept in front):
``_to_tiles`` / ``_from_tiles``; per-neuron parameter leaves are broadcast, tiled
and stacked (``_per_neuron_tiles``), shared ones become the programs' known inputs
(``_known_args``); ``_unbroadcast`` sums a per-step cotangent back to a leaf's shape.

Plain XLA, no Pallas: what happens inside a kernel is :mod:`.call`.
"""

from __future__ import annotations

import jax.numpy as jnp

from snnjax.kernels.pallas.plan import _elem_param_avals, _Plan

# --------------------------------------------------------------------------- layout


def _to_tiles(a, lead_nd: int, plan: _Plan, dtype=None):
    """``[*lead, *shape]`` -> ``[*lead, R, lanes]`` (flatten, zero-pad)."""
    lead = a.shape[:lead_nd]
    a = a.reshape(lead + (plan.n,))
    if dtype is not None:
        a = a.astype(dtype)
    if plan.n_pad != plan.n:
        a = jnp.pad(a, [(0, 0)] * lead_nd + [(0, plan.n_pad - plan.n)])
    return a.reshape(lead + (plan.R, plan.lanes))


def _from_tiles(a, lead_nd: int, plan: _Plan):
    lead = a.shape[:lead_nd]
    return a.reshape(lead + (plan.n_pad,))[..., : plan.n].reshape(lead + plan.shape)


def _unbroadcast(ct, shp: tuple):
    """Sum ``ct`` (per-step shape) down to a leaf of shape ``shp`` that broadcasts to it."""
    extra = ct.ndim - len(shp)
    ct = ct.sum(axis=tuple(range(extra))) if extra else ct
    axes = tuple(i for i, d in enumerate(shp) if d == 1 and ct.shape[i] != 1)
    return ct.sum(axis=axes, keepdims=True) if axes else ct


def _per_neuron_tiles(plan: _Plan, p_leaves):
    """Per-neuron parameter leaves broadcast to the step shape, tiled, stacked: ``[Pn, R, lanes]`` or None."""
    tiles = [
        _to_tiles(jnp.broadcast_to(a, plan.shape), 0, plan, plan.cdt) for a, per in zip(p_leaves, plan.p_neuron) if per
    ]
    return jnp.stack(tiles) if tiles else None


def _known_args(plan: _Plan, p_leaves) -> list:
    """Program inputs for the shared parameter leaves (None for per-neuron ones)."""
    avals = _elem_param_avals(plan)
    return [None if per else jnp.asarray(a, aval.dtype) for a, per, aval in zip(p_leaves, plan.p_neuron, avals)]
