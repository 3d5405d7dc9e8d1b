"""Per-neuron programs: a traced ``step`` as a jaxpr, evaluated on tiles.

``_Program`` traces a per-neuron function once (custom_jvp/vjp and jit calls
inlined as asked), splits its equations into a *hoisted* part that depends only
on known inputs (shared parameters; evaluated by XLA outside the kernel) and a
per-neuron part, and evaluates the latter inside a kernel on NumPy object arrays
of ``[rows, lanes]`` tiles (``_tile_eqn``), or as plain JAX (``plain``, to be
differentiated). ``_check_tileable`` rejects primitives it cannot evaluate.

It knows jaxprs, tiles and scalars only: not the plan (shapes, blocks, dtypes of
a run), not the array layout, not ``pallas_call``, not any neuron.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

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
    bind_params = eqn.primitive.get_bind_params(eqn.params)  # as core.eval_jaxpr
    if isinstance(bind_params, dict):  # newer JAX: the params alone
        outs = eqn.primitive.bind(*invals, **bind_params)
    else:  # JAX 0.8: (subfuns, params)
        subfuns, bind_params = bind_params
        outs = eqn.primitive.bind(*subfuns, *invals, **bind_params)
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


# --------------------------------------------------------------------------- shape / dtype helpers


def _next_pow2(v: int) -> int:
    return 1 << max(0, (v - 1).bit_length())


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


def _broadcasts_to(shp: tuple, shape: tuple) -> bool:
    if len(shp) > len(shape):
        return False
    return all(a in (1, b) for a, b in zip(shp[::-1], shape[::-1]))
