"""The public entry points and the custom_vjp joining the kernels.

:func:`pallas_run` validates its arguments (``block`` per platform), drops
zero-size state leaves and calls ``_pallas``: a ``jax.custom_vjp`` whose forward
lays the arrays out (:mod:`.layout`), hoists the shared values and runs the
forward kernel (:mod:`.call`), and whose backward runs the backward kernel and
reduces the per-neuron parameter cotangents (summed over the valid neurons,
hoisted values' cotangents pulled back to the shared parameters with
``jax.vjp``). :func:`pallas_supported` traces only. :func:`default_block` is the
per-platform default block size.

No kernel bodies, no jaxpr evaluation and no neuron here: ``step`` is taken bare.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from snnjax.kernels.pallas.call import _backward_tiles, _forward_tiles
from snnjax.kernels.pallas.evaluator import _is_float
from snnjax.kernels.pallas.layout import (
    _from_tiles,
    _known_args,
    _per_neuron_tiles,
    _to_tiles,
    _unbroadcast,
)
from snnjax.kernels.pallas.plan import (
    _LANES,
    _bwd_layout,
    _bwd_program,
    _Config,
    _fwd_program,
    _make_plan,
)

__all__ = ["pallas_run", "pallas_supported", "default_block"]


_DEFAULT_BLOCK = {"gpu": 1024, "tpu": 2048}
_DEFAULT_BLOCK_INTERPRET = 2048


def default_block(platform: str | None = None) -> int:
    """The default neurons per block on ``platform`` (default: ``jax.default_backend()``)."""
    platform = jax.default_backend() if platform is None else platform
    return _DEFAULT_BLOCK.get(platform, _DEFAULT_BLOCK_INTERPRET)


# --------------------------------------------------------------------------- forward (XLA side)


def _forward(step, cfg: _Config, params, state, xs, *, save: bool):
    plan = _make_plan(step, cfg, params, state, xs)
    p_leaves = jax.tree.leaves(params)
    tiles = _per_neuron_tiles(plan, p_leaves)
    x_t = _to_tiles(xs, 1, plan)
    s_t = [_to_tiles(a, len(lead), plan) for a, lead in zip(jax.tree.leaves(state), plan.s_lead)]
    fwd = _fwd_program(step, plan)
    vec = fwd.pack(fwd.hoist(_known_args(plan, p_leaves)), plan.cdt)
    final, ys, saved = _forward_tiles(cfg, plan, fwd, vec, tiles, x_t, s_t, save=save)
    final = jax.tree.unflatten(plan.s_def, [_from_tiles(a, len(lead), plan) for a, lead in zip(final, plan.s_lead)])
    ys = jax.tree.unflatten(plan.y_def, [_from_tiles(a, 1 + len(lead), plan) for a, lead in zip(ys, plan.y_lead)])
    return final, ys, (tiles, x_t, saved)


# --------------------------------------------------------------------------- custom_vjp


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _pallas(step, cfg, params, state, xs):
    final, ys, _ = _forward(step, cfg, params, state, xs, save=False)
    return final, ys


def _pallas_fwd(step, cfg, params, state, xs):
    final, ys, (tiles, x_t, saved) = _forward(step, cfg, params, state, xs, save=True)
    return (final, ys), (params, state, xs, tiles, x_t, saved)


def _pallas_bwd(step, cfg, res, ct):
    params, state, xs, tiles, x_t, saved = res
    plan = _make_plan(step, cfg, params, state, xs)
    d_final, d_ys = ct
    dys_t = [
        _to_tiles(jnp.asarray(a, dt), 1 + len(lead), plan)
        for a, lead, dt in zip(jax.tree.leaves(d_ys), plan.y_lead, plan.y_dtypes)
    ]
    dfin_t = [
        _to_tiles(jnp.asarray(a, dt), len(lead), plan)
        for a, lead, dt in zip(jax.tree.leaves(d_final), plan.s_lead, plan.s_dtypes)
    ]
    p_leaves = jax.tree.leaves(params)
    known = _known_args(plan, p_leaves)
    fwd = _fwd_program(step, plan)
    h = fwd.hoist(known)
    bwd = _bwd_program(plan, fwd)
    vec = bwd.pack(bwd.hoist(h + [None] * (len(bwd.known_in) - len(h))), plan.cdt)
    rows, n_rows = _bwd_layout(plan, fwd)
    dx_t, ds0_t, dp_all = _backward_tiles(cfg, plan, bwd, n_rows, vec, tiles, x_t, saved, dys_t, dfin_t)
    d_xs = _from_tiles(dx_t, 1, plan)
    d_state = jax.tree.unflatten(plan.s_def, [_from_tiles(a, len(lead), plan) for a, lead in zip(ds0_t, plan.s_lead)])

    # parameter cotangents: per neuron -> drop the padding -> sum over neurons (and broadcast axes);
    # a hoisted value's cotangent is then pulled back to the shared parameters through its computation
    def total(off, shape):
        size = math.prod(shape)
        return dp_all[off : off + size].reshape((size, plan.n_pad))[:, : plan.n]

    d_params = [np.zeros(shp, jax.dtypes.float0) for shp in plan.p_shapes]
    shared = [i for i, (per, d) in enumerate(zip(plan.p_neuron, plan.p_diff)) if d and not per]
    for i in shared:
        d_params[i] = jnp.zeros(plan.p_shapes[i], plan.cdt)
    dh = [total(off, shape).sum(axis=-1).reshape(shape) for kind, _, shape, off in rows if kind == "hoisted"]
    if dh and shared:

        def hoisted_of(*vals):
            args = list(known)
            for i, v in zip(shared, vals):
                args[i] = v
            return [v for v, d in zip(fwd.hoist(args), fwd.hoisted_diff) if d]

        _, pull = jax.vjp(hoisted_of, *[known[i] for i in shared])
        for i, g in zip(shared, pull(dh)):
            d_params[i] = g
    for kind, i, shape, off in rows:
        if kind == "neuron":
            d_params[i] = _unbroadcast(total(off, shape)[0].reshape(plan.shape), plan.p_shapes[i])
    for i in shared + [i for kind, i, _, _ in rows if kind == "neuron"]:
        d_params[i] = jnp.asarray(d_params[i]).astype(plan.p_dtypes[i]).reshape(plan.p_shapes[i])
    return jax.tree.unflatten(plan.p_def, d_params), d_state, d_xs


_pallas.defvjp(_pallas_fwd, _pallas_bwd)


def pallas_supported(step: Callable, params: Any, xs: jax.Array, state: Any) -> bool:
    """Whether :func:`pallas_run` can run ``step`` (element-wise over the neurons, with primitives
    the kernels can evaluate) on these shapes. Traces only; used by ``snnjax.run(backend="auto")``."""
    try:
        xs = xs if hasattr(xs, "dtype") else jnp.asarray(xs)
        cfg = _Config(block=_DEFAULT_BLOCK_INTERPRET, interpret=True, platform="cpu")
        params, state = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, state)
        plan = _make_plan(step, cfg, params, state, xs)
        _bwd_program(plan, _fwd_program(step, plan))
    except (NotImplementedError, TypeError, ValueError):
        return False
    return True


def pallas_run(
    step: Callable,
    params: Any,
    xs: jax.Array,
    state: Any,
    *,
    block: int | None = None,
    interpret: bool | None = None,
) -> tuple[Any, Any]:
    """``(final_state, ys)`` of ``step`` over ``xs [T, ...]`` as fused Pallas kernels.

    Equal to ``lax.scan(lambda c, x: step(params, c, x), state, xs)`` in value
    and gradient (w.r.t. ``xs``, ``state`` and every floating leaf of
    ``params``) up to floating-point reassociation of the parameter sums. See
    the module docstring for the design and the restrictions (element-wise
    ``step``; reverse-mode differentiation only).

    Args:
      step: pure element-wise neuron step ``step(params, state, x) -> (state, out)``;
        hashable (module-level), it is static under ``jit``.
      params: the params pytree; scalar leaves are shared, leaves of rank >= 1
        that broadcast to ``xs.shape[1:]`` are per-neuron. All floating leaves
        are differentiable.
      xs: ``[T, ...]`` floating inputs (float32 or bfloat16; computed in float32).
      state: initial state for one step of shape ``xs.shape[1:]`` (leaves
        ``[*extra, *xs.shape[1:]]``).
      block: neurons per kernel program (grid block); default
        :func:`default_block` of the platform. A multiple of 128 gives
        ``[block // 128, 128]`` tiles, otherwise ``[1, block]``.
      interpret: run the kernels in the Pallas interpreter; ``None``: on CPU
        (anything but GPU/TPU) interpret, otherwise compile.

    Raises:
      NotImplementedError: ``step`` is not element-wise over the neurons.
      ValueError: bad ``block`` or shapes.
    """
    if not callable(step):
        raise TypeError(f"step must be callable step(params, state, x), got {type(step).__name__}")
    xs = jnp.asarray(xs)
    if not _is_float(xs.dtype):
        raise TypeError(f"xs must have a floating dtype, got {xs.dtype}")
    if xs.ndim < 1 or xs.shape[0] == 0:
        raise ValueError(f"xs must be time-major [T, ...] with T >= 1, got shape {xs.shape}")
    platform = jax.default_backend()
    if interpret is None:
        interpret = platform not in ("gpu", "tpu")
    if block is None:
        block = default_block(platform) if not interpret else _DEFAULT_BLOCK_INTERPRET
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")
    block = int(block)
    if not interpret:
        n = math.prod(xs.shape[1:])
        if platform == "gpu" and block & (block - 1):
            raise ValueError(f"block must be a power of two for the GPU (Triton) kernels, got {block}")
        sublanes = 8 * max(1, 4 // jnp.dtype(xs.dtype).itemsize)  # (8, 128) tiles, (16, 128) for 16-bit
        if platform == "tpu" and block % (sublanes * _LANES) and n > block:
            raise ValueError(
                f"block must be a multiple of {sublanes * _LANES} for the TPU (Mosaic) kernels with {xs.dtype} "
                f"inputs, got {block}"
            )
    params = jax.tree.map(jnp.asarray, params)
    state = jax.tree.map(jnp.asarray, state)
    cfg = _Config(block=block, interpret=bool(interpret), platform=platform)
    leaves, treedef = jax.tree.flatten(state)
    empty = tuple((i, leaf.shape, leaf.dtype) for i, leaf in enumerate(leaves) if leaf.size == 0)
    if not empty:
        return _pallas(step, cfg, params, state, xs)
    # Zero-size state leaves (e.g. an unused history) carry no values: keep them out of the kernels.
    wrapped = _WithoutEmpty(step, treedef, empty)
    kept = tuple(leaf for leaf in leaves if leaf.size != 0)
    final, ys = _pallas(wrapped, cfg, params, kept, xs)
    return wrapped.restore(final), ys


@dataclasses.dataclass(frozen=True)
class _WithoutEmpty:
    """``step`` on the state minus its zero-size leaves (hashable, so kernels are cached)."""

    step: Callable
    treedef: Any
    empty: tuple

    def restore(self, kept) -> Any:
        kept, leaves = list(kept), []
        empty = {i: (shape, dtype) for i, shape, dtype in self.empty}
        for i in range(self.treedef.num_leaves):
            leaves.append(jnp.zeros(*empty[i]) if i in empty else kept.pop(0))
        return jax.tree.unflatten(self.treedef, leaves)

    def __call__(self, params, kept, x):
        new, y = self.step(params, self.restore(kept), x)
        leaves = jax.tree.leaves(new)
        empty = {i for i, _, _ in self.empty}
        return tuple(leaf for i, leaf in enumerate(leaves) if i not in empty), y
