"""The plan of a run (all static) and the per-neuron programs built from it.

``_make_plan`` fixes, from ``step``, the params, the state and ``xs``, everything
static about one run: the per-step shape, the block geometry (rows, lanes,
number of blocks), the compute dtype, which parameter leaves are per-neuron or
shared, the leading (non-neuron) axes and dtypes of the state and output leaves;
it checks that ``step`` is element-wise. ``_fwd_program`` / ``_bwd_program`` trace
one neuron's step and its ``jax.vjp`` into :class:`~.evaluator._Program` s;
``_bwd_layout`` lists the rows of the backward kernel's parameter-cotangent output.

It moves no arrays (that is :mod:`.layout`) and builds no kernels (:mod:`.call`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from snnjax.kernels.pallas.evaluator import (
    _CUSTOM_CALLS,
    _JIT_CALLS,
    _broadcasts_to,
    _is_float,
    _next_pow2,
    _Program,
)

_LANES = 128


# --------------------------------------------------------------------------- the plan (all static)


@dataclasses.dataclass(frozen=True)
class _Config:
    block: int
    interpret: bool
    platform: str


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


# ------------------------------------------------------------------- per-neuron programs of a plan


def _elem_param_avals(plan: _Plan) -> list:
    return [_elem_param_aval(plan, i) for i in range(len(plan.p_shapes))]


def _fwd_program(step, plan: _Plan) -> _Program:
    """One neuron's step: (param leaves, state leaves, x) -> (new state leaves, output leaves);
    the shared parameter leaves are known (their computations are hoisted out of the kernel)."""
    avals = _elem_param_avals(plan)
    avals += [jax.ShapeDtypeStruct(lead, plan.cdt) for lead in plan.s_lead] + [jax.ShapeDtypeStruct((), plan.cdt)]
    known = [not per for per in plan.p_neuron] + [False] * (len(plan.s_lead) + 1)
    return _Program(lambda *a: _flat_step(step, plan, a), avals, known, inline=_JIT_CALLS)


def _flat_step(step, plan: _Plan, args):
    n_p, n_s = len(plan.p_shapes), len(plan.s_lead)
    new, y = _elem_step(step, plan, args[:n_p], args[n_p : n_p + n_s], args[n_p + n_s])
    return tuple(new) + tuple(y)


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
