"""The ``pallas_call`` plumbing: the forward and backward kernels.

``_forward_tiles`` / ``_backward_tiles`` build the kernel bodies (a forward and a
reverse-time ``fori_loop`` over the time axis, reading and writing tiles through
the refs and evaluating the per-neuron programs on them), their BlockSpecs
(grid over neuron blocks; the hoisted-scalar vector in SMEM on TPU) and compiler
parameters (Triton warps, Mosaic VMEM limit), and run ``pl.pallas_call``.

Tiles in, tiles out: arrays are laid out by :mod:`.layout`, and the custom_vjp
that joins the two kernels is :mod:`.api`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl

from snnjax.kernels.pallas.evaluator import _flat, _Program, _unflat
from snnjax.kernels.pallas.plan import _Config, _Plan

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


# --------------------------------------------------------------------------- kernel inputs / refs


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


def _lead_index(lead: tuple):
    return list(np.ndindex(*lead))


# --------------------------------------------------------------------------- forward


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
