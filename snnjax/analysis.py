r"""Spike statistics and synaptic-operation (SOP) / energy estimates (ILIF Figs. 3-4, Table 5).

Spike statistics
----------------
From the list of spike tensors ``[T, B, ...]`` that the models return with
``return_spikes=True`` (one per neuron layer). A neuron *fires* at a step when its output is
``> threshold`` (default 0): for binary spikes this is ``s == 1``; for POLARA's continuous
outputs in ``(0, 1)`` it counts every active step (``mean_output`` keeps the mean value).

* ``firing_rate``: spikes / (T · B · neurons) per layer (ILIF Fig. 5's "firing rate");
* ``over_half``: ILIF Fig. 3 / Appendix G, "the proportion of neurons activated for more
  than half the time": per neuron *and sample*, the number of steps at which it fires,
  ``c = Σ_t 1[s_t > 0]``; the share of (neuron, sample) pairs with ``c > T / 2`` (strictly:
  at T = 4 that is 3 or 4 spikes, at T = 6 4 to 6);
* ``counts_per_step``: ILIF Fig. 4 ("spike counts beside each time step"): the number of
  neurons of the layer firing at step t, per sample (averaged over the batch).

Synaptic operations
-------------------
:func:`synaptic_ops` traces a function with :func:`jax.make_jaxpr` and re-evaluates the
jaxpr (compiled once per input shape) with counters at every ``conv_general_dilated`` and
``dot_general`` that has a data-dependent operand (one computed from the function's
arguments; parameters closed over are constants). It recurses into ``jit`` /
``closed_call`` / ``custom_jvp_call`` / ``custom_vjp_call`` / ``remat`` sub-jaxprs, unrolls a
``scan`` whose body holds such an operation (a recurrent weight), and evaluates every other
primitive (the neurons' ``scan`` loops, ``while``, Pallas kernels) as it is. For a layer
``y = op(x, W)`` with data ``x``:

* ``nonzero_ops = Σ op(1[x ≠ 0], 1)``: every nonzero input times its exact number of output
  connections (fan-out), borders, strides, groups and dilation included;
* ``dense_ops``: all multiply-accumulates of the layer, as an ANN computes them (a
  convolution: output elements × kernel taps × input channels per group, the usual
  FLOP-counter convention, taps on the zero padding included).

If every nonzero value of ``x`` is the same (spikes, 0/1 — or 0/c, which scales into the
weights) the layer costs ``AC = nonzero_ops`` accumulates (ILIF Eq. 50,
``AC = Σ_t Σ_l Σ_i f_i^l s_i^l[t]``); otherwise (the analog input of the first layer with
direct encoding, average-pooled spikes before the classifier, continuous POLARA outputs)
``MAC = dense_ops`` (``nonbinary="mac"``, default) — or, with ``nonbinary="ac"`` (graded
spikes), ``AC = nonzero_ops`` for every layer except those fed directly by the function's
arguments (through reshapes, broadcasts, casts only), which stay MACs. The decision is taken
from the concrete values, per call. Bias additions, BatchNorm (foldable into the weights at
inference), residual additions and pooling are not counted (nor are they in ILIF's table).

Neuron operations
-----------------
ILIF's Table 5 counts the neurons' own updates as MACs. Its MAC column is reproduced
exactly by **one MAC per neuron per time step for LIF and two for ILIF** (the membrane
update plus the inhibitory units), per image, summed over T:

* CIFAR ResNet-18 (this library's :func:`~snnjax.models.preact_resnet18`, 32×32): the 17
  neuron layers hold 557,056 neurons (4·64·32² + 64·32² + 3·128·16² + 128·16² + 3·256·8²
  + 256·8² + 3·512·4² + 512·4²); ×T = 6 = **3.34 M** (LIF), ×2 = **6.68 M** (ILIF);
* VGG-11 on 48×48 DVS-CIFAR10: 340,992 neurons × 10 = 3.41 M (6.82 M for ILIF); on
  128×128 DVS-Gesture: 2,424,832 × 20 = 48.50 M (96.99 M).

The stem convolution on the analog image (3→64, 3×3, 32×32: 1.77 M MACs per step,
10.6 M at T = 6) is therefore *not* in the paper's MAC column, which also holds no other
synaptic MAC. The paper's ANN row, 549.13 M MACs, is all 3×3 convolutions including the
stem (549,126,144) plus the 512→10 classifier, without the three 1×1 shortcut convolutions
(which would add 6.29 M: this library's dense count of the network is 555.43 M per step).

This module reports, per image and summed over T:

* ``ac``: spike-driven accumulates of all layers (ILIF's AC column);
* ``mac_neuron``: neurons × T × ``macs_per_neuron`` (1; 2 for ILIF with any inhibitory
  unit) — ILIF's MAC column;
* ``mac_synaptic``: MACs of the layers with non-binary input (the stem, the pooled head);
* ``energy_uJ = E_AC · ac + E_MAC · (mac_synaptic + mac_neuron)`` with E_AC = 0.9 pJ and
  E_MAC = 4.6 pJ (ILIF Eq. 49, from Han et al. 2015), and ``energy_paper_uJ =
  E_AC · ac + E_MAC · mac_neuron``, ILIF's convention: their energies follow from exactly
  these two columns (LIF: 0.9 pJ · 568.26 M + 4.6 pJ · 3.342336 M = 526.81 µJ, table
  526.806; ILIF: 0.9 · 488.12 + 4.6 · 6.684672 = 470.06 µJ, table 470.056);
* ``ann_mac``: the dense MACs of one time step (the ANN row's convention).

Whether ILIF counted the stem's input as ACs is not stated; the AC totals depend on the
trained weights and cannot be checked without them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex

__all__ = [
    "E_AC",
    "E_MAC",
    "firing_rates",
    "over_half_share",
    "spike_counts_per_step",
    "spike_stats",
    "merge_spike_stats",
    "SpikeStats",
    "OpCounter",
    "synaptic_ops",
    "merge_records",
    "neuron_ops",
    "macs_per_neuron_of",
    "energy",
    "energy_markdown",
    "model_energy",
    "analyse_model",
    "report_markdown",
    "write_report",
    "summary",
    "plot_firing_rates",
    "plot_over_half",
    "plot_spike_counts",
]

E_AC = 0.9e-12  # J per accumulate (32-bit float add; ILIF Table 5 after Han et al. 2015)
E_MAC = 4.6e-12  # J per multiply-accumulate

_COUNTED = ("conv_general_dilated", "dot_general")
_CALLS = ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call", "custom_vjp_call",
          "custom_vjp_call_jaxpr")  # fmt: skip
# data movement: the output is still "the function's input" for nonbinary="ac"
_MOVES = ("reshape", "transpose", "broadcast_in_dim", "convert_element_type", "squeeze", "expand_dims", "slice",
          "dynamic_slice", "concatenate", "pad", "rev", "copy", "copy_p", "gather", "select_n")  # fmt: skip
_INT32_MAX = 2**31 - 1


# --------------------------------------------------------------------------- spike statistics


def _active(s: jax.Array, threshold: float) -> jax.Array:
    return jnp.asarray(s) > threshold


def _check_spikes(spikes: Sequence[jax.Array]) -> list[jax.Array]:
    if isinstance(spikes, (jax.Array, np.ndarray)):
        spikes = [spikes]
    spikes = list(spikes)
    for i, s in enumerate(spikes):
        if jnp.ndim(s) < 2:
            raise ValueError(f"spike tensor {i} must be time-major [T, B, ...], got shape {jnp.shape(s)}")
    return spikes


def firing_rates(spikes: Sequence[jax.Array], *, threshold: float = 0.0) -> list[float]:
    """Per layer: the fraction of (step, sample, neuron) with output ``> threshold``."""
    return [float(jnp.mean(_active(s, threshold))) for s in _check_spikes(spikes)]


def over_half_share(spikes: Sequence[jax.Array], *, threshold: float = 0.0) -> list[float]:
    """Per layer: the share of (sample, neuron) pairs that fire at more than ``T / 2`` steps
    (ILIF Fig. 3's "neurons activated for more than half the time")."""
    out = []
    for s in _check_spikes(spikes):
        count = jnp.sum(_active(s, threshold), axis=0)  # [B, ...]
        out.append(float(jnp.mean(count > s.shape[0] / 2)))
    return out


def spike_counts_per_step(spikes: Sequence[jax.Array], *, threshold: float = 0.0) -> list[list[float]]:
    """Per layer, per step: the number of neurons firing, averaged over the batch (ILIF Fig. 4)."""
    out = []
    for s in _check_spikes(spikes):
        a = _active(s, threshold)
        out.append([float(v) for v in jnp.sum(a, axis=tuple(range(2, a.ndim))).mean(axis=1)])
    return out


@jax.jit
def _layer_sums(spikes, threshold):
    """Per layer: (spikes per step [T] int32 summed over batch and neurons, #(count > T/2),
    sum of the raw outputs)."""
    res = []
    for s in spikes:
        a = s > threshold
        per_step = jnp.sum(a, axis=tuple(range(1, a.ndim)), dtype=jnp.int32)
        over = jnp.sum(jnp.sum(a, axis=0, dtype=jnp.int32) > s.shape[0] / 2, dtype=jnp.int32)
        total = jnp.sum(s.astype(jnp.float32))
        res.append((per_step, over, total))
    return res


class SpikeStats:
    """Accumulates spike statistics over batches; :meth:`result` gives the per-layer dict.

    Args:
      threshold: an output ``> threshold`` is a spike (default 0).
    """

    def __init__(self, *, threshold: float = 0.0):
        self.threshold = float(threshold)
        self.samples = 0
        self._layers: list[dict[str, Any]] | None = None

    def update(self, spikes: Sequence[jax.Array]) -> None:
        spikes = _check_spikes(spikes)
        sums = _layer_sums([jnp.asarray(s) for s in spikes], self.threshold)
        b = int(spikes[0].shape[1]) if spikes else 0
        if self._layers is None:
            self._layers = [
                {"shape": [int(d) for d in s.shape[2:]], "neurons": int(np.prod(s.shape[2:], dtype=np.int64)),
                 "T": int(s.shape[0]), "per_step": np.zeros(s.shape[0], np.int64), "over": 0, "value_sum": 0.0}
                for s in spikes
            ]  # fmt: skip
        if len(spikes) != len(self._layers) or any(
            int(s.shape[0]) != lay["T"] or list(s.shape[2:]) != lay["shape"] for s, lay in zip(spikes, self._layers)
        ):
            raise ValueError("spike tensors of a later batch do not match the layers of the first")
        for lay, (per_step, over, total) in zip(self._layers, sums):
            lay["per_step"] = lay["per_step"] + np.asarray(per_step, np.int64)
            lay["over"] += int(over)
            lay["value_sum"] += float(total)
        self.samples += b

    def result(self) -> dict[str, Any]:
        """``{"samples", "threshold", "layers": [...], "overall": {...}}``; each layer has
        ``shape``, ``neurons``, ``T``, ``firing_rate``, ``mean_output``, ``over_half``,
        ``counts_per_step`` (per sample) and ``spikes_per_sample``."""
        layers, n = [], max(self.samples, 1)
        tot_spk = tot_steps = tot_over = tot_pairs = 0
        for i, lay in enumerate(self._layers or []):
            steps = lay["T"] * n * lay["neurons"]
            spk = int(lay["per_step"].sum())
            layers.append({
                "layer": i, "shape": lay["shape"], "neurons": lay["neurons"], "T": lay["T"],
                "firing_rate": spk / steps if steps else 0.0,
                "mean_output": lay["value_sum"] / steps if steps else 0.0,
                "over_half": lay["over"] / (n * lay["neurons"]) if lay["neurons"] else 0.0,
                "counts_per_step": [float(c) / n for c in lay["per_step"]],
                "spikes_per_sample": spk / n,
            })  # fmt: skip
            tot_spk, tot_steps = tot_spk + spk, tot_steps + steps
            tot_over, tot_pairs = tot_over + lay["over"], tot_pairs + n * lay["neurons"]
        overall = {
            "firing_rate": tot_spk / tot_steps if tot_steps else 0.0,
            "over_half": tot_over / tot_pairs if tot_pairs else 0.0,
            "spikes_per_sample": tot_spk / n,
            "neurons": sum(lay["neurons"] for lay in layers),
        }
        return {"samples": self.samples, "threshold": self.threshold, "layers": layers, "overall": overall}


def spike_stats(spikes: Sequence[jax.Array], *, threshold: float = 0.0) -> dict[str, Any]:
    """All spike statistics of one batch (see :class:`SpikeStats`)."""
    acc = SpikeStats(threshold=threshold)
    acc.update(spikes)
    return acc.result()


def merge_spike_stats(stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine :func:`spike_stats` results of several batches (weighted by samples)."""
    stats = list(stats)
    if not stats:
        raise ValueError("nothing to merge")
    acc = SpikeStats(threshold=stats[0]["threshold"])
    acc._layers = None
    for st in stats:
        n = st["samples"]
        if acc._layers is None:
            acc._layers = [{"shape": lay["shape"], "neurons": lay["neurons"], "T": lay["T"],
                            "per_step": np.zeros(lay["T"], np.int64), "over": 0, "value_sum": 0.0}
                           for lay in st["layers"]]  # fmt: skip
        for a, lay in zip(acc._layers, st["layers"]):
            a["per_step"] = a["per_step"] + np.rint(np.asarray(lay["counts_per_step"]) * n).astype(np.int64)
            a["over"] += int(round(lay["over_half"] * n * lay["neurons"]))
            a["value_sum"] += lay["mean_output"] * n * lay["T"] * lay["neurons"]
        acc.samples += n
    return acc.result()


# --------------------------------------------------------------------------- jaxpr walk


def _sub_jaxpr(eqn) -> tuple[Any, list] | None:
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        j = eqn.params.get(key)
        if isinstance(j, jex.ClosedJaxpr):
            return j.jaxpr, list(j.consts)
        if isinstance(j, jex.Jaxpr):
            return j, []
    return None


def _jaxprs_in(params: Mapping[str, Any]):
    for v in params.values():
        for j in v if isinstance(v, (tuple, list)) else (v,):
            if isinstance(j, jex.ClosedJaxpr):
                yield j.jaxpr
            elif isinstance(j, jex.Jaxpr):
                yield j


def _contains_counted(jaxpr, _cache: dict = {}) -> bool:  # noqa: B006 (an id-keyed memo)
    key = id(jaxpr)
    hit = _cache.get(key)
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    found = any(e.primitive.name in _COUNTED or any(_contains_counted(j) for j in _jaxprs_in(e.params))
                for e in jaxpr.eqns)  # fmt: skip
    if len(_cache) > 4096:
        _cache.clear()
    _cache[key] = (jaxpr, found)
    return found


@dataclasses.dataclass
class _Site:
    """Static description of one counted operation (one equation along one call path)."""

    index: int
    primitive: str
    params: dict
    lhs: tuple  # (shape, dtype)
    rhs: tuple
    out: tuple
    data: str  # "lhs" | "rhs" | "both"
    raw: bool  # the data operand comes straight from the function's arguments
    label: str
    dense_ops: int | None = None  # per call (computed once, eagerly)


def _label(prim: str, params: dict, lhs_shape, rhs_shape) -> str:
    if prim == "conv_general_dilated":
        dn = params["dimension_numbers"]
        r = [rhs_shape[d] for d in dn.rhs_spec]  # [O, I, spatial...]
        k = "x".join(str(d) for d in r[2:])
        strides = params["window_strides"]
        s = "" if all(v == 1 for v in strides) else " /" + "x".join(str(v) for v in strides)
        g = params["feature_group_count"]
        return f"conv {k} {r[1] * g}->{r[0]}{s}" + (f" g{g}" if g > 1 else "")
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    k = int(np.prod([lhs_shape[d] for d in lc], dtype=np.int64))
    n = int(np.prod([d for i, d in enumerate(rhs_shape) if i not in rc and i not in rb], dtype=np.int64))
    return f"dense {k}->{n}"


def _dense_ops(site: _Site) -> int:
    """All multiply-accumulates of one call, the usual FLOP-counter convention: for a
    convolution, output elements × kernel taps × input channels per group (taps on the zero
    padding included, as an ANN computes them); for ``dot_general``, every product."""
    lshape, rshape = site.lhs[0], site.rhs[0]
    if site.primitive == "dot_general":
        (lc, rc), (lb, rb) = site.params["dimension_numbers"]
        free_r = int(np.prod([d for i, d in enumerate(rshape) if i not in rc and i not in rb], dtype=np.int64))
        return int(np.prod(lshape, dtype=np.int64)) * free_r
    dn = site.params["dimension_numbers"]
    per_out = int(np.prod([rshape[d] for d in dn.rhs_spec[1:]], dtype=np.int64))  # in/group × taps
    return int(np.prod(site.out[0], dtype=np.int64)) * per_out


def _row_sum(x: jax.Array, per_element_max: int) -> jax.Array:
    """``sum`` of a non-negative integer-valued array as int32 partial sums that cannot overflow
    (the host adds them in int64)."""
    x = x.astype(jnp.int32)
    keep = 0
    while keep < x.ndim and int(np.prod(x.shape[keep:], dtype=np.int64)) * per_element_max > _INT32_MAX:
        keep += 1
    return jnp.sum(x, axis=tuple(range(keep, x.ndim)), dtype=jnp.int32) if keep < x.ndim else x


def _fan_max(prim: str, params: dict, lshape, rshape) -> int:
    """Upper bound of one output element of ``op(0/1, 0/1)``."""
    if prim == "dot_general":
        (lc, _), _ = params["dimension_numbers"]
        return max(1, int(np.prod([lshape[d] for d in lc], dtype=np.int64)))
    dn = params["dimension_numbers"]
    return max(1, int(np.prod([rshape[d] for d in dn.rhs_spec[1:]], dtype=np.int64)))


class _Walker:
    """Evaluates a jaxpr with counters (inside ``jax.jit``)."""

    def __init__(self, sites: dict, order: list):
        self.sites, self.order = sites, order  # path -> _Site (static; filled on the first trace)
        self.values: list[tuple] = []  # (path, nonzero rows, nnz rows, binary flag) per call
        self.notes: set[str] = set()

    def run(self, jaxpr, consts, args, deps, raws, path=()):
        env: dict = {}

        def read(v):
            if isinstance(v, jex.Literal):
                return v.val, False, False
            return env[v]

        def write(v, val, dep, raw):
            if type(v).__name__ != "DropVar":  # an unused output (jax.extend.core.DropVar; not exported by JAX 0.8)
                env[v] = (val, dep, raw)

        for v, c in zip(jaxpr.constvars, consts):
            write(v, c, False, False)
        for v, a, d, r in zip(jaxpr.invars, args, deps, raws):
            write(v, a, d, r)
        for k, eqn in enumerate(jaxpr.eqns):
            ins = [read(v) for v in eqn.invars]
            vals = [i[0] for i in ins]
            deps_in = [i[1] for i in ins]
            raws_in = [i[2] for i in ins]
            name = eqn.primitive.name
            here = path + (k,)
            sub = _sub_jaxpr(eqn)
            if name in _COUNTED and any(deps_in):
                self._count(eqn, here, vals, deps_in, raws_in)
                outs = self._bind(eqn, vals)
                out_deps = [True] * len(outs)
                out_raws = [False] * len(outs)
            elif sub is not None and any(deps_in) and _contains_counted(sub[0]) and (name in _CALLS or name == "scan"):
                if name == "scan":
                    outs, out_deps, out_raws = self._scan(eqn, here, vals, deps_in, raws_in)
                elif len(sub[0].invars) == len(vals):
                    outs, out_deps, out_raws = self.run(sub[0], sub[1], vals, deps_in, raws_in, here)
                else:  # an unfamiliar calling convention: evaluate it as it is
                    self.notes.add(f"{name}: operations inside not counted (unexpected arguments)")
                    outs = self._bind(eqn, vals)
                    out_deps, out_raws = [any(deps_in)] * len(outs), [False] * len(outs)
            else:
                if any(deps_in) and any(_contains_counted(j) for j in _jaxprs_in(eqn.params)):
                    self.notes.add(f"{name}: convolutions / matmuls inside are not counted")
                outs = self._bind(eqn, vals)
                dep = any(deps_in)
                raw = dep and name in _MOVES and all(r for r, d in zip(raws_in, deps_in) if d)
                out_deps, out_raws = [dep] * len(outs), [raw] * len(outs)
            for v, o, d, r in zip(eqn.outvars, outs, out_deps, out_raws):
                write(v, o, d, r)
        res = [read(v) for v in jaxpr.outvars]
        return [r[0] for r in res], [r[1] for r in res], [r[2] for r in res]

    @staticmethod
    def _bind(eqn, vals):
        params, subfuns = eqn.primitive.get_bind_params(eqn.params), ()
        if isinstance(params, tuple):  # older JAX: (subfuns, params)
            subfuns, params = params
        ctx = getattr(getattr(eqn, "ctx", None), "manager", None)
        if ctx is None:
            out = eqn.primitive.bind(*subfuns, *vals, **params)
        else:
            with ctx:
                out = eqn.primitive.bind(*subfuns, *vals, **params)
        return list(out) if eqn.primitive.multiple_results else [out]

    def _scan(self, eqn, path, vals, deps, raws):
        p = eqn.params
        body, bconsts = p["jaxpr"].jaxpr, list(p["jaxpr"].consts)
        nc, ncarry, length = p["num_consts"], p["num_carry"], p["length"]
        consts, carry, xs = vals[:nc], vals[nc : nc + ncarry], vals[nc + ncarry :]
        cdeps, carry_deps, xdeps = deps[:nc], list(deps[nc : nc + ncarry]), deps[nc + ncarry :]
        ys_steps: list = [None] * length
        ydeps = None
        for t in range(length - 1, -1, -1) if p["reverse"] else range(length):
            x_t = [x[t] for x in xs]
            outs, odeps, _ = self.run(body, bconsts, [*consts, *carry, *x_t], [*cdeps, *carry_deps, *xdeps],
                                      [False] * len(vals), path)  # fmt: skip
            carry = outs[:ncarry]
            carry_deps = [a or b for a, b in zip(carry_deps, odeps[:ncarry])]
            ys_steps[t] = outs[ncarry:]
            ydeps = odeps[ncarry:] if ydeps is None else [a or b for a, b in zip(ydeps, odeps[ncarry:])]
        n_ys = len(eqn.outvars) - ncarry
        ys = [jnp.stack([ys_steps[t][j] for t in range(length)]) for j in range(n_ys)]
        ydeps = ydeps if ydeps is not None else [False] * n_ys
        return [*carry, *ys], [*carry_deps, *ydeps], [False] * len(eqn.outvars)

    def _count(self, eqn, path, vals, deps, raws):
        name = eqn.primitive.name
        lhs, rhs = vals[0], vals[1]
        site = self.sites.get(path)
        if site is None:
            data = "both" if deps[0] and deps[1] else ("lhs" if deps[0] else "rhs")
            raw = (raws[0] if data == "lhs" else raws[1]) if data != "both" else False
            params = {k: v for k, v in eqn.params.items()}
            site = _Site(len(self.order), name, params, (tuple(lhs.shape), str(lhs.dtype)),
                         (tuple(rhs.shape), str(rhs.dtype)),
                         (tuple(eqn.outvars[0].aval.shape), str(eqn.outvars[0].aval.dtype)), data, raw,
                         _label(name, params, lhs.shape, rhs.shape))  # fmt: skip
            self.sites[path] = site
            self.order.append(path)
        f32 = jnp.float32
        a = (lhs != 0).astype(f32) if deps[0] else jnp.ones(lhs.shape, f32)
        b = (rhs != 0).astype(f32) if deps[1] else jnp.ones(rhs.shape, f32)
        p = dict(eqn.params, preferred_element_type=f32)
        prod = eqn.primitive.bind(a, b, **p)
        nz = _row_sum(prod, _fan_max(name, eqn.params, lhs.shape, rhs.shape))
        act = lhs if site.data == "lhs" else rhs
        mask = act != 0
        nnz = _row_sum(mask, 1)
        if site.data == "both":
            binary = jnp.asarray(False)
        else:
            x = act.astype(jnp.promote_types(act.dtype, f32))
            hi = jnp.max(jnp.where(mask, x, -jnp.inf))
            lo = jnp.min(jnp.where(mask, x, jnp.inf))
            binary = (hi == lo) | ~jnp.any(mask)
        self.values.append((path, nz, nnz, binary))


def _abstract(x):
    return jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x))


class OpCounter:
    """``counter(*args) -> (outputs, records)``: ``fn``'s outputs and the synaptic-operation
    records of that call (see :func:`synaptic_ops`); compiled once per argument shapes.

    Args:
      fn: a function of arrays (pytrees of arrays); every argument is data, everything
        ``fn`` closes over (parameters) is constant.
      nonbinary: ``"mac"`` (default) or ``"ac"``: how a layer with non-binary data input is
        counted (module docstring).
    """

    def __init__(self, fn: Callable[..., Any], *, nonbinary: str = "mac"):
        if nonbinary not in ("mac", "ac"):
            raise ValueError(f"nonbinary must be one of ('mac', 'ac'), got {nonbinary!r}")
        self.fn, self.nonbinary = fn, nonbinary
        self._cache: dict = {}
        self.notes: set[str] = set()

    def _compile(self, args):
        flat, treedef = jax.tree.flatten(args)
        key = (treedef, tuple((jnp.shape(x), str(jnp.result_type(x))) for x in flat))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        closed, out_shape = jax.make_jaxpr(lambda *a: self.fn(*jax.tree.unflatten(treedef, a)),
                                           return_shape=True)(*[_abstract(x) for x in flat])  # fmt: skip
        out_tree = jax.tree.structure(out_shape)
        sites: dict = {}
        order: list = []
        layout: list = []
        notes: set = set()

        def instrumented(consts, flat_args):
            w = _Walker(sites, order)
            outs, _, _ = w.run(closed.jaxpr, consts, flat_args, [True] * len(flat_args), [True] * len(flat_args))
            layout[:] = [v[0] for v in w.values]
            notes.update(w.notes)
            return outs, [v[1:] for v in w.values]

        jitted = jax.jit(instrumented)
        hit = (jitted, list(closed.consts), out_tree, sites, order, layout, notes)
        self._cache[key] = hit
        return hit

    def __call__(self, *args: Any, samples: int | None = None, steps: int | None = None):
        jitted, consts, out_tree, sites, order, layout, notes = self._compile(args)
        outs, values = jitted(consts, jax.tree.leaves(args))
        self.notes |= notes
        for s in sites.values():
            if s.dense_ops is None:
                s.dense_ops = _dense_ops(s)
        acc = {path: {"calls": 0, "nonzero_ops": 0, "ac": 0, "mac": 0, "nnz": 0, "binary_calls": 0}
               for path in order}  # fmt: skip
        host = jax.device_get(values)
        for path, (nz, nnz, binary) in zip(layout, host):
            site, a = sites[path], acc[path]
            nz = int(np.asarray(nz, np.int64).sum())
            a["calls"] += 1
            a["nonzero_ops"] += nz
            a["nnz"] += int(np.asarray(nnz, np.int64).sum())
            if bool(binary):
                a["binary_calls"] += 1
                a["ac"] += nz
            elif self.nonbinary == "ac" and not site.raw and site.data != "both":
                a["ac"] += nz
            else:
                a["mac"] += site.dense_ops
        records = []
        for path in order:
            s, a = sites[path], acc[path]
            size = int(np.prod((s.lhs if s.data == "lhs" else s.rhs)[0], dtype=np.int64)) * max(a["calls"], 1)
            records.append({
                "index": s.index, "kind": "synapse", "name": s.label, "primitive": s.primitive,
                "lhs_shape": list(s.lhs[0]), "rhs_shape": list(s.rhs[0]), "out_shape": list(s.out[0]),
                "data_operand": s.data, "from_input": s.raw, "calls": a["calls"],
                "binary": a["calls"] > 0 and a["binary_calls"] == a["calls"],
                "density": a["nnz"] / size if size else 0.0, "nonzero_ops": a["nonzero_ops"],
                "dense_ops": s.dense_ops * a["calls"], "ac": a["ac"], "mac": a["mac"],
                "samples": samples, "steps": steps,
            })  # fmt: skip
        return jax.tree.unflatten(out_tree, outs), records


def synaptic_ops(
    fn: Callable[..., Any], *args: Any, samples: int | None = None, steps: int | None = None, nonbinary: str = "mac"
) -> list[dict[str, Any]]:
    """Per-layer synaptic-operation records of ``fn(*args)``.

    Every ``conv_general_dilated`` / ``dot_general`` with a data-dependent operand is one
    record (in execution order; an operation inside an unrolled ``scan`` sums over steps):
    ``name`` (e.g. ``"conv 3x3 64->128 /2"``), ``primitive``, ``lhs_shape`` / ``rhs_shape``
    / ``out_shape``, ``binary`` (every call's data input was 0/c), ``density`` (fraction of
    nonzero data inputs), ``nonzero_ops`` (Σ nonzero input × fan-out), ``dense_ops`` (all
    products), ``ac`` and ``mac`` (module docstring), ``calls``, and ``samples`` / ``steps``
    as given (used by :func:`energy` to report per sample). Totals are over everything
    ``fn`` computes (all samples, all time steps).

    Example:
        >>> conv = nnx.Conv(1, 1, (3, 3), rngs=nnx.Rngs(0))
        >>> synaptic_ops(conv, spikes)[0]["ac"]      # Σ over spikes of their output connections
    """
    _, records = OpCounter(fn, nonbinary=nonbinary)(*args, samples=samples, steps=steps)
    return records


def merge_records(*record_lists: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sum the records of several calls of the same function (e.g. several batches)."""
    lists = [list(r) for r in record_lists if r]
    if not lists:
        return []
    out = [dict(r) for r in lists[0]]
    for recs in lists[1:]:
        if len(recs) != len(out):
            raise ValueError("record lists of different layers cannot be merged")
        for o, r in zip(out, recs):
            dens = o.get("density") is not None and r.get("density") is not None
            nnz_o = o["density"] * _size(o) if dens else 0.0
            nnz_r = r["density"] * _size(r) if dens else 0.0
            for k in ("calls", "nonzero_ops", "dense_ops", "ac", "mac", "neurons_steps"):
                if k in o:
                    o[k] += r[k]
            if o.get("binary") is not None:
                o["binary"] = bool(o["binary"]) and bool(r.get("binary"))
            if o.get("samples") is not None and r.get("samples") is not None:
                o["samples"] += r["samples"]
            if dens:
                o["density"] = (nnz_o + nnz_r) / _size(o) if _size(o) else 0.0
    return out


def _size(r: Mapping[str, Any]) -> int:
    if r.get("kind") == "neuron":
        return int(r.get("neurons_steps", 0))
    shape = r["lhs_shape"] if r.get("data_operand", "lhs") == "lhs" else r["rhs_shape"]
    return int(np.prod(shape, dtype=np.int64)) * int(r.get("calls", 1))


# --------------------------------------------------------------------------- neuron operations


def macs_per_neuron_of(module: Any) -> int:
    """ILIF Table 5's convention: 1 MAC per neuron per step (the membrane update), 2 for an
    ILIF / IPLIF neuron with at least one inhibitory unit."""
    if type(module).__name__ == "ILIF" and (getattr(module, "use_mpiu", True) or getattr(module, "use_ciu", True)):
        return 2
    return 1


def neuron_ops(
    spikes: Sequence[jax.Array], macs_per_neuron: int | Sequence[int] = 1, *, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One record per neuron layer: ``mac = T · B · neurons · macs_per_neuron`` (the neuron
    updates; ILIF's MAC column). ``spikes``: the layers' outputs ``[T, B, ...]``."""
    spikes = _check_spikes(spikes)
    per = [macs_per_neuron] * len(spikes) if isinstance(macs_per_neuron, int) else list(macs_per_neuron)
    if len(per) != len(spikes):
        raise ValueError(f"macs_per_neuron has {len(per)} entries for {len(spikes)} layers")
    out = []
    for i, (s, k) in enumerate(zip(spikes, per)):
        t, b = int(s.shape[0]), int(s.shape[1])
        n = int(np.prod(s.shape[2:], dtype=np.int64))
        out.append({
            "index": i, "kind": "neuron", "name": names[i] if names else f"neuron {i} {list(s.shape[2:])}",
            "primitive": "neuron", "neurons": n, "neurons_steps": t * b * n, "macs_per_neuron": int(k),
            "ac": 0, "mac": t * b * n * int(k), "nonzero_ops": 0, "dense_ops": 0, "binary": None,
            "density": None, "calls": 1, "samples": b, "steps": t,
        })  # fmt: skip
    return out


# --------------------------------------------------------------------------- energy


def energy(records: Sequence[Mapping[str, Any]], e_ac: float = E_AC, e_mac: float = E_MAC) -> dict[str, Any]:
    """The SOP energy table of synaptic (and neuron) records, per sample.

    ``E = e_ac · AC + e_mac · MAC`` (ILIF Eq. 49). Every record's counts are divided by its
    ``samples`` (1 when unknown). Returns ``{"rows": [...], "total": {...}, "e_ac", "e_mac",
    "markdown"}``; ``total`` has ``ac``, ``mac``, ``mac_synaptic``, ``mac_neuron``,
    ``energy_uJ``, ``energy_paper_uJ`` (AC + neuron MACs only, ILIF's convention),
    ``ann_mac`` / ``ann_energy_uJ`` (dense MACs of one step, when ``steps`` is known) and
    ``ac_M`` / ``mac_M`` / ``mac_neuron_M`` (millions).
    """
    rows = []
    tot = {"ac": 0.0, "mac_synaptic": 0.0, "mac_neuron": 0.0, "ann_mac": 0.0}
    ann_known = True
    for r in records:
        n = r.get("samples") or 1
        ac, mac = r["ac"] / n, r["mac"] / n
        e = (e_ac * ac + e_mac * mac) * 1e6
        row = {
            "index": r.get("index"),
            "kind": r.get("kind", "synapse"),
            "name": r.get("name"),
            "density": r.get("density"),
            "binary": r.get("binary"),
            "ac": ac,
            "mac": mac,
            "energy_uJ": e,
        }
        rows.append(row)
        tot["ac"] += ac
        if row["kind"] == "neuron":
            tot["mac_neuron"] += mac
        else:
            tot["mac_synaptic"] += mac
            steps = r.get("steps")
            if steps:
                tot["ann_mac"] += r["dense_ops"] / n / steps
            else:
                ann_known = False
    tot["mac"] = tot["mac_synaptic"] + tot["mac_neuron"]
    tot["energy_uJ"] = (e_ac * tot["ac"] + e_mac * tot["mac"]) * 1e6
    tot["energy_paper_uJ"] = (e_ac * tot["ac"] + e_mac * tot["mac_neuron"]) * 1e6
    if ann_known and any(r.get("kind", "synapse") != "neuron" for r in records):
        tot["ann_energy_uJ"] = e_mac * tot["ann_mac"] * 1e6
    else:
        tot.pop("ann_mac")
    for k in ("ac", "mac", "mac_synaptic", "mac_neuron", "ann_mac"):
        if k in tot:
            tot[k + "_M"] = tot[k] / 1e6
    table = {"rows": rows, "total": tot, "e_ac": e_ac, "e_mac": e_mac}
    table["markdown"] = energy_markdown(table)
    return table


def _fmt(v, spec=".3f"):
    return "–" if v is None else format(v, spec)


def energy_markdown(table: Mapping[str, Any]) -> str:
    """The :func:`energy` table as Markdown (per sample, summed over time steps)."""
    lines = [
        f"E_AC = {table['e_ac'] * 1e12:g} pJ, E_MAC = {table['e_mac'] * 1e12:g} pJ; per sample, summed over T.",
        "",
        "| # | layer | input | density | AC (M) | MAC (M) | energy (µJ) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in table["rows"]:
        kind = "neuron" if r["kind"] == "neuron" else ("spikes" if r["binary"] else "analog")
        lines.append(f"| {r['index']} | {r['name']} | {kind} | {_fmt(r['density'])} | {r['ac'] / 1e6:.4g} | "
                     f"{r['mac'] / 1e6:.4g} | {r['energy_uJ']:.4g} |")  # fmt: skip
    t = table["total"]
    lines += [
        "",
        f"- **AC: {t['ac'] / 1e6:.3f} M**, MAC: {t['mac'] / 1e6:.3f} M "
        f"(synaptic {t['mac_synaptic'] / 1e6:.3f} M + neuron {t['mac_neuron'] / 1e6:.3f} M)",
        f"- energy: {t['energy_uJ']:.3f} µJ; ILIF Table 5's convention (AC + neuron MACs): "
        f"**{t['energy_paper_uJ']:.3f} µJ** ({t['ac'] / 1e6:.2f} M AC, {t['mac_neuron'] / 1e6:.2f} M MAC)",
    ]
    if "ann_mac" in t:
        lines.append(f"- ANN with the same layers (dense MACs of one step): {t['ann_mac'] / 1e6:.2f} M MAC, "
                     f"{t['ann_energy_uJ']:.3f} µJ")  # fmt: skip
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- models


def _analysis_copy(model: Any) -> Any:
    """An evaluation-mode copy of ``model`` whose neurons run ``lax.scan`` (the ``"linear"``
    backend of a leaky-integrator readout is a matmul that is not a synapse) and whose
    :class:`~snnjax.nn.SpikeLinear` layers take events densely (the event-driven gather is
    no ``dot_general``; the dense product counts the same ACs: events × fan-out), with block
    rematerialisation (``remat=True`` of the ResNets) off: it changes no value, and the
    counting traces the model as a closure, which ``nnx.remat`` does not accept."""
    from flax import nnx

    from snnjax import nn

    m = nnx.clone(model)
    try:
        m.eval()
    except Exception:  # noqa: BLE001 - a module without eval attributes
        pass
    for _, sub in nnx.iter_graph(m):
        if isinstance(sub, nn.Neuron) and getattr(sub, "backend", "scan") != "scan":
            sub.backend = "scan"
        elif isinstance(sub, nn.SpikeLinear) and sub.mode != "dense":
            sub.mode = "dense"
        elif isinstance(getattr(sub, "remat", None), bool):
            sub.remat = False
    return m


def _spiking_neurons(model: Any) -> list:
    from flax import nnx

    from snnjax import nn

    return [sub for _, sub in nnx.iter_graph(model) if isinstance(sub, nn.Neuron) and not isinstance(sub, nn.LI)]


def _default_forward(model, x):
    """``model(x, return_spikes=True)`` for the models of :mod:`snnjax.models`; any other model
    through the monitors (:func:`snnjax.nn.record`: every neuron layer, named by its path)."""
    import inspect

    try:
        takes = "return_spikes" in inspect.signature(model.__call__).parameters
    except (TypeError, ValueError):
        takes = False
    if takes:
        return model(x, return_spikes=True)
    from flax import nnx

    from snnjax.nn import record

    model = nnx.merge(*nnx.split(model))  # a copy made at this trace level (record marks its modules)
    out, rec = record(model)(x)
    return out, {name: r["spikes"] for name, r in rec.items()}


def _split_output(res):
    """``(outputs, spikes list, layer names or None)`` of a forward's result."""
    if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], (list, tuple)):
        return res[0], list(res[1]), None
    if isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict):
        return res[0], list(res[1].values()), [str(k) for k in res[1]]
    return res, [], None


def _batches(x: Any, batch_size: int | None, max_batches: int | None, labels: Any = None):
    """Yield ``(x_batch, y_batch or None)``."""
    if isinstance(x, (jax.Array, np.ndarray)):
        n = x.shape[0]
        bs = batch_size or n
        for k, i in enumerate(range(0, n, bs)):
            if max_batches is not None and k >= max_batches:
                return
            yield x[i : i + bs], (None if labels is None else labels[i : i + bs])
        return
    if not isinstance(x, list) and not hasattr(x, "__next__"):  # one batch (e.g. snnjax.events.Events)
        yield x, labels
        return
    for k, item in enumerate(x):
        if max_batches is not None and k >= max_batches:
            return
        if isinstance(item, Mapping):
            xb = item.get("image", item.get("x", item.get("inputs")))
            yb = item.get("label", item.get("y", item.get("labels")))
        elif isinstance(item, (tuple, list)):
            xb, yb = item[0], (item[1] if len(item) > 1 else None)
        else:
            xb, yb = item, None
        yield xb, yb


def analyse_model(
    forward: Callable[[Any, Any], Any] | None,
    model: Any,
    x: Any,
    *,
    labels: Any = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    threshold: float = 0.0,
    nonbinary: str = "mac",
    macs_per_neuron: int | Sequence[int] | None = None,
    transform: Callable[[Any], Any] | None = None,
    e_ac: float = E_AC,
    e_mac: float = E_MAC,
) -> dict[str, Any]:
    """Spike statistics and the SOP / energy table of ``model`` on ``x``.

    Args:
      forward: ``forward(model, x_batch) -> (outputs [T, B, ...], spikes list)`` (``None``:
        ``model(x_batch, return_spikes=True)``).
      model: an NNX model; it is copied, put in evaluation mode, and its neurons are run with
        the ``"scan"`` backend (the model itself is not changed).
      x: an array with the batch on axis 0 (split into ``batch_size`` batches), a list or
        iterator of batches (arrays, ``(x, y)`` tuples or dicts with ``"image"``/``"label"``),
        or any other input of ``forward`` (one batch, e.g. :class:`~snnjax.events.Events`).
      labels: the labels of an array ``x`` (for ``accuracy``: argmax of the outputs averaged
        over T).
      max_batches: stop after this many batches.
      threshold: an output ``> threshold`` is a spike.
      nonbinary: ``"mac"`` / ``"ac"`` (see :class:`OpCounter`).
      macs_per_neuron: neuron MACs per neuron and step (default :func:`macs_per_neuron_of`
        of the model's spiking neuron modules: 1, ILIF 2); an int or one per spike layer.
      transform: applied to every batch before ``forward`` (e.g. normalisation).

    Returns:
      ``{"samples", "steps", "spikes": spike statistics, "records": synaptic records,
      "neuron_records", "energy": energy(...) table, "accuracy" (if labels), "notes"}``;
      counts per sample in the energy table.
    """
    forward = forward or _default_forward
    m = _analysis_copy(model)
    counter = OpCounter(lambda b: forward(m, b), nonbinary=nonbinary)
    stats = SpikeStats(threshold=threshold)
    records: list = []
    neurons: list = []
    correct = seen = 0
    steps = None
    if macs_per_neuron is None:
        costs = [macs_per_neuron_of(n) for n in _spiking_neurons(model)]
        macs_per_neuron = costs[0] if costs and len(set(costs)) == 1 else costs or 1
    for xb, yb in _batches(x, batch_size, max_batches, labels):
        if isinstance(xb, np.ndarray):
            xb = jnp.asarray(xb)
        if transform is not None:
            xb = transform(xb)
        out, recs = counter(xb)
        out, spikes, names = _split_output(out)
        b = int(spikes[0].shape[1]) if spikes else int(jax.tree.leaves(xb)[0].shape[0])
        steps = int(spikes[0].shape[0]) if spikes else (int(out.shape[0]) if jnp.ndim(out) >= 3 else None)
        for r in recs:
            r["samples"], r["steps"] = b, steps
        records = merge_records(records, recs) if records else recs
        if spikes:
            stats.update(spikes)
            per = macs_per_neuron
            if not isinstance(per, int) and len(per) != len(spikes):
                warnings.warn(f"{len(per)} neuron modules of mixed cost for {len(spikes)} spike layers; "
                              f"using {max(per)} MACs per neuron", stacklevel=2)  # fmt: skip
                per = max(per)
            nrec = neuron_ops(spikes, per, names=names)
            neurons = merge_records(neurons, nrec) if neurons else nrec
        if yb is not None:
            logits = out.mean(0) if jnp.ndim(out) == 3 else out
            correct += int(jnp.sum(jnp.argmax(logits, -1) == jnp.asarray(yb)))
            seen += int(np.shape(yb)[0])
    if not records and not neurons:
        raise ValueError("no batch to analyse")
    result = {
        "samples": stats.samples if neurons else (records[0]["samples"] if records else 0),
        "steps": steps,
        "spikes": stats.result() if neurons else None,
        "records": records,
        "neuron_records": neurons,
        "energy": energy([*records, *neurons], e_ac, e_mac),
        "notes": sorted(counter.notes),
    }
    if seen:
        result["accuracy"] = correct / seen
    return result


def model_energy(
    model: Any, xs: Any, *, forward: Callable | None = None, e_ac: float = E_AC, e_mac: float = E_MAC, **kwargs: Any
) -> dict[str, Any]:
    """The :func:`energy` table of ``model`` on ``xs`` (``model(xs, return_spikes=True)``
    unless ``forward`` is given); synaptic and neuron records under ``"records"``. Further
    keyword arguments go to :func:`analyse_model`."""
    res = analyse_model(forward, model, xs, e_ac=e_ac, e_mac=e_mac, **kwargs)
    table = dict(res["energy"])
    table["records"] = [*res["records"], *res["neuron_records"]]
    return table


# --------------------------------------------------------------------------- reports


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """A few numbers of an :func:`analyse_model` result (for ``summary.json``)."""
    t = result["energy"]["total"]
    out = {"samples": result["samples"], "steps": result["steps"], "ac_M": t["ac_M"], "mac_M": t["mac_M"],
           "mac_neuron_M": t["mac_neuron_M"], "energy_uJ": t["energy_uJ"],
           "energy_paper_uJ": t["energy_paper_uJ"]}  # fmt: skip
    if result.get("spikes"):
        sp = result["spikes"]
        out["firing_rate"] = sp["overall"]["firing_rate"]
        out["over_half"] = sp["overall"]["over_half"]
        out["firing_rates"] = [lay["firing_rate"] for lay in sp["layers"]]
    if "accuracy" in result:
        out["accuracy"] = result["accuracy"]
    return out


def report_markdown(results: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    """Markdown of one or more :func:`analyse_model` results (spike table, energy tables)."""
    lines = ["# Spike and energy analysis", ""]
    for res, lab in zip(results, labels):
        s = summary(res)
        acc = f", accuracy {100 * s['accuracy']:.2f} %" if "accuracy" in s else ""
        lines.append(f"- **{lab}**: {s['samples']} samples, T = {s['steps']}{acc}; firing rate "
                     f"{_fmt(s.get('firing_rate'), '.4f')}, > T/2 share {_fmt(s.get('over_half'), '.4f')}; "
                     f"{s['ac_M']:.3f} M AC, {s['mac_neuron_M']:.3f} M neuron MAC, "
                     f"{s['energy_paper_uJ']:.3f} µJ (ILIF convention), "
                     f"{s['energy_uJ']:.3f} µJ (all MACs)")  # fmt: skip
    lines += ["", "## Spikes per layer", "",
              "Firing rate: spikes / (T·B·neurons); > T/2: share of (neuron, sample) firing at more than "
              "half the steps; counts: neurons firing per step, per sample.", ""]  # fmt: skip
    head = "| layer | neurons |" + "".join(f" rate {lab} | >T/2 {lab} | counts/step {lab} |" for lab in labels)
    lines += [head, "|---|---:|" + "---:|---:|---|" * len(labels)]
    layer_lists = [(res.get("spikes") or {"layers": []})["layers"] for res in results]
    for i in range(max(len(ls) for ls in layer_lists)):
        first = next(ls[i] for ls in layer_lists if i < len(ls))
        row = f"| {i} {first['shape']} | {first['neurons']} |"
        for ls in layer_lists:
            if i < len(ls):
                lay = ls[i]
                counts = ", ".join(f"{c:.0f}" for c in lay["counts_per_step"])
                row += f" {lay['firing_rate']:.4f} | {lay['over_half']:.4f} | {counts} |"
            else:
                row += " – | – | – |"
        lines.append(row)
    for res, lab in zip(results, labels):
        lines += ["", f"## Synaptic operations and energy: {lab}", "", res["energy"]["markdown"]]
        if res.get("notes"):
            lines += ["Notes: " + "; ".join(res["notes"]), ""]
    return "\n".join(lines) + "\n"


def _layers(stats_list):
    return [(s or {"layers": []})["layers"] for s in stats_list]


def _save(fig, path: str) -> str:
    fig.savefig(path, dpi=100)
    return path


def plot_firing_rates(stats_list: Sequence[Mapping[str, Any]], labels: Sequence[str], path: str) -> str:
    """Bars of the per-layer firing rate, one colour per run (:func:`snnjax.viz.firing_rates`)."""
    return _bars(stats_list, labels, path, "firing_rate", "firing rate")


def plot_over_half(stats_list: Sequence[Mapping[str, Any]], labels: Sequence[str], path: str) -> str:
    """Bars of the per-layer share of neurons firing at more than T/2 steps (ILIF Fig. 3)."""
    return _bars(stats_list, labels, path, "over_half", "share firing > T/2 steps")


def _bars(stats_list, labels, path, key, ylabel):
    from snnjax import viz

    rates = {lab: [lay[key] for lay in ls] for ls, lab in zip(_layers(stats_list), labels)}
    return _save(viz.firing_rates(rates, ylabel=ylabel), path)


def plot_spike_counts(stats_list: Sequence[Mapping[str, Any]], labels: Sequence[str], path: str) -> str:
    """Spikes per time step in every layer (per sample), one panel per layer (ILIF Fig. 4)."""
    from snnjax import viz

    counts = {lab: np.asarray([lay["counts_per_step"] for lay in ls]) for ls, lab in zip(_layers(stats_list), labels)}
    return _save(viz.spike_counts(counts), path)


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items() if k != "markdown"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.ndarray, jax.Array)):
        return np.asarray(obj).tolist()
    return obj


def write_report(
    result: Mapping[str, Any],
    out_dir: str,
    *,
    compare: Mapping[str, Any] | None = None,
    labels: Sequence[str] = ("run", "compare"),
    plots: bool = True,
) -> list[str]:
    """Write ``analysis.json``, ``analysis.md`` and (matplotlib permitting) ``firing_rates.png``,
    ``over_half.png``, ``spike_counts.png`` into ``out_dir``; ``compare``: a second result shown
    beside the first. Returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    results = [result] + ([compare] if compare is not None else [])
    labels = list(labels)[: len(results)]
    paths = [os.path.join(out_dir, "analysis.json"), os.path.join(out_dir, "analysis.md")]
    payload = {"labels": labels, **{lab: _jsonable(res) for lab, res in zip(labels, results)}}
    with open(paths[0], "w") as f:
        json.dump(payload, f, indent=1)
    with open(paths[1], "w") as f:
        f.write(report_markdown(results, labels))
    stats = [res.get("spikes") for res in results]
    if plots and any(stats):
        try:
            import matplotlib  # noqa: F401
        except ImportError:  # matplotlib is optional
            return paths
        for name, fn in (("firing_rates.png", plot_firing_rates), ("over_half.png", plot_over_half),
                         ("spike_counts.png", plot_spike_counts)):  # fmt: skip
            paths.append(fn(stats, labels, os.path.join(out_dir, name)))
    return paths
