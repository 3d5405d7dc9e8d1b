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
  options); reverse mode only (``custom_vjp``): under forward mode (``jvp``, ``jacfwd``,
  ``hessian``) :func:`snnjax.run` takes ``backend="scan"``, and an explicit
  ``backend="pallas"`` raises a ``ValueError`` naming it.
* ``block``: on GPU a power of two; on TPU a multiple of 1024 (``(8, 128)``
  tiles; 2048 for 16-bit inputs) unless a single block covers all neurons. The
  whole time axis of a block is one kernel block (on TPU it is copied to VMEM:
  ``T·block`` elements per input/output array, double-buffered), so long
  sequences need smaller blocks on TPU.

Modules: :mod:`.evaluator` (per-neuron programs: jaxprs evaluated on tiles),
:mod:`.plan` (the static plan of a run and the programs built from it),
:mod:`.layout` (arrays <-> tiles, outside the kernels), :mod:`.call` (the
``pallas_call`` plumbing: forward and backward kernels), :mod:`.api`
(``pallas_run``, ``pallas_supported``, the custom_vjp).
"""

from snnjax.kernels.pallas.api import _pallas as _pallas  # private: tests/test_pallas.py (export)
from snnjax.kernels.pallas.api import default_block, pallas_run, pallas_supported
from snnjax.kernels.pallas.plan import _Config as _Config  # private: tests/test_pallas.py (export)

__all__ = ["pallas_run", "pallas_supported", "default_block"]
