"""Fused multi-step neurons as Pallas kernels (GPU: Triton, TPU: Mosaic, CPU: interpret).

:func:`pallas_run` runs a neuron's pure ``step`` over a whole sequence
``xs [T, ...]`` inside *one* Pallas kernel per direction, generated from the
``step`` itself (and its ``jax.vjp``), so every element-wise neuron of
:mod:`snnjax.neurons` gets fused kernels from its single definition. Forward and
backward kernels are joined with ``jax.custom_vjp``.

* **layout**: the per-step shape (e.g. ``[B, N]``) is flattened to one neuron
  axis of ``n`` elements, zero-padded up to a multiple of ``block`` and laid out
  as ``[rows, lanes]`` tiles (``lanes = 128`` when ``block`` is a multiple of
  128, else ``[1, block]``); the grid runs over neuron blocks, all independent
  ("parallel"). A state leaf with extra leading axes (POLARA's history
  ``hist [k, *shape]``) is stored as ``[k, R, lanes]``.
* **per-neuron programs**: ``step`` is traced once on ONE neuron (``x`` a scalar,
  ``hist`` a ``[k]`` vector). Equations that depend only on shared (scalar or
  small) parameters — ``1 - 1/τ``, POLARA's window kernels ``L``, ``h(i)``,
  ``Θ(i)`` — are *hoisted*: computed once by XLA outside the kernel and passed in
  as scalars (one float vector; SMEM on TPU). The rest is evaluated inside the
  kernel with every per-neuron array scalarised into a list of ``[rows, lanes]``
  tiles (``hist [k]`` becomes k tiles; window sums become k tile products), so the
  kernel only computes element-wise on 2-D tiles: no odd-sized vectors (Triton
  needs power-of-two sizes), no 3-D values, no small matmuls or float iota
  (Mosaic). ``custom_vjp``/``custom_jvp``/``jit`` calls are inlined.
* **forward kernel**: a ``fori_loop`` over time inside the kernel; the state
  stays on chip (registers / VMEM) for all ``T`` steps. It writes ``ys[t]``, the
  final state and — only when differentiated — the state *entering* each step
  (the residual of :mod:`snnjax.kernels.fused`), in float32.
* **backward kernel**: a reverse-time ``fori_loop`` inside the kernel; each step
  is recomputed from its saved state and the cotangents are pulled back with
  ``jax.vjp`` of the forward per-neuron program (so custom_vjp rules such as the
  surrogate gradients apply); it writes ``dxs[t]`` and the initial-state cotangent.
* **parameter cotangents**: parameters are kernel inputs, never compile-time
  constants, and all floating leaves are differentiable. Per-neuron parameter
  arrays (any leaf of rank >= 1 that broadcasts to the per-step shape, e.g.
  ``tau [N]`` for ``xs [T, B, N]``) are broadcast and tiled like the state. The
  backward kernel accumulates, per neuron and over time, the cotangents of the
  hoisted values and of the per-neuron parameters (no in-kernel reductions),
  writes them out per neuron; outside the kernel they are summed over the valid
  (unpadded) neurons and the hoisted values' cotangents are pulled back through
  their (hoisted) computation to the shared parameters with ``jax.vjp``.
* dtypes: computed in float32 (float64 for float64 inputs under
  ``jax_enable_x64``); ``ys`` and the final state come back in the dtypes
  ``step`` gives them (bfloat16 for bfloat16 inputs), gradients in their primals'
  dtypes.

Requirements / unsupported:

* ``step`` must be **element-wise** over the neuron shape (every neuron of
  :mod:`snnjax.neurons` except :mod:`~snnjax.neurons.rlif`, whose recurrent
  matrix couples neurons); otherwise ``NotImplementedError`` (and
  ``run(backend="auto")`` does not choose ``"pallas"``). Inside a neuron, the
  step may use element-wise primitives, broadcasts, reshapes, slices,
  concatenation, padding, reductions and contractions over the neuron's own
  leading axes; no control flow (``cond``/``while``/``scan``), gathers or
  dynamic indexing. States and outputs must be floating point.
* a parameter leaf of rank >= 1 that broadcasts to the per-step shape is
  *taken to be per-neuron*; a small shared array whose shape happens to
  broadcast to the per-step shape (a length-3 array with ``N = 3``) would be
  misread. Shared array parameters are otherwise supported.
* no ``return_states``/``remat``/``checkpoint_every``/``unroll`` (``lax.scan``
  options); no forward-mode (``jvp``) differentiation (``custom_vjp``).
* ``block``: on GPU a power of two; on TPU a multiple of 1024 (``(8, 128)``
  tiles; 2048 for 16-bit inputs) unless a single block covers all neurons. The
  whole time axis of a block is one kernel block (on TPU it is copied to VMEM:
  ``T·block`` elements per input/output array, double-buffered), so long
  sequences need smaller blocks on TPU.
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
from jax.experimental import pallas as pl
from jax.extend import core as jex_core

__all__ = ["pallas_run", "pallas_supported", "default_block"]

_LANES = 128
_DEFAULT_BLOCK = {"gpu": 1024, "tpu": 2048}
_DEFAULT_BLOCK_INTERPRET = 2048


def default_block(platform: str | None = None) -> int:
    """The default neurons per block on ``platform`` (default: ``jax.default_backend()``)."""
    platform = jax.default_backend() if platform is None else platform
    return _DEFAULT_BLOCK.get(platform, _DEFAULT_BLOCK_INTERPRET)


# --------------------------------------------------------------------------- per-neuron programs
#
# The kernels never call ``step`` on arrays directly. ``step`` (and its ``jax.vjp``) is traced once
# on ONE neuron (per-element shapes: ``x`` a scalar, a history leaf ``[k]``), with custom_jvp/vjp
# and jit calls inlined, giving a flat jaxpr. Its equations that depend only on shared parameters
# (e.g. POLARA's window kernels, ``1 - 1/τ``) are *hoisted*: evaluated once outside the kernel by
# XLA, their values passed in as scalars. The rest is evaluated inside the kernel with every
# per-neuron array "scalarised" into a NumPy object array of ``[rows, lanes]`` tiles (a history
# ``[k]`` becomes k tiles), so the kernel only ever computes element-wise on 2-D tiles: no
# vectors of odd sizes (Triton), no 3-D values or small-vector iota/matmul (Mosaic).


_JIT_CALLS = ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint")
_CUSTOM_CALLS = ("custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr")
# same-shape primitives that are *not* element-wise
_NOT_ELEMENTWISE = ("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "sort", "argsort", "top_k")
_REDUCERS = {
    "reduce_sum": jax.lax.add,
    "reduce_max": jax.lax.max,
    "reduce_min": jax.lax.min,
    "reduce_prod": jax.lax.mul,
    "reduce_and": jax.lax.bitwise_and,
    "reduce_or": jax.lax.bitwise_or,
}
_STRUCTURAL = (
    "broadcast_in_dim",
    "reshape",
    "squeeze",
    "expand_dims",
    "transpose",
    "slice",
    "rev",
    "concatenate",
    "pad",
    "split",
    "dot_general",
) + tuple(_REDUCERS)


def _read(env, v):
    return v.val if isinstance(v, jex_core.Literal) else env[v]


def _sub_jaxpr(eqn):
    sub = eqn.params.get("call_jaxpr", eqn.params.get("jaxpr", eqn.params.get("fun_jaxpr")))
    return (sub.jaxpr, sub.consts) if isinstance(sub, jex_core.ClosedJaxpr) else (sub, ())


def _bind(eqn, invals):
    outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))  # as core.eval_jaxpr
    return outs if eqn.primitive.multiple_results else [outs]


def _eval_inlined(jaxpr, consts, args, inline):
    """Evaluate ``jaxpr`` binding every primitive, with the call primitives named in ``inline`` inlined."""
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        invals = [_read(env, v) for v in eqn.invars]
        if eqn.primitive.name in inline:
            outs = _eval_inlined(*_sub_jaxpr(eqn), invals, inline)
        else:
            outs = _bind(eqn, invals)
        env.update(zip(eqn.outvars, outs))
    return [_read(env, v) for v in jaxpr.outvars]


# ----- object arrays of atoms: a per-neuron array of shape S is an S-shaped NumPy object array whose
# entries are JAX values, each a [rows, lanes] tile (or a scalar: a hoisted value, a literal)


def _obj(shape, fn):
    """A NumPy object array of ``shape`` filled with ``fn(index)`` (JAX values as elements)."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = fn(idx)
    return out


def _flat(arrs) -> list:
    """Object arrays -> flat list of atoms (C order)."""
    return [a for arr in arrs for a in arr.flat]


def _unflat(atoms, shapes) -> list:
    it = iter(atoms)
    return [_obj(shp, lambda idx: next(it)) for shp in shapes]


def _atom_bind(fn, atoms):
    """``fn`` on atoms (scalars or tiles): broadcast the scalars to the tile shape first."""
    shape = max((jnp.shape(a) for a in atoms), key=len)
    return fn(*[a if jnp.shape(a) == shape else jnp.broadcast_to(a, shape) for a in atoms])


def _reduce(fn, atoms):
    out = atoms[0]
    for a in atoms[1:]:
        out = _atom_bind(fn, [out, a])
    return out


def _pad(arr, pad_atom, config):
    for axis, (lo, hi, interior) in enumerate(config):
        n = arr.shape[axis]
        if interior and n > 1:
            shape = list(arr.shape)
            shape[axis] = n + (n - 1) * interior
            new = _obj(tuple(shape), lambda idx: pad_atom)
            sl = [slice(None)] * arr.ndim
            sl[axis] = slice(None, None, interior + 1)
            new[tuple(sl)] = arr
            arr = new
        parts = []
        for count in (lo, None, hi):
            if count is None:
                sl = [slice(None)] * arr.ndim
                sl[axis] = slice(max(0, -lo), arr.shape[axis] - max(0, -hi))
                parts.append(arr[tuple(sl)])
            elif count > 0:
                shape = list(arr.shape)
                shape[axis] = count
                parts.append(_obj(tuple(shape), lambda idx: pad_atom))
        arr = np.concatenate(parts, axis=axis)
    return arr


def _dot(lhs, rhs, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    lhs = lhs.transpose(list(lb) + lf + list(lc))
    rhs = rhs.transpose(list(rb) + rf + list(rc))
    nb, nlf, nrf = len(lb), len(lf), len(rf)
    out_shape = lhs.shape[: nb + nlf] + rhs.shape[nb : nb + nrf]

    def entry(idx):
        b, i, j = idx[:nb], idx[nb : nb + nlf], idx[nb + nlf :]
        li, ri = lhs[b + i + (Ellipsis,)], rhs[b + j + (Ellipsis,)]
        out = _reduce(jax.lax.add, [_atom_bind(jax.lax.mul, [li[c], ri[c]]) for c in np.ndindex(*li.shape)])
        return out.astype(preferred_element_type) if preferred_element_type is not None else out

    return _obj(out_shape, entry)


def _tile_jaxpr(jaxpr, consts, ins) -> list:
    """Evaluate ``jaxpr`` on object arrays of atoms."""
    env = {v: _obj(jnp.shape(c), lambda idx, c=c: c[idx]) for v, c in zip(jaxpr.constvars, consts)}
    env.update(zip(jaxpr.invars, ins))
    for eqn in jaxpr.eqns:
        env.update(zip(eqn.outvars, _tile_eqn(eqn, [_tile_read(env, v) for v in eqn.invars])))
    return [_tile_read(env, v) for v in jaxpr.outvars]


def _tile_read(env, v):
    return _obj((), lambda _: v.val) if isinstance(v, jex_core.Literal) else env[v]


def _tile_eqn(eqn, ins) -> list:
    """One per-neuron equation on object arrays of atoms -> list of object arrays."""
    name, prm = eqn.primitive.name, eqn.params
    if name in _JIT_CALLS + _CUSTOM_CALLS:  # the primal computation
        return _tile_jaxpr(*_sub_jaxpr(eqn), ins)
    out_shape = tuple(eqn.outvars[0].aval.shape)
    if name == "broadcast_in_dim":
        tmp = [1] * len(prm["shape"])
        for i, d in enumerate(prm["broadcast_dimensions"]):
            tmp[d] = ins[0].shape[i]
        return [np.broadcast_to(ins[0].reshape(tmp), prm["shape"]).copy()]
    if name in ("reshape", "squeeze", "expand_dims"):
        return [ins[0].reshape(out_shape)]
    if name == "transpose":
        return [ins[0].transpose(prm["permutation"])]
    if name == "slice":
        strides = prm["strides"] or (1,) * ins[0].ndim
        return [ins[0][tuple(slice(a, b, c) for a, b, c in zip(prm["start_indices"], prm["limit_indices"], strides))]]
    if name == "rev":
        return [np.flip(ins[0], prm["dimensions"])]
    if name == "concatenate":
        return [np.concatenate(ins, axis=prm["dimension"])]
    if name == "pad":
        return [_pad(ins[0], ins[1][()], prm["padding_config"])]
    if name == "split":
        return list(np.split(ins[0], np.cumsum(prm["sizes"])[:-1], axis=prm["axis"]))
    if name == "dot_general":
        return [_dot(ins[0], ins[1], prm["dimension_numbers"], prm.get("preferred_element_type"))]
    if name in _REDUCERS:
        axes = tuple(prm["axes"])
        arr = ins[0].transpose([d for d in range(ins[0].ndim) if d not in axes] + list(axes))
        return [_obj(out_shape, lambda idx: _reduce(_REDUCERS[name], list(arr[idx + (Ellipsis,)].flat)))]
    # element-wise (operands of the output's shape, or broadcasting to it: scalars, size-1 axes)
    _check_tileable(eqn)
    ins = [np.broadcast_to(x, out_shape) for x in ins]
    return [_obj(out_shape, lambda idx: _atom_bind(lambda *a: _bind(eqn, a)[0], [x[idx] for x in ins]))]


def _check_tileable(eqn) -> None:
    name = eqn.primitive.name
    if name in _JIT_CALLS + _CUSTOM_CALLS:
        for e in _sub_jaxpr(eqn)[0].eqns:
            _check_tileable(e)
        return
    if name in _STRUCTURAL:
        return
    out_shape = tuple(eqn.outvars[0].aval.shape)
    same = all(_broadcasts_to(tuple(v.aval.shape), out_shape) for v in eqn.invars)
    if eqn.primitive.multiple_results or not same or name in _NOT_ELEMENTWISE:
        raise NotImplementedError(
            f"backend='pallas' cannot evaluate the primitive {name!r} on per-neuron values inside a kernel "
            "(supported: element-wise primitives, broadcasts, reshapes, slices, concatenation, padding, "
            "reductions and small contractions over a neuron's own leading axes)"
        )


class _Program:
    """A per-neuron function as a flat jaxpr, split into a hoisted part that depends only on the
    known inputs (shared parameters; evaluated by XLA outside the kernel) and the per-neuron part
    that the kernel evaluates on tiles.

    ``inline``: the call primitives inlined when tracing. The forward program keeps custom_jvp/vjp
    calls as units (so that differentiating its per-neuron part uses their rules); the backward
    program (already differentiated) inlines everything.
    """

    def __init__(self, fn: Callable, avals: list, known_in: list[bool], inline: tuple):
        traced = jax.make_jaxpr(fn)(*avals)
        closed = jax.make_jaxpr(lambda *a: _eval_inlined(traced.jaxpr, traced.consts, a, inline))(*avals)
        jaxpr = closed.jaxpr
        self.jaxpr, self.consts, self.known_in = jaxpr, closed.consts, tuple(known_in)
        known = set(jaxpr.constvars) | {v for v, k in zip(jaxpr.invars, known_in) if k}
        # known values that depend on a known floating input (not on constants only): differentiable
        dep = {v for v, k in zip(jaxpr.invars, known_in) if k and _is_float(v.aval.dtype)}
        self.known_eqns, self.tile_eqns = [], []
        for eqn in jaxpr.eqns:
            if all(isinstance(v, jex_core.Literal) or v in known for v in eqn.invars):
                self.known_eqns.append(eqn)
                known.update(eqn.outvars)
                if any(not isinstance(v, jex_core.Literal) and v in dep for v in eqn.invars):
                    dep.update(eqn.outvars)
            else:
                _check_tileable(eqn)
                self.tile_eqns.append(eqn)
        used = [v for e in self.tile_eqns for v in e.invars] + list(jaxpr.outvars)
        hoisted = []
        for v in used:
            if not isinstance(v, jex_core.Literal) and v in known and v not in hoisted:
                hoisted.append(v)
        self.hoisted = hoisted
        self.hoisted_avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in hoisted]
        self.hoisted_diff = tuple(v in dep and _is_float(v.aval.dtype) for v in hoisted)
        self.hoisted_size = sum(math.prod(v.aval.shape) for v in hoisted)

    def hoist(self, known_args: list) -> list:
        """The hoisted values from the known inputs (plain JAX, outside the kernel; differentiable)."""
        env = dict(zip(self.jaxpr.constvars, self.consts))
        env.update((v, a) for v, a, k in zip(self.jaxpr.invars, known_args, self.known_in) if k)
        for eqn in self.known_eqns:
            env.update(zip(eqn.outvars, _bind(eqn, [_read(env, v) for v in eqn.invars])))
        return [env[v] for v in self.hoisted]

    def pack(self, hoisted: list, dtype) -> jax.Array:
        """The hoisted values raveled into one vector (power-of-two length)."""
        vals = [jnp.ravel(a).astype(dtype) for a in hoisted]
        size = _next_pow2(max(1, self.hoisted_size))
        vals.append(jnp.zeros((size - self.hoisted_size,), dtype))
        return jnp.concatenate(vals)

    def unpack(self, vec_ref) -> list:
        """Inside a kernel: the hoisted values as object arrays of scalars read from ``vec_ref``."""
        out, off = [], 0
        for v in self.hoisted:
            size = math.prod(v.aval.shape)
            out += _unflat([vec_ref[off + m].astype(v.aval.dtype) for m in range(size)], [v.aval.shape])
            off += size
        return out

    def __call__(self, hoisted: list, args: list) -> list:
        """Inside a kernel: the outputs (object arrays of atoms) from the hoisted values and the
        per-neuron inputs (object arrays; entries for known inputs are ignored)."""
        env = dict(zip(self.hoisted, hoisted))
        env.update((v, a) for v, a, k in zip(self.jaxpr.invars, args, self.known_in) if not k)
        for eqn in self.tile_eqns:
            env.update(zip(eqn.outvars, _tile_eqn(eqn, [_tile_read(env, v) for v in eqn.invars])))
        return [_tile_read(env, v) for v in self.jaxpr.outvars]

    def plain(self, hoisted: list, args: list) -> list:
        """The per-neuron part as a plain (differentiable) JAX function of one neuron's values."""
        env = dict(zip(self.hoisted, hoisted))
        env.update((v, a) for v, a, k in zip(self.jaxpr.invars, args, self.known_in) if not k)
        for eqn in self.tile_eqns:
            env.update(zip(eqn.outvars, _bind(eqn, [_read(env, v) for v in eqn.invars])))
        return [_read(env, v) for v in self.jaxpr.outvars]


# --------------------------------------------------------------------------- the plan (all static)


@dataclasses.dataclass(frozen=True)
class _Config:
    block: int
    interpret: bool
    platform: str


def _next_pow2(v: int) -> int:
    return 1 << max(0, (v - 1).bit_length())


def _geometry(n: int, block: int) -> tuple[int, int, int]:
    """``(rows, lanes, n_blocks)`` of one neuron block for ``n`` neurons."""
    if block % _LANES == 0:
        lanes, rows = _LANES, block // _LANES
        if n <= block:  # one block: no more rows than needed
            rows = min(rows, _next_pow2(-(-n // lanes)))
    else:
        lanes, rows = block, 1
        if n <= block:
            lanes = min(lanes, _next_pow2(max(n, 1)))
    return rows, lanes, max(1, -(-n // (rows * lanes)))


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


@dataclasses.dataclass(frozen=True)
class _Plan:
    T: int
    shape: tuple[int, ...]
    n: int
    rows: int
    lanes: int
    n_blocks: int
    cdt: Any  # compute dtype
    p_def: Any
    p_shapes: tuple
    p_dtypes: tuple
    p_neuron: tuple  # per leaf: tiled per neuron (True) or shared (False)
    p_diff: tuple  # per leaf: floating (differentiable)
    s_def: Any
    s_lead: tuple  # per state leaf: leading (non-neuron) axes
    s_dtypes: tuple
    y_def: Any
    y_lead: tuple
    y_dtypes: tuple
    x_dtype: Any

    @property
    def n_pad(self) -> int:
        return self.n_blocks * self.rows * self.lanes

    @property
    def R(self) -> int:
        return self.n_blocks * self.rows


def _make_plan(step, cfg: _Config, params, state, xs) -> _Plan:
    T, shape = int(xs.shape[0]), tuple(xs.shape[1:])
    n = math.prod(shape)
    rows, lanes, n_blocks = _geometry(n, cfg.block)

    p_leaves, p_def = jax.tree.flatten(params)
    s_leaves, s_def = jax.tree.flatten(state)
    cdt = jnp.promote_types(jnp.float32, xs.dtype)
    for a in s_leaves:
        if not _is_float(a.dtype):
            raise NotImplementedError(f"backend='pallas' needs floating state leaves, got {a.dtype}")
        cdt = jnp.promote_types(cdt, a.dtype)

    p_neuron = [jnp.ndim(a) >= 1 and _broadcasts_to(tuple(jnp.shape(a)), shape) for a in p_leaves]
    s_lead = []
    for a in s_leaves:
        shp = tuple(a.shape)
        if len(shp) < len(shape) or shp[len(shp) - len(shape) :] != shape:
            raise NotImplementedError(
                f"backend='pallas' needs per-neuron state leaves ([..., *{shape}]); got a leaf of shape {shp}"
            )
        s_lead.append(shp[: len(shp) - len(shape)])

    # the full-shape step fixes the output structure and dtypes ...
    full_new, full_y = jax.eval_shape(step, params, state, jax.ShapeDtypeStruct(shape, xs.dtype))
    if jax.tree.structure(full_new) != s_def:
        raise TypeError(f"step returned a state of structure {jax.tree.structure(full_new)}, expected {s_def}")
    y_leaves, y_def = jax.tree.flatten(full_y)
    y_lead = []
    for yl in y_leaves:
        if not _is_float(yl.dtype):
            raise NotImplementedError(f"backend='pallas' needs floating outputs, got {yl.dtype}")
        shp = tuple(yl.shape)
        if len(shp) < len(shape) or shp[len(shp) - len(shape) :] != shape:
            raise NotImplementedError(
                f"backend='pallas' needs per-neuron outputs ([..., *{shape}]); step returned shape {shp}"
            )
        y_lead.append(shp[: len(shp) - len(shape)])
    for a, b in zip(jax.tree.leaves(full_new), s_leaves):
        if tuple(a.shape) != tuple(b.shape):
            raise TypeError(f"step changed a state leaf's shape from {b.shape} to {a.shape}")

    plan = _Plan(
        T=T,
        shape=shape,
        n=n,
        rows=rows,
        lanes=lanes,
        n_blocks=n_blocks,
        cdt=jnp.dtype(cdt),
        p_def=p_def,
        p_shapes=tuple(tuple(jnp.shape(a)) for a in p_leaves),
        p_dtypes=tuple(jnp.result_type(a) for a in p_leaves),
        p_neuron=tuple(p_neuron),
        p_diff=tuple(_is_float(jnp.result_type(a)) for a in p_leaves),
        s_def=s_def,
        s_lead=tuple(s_lead),
        s_dtypes=tuple(a.dtype for a in s_leaves),
        y_def=y_def,
        y_lead=tuple(y_lead),
        y_dtypes=tuple(yl.dtype for yl in y_leaves),
        x_dtype=xs.dtype,
    )
    _check_elementwise(step, plan)
    return plan


def _broadcasts_to(shp: tuple, shape: tuple) -> bool:
    if len(shp) > len(shape):
        return False
    return all(a in (1, b) for a, b in zip(shp[::-1], shape[::-1]))


def _elem_param_aval(plan: _Plan, i: int):
    dt = plan.cdt if plan.p_diff[i] else plan.p_dtypes[i]
    shp = () if plan.p_neuron[i] else plan.p_shapes[i]
    return jax.ShapeDtypeStruct(shp, dt)


def _check_elementwise(step, plan: _Plan) -> None:
    """The step on one neuron (per-element shapes) must give per-element shapes."""
    p = [_elem_param_aval(plan, i) for i in range(len(plan.p_shapes))]
    s = [jax.ShapeDtypeStruct(lead, plan.cdt) for lead in plan.s_lead]
    x = jax.ShapeDtypeStruct((), plan.cdt)
    try:
        new, y = jax.eval_shape(partial(_elem_step, step, plan), p, s, x)
    except Exception as e:  # noqa: BLE001
        raise NotImplementedError(
            "backend='pallas' needs an element-wise step (each neuron independent of the others, e.g. not "
            f"the recurrent LIF); evaluating the step on a single neuron failed: {type(e).__name__}: {e}"
        ) from e
    ok = [tuple(a.shape) == lead for a, lead in zip(new, plan.s_lead)]
    ok += [tuple(a.shape) == lead for a, lead in zip(y, plan.y_lead)]
    if not all(ok):
        raise NotImplementedError(
            "backend='pallas' needs an element-wise step; on a single neuron the step returned shapes "
            f"{[a.shape for a in new]} / {[a.shape for a in y]}"
        )


def _elem_step(step, plan: _Plan, p_leaves, s_leaves, x):
    params = jax.tree.unflatten(plan.p_def, list(p_leaves))
    state = jax.tree.unflatten(plan.s_def, list(s_leaves))
    new, y = step(params, state, x)
    new = [a.astype(plan.cdt) for a in jax.tree.leaves(new)]
    y = [a.astype(plan.cdt) for a in jax.tree.leaves(y)]
    return new, y


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
        _to_tiles(jnp.broadcast_to(a, plan.shape), 0, plan, plan.cdt)
        for a, per in zip(p_leaves, plan.p_neuron)
        if per
    ]
    return jnp.stack(tiles) if tiles else None


def _known_args(plan: _Plan, p_leaves) -> list:
    """Program inputs for the shared parameter leaves (None for per-neuron ones)."""
    avals = _elem_param_avals(plan)
    return [None if per else jnp.asarray(a, aval.dtype) for a, per, aval in zip(p_leaves, plan.p_neuron, avals)]


def _param_atoms(plan: _Plan, tile_ref) -> list:
    """Inside a kernel: program inputs for the parameter leaves (per-neuron: a tile; shared: unused)."""
    out, j = [], 0
    for i, per in enumerate(plan.p_neuron):
        if per:
            dt = plan.cdt if plan.p_diff[i] else plan.p_dtypes[i]
            out.append(_unflat([tile_ref[j].astype(dt)], [()])[0])
            j += 1
        else:
            out.append(None)
    return out


def _elem_param_avals(plan: _Plan) -> list:
    return [_elem_param_aval(plan, i) for i in range(len(plan.p_shapes))]


def _fwd_program(step, plan: _Plan) -> _Program:
    """One neuron's step: (param leaves, state leaves, x) -> (new state leaves, output leaves);
    the shared parameter leaves are known (their computations are hoisted out of the kernel)."""
    avals = _elem_param_avals(plan)
    avals += [jax.ShapeDtypeStruct(lead, plan.cdt) for lead in plan.s_lead] + [jax.ShapeDtypeStruct((), plan.cdt)]
    known = [not per for per in plan.p_neuron] + [False] * (len(plan.s_lead) + 1)
    return _Program(lambda *a: _flat_step(step, plan, a), avals, known, inline=_JIT_CALLS)


def _bwd_layout(plan: _Plan, fwd: _Program):
    """Rows of the backward kernel's parameter-cotangent output: the differentiable hoisted values of
    the forward program (their cotangents are pulled back to the shared parameters outside the
    kernel), then the differentiable per-neuron parameter leaves. Entries: (kind, index, shape, row)."""
    rows, off = [], 0
    for j, (aval, d) in enumerate(zip(fwd.hoisted_avals, fwd.hoisted_diff)):
        if d:
            rows.append(("hoisted", j, tuple(aval.shape), off))
            off += math.prod(aval.shape)
    for i, (per, d) in enumerate(zip(plan.p_neuron, plan.p_diff)):
        if per and d:
            rows.append(("neuron", i, (), off))
            off += 1
    return rows, off


def _bwd_program(plan: _Plan, fwd: _Program) -> _Program:
    """One neuron's reverse step: (hoisted values, per-neuron params, state, x, ct state, ct y) ->
    (d diff hoisted values, d diff per-neuron params, d state, dx): ``jax.vjp`` of the forward
    program's per-neuron part (custom_vjp rules, e.g. surrogate gradients, apply)."""
    n_h, n_p, n_s, n_y = len(fwd.hoisted), len(plan.p_shapes), len(plan.s_lead), len(plan.y_lead)
    h_idx = [j for j, d in enumerate(fwd.hoisted_diff) if d]
    pn_idx = [i for i, per in enumerate(plan.p_neuron) if per]
    pnd_idx = [i for i in pn_idx if plan.p_diff[i]]
    p_avals = _elem_param_avals(plan)
    s_avals = [jax.ShapeDtypeStruct(lead, plan.cdt) for lead in plan.s_lead]
    y_avals = [jax.ShapeDtypeStruct(lead, plan.cdt) for lead in plan.y_lead]
    x_aval = jax.ShapeDtypeStruct((), plan.cdt)
    avals = list(fwd.hoisted_avals) + [p_avals[i] for i in pn_idx] + s_avals + [x_aval] + s_avals + y_avals

    def b(*args):
        h = list(args[:n_h])
        pn = dict(zip(pn_idx, args[n_h : n_h + len(pn_idx)]))
        rest = args[n_h + len(pn_idx) :]
        s, x, ct_s, ct_y = rest[:n_s], rest[n_s], rest[n_s + 1 : 2 * n_s + 1], rest[2 * n_s + 1 :]

        def f(hd, pnd, s, x):
            hh = list(h)
            for j, v in zip(h_idx, hd):
                hh[j] = v
            pp = dict(pn)
            pp.update(zip(pnd_idx, pnd))
            outs = fwd.plain(hh, [pp.get(i) for i in range(n_p)] + list(s) + [x])
            return tuple(outs[:n_s]), tuple(outs[n_s:])

        _, vjp = jax.vjp(f, tuple(h[j] for j in h_idx), tuple(pn[i] for i in pnd_idx), tuple(s), x)
        dh, dpn, ds, dx = vjp((tuple(ct_s), tuple(ct_y[:n_y])))
        return (*dh, *dpn, *ds, dx)

    known = [True] * n_h + [False] * (len(avals) - n_h)
    return _Program(b, avals, known, inline=_JIT_CALLS + _CUSTOM_CALLS)


def _lead_index(lead: tuple):
    return list(np.ndindex(*lead))


# --------------------------------------------------------------------------- pallas_call plumbing


def _spec(block_shape: tuple, lead_nd: int):
    """A BlockSpec over ``[*lead, R, lanes]`` taking block ``i`` of the rows axis."""
    return pl.BlockSpec(block_shape, lambda i: (0,) * lead_nd + (i, 0))


def _vec_spec(vec, cfg: _Config):
    if cfg.platform == "tpu" and not cfg.interpret:
        from jax.experimental.pallas import tpu as pltpu

        return pl.BlockSpec(memory_space=pltpu.SMEM)
    return pl.BlockSpec(vec.shape, lambda i: (0,))


def _compiler_params(plan: _Plan, cfg: _Config, footprint: int):
    if cfg.interpret:
        return None
    if cfg.platform == "tpu":
        from jax.experimental.pallas import tpu as pltpu

        kw = {}
        if footprint > 12 * 2**20:
            kw["vmem_limit_bytes"] = int(min(footprint * 1.25 + 4 * 2**20, 100 * 2**20))
        return pltpu.CompilerParams(dimension_semantics=("parallel",), **kw)
    if cfg.platform == "gpu":
        from jax.experimental.pallas import triton as pltriton

        warps = int(min(8, max(1, plan.rows * plan.lanes // 256)))
        return pltriton.CompilerParams(num_warps=warps, num_stages=1)
    return None


def _call(kernel, plan: _Plan, cfg: _Config, ins, in_specs, out_shapes, out_specs, name):
    footprint = 2 * sum(
        math.prod(s.block_shape) * jnp.dtype(a.dtype).itemsize
        for s, a in zip(list(in_specs) + list(out_specs), list(ins) + list(out_shapes))
        if getattr(s, "block_shape", None) is not None
    )
    return pl.pallas_call(
        kernel,
        out_shape=tuple(out_shapes),
        grid=(plan.n_blocks,),
        in_specs=list(in_specs),
        out_specs=tuple(out_specs),
        interpret=cfg.interpret,
        compiler_params=_compiler_params(plan, cfg, footprint),
        name=name,
    )(*ins)


# --------------------------------------------------------------------------- forward


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


def _param_inputs(plan: _Plan, cfg: _Config, vec, tiles):
    """Kernel inputs and BlockSpecs of the params: the hoisted-scalar vector, then the stacked tiles if any."""
    ins, specs = [vec], [_vec_spec(vec, cfg)]
    if tiles is not None:
        ins.append(tiles)
        specs.append(_spec((tiles.shape[0], plan.rows, plan.lanes), 1))
    return ins, specs


def _load(ref, prefix: tuple, lead: tuple, dtype) -> list:
    """Atoms (tiles) of one leaf: ``ref[*prefix, *m]`` for every index ``m`` of its leading axes."""
    return [(ref[prefix + m] if prefix + m else ref[...]).astype(dtype) for m in _lead_index(lead)]


def _store(ref, prefix: tuple, lead: tuple, atoms, tile: tuple) -> None:
    for m, a in zip(_lead_index(lead), atoms):
        a = jnp.broadcast_to(a, tile).astype(ref.dtype)
        if prefix + m:
            ref[prefix + m] = a
        else:
            ref[...] = a


def _split(seq, sizes) -> list:
    out, i = [], 0
    for n in sizes:
        out.append(list(seq[i : i + n]))
        i += n
    return out


def _forward_tiles(cfg, plan: _Plan, fwd: _Program, vec, tiles, x_t, s_t, *, save: bool):
    T, br, L = plan.T, plan.rows, plan.lanes
    tile = (br, L)
    n_s, n_y = len(s_t), len(plan.y_lead)
    cdt = plan.cdt
    n_pin = 1 + (tiles is not None)
    s_sizes = [math.prod(lead) for lead in plan.s_lead]

    def kernel(*refs):
        vec_ref, tile_ref = refs[0], (refs[1] if n_pin == 2 else None)
        x_ref = refs[n_pin]
        s0_refs = refs[n_pin + 1 : n_pin + 1 + n_s]
        outs = refs[n_pin + 1 + n_s :]
        y_refs, sf_refs, sv_refs = outs[:n_y], outs[n_y : n_y + n_s], outs[n_y + n_s :]
        hoisted = fwd.unpack(vec_ref)
        p_atoms = _param_atoms(plan, tile_ref)

        def body(t, carry):  # carry: the state's atoms (tiles), flat
            if save:  # the state entering step t (the backward residual)
                for r, lead, atoms in zip(sv_refs, plan.s_lead, _split(carry, s_sizes)):
                    _store(r, (t,), lead, atoms, tile)
            x = _unflat([x_ref[t].astype(cdt)], [()])
            res = fwd(hoisted, p_atoms + _unflat(carry, plan.s_lead) + x)
            for r, lead, arr in zip(y_refs, plan.y_lead, res[n_s:]):
                _store(r, (t,), lead, list(arr.flat), tile)
            return tuple(jnp.broadcast_to(a, tile).astype(cdt) for a in _flat(res[:n_s]))

        init = tuple(a for r, lead in zip(s0_refs, plan.s_lead) for a in _load(r, (), lead, cdt))
        final = jax.lax.fori_loop(0, T, body, init)
        for r, lead, atoms in zip(sf_refs, plan.s_lead, _split(final, s_sizes)):
            _store(r, (), lead, atoms, tile)

    ins, in_specs = _param_inputs(plan, cfg, vec, tiles)
    ins += [x_t, *s_t]
    in_specs += [_spec((T, br, L), 1)]
    in_specs += [_spec(lead + (br, L), len(lead)) for lead in plan.s_lead]
    out_shapes = [jax.ShapeDtypeStruct((T,) + lead + (plan.R, L), dt) for lead, dt in zip(plan.y_lead, plan.y_dtypes)]
    out_specs = [_spec((T,) + lead + (br, L), 1 + len(lead)) for lead in plan.y_lead]
    out_shapes += [jax.ShapeDtypeStruct(lead + (plan.R, L), dt) for lead, dt in zip(plan.s_lead, plan.s_dtypes)]
    out_specs += [_spec(lead + (br, L), len(lead)) for lead in plan.s_lead]
    if save:
        out_shapes += [jax.ShapeDtypeStruct((T,) + lead + (plan.R, L), cdt) for lead in plan.s_lead]
        out_specs += [_spec((T,) + lead + (br, L), 1 + len(lead)) for lead in plan.s_lead]
    outs = _call(kernel, plan, cfg, ins, in_specs, out_shapes, out_specs, "snnjax_pallas_fwd")
    ys, final, saved = outs[:n_y], outs[n_y : n_y + n_s], outs[n_y + n_s :]
    return list(final), list(ys), list(saved)


def _flat_step(step, plan: _Plan, args):
    n_p, n_s = len(plan.p_shapes), len(plan.s_lead)
    new, y = _elem_step(step, plan, args[:n_p], args[n_p : n_p + n_s], args[n_p + n_s])
    return tuple(new) + tuple(y)


# --------------------------------------------------------------------------- backward


def _backward_tiles(cfg, plan: _Plan, bwd: _Program, n_rows: int, vec, tiles, x_t, saved, dys_t, dfin_t):
    T, br, L = plan.T, plan.rows, plan.lanes
    tile = (br, L)
    n_s, n_y = len(plan.s_lead), len(plan.y_lead)
    cdt = plan.cdt
    n_pin = 1 + (tiles is not None)
    s_sizes = [math.prod(lead) for lead in plan.s_lead]
    n_bh = len(bwd.known_in) - sum(1 for k in bwd.known_in if not k)  # known (hoisted-value) inputs

    def kernel(*refs):
        it = iter(refs)
        vec_ref = next(it)
        tile_ref = next(it) if n_pin == 2 else None
        x_ref = next(it)
        sv_refs = [next(it) for _ in range(n_s)]
        dy_refs = [next(it) for _ in range(n_y)]
        dfin_refs = [next(it) for _ in range(n_s)]
        dx_ref = next(it)
        ds0_refs = [next(it) for _ in range(n_s)]
        dp_ref = next(it) if n_rows else None
        hoisted = bwd.unpack(vec_ref)
        pn_atoms = [a for a in _param_atoms(plan, tile_ref) if a is not None]

        def body(i, carry):
            ds, dp = carry
            t = T - 1 - i
            s = [_unflat(_load(r, (t,), lead, cdt), [lead])[0] for r, lead in zip(sv_refs, plan.s_lead)]
            dy = [_unflat(_load(r, (t,), lead, cdt), [lead])[0] for r, lead in zip(dy_refs, plan.y_lead)]
            x = _unflat([x_ref[t].astype(cdt)], [()])
            res = _flat(bwd(hoisted, [None] * n_bh + pn_atoms + s + x + _unflat(ds, plan.s_lead) + dy))
            dp_t, ds_new, dx = res[:n_rows], res[n_rows:-1], res[-1]
            dx_ref[t] = jnp.broadcast_to(dx, tile).astype(dx_ref.dtype)
            dp = tuple(a + jnp.broadcast_to(b, tile).astype(cdt) for a, b in zip(dp, dp_t))
            return tuple(jnp.broadcast_to(a, tile).astype(cdt) for a in ds_new), dp

        ds0 = tuple(a for r, lead in zip(dfin_refs, plan.s_lead) for a in _load(r, (), lead, cdt))
        dp0 = tuple(jnp.zeros(tile, cdt) for _ in range(n_rows))
        ds, dp = jax.lax.fori_loop(0, T, body, (ds0, dp0))
        for r, lead, atoms in zip(ds0_refs, plan.s_lead, _split(ds, s_sizes)):
            _store(r, (), lead, atoms, tile)
        for row, v in enumerate(dp):  # per-neuron parameter(-value) cotangents, summed over time
            dp_ref[row] = v

    ins, in_specs = _param_inputs(plan, cfg, vec, tiles)
    ins += [x_t, *saved, *dys_t, *dfin_t]
    in_specs += [_spec((T, br, L), 1)]
    in_specs += [_spec((T,) + lead + (br, L), 1 + len(lead)) for lead in plan.s_lead]
    in_specs += [_spec((T,) + lead + (br, L), 1 + len(lead)) for lead in plan.y_lead]
    in_specs += [_spec(lead + (br, L), len(lead)) for lead in plan.s_lead]
    out_shapes = [jax.ShapeDtypeStruct((T, plan.R, L), plan.x_dtype)]
    out_specs = [_spec((T, br, L), 1)]
    out_shapes += [jax.ShapeDtypeStruct(lead + (plan.R, L), dt) for lead, dt in zip(plan.s_lead, plan.s_dtypes)]
    out_specs += [_spec(lead + (br, L), len(lead)) for lead in plan.s_lead]
    if n_rows:
        out_shapes.append(jax.ShapeDtypeStruct((n_rows, plan.R, L), cdt))
        out_specs.append(_spec((n_rows, br, L), 1))
    outs = _call(kernel, plan, cfg, ins, in_specs, out_shapes, out_specs, "snnjax_pallas_bwd")
    return outs[0], list(outs[1 : 1 + n_s]), (outs[1 + n_s] if n_rows else None)


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
