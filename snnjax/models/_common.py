"""Building blocks shared by the CNNs of :mod:`snnjax.models` (private).

* PyTorch initialisers as Flax initialisers (kernels ``[kh, kw, c_in, c_out]``, fans as PyTorch);
* ``conv`` / ``linear``: float32 parameters, computation in an optional ``dtype``;
* ``fire``: a neuron layer run in at least float32 (its state never accumulates in
  bfloat16), its output cast back to the compute dtype;
* pooling over ``[T, B, H, W, C]``, PyTorch's ``AdaptiveAvgPool2d``;
* the models' input check.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import nn
from snnjax.validation import check_float_array, check_int, check_number

PARAM_DTYPE = jnp.float32


def uniform(key, shape, dtype=jnp.float32, *, bound):
    return jax.random.uniform(key, shape, dtype, -bound, bound)


# PyTorch's initialisers, by name.
KAIMING_FAN_OUT = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")  # kaiming_normal_(fan_out, relu)
TORCH_DEFAULT = nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")  # U(±1/sqrt(fan_in))
XAVIER_GAIN2 = nnx.initializers.variance_scaling(4.0, "fan_avg", "uniform")  # xavier_uniform_(gain=2)
ZEROS = nnx.initializers.zeros


def torch_bias(fan_in: int):
    """PyTorch's default bias: ``U(±1/sqrt(fan_in))``."""
    return partial(uniform, bound=1.0 / math.sqrt(fan_in))


def conv(
    c_in: int,
    c_out: int,
    k: int,
    stride: int,
    *,
    bias: bool,
    rngs: nnx.Rngs,
    kernel_init=KAIMING_FAN_OUT,
    bias_init=None,
    dtype: Any = None,
) -> nn.TimeDistributed:
    """``Conv2d(c_in, c_out, k, stride, padding=k // 2)`` over ``[T, B, H, W, C]``; the bias
    defaults
    to PyTorch's ``U(±1/sqrt(fan_in))``."""
    layer = nnx.Conv(
        c_in,
        c_out,
        (k, k),
        strides=(stride, stride),
        padding=((k // 2, k // 2), (k // 2, k // 2)),
        use_bias=bias,
        kernel_init=kernel_init,
        bias_init=torch_bias(c_in * k * k) if bias_init is None else bias_init,
        dtype=dtype,
        param_dtype=PARAM_DTYPE,
        rngs=rngs,
    )
    return nn.TimeDistributed(layer)


def linear(
    c_in: int,
    c_out: int,
    *,
    bias: bool,
    rngs: nnx.Rngs,
    kernel_init=TORCH_DEFAULT,
    bias_init=None,
    dtype: Any = None,
) -> nnx.Linear:
    """``nn.Linear(c_in, c_out)`` on the last axis (any leading axes); the bias defaults to
    PyTorch's ``U(±1/sqrt(fan_in))``."""
    return nnx.Linear(
        c_in,
        c_out,
        use_bias=bias,
        kernel_init=kernel_init,
        bias_init=torch_bias(c_in) if bias_init is None else bias_init,
        dtype=dtype,
        param_dtype=PARAM_DTYPE,
        rngs=rngs,
    )


def fire(neuron: nnx.Module, xs: jax.Array) -> jax.Array:
    """Run ``neuron`` on ``[T, B, ...]`` in at least float32; the output has ``xs``'s dtype."""
    return neuron(xs.astype(jnp.promote_types(xs.dtype, jnp.float32))).astype(xs.dtype)


def avg_pool(xs: jax.Array, k: int) -> jax.Array:
    """``AvgPool2d(k, stride=k)`` (floor) over ``[T, B, H, W, C]``."""
    return nn.unfold_time(nnx.avg_pool(nn.fold_time(xs), (k, k), strides=(k, k)), xs.shape[0])


def _adaptive_axis(xs: jax.Array, axis: int, m: int) -> jax.Array:
    """Output cell ``i`` of ``m`` averages input cells ``floor(i n / m) .. ceil((i + 1) n / m) - 1``
    along ``axis`` (PyTorch's adaptive windows)."""
    n = xs.shape[axis]
    cells = []
    for i in range(m):
        start, end = (i * n) // m, -((-(i + 1) * n) // m)
        cells.append(jnp.mean(jax.lax.slice_in_dim(xs, start, end, axis=axis), axis=axis, keepdims=True))
    return jnp.concatenate(cells, axis=axis)


def adaptive_avg_pool(xs: jax.Array, out_hw: tuple[int, int]) -> jax.Array:
    """PyTorch's ``AdaptiveAvgPool2d(out_hw)`` over ``[..., H, W, C]`` (also when ``out_hw`` exceeds
    ``(H, W)``: a 1×1 map is then replicated). Built from slices and means, not a matmul, so
    :mod:`snnjax.analysis` does not count the pooling as a synaptic layer."""
    return _adaptive_axis(_adaptive_axis(xs, xs.ndim - 3, out_hw[0]), xs.ndim - 2, out_hw[1])


def check_input(xs: Any, in_channels: int) -> jax.Array:
    """``xs`` must be a floating ``[T, B, H, W, in_channels]`` array."""
    xs = check_float_array("xs", xs, min_rank=5)
    if xs.ndim != 5 or xs.shape[-1] != in_channels:
        raise ValueError(f"xs must be [T, B, H, W, {in_channels}] (channels last), got shape {xs.shape}")
    return xs


def check_sizes(**sizes: Any) -> None:
    """Every named size (``num_classes``, ``in_channels``, ...) is a positive int."""
    for name, v in sizes.items():
        check_int(name, v, low=1)


def check_dropout(dropout: float) -> None:
    check_number("dropout", dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")


def check_widths(name: str, widths: Any) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"{name} must be positive ints, got {widths}")
    return widths


def _block_with_spikes(block: nnx.Module, xs: jax.Array) -> tuple[jax.Array, list]:
    spikes: list = []
    return block(xs, spikes), spikes


_remat_block = nnx.remat(_block_with_spikes)


def run_blocks(blocks, xs: jax.Array, spikes: list, *, remat: bool) -> jax.Array:
    """``xs`` through the residual ``blocks`` in order (each ``block(xs, spikes)`` appends its
    neuron outputs to ``spikes``). With ``remat`` every block runs under ``nnx.remat``: the
    backward pass is asked to keep only each block's input and recompute the block (what the
    compiler makes of it: :mod:`snnjax.models`, "Memory at long T")."""
    for block in blocks:
        if remat:
            xs, s = _remat_block(block, xs)
            spikes.extend(s)
        else:
            xs = block(xs, spikes)
    return xs
