r"""NIR bridge: export snnjax networks to the Neuromorphic Intermediate Representation and back.

`NIR <https://neuroir.org>`_ describes a network as a graph of continuous-time nodes; snnjax
neurons are discrete-time step functions. This module maps one onto the other and states
every convention here, in one place.

    from snnjax import nir as snnir
    graph = snnir.export(model, dt=1e-3, input_shape=(28, 28, 1))     # nir.NIRGraph
    snnir.write(model, "model.nir", dt=1e-3, input_shape=(28, 28, 1))  # the same, to a file
    net = snnir.import_graph("model.nir", dt=1e-3)                     # a snnir.Network
    ys = net(xs)                                                       # xs [T, B, 28, 28, 1]

Needs the ``nir`` package (``pip install 'snnjax[nir]'``); ``import snnjax`` does not import it.

**Time step and time constants.** NIR time constants are in seconds; snnjax's are in steps.
``dt`` (seconds per step, a keyword of every function here) converts: for LIF,
``τ_NIR = τ_steps · dt``. The discrete reading of a NIR node is forward Euler with step
``dt`` (snnTorch's and Norse's), input ``x_t`` held over step ``t``, all state zero at start:

* ``IF``:  ``v̂_t = v_{t-1} + dt·r·x_t``
* ``LIF``: ``v̂_t = v_{t-1} + (dt/τ)·(v_leak - v_{t-1} + r·x_t)`` = ``λ·v_{t-1} + g·x_t``
  with ``λ = 1 - dt/τ``, gain ``g = r·dt/τ`` (``v_leak = 0``); ``LI`` the same, without spikes
* ``CubaLI`` / ``CubaLIF``: ``I_t = (1 - dt/τ_syn)·I_{t-1} + (dt/τ_syn)·w_in·x_t``, then
  ``v̂_t = (1 - dt/τ_mem)·v_{t-1} + (dt/τ_mem)·r·I_t`` — the membrane is driven by the
  *updated* current, as in snnTorch's ``Synaptic`` and Norse's NIR import
* spike ``z_t = H(v̂_t - v_threshold)``; reset ``v_t = v̂_t·(1 - z_t) + z_t·v_reset``
  (NIR's reset to ``v_reset``; ``"hard"`` here) or ``v_t = v̂_t - z_t·v_threshold`` (``"soft"``)
* a recurrent loop (``lif → w_rec → lif``) carries the previous step's spikes:
  ``x̃_t = x_t + W_rec·z_{t-1}``; several edges into one node are summed.

**Mapping.** Exact in the reading above unless stated (``export`` ↔ ``import_graph``):

==========================  ==============================  ==================================================
snnjax                      NIR                             parameters
==========================  ==============================  ==================================================
``nn.IF``                   ``IF``                          ``r = 1/dt``
``nn.LIF`` (λ = 1 - 1/τ)    ``LIF``                         ``tau = τ·dt``, ``r = τ``, ``v_leak = 0``
``nn.PLIF`` (λ = σ(w))      ``LIF``                         ``tau = dt/(1 - λ)``, ``r = tau/dt``; imports as ``nn.LIF``
``nn.LI(synaptic=False)``   ``LI``                          ``tau = dt/(1 - β)``, β = exp(-1/τ_mem), ``r = tau/dt``
``nn.LI(synaptic=True)``    ``CubaLI`` (*)                  ``tau_syn = dt/(1 - α)``, ``tau_mem = dt/(1 - β)``,
                                                            ``r = tau_mem/dt``, ``w_in = tau_syn/dt``
``nn.SpytorchLIF``          ``CubaLIF`` (*)                 as ``CubaLI``, ``v_reset = 0``
:class:`CubaLIF`            ``CubaLIF``                     the NIR reading itself (``nn.LI`` current → ``nn.LIF``)
:class:`CubaLI`             ``CubaLI``                      the NIR reading itself (two ``nn.LI``)
``nn.RLIF``                 ``NIRGraph`` (subgraph)         ``input → lif ⇄ w_rec``, ``lif → output``;
                                                            ``w_rec = Linear(W_rec.T)``
``nnx.Linear``              ``Affine`` / ``Linear``         ``weight = kernel.T`` (``Linear`` without bias)
``nnx.Conv`` (2-D)          ``Conv2d``                      ``weight = kernel.transpose(3, 2, 0, 1)`` (HWIO → OIHW)
:class:`Flatten`            ``Flatten``                     ``start_dim = 0``, ``end_dim = -1``
:class:`SumPool2d`,         ``SumPool2d``, ``AvgPool2d``    ``kernel_size``, ``stride``, ``padding``
:class:`AvgPool2d`
:class:`Scale`              ``Scale``                       ``scale``
==========================  ==============================  ==================================================

(*) snnjax's ``LI(synaptic=True)`` and ``SpytorchLIF`` drive the membrane with the
*previous* step's current (and ``SpytorchLIF`` takes its spike from the incoming membrane and
its reset also drops that step's current): the same ODE, discretised differently. A consumer
simulating the NIR reading runs ``LI(synaptic=True)`` exactly one step earlier, and a
``SpytorchLIF`` about one step earlier (without its one-step loss of input after a spike). The
node's metadata ``snnjax_neuron`` lets :func:`import_graph` rebuild the exact snnjax layer.
On import, a gain ``g ≠ 1`` (``r·dt`` for IF, ``r·dt/τ`` for LIF/LI,
``(w_in·dt/τ_syn)·(r·dt/τ_mem)`` for CubaLI/CubaLIF; gains within 1e-6 of 1 count as 1)
becomes a :class:`Scale` layer before the neuron (inside a recurrent subgraph it also scales
``W_rec``). An IF/LIF needs ``τ >= dt`` (λ >= 0), an LI or current filter ``τ > dt``.

**Reset.** In continuous time, subtracting the threshold and resetting to 0 are the same
(the membrane never exceeds the threshold); only time-stepped simulators differ. Export: a
``"hard"`` reset writes its ``v_reset``; a ``"soft"`` (subtractive) reset writes ``v_reset = 0``,
with node metadata ``snnjax_reset = "soft"`` (``"hard"`` otherwise; a consumer that ignores the
metadata resets to 0); ``reset="none"`` cannot be exported (ValueError). Import:
``reset=None`` takes ``snnjax_reset`` from the metadata, or ``"hard"`` (NIR's reset to
``v_reset``) when there is none; ``reset="soft"`` / ``"hard"`` overrides every node
(``"soft"`` needs ``v_reset = 0``).

**Threshold.** snnjax spikes when ``v >= v_threshold`` (``H(0) = 1``); NIR's text says
``v > v_threshold``. No parameter change makes the two agree in every consumer's float
arithmetic, so this is not mapped: the two differ when the membrane lands exactly on the
threshold (with spike inputs and round weights that can happen).

**Scalars and per-neuron constants.** NIR stores every neuron constant as an array of the
layer's shape: export broadcasts scalar (or per-channel) snnjax constants to the layer's
per-example shape. Import accepts any array that broadcasts to the node's shape (a scalar,
``(1,)``, per-neuron) and gives the snnjax layer a scalar when all values are equal.

**Layouts.** Per-example shapes of rank >= 2 are channels first in NIR (``(C, H, W)``) and
channels last in snnjax (``(H, W, C)``): neuron constants, ``Scale`` arrays and shapes are
transposed, conv kernels are OIHW in NIR and HWIO in flax. :class:`Flatten` flattens in the
``(C, H, W)`` order of NIR and PyTorch, so the ``Linear`` after it has the same weights in
both. A :class:`Network` takes and returns time-major snnjax arrays ``[T, B, H, W, C]`` (or
``[T, B, N]``); ``export``'s ``input_shape`` is the per-example shape, channels last.

**From snnTorch and Norse.** snnTorch writes ``Leaky(beta)`` as
``LIF(tau = dt/(1 - beta), r = tau/dt, v_leak = 0)`` and ``Synaptic(alpha, beta)`` as
``CubaLIF(tau_syn = dt/(1 - alpha), tau_mem = dt/(1 - beta), r = tau_mem/dt, w_in = tau_syn/dt)``
with its fixed ``dt = 1e-4``: ``import_graph(graph, dt=1e-4)`` gives ``λ = beta``, unit gains, so
snnTorch's ``mem = beta·mem + x`` (``syn = alpha·syn + x; mem = beta·mem + syn``) with
``reset_delay=False``. Its exports do not record the reset: snnTorch's ``Leaky`` subtracts by
default (pass ``reset="soft"``); its own importer resets to zero (the default here). Norse
writes ``tau = 1/tau_mem_inv`` (seconds), ``r = 1``, ``w_in = 1`` and simulates with
``dt = 1e-3`` by default: ``import_graph(graph, dt=1e-3)`` reproduces Norse's ``LIFBoxCell``,
``LIBoxCell`` and ``CubaLIF`` updates (the input gain ``dt/τ`` becomes a :class:`Scale`).
snnTorch reads ``IF`` as ``v += r·x``: the same as here at ``dt = 1``. (snnTorch's own importer
applies a CubaLIF's ``w_in`` without the factor ``dt/τ_syn``, so it does not read back its own
``Synaptic`` export as written; the reading here does.)

**Not in NIR.** Gradient-only options (the surrogate, ``detach_reset``, which constants are
learnable) are not exported; import uses the layers' defaults (``surrogate=`` overrides).
ALIF, ILIF/IPLIF, CLIF, Polara and custom neuron records have no NIR primitive.

**nir 1.0.8 quirk.** ``nir`` types a ``Conv2d``'s input channels as ``weight.shape[1]`` (wrong
for ``groups > 1``) and both output sides from the kernel height (wrong for ``kh ≠ kw``), so
``nir.read``'s default type check rejects such graphs: ``export`` sets those types itself and
``import_graph`` reads files with ``type_check=False`` and checks every shape itself.

**Errors.** ``export``: ``NotImplementedError`` for a neuron or layer NIR has no primitive
for (naming it); ``ValueError`` for options the mapping cannot represent. ``import_graph``:
``ValueError`` naming the node for a graph that is not a chain ``input → … → output`` (a
recurrent subgraph counts as one node), an unsupported node type, or values snnjax cannot
represent (e.g. ``v_leak ≠ 0``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from snnjax import neurons as _n
from snnjax import nn
from snnjax.validation import check_bool, check_int, check_number, check_option, describe

try:
    import nir
except ImportError as e:  # pragma: no cover - nir is in the nir and dev extras
    raise ImportError("snnjax.nir needs the `nir` package: pip install 'snnjax[nir]'") from e

__all__ = [
    "export",
    "write",
    "import_graph",
    "Network",
    "Flatten",
    "SumPool2d",
    "AvgPool2d",
    "Scale",
    "CubaLIF",
    "CubaLI",
    "RESETS",
]

RESETS = ("soft", "hard")
"""Reset mechanisms a NIR neuron can be imported with (see the module docstring)."""

_GAIN_TOL = 1e-6  # an input gain within this of 1 needs no Scale layer
_NEURON_KEY = "snnjax_neuron"  # node metadata: the snnjax layer that wrote the node
_RESET_KEY = "snnjax_reset"  # node metadata: "soft" or "hard"
_DT_KEY = "snnjax_dt"  # graph metadata: the dt of the export (informational)
_ZEROS = nnx.initializers.zeros_init()  # imported layers get the graph's weights, not a random init


# ----------------------------------------------------------------------------- layers


class Flatten(nnx.Module):
    """Flatten every example to a vector, in channels-first order (NIR's and PyTorch's).

    An example ``[H, W, C]`` (channels last, as ``nnx.Conv`` outputs) becomes the vector of
    its ``[C, H, W]`` transpose, so a ``Linear`` after it has the same weights as after
    ``torch.nn.Flatten``. Rank-1 examples pass unchanged.

    Args:
      batch_dims: leading axes that are not flattened: 1 for ``[N, ...]`` (inside
        :class:`~snnjax.nn.TimeDistributed`), 2 to apply it to ``[T, B, ...]`` directly.

    Example:
        >>> TimeDistributed(Flatten())(jnp.ones((4, 8, 5, 5, 16))).shape    # [T, B, H, W, C]
        (4, 8, 400)
    """

    def __init__(self, *, batch_dims: int = 1):
        self.batch_dims = check_int("batch_dims", batch_dims, low=0)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``[*batch, *example] -> [*batch, prod(example)]``, channels first."""
        x = jnp.asarray(x)
        if x.ndim < self.batch_dims:
            raise ValueError(f"x must have at least batch_dims = {self.batch_dims} axes, got shape {x.shape}")
        lead = x.shape[: self.batch_dims]
        if x.ndim - self.batch_dims >= 2:
            x = jnp.moveaxis(x, -1, self.batch_dims)
        return x.reshape(lead + (-1,))


def _pair(name: str, value: Any, low: int) -> tuple[int, int]:
    """An int or a pair of ints (NumPy arrays too) as a pair of Python ints ``>= low``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(int(check_int(name, v, low=low)) for v in np.asarray(value).reshape(-1).tolist())
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {value!r}") from e
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {value!r}")
    return pair


class _Pool2d(nnx.Module):
    """Window sum over ``[..., H, W, C]`` with symmetric zero padding (PyTorch's pooling geometry)."""

    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: Any = 0):
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)

    def _window_sum(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"x must be [..., H, W, C] (rank >= 3), got shape {x.shape}")
        lead = (1,) * (x.ndim - 3)
        (ph, pw) = self.padding
        return jax.lax.reduce_window(
            x,
            jnp.zeros((), x.dtype),
            jax.lax.add,
            lead + self.kernel_size + (1,),
            lead + self.stride + (1,),
            ((0, 0),) * (x.ndim - 3) + ((ph, ph), (pw, pw), (0, 0)),
        )


class SumPool2d(_Pool2d):
    """Sum pooling over ``[..., H, W, C]`` (NIR ``SumPool2d``).

    Args:
      kernel_size: window ``(kh, kw)`` or one int.
      stride: ``(sh, sw)``; default the kernel size.
      padding: zeros added on both sides, ``(ph, pw)`` or one int.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        """The window sums, ``[..., H', W', C]``."""
        return self._window_sum(x)


class AvgPool2d(_Pool2d):
    """Average pooling over ``[..., H, W, C]`` (NIR ``AvgPool2d``): the window sum divided by
    ``kh·kw``, padding included in the count (PyTorch's ``count_include_pad=True``).

    Args:
      kernel_size: window ``(kh, kw)`` or one int.
      stride: ``(sh, sw)``; default the kernel size.
      padding: zeros added on both sides, ``(ph, pw)`` or one int.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        """The window means, ``[..., H', W', C]``."""
        s = self._window_sum(x)
        return s / jnp.asarray(self.kernel_size[0] * self.kernel_size[1], s.dtype)


class Scale(nnx.Module):
    """Element-wise ``y = x · scale`` (NIR ``Scale``), ``scale`` broadcast against the trailing axes.

    Args:
      scale: a scalar or an array of the example shape (channels last), e.g. ``(N,)``.
    """

    def __init__(self, scale: ArrayLike):
        self.scale = jnp.asarray(scale, jax.dtypes.canonicalize_dtype(np.float64))

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x · scale`` in ``x``'s dtype."""
        x = jnp.asarray(x)
        return (x * self.scale).astype(x.dtype)


class CubaLIF(nnx.Module):
    """NIR's current-based LIF in its forward-Euler reading: a current filter, then a LIF.

    ``I_t = α·I_{t-1} + x_t`` (``synapse``, an ``nn.LI(synaptic=False)``), then
    ``U_t = λ·m_{t-1} + I_t``, spike, reset (``neuron``, an ``nn.LIF``): the membrane is driven
    by the updated current, as in snnTorch's ``Synaptic`` (``reset_delay=False``) and
    Norse's NIR import. (``nn.SpytorchLIF`` uses the previous step's current.)

    Args:
      synapse: the current filter, ``nn.LI(synaptic=False, tau_mem=τ_syn)``.
      neuron: the membrane, ``nn.LIF``.
    """

    def __init__(self, synapse: nn.LI, neuron: nn.LIF):
        if not isinstance(synapse, nn.LI) or synapse.params().synaptic:
            raise TypeError(f"synapse must be an nn.LI(synaptic=False), got {describe(synapse)}")
        if not isinstance(neuron, nn.LIF):
            raise TypeError(f"neuron must be an nn.LIF, got {describe(neuron)}")
        self.synapse = synapse
        self.neuron = neuron

    def __call__(self, xs: jax.Array) -> jax.Array:
        """Spikes ``[T, B, ...]`` for input currents ``xs [T, B, ...]``."""
        return self.neuron(self.synapse(xs))


class CubaLI(nnx.Module):
    """NIR's current-based leaky integrator in its forward-Euler reading: two first-order filters.

    ``I_t = α·I_{t-1} + x_t`` (``synapse``), ``V_t = β·V_{t-1} + I_t`` (``membrane``); the
    output is ``V``. (``nn.LI(synaptic=True)`` uses the previous step's current.)

    Args:
      synapse: ``nn.LI(synaptic=False, tau_mem=τ_syn)``.
      membrane: ``nn.LI(synaptic=False, tau_mem=τ_mem)``.
    """

    def __init__(self, synapse: nn.LI, membrane: nn.LI):
        for name, layer in (("synapse", synapse), ("membrane", membrane)):
            if not isinstance(layer, nn.LI) or layer.params().synaptic:
                raise TypeError(f"{name} must be an nn.LI(synaptic=False), got {describe(layer)}")
        self.synapse = synapse
        self.membrane = membrane

    def __call__(self, xs: jax.Array) -> jax.Array:
        """Membrane ``[T, B, ...]`` for input currents ``xs [T, B, ...]``."""
        return self.membrane(self.synapse(xs))


class Network(nnx.Module):
    """A chain of layers over time-major input, as :func:`import_graph` builds it.

    Stateless layers (``nnx.Linear``, ``nnx.Conv``, :class:`Flatten`, pooling) come wrapped in
    :class:`~snnjax.nn.TimeDistributed`; neuron layers run over time with :func:`snnjax.run`.

    Args:
      layers: the layers, applied in order to ``[T, B, ...]``.
      input_shape: the per-example input shape (channels last), if known.

    Example:
        >>> net = import_graph(graph, dt=1e-3)
        >>> ys = net(xs)                     # xs [T, B, *net.input_shape]
        >>> [type(layer).__name__ for layer in net]
    """

    def __init__(self, layers: Sequence[Any], *, input_shape: Sequence[int] | None = None):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"layers[{i}] must be callable, got {describe(layer)}")
        self.layers = nnx.List(layers)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)

    def __call__(self, xs: jax.Array) -> jax.Array:
        """The last layer's output ``[T, B, ...]`` for time-major ``xs [T, B, ...]``."""
        for layer in self.layers:
            xs = layer(xs)
        return xs

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Any:
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)


# ----------------------------------------------------------------------------- helpers


def _float() -> Any:
    """JAX's default float dtype (float32 unless x64 is enabled)."""
    return jax.dtypes.canonicalize_dtype(np.float64)


def _nir_layout(a: np.ndarray) -> np.ndarray:
    """An example-shaped array from channels last (snnjax) to channels first (NIR)."""
    return np.moveaxis(a, -1, 0) if a.ndim >= 2 else a


def _snn_layout(a: np.ndarray) -> np.ndarray:
    """An example-shaped array from channels first (NIR) to channels last (snnjax)."""
    return np.moveaxis(a, 0, -1) if a.ndim >= 2 else a


def _nir_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    return shape[-1:] + shape[:-1] if len(shape) >= 2 else shape


def _snn_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    return shape[1:] + shape[:1] if len(shape) >= 2 else shape


def _conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a zero-padded convolution or pooling window (PyTorch's formula)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _value(x: Any) -> np.ndarray:
    """A parameter (``nnx.Variable`` or array) as a NumPy array."""
    return np.asarray(x[...] if isinstance(x, nnx.Variable) else x)


# ----------------------------------------------------------------------------- export


_NO_PRIMITIVE = {
    _n.alif.neuron: ("ALIF", "an adaptive threshold (a second state variable raised by every spike)"),
    _n.ilif.neuron: ("ILIF", "inhibitory units (the membrane- and current-inhibition state of ILIF/IPLIF)"),
    _n.clif.neuron: ("CLIF", "a complementary membrane potential (CLIF's second state variable)"),
    _n.polara.neuron: ("Polara", "adaptive decay, amplification, refractory and threshold kernels"),
}

_NIR_NEURONS = "IF, LIF, LI, CubaLI and CubaLIF (snnjax: IF, LIF, PLIF, LI, SpytorchLIF, RLIF)"


def _export_layers(model: Any) -> list[Any]:
    """The layers of ``model`` in order: containers flattened, ``TimeDistributed`` unwrapped."""
    if isinstance(model, (Network, nnx.Sequential)):
        items = list(model.layers)
    elif isinstance(model, (list, tuple)):
        items = list(model)
    else:
        raise TypeError(
            f"model must be an nnx.Sequential, a snnjax.nir.Network or a list/tuple of layers, got {describe(model)}"
        )
    out: list[Any] = []
    for layer in items:
        while isinstance(layer, nn.TimeDistributed):
            layer = layer.layer
        if isinstance(layer, (Network, nnx.Sequential, list, tuple)):
            out.extend(_export_layers(layer))
        else:
            out.append(layer)
    return out


def _constant(where: str, field: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A scalar or per-neuron snnjax constant as a float64 array of the NIR-layout example shape."""
    a = np.asarray(value, np.float64)
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(
            f"{where}: {field} has shape {a.shape}, which does not broadcast to the layer's example shape {shape}"
        ) from None
    return np.ascontiguousarray(_nir_layout(a))


def _export_reset(where: str, params: Any, shape: tuple[int, ...]) -> tuple[str, np.ndarray]:
    """``(mode, v_reset)`` of an IF/LIF params object (see the module docstring, Reset)."""
    if params.reset == "none":
        raise ValueError(
            f"{where}: reset='none' cannot be exported: NIR's IF, LIF and CubaLIF always reset after a spike "
            "(use reset='soft' or 'hard')"
        )
    if params.reset == "soft":  # subtracting V_th = resetting to 0 in continuous time
        return "soft", np.zeros(_nir_shape(shape))
    return "hard", _constant(where, "v_reset", params.v_reset, shape)


def _lif_node(where: str, params: Any, tau_steps: ArrayLike, shape: tuple[int, ...], dt: float, name: str) -> Any:
    """``nir.LIF`` for a leaky layer with forward-Euler decay ``λ = 1 - 1/τ_steps``."""
    tau = _constant(where, "tau", tau_steps, shape) * dt
    mode, v_reset = _export_reset(where, params, shape)
    return nir.LIF(
        tau=tau,
        r=tau / dt,
        v_leak=np.zeros_like(tau),
        v_threshold=_constant(where, "v_th", params.v_th, shape),
        v_reset=v_reset,
        metadata={_NEURON_KEY: name, _RESET_KEY: mode},
    )


def _euler_tau(where: str, field: str, tau_steps: Any, shape: tuple[int, ...], dt: float) -> np.ndarray:
    """NIR τ (seconds) of an exponential decay ``exp(-1/τ_steps)`` read as forward Euler:
    ``1 - dt/τ = exp(-1/τ_steps)``, so ``τ = dt / (1 - exp(-1/τ_steps))``."""
    steps = _constant(where, field, tau_steps, shape)
    return dt / -np.expm1(-1.0 / steps)


def _export_neuron(layer: Any, shape: tuple[int, ...], dt: float, where: str) -> Any:
    """The NIR node of a neuron layer of example shape ``shape`` (channels last)."""
    rec = layer.record
    if rec in _NO_PRIMITIVE:
        name, what = _NO_PRIMITIVE[rec]
        raise NotImplementedError(
            f"{where}: {name} cannot be exported: NIR has no primitive for {what}; NIR neurons are {_NIR_NEURONS}"
        )
    p = layer.params()
    if rec is _n.lif.neuron:
        return _lif_node(where, p, p.tau, shape, dt, "LIF")
    if rec is _n.plif.neuron:
        lam = 1.0 / (1.0 + np.exp(-np.asarray(p.w, np.float64)))  # σ(w) = 1 - 1/τ
        return _lif_node(where, p, 1.0 / (1.0 - lam), shape, dt, "PLIF")
    if rec is _n.if_.neuron:
        mode, v_reset = _export_reset(where, p, shape)
        v_th = _constant(where, "v_th", p.v_th, shape)
        return nir.IF(
            r=np.full_like(v_th, 1.0 / dt),
            v_threshold=v_th,
            v_reset=v_reset,
            metadata={_NEURON_KEY: "IF", _RESET_KEY: mode},
        )
    if rec is _n.li.neuron:
        tau_mem = _euler_tau(where, "tau_mem", p.tau_mem, shape, dt)
        if not p.synaptic:
            return nir.LI(tau=tau_mem, r=tau_mem / dt, v_leak=np.zeros_like(tau_mem), metadata={_NEURON_KEY: "LI"})
        tau_syn = _euler_tau(where, "tau_syn", p.tau_syn, shape, dt)
        return nir.CubaLI(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=np.zeros_like(tau_mem),
            w_in=tau_syn / dt,
            metadata={_NEURON_KEY: "LI"},
        )
    if rec is _n.spytorch_lif.neuron:
        tau_syn = _euler_tau(where, "tau_syn", p.tau_syn, shape, dt)
        tau_mem = _euler_tau(where, "tau_mem", p.tau_mem, shape, dt)
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=np.zeros_like(tau_mem),
            v_threshold=_constant(where, "v_th", p.v_th, shape),
            v_reset=np.zeros_like(tau_mem),
            w_in=tau_syn / dt,
            metadata={_NEURON_KEY: "SpytorchLIF", _RESET_KEY: "hard"},
        )
    if rec is _n.rlif.neuron:
        n = int(np.shape(p.w_rec)[0])
        if shape != (n,):
            raise ValueError(f"{where}: an RLIF of {n} neurons needs input of example shape ({n},), got {shape}")
        lif = _lif_node(where, p.lif, p.lif.tau, shape, dt, "LIF")
        w_rec = nir.Linear(weight=np.asarray(p.w_rec).T.copy())  # snnjax s @ W (row = pre) -> NIR W·s
        return nir.NIRGraph(
            nodes={"input": nir.Input(np.array([n])), "lif": lif, "w_rec": w_rec, "output": nir.Output(np.array([n]))},
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
            metadata={_NEURON_KEY: "RLIF"},
        )
    name = getattr(rec, "name", "") or describe(rec)
    raise NotImplementedError(
        f"{where}: the neuron {name!r} cannot be exported: NIR has no primitive for it; NIR neurons are {_NIR_NEURONS}"
    )


def _export_composite(layer: CubaLIF | CubaLI, shape: tuple[int, ...], dt: float, where: str) -> Any:
    """``nir.CubaLIF`` / ``nir.CubaLI`` of the NIR-reading composites (exact)."""
    tau_syn = _euler_tau(where, "synapse tau_mem", layer.synapse.params().tau_mem, shape, dt)
    if isinstance(layer, CubaLI):
        tau_mem = _euler_tau(where, "membrane tau_mem", layer.membrane.params().tau_mem, shape, dt)
        return nir.CubaLI(
            tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros_like(tau_mem), w_in=tau_syn / dt
        )
    p = layer.neuron.params()
    tau_mem = _constant(where, "tau", p.tau, shape) * dt
    mode, v_reset = _export_reset(where, p, shape)
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=tau_mem / dt,
        v_leak=np.zeros_like(tau_mem),
        v_threshold=_constant(where, "v_th", p.v_th, shape),
        v_reset=v_reset,
        w_in=tau_syn / dt,
        metadata={_RESET_KEY: mode},
    )


def _flax_conv_padding(conv: nnx.Conv, hw: tuple[int, int], where: str) -> tuple[int, int]:
    """The symmetric ``(ph, pw)`` of a flax conv's padding, or ValueError."""
    pad = conv.padding
    k_eff = [(k - 1) * d + 1 for k, d in zip(conv.kernel_size, _pair("kernel_dilation", conv.kernel_dilation, 1))]
    strides = _pair("strides", 1 if conv.strides is None else conv.strides, 1)
    if isinstance(pad, str):
        if pad.upper() == "VALID":
            return (0, 0)
        if pad.upper() != "SAME":
            raise ValueError(f"{where}: padding {pad!r} has no NIR equivalent (NIR pads with zeros on both sides)")
        pairs = []
        for n, k, s in zip(hw, k_eff, strides):  # lax's SAME: out = ceil(n/s), extra padding at the end
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pairs.append((total // 2, total - total // 2))
    elif isinstance(pad, (int, np.integer)):
        pairs = [(int(pad), int(pad))] * 2
    else:
        pairs = [(int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1])) for p in pad]
    if len(pairs) != 2 or any(lo != hi for lo, hi in pairs):
        raise ValueError(
            f"{where}: padding {pad!r} (= {pairs} for input {hw}) is not symmetric; NIR's Conv2d pads both sides "
            "equally"
        )
    return (pairs[0][0], pairs[1][0])


def _export_conv(conv: nnx.Conv, shape: tuple[int, ...], where: str) -> tuple[Any, tuple[int, ...]]:
    if len(conv.kernel_size) != 2:
        raise NotImplementedError(
            f"{where}: a {len(conv.kernel_size)}-D convolution cannot be exported (only 2-D: NIR Conv2d)"
        )
    if len(shape) != 3 or shape[-1] != conv.in_features:
        raise ValueError(f"{where}: Conv expects examples [H, W, {conv.in_features}], got example shape {shape}")
    if _pair("input_dilation", conv.input_dilation, 1) != (1, 1) or conv.mask is not None:
        raise ValueError(f"{where}: input_dilation and mask have no NIR equivalent")
    stride = _pair("strides", 1 if conv.strides is None else conv.strides, 1)
    dilation = _pair("kernel_dilation", conv.kernel_dilation, 1)
    hw = (shape[0], shape[1])
    padding = _flax_conv_padding(conv, hw, where)
    kernel = _value(conv.kernel)  # [kh, kw, C_in / groups, C_out]
    bias = _value(conv.bias) if conv.bias is not None else np.zeros(kernel.shape[-1], kernel.dtype)
    node = nir.Conv2d(
        input_shape=hw,
        weight=np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)),  # HWIO -> OIHW
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=int(conv.feature_group_count),
        bias=bias,
    )
    out = tuple(_conv_out(hw[i], conv.kernel_size[i], stride[i], padding[i], dilation[i]) for i in range(2))
    # nir 1.0.8 types a Conv2d's input channels as weight.shape[1] (wrong for groups > 1) and both output
    # sides from the kernel height weight.shape[2] (wrong for kh != kw): set the types here
    node.input_type = {"input": np.array((shape[-1],) + hw)}
    node.output_type = {"output": np.array((int(kernel.shape[-1]),) + out)}
    return node, out + (int(kernel.shape[-1]),)


def _export_layer(layer: Any, shape: tuple[int, ...], dt: float, where: str) -> tuple[Any, tuple[int, ...]]:
    """``(node, output example shape)`` of one layer with input example shape ``shape`` (channels last)."""
    if isinstance(layer, (nnx.Linear, nn.SpikeLinear)):
        kernel = _value(layer.kernel)  # [in, out]
        if shape != (kernel.shape[0],):
            raise ValueError(
                f"{where}: NIR's Affine/Linear map vectors: expected example shape ({kernel.shape[0]},), got {shape} "
                "(put a Flatten before it)"
            )
        weight = np.ascontiguousarray(kernel.T)
        node = nir.Linear(weight=weight) if layer.bias is None else nir.Affine(weight=weight, bias=_value(layer.bias))
        return node, (int(kernel.shape[1]),)
    if isinstance(layer, nnx.Conv):
        return _export_conv(layer, shape, where)
    if isinstance(layer, Flatten):
        return nir.Flatten(input_type={"input": np.array(_nir_shape(shape))}, start_dim=0, end_dim=-1), (
            int(np.prod(shape)),
        )
    if isinstance(layer, _Pool2d):
        if len(shape) != 3:
            raise ValueError(f"{where}: pooling expects examples [H, W, C], got example shape {shape}")
        kind = nir.SumPool2d if isinstance(layer, SumPool2d) else nir.AvgPool2d
        node = kind(
            kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride), padding=np.array(layer.padding)
        )
        out = tuple(_conv_out(shape[i], layer.kernel_size[i], layer.stride[i], layer.padding[i], 1) for i in range(2))
        return node, out + shape[2:]
    if isinstance(layer, Scale):
        return nir.Scale(scale=_constant(where, "scale", layer.scale, shape)), shape
    if isinstance(layer, (CubaLIF, CubaLI)):
        return _export_composite(layer, shape, dt, where), shape
    if callable(getattr(layer, "params", None)) and getattr(layer, "record", None) is not None:
        return _export_neuron(layer, shape, dt, where), shape
    what = type(layer).__name__ if isinstance(layer, nnx.Module) else describe(layer)
    raise NotImplementedError(
        f"{where}: {what} cannot be exported: NIR has no primitive for it (supported: nnx.Linear, "
        "SpikeLinear, 2-D nnx.Conv, snnjax.nir Flatten/SumPool2d/AvgPool2d/Scale/CubaLIF/CubaLI, TimeDistributed "
        f"wrappers, and the neurons {_NIR_NEURONS})"
    )


def _first_shape(layers: Sequence[Any]) -> tuple[int, ...]:
    """The input example shape of a model whose first layer is a Linear (else ValueError)."""
    first = layers[0]
    if isinstance(first, (nnx.Linear, nn.SpikeLinear)):
        return (int(_value(first.kernel).shape[0]),)
    raise ValueError(
        f"input_shape is needed (the per-example input shape, channels last): it cannot be inferred from a first "
        f"layer {describe(first)}"
    )


def export(model: Any, *, dt: float = 1.0, input_shape: Sequence[int] | None = None) -> Any:
    """Convert a chain of snnjax / flax layers to a NIR graph.

    Args:
      model: an ``nnx.Sequential``, a :class:`Network` or a list/tuple of layers (nested
        containers are flattened, :class:`~snnjax.nn.TimeDistributed` unwrapped); see the
        module docstring for the layers and neurons that map.
      dt: seconds per time step (``τ_NIR = τ_steps·dt``), > 0.
      input_shape: the per-example input shape, channels last (e.g. ``(28, 28, 1)`` or
        ``(784,)``); needed unless the first layer is a Linear or ``model`` is a
        :class:`Network` that knows it.

    Returns:
      A type-checked ``nir.NIRGraph``: ``input → "0" → "1" → … → output`` (node names are
      the layer indices), an RLIF as a nested subgraph; graph metadata ``snnjax_dt = dt``.

    Raises:
      NotImplementedError: a neuron or layer NIR has no primitive for (ALIF, ILIF, CLIF,
        Polara, custom neurons, BatchNorm, ...), naming it.
      ValueError: an option the mapping cannot represent (``reset="none"``, asymmetric
        padding, a Linear on non-vector input, shapes that do not fit), naming the layer.
      TypeError: ``model`` is not a sequence of layers.
    """
    dt = float(check_number("dt", dt, low=0.0, low_open=True))
    layers = _export_layers(model)
    if input_shape is None and isinstance(model, Network):
        input_shape = model.input_shape
    if not layers:
        raise ValueError("model has no layers")
    shape = (
        _first_shape(layers)
        if input_shape is None
        else tuple(check_int("input_shape entry", d, low=1) for d in input_shape)
    )
    nodes: dict[str, Any] = {"input": nir.Input(np.array(_nir_shape(shape)))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for i, layer in enumerate(layers):
        node, shape = _export_layer(layer, shape, dt, f"layer {i} ({type(layer).__name__})")
        nodes[str(i)] = node
        edges.append((prev, str(i)))
        prev = str(i)
    nodes["output"] = nir.Output(np.array(_nir_shape(shape)))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={_DT_KEY: dt})


def write(model: Any, path: str | os.PathLike, *, dt: float = 1.0, input_shape: Sequence[int] | None = None) -> Any:
    """:func:`export` ``model`` and write the graph to ``path`` (a ``.nir`` HDF5 file, ``nir.write``).

    Args:
      model: as :func:`export`.
      path: the file to write.
      dt: seconds per time step.
      input_shape: the per-example input shape, channels last.

    Returns:
      The ``nir.NIRGraph`` written.

    Raises:
      NotImplementedError: as :func:`export` (a layer NIR cannot express).
      ValueError: as :func:`export` (an option the mapping cannot represent).
    """
    graph = export(model, dt=dt, input_shape=input_shape)
    nir.write(path, graph)
    return graph


# ----------------------------------------------------------------------------- import


@dataclasses.dataclass(frozen=True)
class _Options:
    dt: float
    reset: str | None
    surrogate: Any
    use_metadata: bool
    rngs: nnx.Rngs


def _where(name: str, node: Any) -> str:
    return f"node {name!r} ({type(node).__name__})"


def _chain(graph: Any, where: str = "graph") -> list[tuple[str, Any]]:
    """The nodes between the graph's Input and Output, in order (ValueError if not a chain)."""
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"{where} must have exactly one Input and one Output node to import as a chain, got inputs {inputs} and "
            f"outputs {outputs}"
        )
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    pred: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ValueError(f"{where}: edge ({a!r}, {b!r}) names node {end!r}, which is not in the graph")
        succ[a].append(b)
        pred[b].append(a)
    order: list[tuple[str, Any]] = []
    seen = {inputs[0]}
    cur = inputs[0]
    while cur != outputs[0]:
        nxt = succ[cur]
        if len(nxt) != 1:
            raise ValueError(
                f"{where}: node {cur!r} has {len(nxt)} outgoing edges {nxt}; only a chain input -> ... -> output "
                "imports (a recurrent loop must be a nested subgraph)"
            )
        cur = nxt[0]
        if len(pred[cur]) != 1 or cur in seen:
            raise ValueError(
                f"{where}: node {cur!r} has {len(pred[cur])} incoming edges {pred[cur]}; only a chain input -> ... -> "
                "output imports (a recurrent loop must be a nested subgraph)"
            )
        seen.add(cur)
        if cur != outputs[0]:
            order.append((cur, graph.nodes[cur]))
    stray = [k for k in graph.nodes if k not in seen]
    if stray:
        raise ValueError(f"{where}: node {stray[0]!r} is not on the chain from {inputs[0]!r} to {outputs[0]!r}")
    return order


def _node_array(where: str, node: Any, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """A node's constant broadcast to the NIR example ``shape``, returned channels last (float64)."""
    value = getattr(node, field, None)
    if value is None:
        raise ValueError(f"{where}: {field} is missing")
    a = np.asarray(value, np.float64)
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(
            f"{where}: {field} has shape {a.shape}, which does not fit the node's input shape {shape}"
        ) from None
    return np.ascontiguousarray(_snn_layout(a))


def _const(a: np.ndarray) -> float | jax.Array:
    """A float when all entries are equal (one value per layer), else a per-neuron array."""
    flat = a.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return jnp.asarray(a, _float())


def _gain(g: np.ndarray, scale_after: list[Any]) -> None:
    """Append a :class:`Scale` for the input gain ``g`` unless it is 1 (within ``_GAIN_TOL``)."""
    if not np.all(np.abs(g - 1.0) <= _GAIN_TOL):
        scale_after.append(Scale(_const(g)))


def _zero_leak(where: str, node: Any, shape: tuple[int, ...]) -> None:
    v_leak = _node_array(where, node, "v_leak", shape)
    if np.any(v_leak != 0.0):
        raise ValueError(
            f"{where}: v_leak = {v_leak.reshape(-1)[:4]}... is not supported: snnjax's leaky neurons decay to 0 "
            "(v_leak must be 0)"
        )


def _lif_steps(where: str, field: str, tau: np.ndarray, dt: float) -> np.ndarray:
    """``τ_steps = τ/dt`` of a forward-Euler LIF decay ``1 - dt/τ`` (needs ``τ >= dt``)."""
    if np.any(~(tau >= dt)):
        raise ValueError(
            f"{where}: {field} = {tau.min()} < dt = {dt}: the forward-Euler decay 1 - dt/{field} would be negative "
            "(import with a smaller dt)"
        )
    return tau / dt


def _li_steps(where: str, field: str, tau: np.ndarray, dt: float) -> np.ndarray:
    """snnjax LI ``τ_steps`` with ``exp(-1/τ_steps) = 1 - dt/τ`` (needs ``τ > dt``)."""
    if np.any(~(tau > dt)):
        raise ValueError(
            f"{where}: {field} = {tau.min()} <= dt = {dt}: the forward-Euler decay 1 - dt/{field} must be in (0, 1) "
            "(import with a smaller dt)"
        )
    return -1.0 / np.log1p(-dt / tau)


def _reset_of(where: str, node: Any, opts: _Options) -> str:
    """The reset mechanism to import ``node`` with (see the module docstring, Reset)."""
    if opts.reset is not None:
        return opts.reset
    mode = node.metadata.get(_RESET_KEY) if opts.use_metadata and isinstance(node.metadata, dict) else None
    if mode is None:
        return "hard"
    if mode not in RESETS:
        raise ValueError(f"{where}: metadata {_RESET_KEY} = {mode!r} is not one of {RESETS}")
    return str(mode)


def _spiking_kwargs(where: str, node: Any, shape: tuple[int, ...], opts: _Options) -> dict[str, Any]:
    """``v_th``, ``v_reset``, ``reset`` (and ``surrogate``) of an IF/LIF layer for ``node``."""
    mode = _reset_of(where, node, opts)
    v_reset = _node_array(where, node, "v_reset", shape)
    if mode == "soft" and np.any(v_reset != 0.0):
        raise ValueError(
            f"{where}: reset='soft' subtracts v_threshold, which equals NIR's reset to v_reset only for v_reset = 0; "
            f"got v_reset = {v_reset.reshape(-1)[:4]}..."
        )
    kwargs = {"v_th": _const(_node_array(where, node, "v_threshold", shape)), "v_reset": _const(v_reset), "reset": mode}
    if opts.surrogate is not None:
        kwargs["surrogate"] = opts.surrogate
    return kwargs


def _snnjax_neuron(node: Any, opts: _Options) -> str | None:
    if not opts.use_metadata or not isinstance(node.metadata, dict):
        return None
    return node.metadata.get(_NEURON_KEY)


def _import_neuron(where: str, node: Any, shape: tuple[int, ...], opts: _Options) -> list[Any]:
    """The layers (an optional :class:`Scale`, then the neuron) of a NIR neuron node."""
    dt = opts.dt
    layers: list[Any] = []
    if isinstance(node, nir.IF):
        _gain(_node_array(where, node, "r", shape) * dt, layers)
        return [*layers, nn.IF(**_spiking_kwargs(where, node, shape, opts))]
    if isinstance(node, (nir.LIF, nir.LI)):
        _zero_leak(where, node, shape)
        tau = _node_array(where, node, "tau", shape)
        if np.any(~(tau > 0)):
            raise ValueError(f"{where}: tau must be > 0, got {tau.min()}")
        _gain(_node_array(where, node, "r", shape) * dt / tau, layers)
        if isinstance(node, nir.LI):
            return [*layers, nn.LI(tau_mem=_const(_li_steps(where, "tau", tau, dt)), synaptic=False)]
        return [
            *layers,
            nn.LIF(tau=_const(_lif_steps(where, "tau", tau, dt)), **_spiking_kwargs(where, node, shape, opts)),
        ]
    # CubaLI / CubaLIF
    _zero_leak(where, node, shape)
    tau_syn = _node_array(where, node, "tau_syn", shape)
    tau_mem = _node_array(where, node, "tau_mem", shape)
    if np.any(~(tau_syn > 0)) or np.any(~(tau_mem > 0)):
        raise ValueError(f"{where}: tau_syn and tau_mem must be > 0, got {tau_syn.min()} and {tau_mem.min()}")
    w_in = _node_array(where, node, "w_in", shape)
    r = _node_array(where, node, "r", shape)
    _gain((w_in * dt / tau_syn) * (r * dt / tau_mem), layers)  # both stages are linear: one gain in front
    syn_steps = _li_steps(where, "tau_syn", tau_syn, dt)
    tagged = _snnjax_neuron(node, opts)
    if isinstance(node, nir.CubaLI):
        if tagged == "LI":  # snnjax's LI(synaptic=True): membrane driven by the previous current
            return [*layers, nn.LI(tau_syn=_const(syn_steps), tau_mem=_const(_li_steps(where, "tau_mem", tau_mem, dt)))]
        synapse = nn.LI(tau_mem=_const(syn_steps), synaptic=False)
        return [
            *layers,
            CubaLI(synapse, nn.LI(tau_mem=_const(_li_steps(where, "tau_mem", tau_mem, dt)), synaptic=False)),
        ]
    if tagged == "SpytorchLIF":  # snnjax's spytorch LIF: previous current, spike of the incoming membrane
        mode = _reset_of(where, node, opts)
        if mode != "hard" or np.any(_node_array(where, node, "v_reset", shape) != 0.0):
            raise ValueError(f"{where}: a SpytorchLIF resets to 0 (hard, v_reset = 0); reset={mode!r} cannot apply")
        spy = {"v_th": _const(_node_array(where, node, "v_threshold", shape))}
        if opts.surrogate is not None:
            spy["surrogate"] = opts.surrogate
        mem_steps = _li_steps(where, "tau_mem", tau_mem, dt)
        return [*layers, nn.SpytorchLIF(tau_syn=_const(syn_steps), tau_mem=_const(mem_steps), **spy)]
    neuron = nn.LIF(tau=_const(_lif_steps(where, "tau_mem", tau_mem, dt)), **_spiking_kwargs(where, node, shape, opts))
    return [*layers, CubaLIF(nn.LI(tau_mem=_const(syn_steps), synaptic=False), neuron)]


def _import_recurrent(where: str, graph: Any, shape: tuple[int, ...], opts: _Options) -> list[Any]:
    """An RLIF (after an optional :class:`Scale`) for a subgraph ``input → lif ⇄ w_rec, lif → output``."""
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    lifs = [k for k, v in graph.nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI))]
    recs = [k for k, v in graph.nodes.items() if isinstance(v, (nir.Affine, nir.Linear))]
    ins = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if not (len(graph.nodes) == 4 and len(lifs) == len(recs) == len(ins) == len(outs) == 1):
        raise ValueError(
            f"{where}: a nested graph imports only as a recurrent LIF (Input, LIF, Affine/Linear, Output), got {kinds}"
        )
    lif_k, w_k = lifs[0], recs[0]
    expected = {(ins[0], lif_k), (lif_k, w_k), (w_k, lif_k), (lif_k, outs[0])}
    if {tuple(e) for e in graph.edges} != expected or len(graph.edges) != 4:
        raise ValueError(
            f"{where}: a recurrent LIF subgraph needs exactly the edges {sorted(expected)}, got {list(graph.edges)}"
        )
    lif, w_node = graph.nodes[lif_k], graph.nodes[w_k]
    if not isinstance(lif, nir.LIF):
        raise ValueError(
            f"{where}: the recurrent neuron {lif_k!r} is a {type(lif).__name__}; snnjax's recurrent layer (nn.RLIF) "
            "is a LIF (no recurrent current-based or IF neuron)"
        )
    inner = f"{where} / node {lif_k!r} (LIF)"
    if len(shape) != 1:
        raise ValueError(f"{where}: a recurrent LIF needs vector input, got example shape {shape}")
    n = shape[0]
    weight = np.asarray(w_node.weight, np.float64)
    if weight.shape != (n, n):
        raise ValueError(f"{where} / node {w_k!r}: the recurrent weight must be [{n}, {n}], got {weight.shape}")
    if isinstance(w_node, nir.Affine) and np.any(np.asarray(w_node.bias) != 0):
        raise ValueError(f"{where} / node {w_k!r}: a recurrent bias is not supported (nn.RLIF has none)")
    layers = _import_neuron(inner, lif, shape, opts)
    gain = layers[0].scale if isinstance(layers[0], Scale) else 1.0
    w_rec = weight.T * np.broadcast_to(np.asarray(gain, np.float64), (n,))[None, :]  # the gain scales W·s as well
    neuron = layers[-1]
    p = neuron.params()
    rlif = nn.RLIF(n, rngs=opts.rngs, tau=p.tau, v_th=p.v_th, v_reset=p.v_reset, reset=p.reset, surrogate=p.surrogate)
    rlif.w_rec[...] = jnp.asarray(w_rec, _float())
    return [*layers[:-1], rlif]


def _import_node(name: str, node: Any, shape: tuple[int, ...], opts: _Options) -> tuple[list[Any], tuple[int, ...]]:
    """``(layers, output shape)`` of one chain node with NIR-layout input example shape ``shape``."""
    where = _where(name, node)
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        if weight.ndim != 2:
            raise ValueError(f"{where}: weight must be [out, in], got shape {weight.shape}")
        n_out, n_in = weight.shape
        if shape != (n_in,):
            raise ValueError(f"{where}: weight {weight.shape} takes vectors of {n_in}, but its input has shape {shape}")
        bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
        if bias is not None and bias.shape != (n_out,):
            raise ValueError(f"{where}: bias must have shape ({n_out},), got {bias.shape}")
        lin = nnx.Linear(n_in, n_out, use_bias=bias is not None, kernel_init=_ZEROS, bias_init=_ZEROS, rngs=opts.rngs)
        lin.kernel[...] = jnp.asarray(weight.T, _float())
        if bias is not None:
            lin.bias[...] = jnp.asarray(bias, _float())
        return [nn.TimeDistributed(lin)], (n_out,)
    if isinstance(node, nir.Conv2d):
        return _import_conv(where, node, shape, opts)
    if isinstance(node, nir.Flatten):
        rank = len(shape)
        start = node.start_dim % rank if rank else 0
        end = node.end_dim % rank if rank else 0
        if rank > 1 and not (start == 0 and end == rank - 1):
            raise ValueError(
                f"{where}: only a full flatten imports (start_dim=0, end_dim=-1 of the example shape {shape}), got "
                f"start_dim={node.start_dim}, end_dim={node.end_dim} (NIR dims exclude the batch axis)"
            )
        return [nn.TimeDistributed(Flatten())], (int(np.prod(shape)),)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        if len(shape) != 3:
            raise ValueError(f"{where}: pooling needs input [C, H, W], got shape {shape}")
        try:
            kind = SumPool2d if isinstance(node, nir.SumPool2d) else AvgPool2d
            pool = kind(node.kernel_size, node.stride, node.padding)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from e
        hw = tuple(_conv_out(shape[1 + i], pool.kernel_size[i], pool.stride[i], pool.padding[i], 1) for i in range(2))
        return [nn.TimeDistributed(pool)], (shape[0],) + hw
    if isinstance(node, nir.Scale):
        return [Scale(_const(_node_array(where, node, "scale", shape)))], shape
    if isinstance(node, (nir.IF, nir.LIF, nir.LI, nir.CubaLI, nir.CubaLIF, nir.NIRGraph)):
        build = _import_recurrent if isinstance(node, nir.NIRGraph) else _import_neuron
        try:
            return build(where, node, shape, opts), shape
        except ValueError as e:
            if str(e).startswith(where):
                raise
            raise ValueError(f"{where}: {e}") from e  # a params class rejected a value
        except TypeError as e:
            raise ValueError(f"{where}: {e}") from e
    raise ValueError(
        f"{where}: NIR type {type(node).__name__} is not supported by snnjax.nir (supported: Affine, Linear, Conv2d, "
        "Flatten, SumPool2d, AvgPool2d, Scale, IF, LIF, LI, CubaLI, CubaLIF and a recurrent-LIF subgraph)"
    )


def _import_conv(where: str, node: Any, shape: tuple[int, ...], opts: _Options) -> tuple[list[Any], tuple[int, ...]]:
    weight = np.asarray(node.weight)  # [C_out, C_in / groups, kh, kw]
    if weight.ndim != 4:
        raise ValueError(f"{where}: weight must be [C_out, C_in/groups, kh, kw], got shape {weight.shape}")
    groups = int(node.groups)
    c_out, c_in_g, kh, kw = weight.shape
    if len(shape) != 3 or shape[0] != c_in_g * groups:
        raise ValueError(
            f"{where}: weight {weight.shape} (groups={groups}) needs input [{c_in_g * groups}, H, W], got {shape}"
        )
    try:
        stride = _pair("stride", node.stride, 1)
        dilation = _pair("dilation", node.dilation, 1)
        same = isinstance(node.padding, str) and node.padding == "same"
        if same and stride != (1, 1):
            raise ValueError("padding='same' needs stride 1 (as in PyTorch)")
        if isinstance(node.padding, str):  # flax's SAME at stride 1 pads as PyTorch's 'same' (extra at the end)
            padding = {"same": "SAME", "valid": "VALID"}[node.padding]
            pads = (0, 0)
        else:
            pads = _pair("padding", node.padding, 0)
            padding = ((pads[0], pads[0]), (pads[1], pads[1]))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from e
    conv = nnx.Conv(
        c_in_g * groups,
        c_out,
        (kh, kw),
        strides=stride,
        padding=padding,
        kernel_dilation=dilation,
        feature_group_count=groups,
        use_bias=True,
        kernel_init=_ZEROS,  # overwritten below; no random init to compile
        bias_init=_ZEROS,
        rngs=opts.rngs,
    )
    conv.kernel[...] = jnp.asarray(weight.transpose(2, 3, 1, 0), _float())  # OIHW -> HWIO
    bias = np.broadcast_to(np.asarray(node.bias, np.float64), (c_out,))
    conv.bias[...] = jnp.asarray(bias, _float())
    if same:
        hw = (shape[1], shape[2])
    else:
        hw = tuple(_conv_out(shape[1 + i], (kh, kw)[i], stride[i], pads[i], dilation[i]) for i in range(2))
    return [nn.TimeDistributed(conv)], (c_out,) + hw


def import_graph(
    graph: Any,
    *,
    dt: float = 1.0,
    reset: str | None = None,
    surrogate: Any = None,
    use_metadata: bool = True,
) -> Network:
    """Build a snnjax :class:`Network` from a NIR graph (or a ``.nir`` file).

    Args:
      graph: a ``nir.NIRGraph`` whose nodes form a chain ``input → … → output`` (a nested
        recurrent-LIF subgraph counts as one node), or the path of a ``.nir`` file
        (read with ``nir.read``).
      dt: seconds per time step of the simulation (``τ_steps = τ_NIR/dt``), > 0: use the dt
        the graph's producer meant (snnTorch 1e-4, Norse 1e-3; an snnjax export records its
        dt in the graph metadata ``snnjax_dt``).
      reset: ``None`` (the node metadata ``snnjax_reset``, else ``"hard"``: NIR's reset to
        ``v_reset``), or ``"soft"`` / ``"hard"`` for every spiking node.
      surrogate: surrogate of every spiking layer (a name or a ``snnjax.surrogate``
        object); ``None``: each layer's default.
      use_metadata: honour the ``snnjax_*`` node metadata of an snnjax export (the exact
        snnjax layer for ``LI(synaptic=True)`` / ``SpytorchLIF``, the reset); ``False``
        simulates every node in the NIR reading of the module docstring.

    Returns:
      A :class:`Network`: call it on time-major ``[T, B, ...]`` input, channels last
      (``input_shape`` is the graph's input, channels last).

    Raises:
      ValueError: the graph is not a chain, has a node type snnjax does not support, or a
        value snnjax cannot represent (``v_leak ≠ 0``, ``τ < dt``, a partial Flatten, a
        recurrent CubaLIF, ...); the message names the node.
      TypeError: ``graph`` is neither a ``nir.NIRGraph`` nor a path.
    """
    dt = float(check_number("dt", dt, low=0.0, low_open=True))
    if reset is not None:
        check_option("reset", reset, RESETS)
    check_bool("use_metadata", use_metadata)
    if isinstance(graph, (str, os.PathLike)):
        graph = nir.read(graph, type_check=False)  # shapes are checked here (nir 1.0.8 mis-types some Conv2d)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or the path of a .nir file, got {describe(graph)}")
    opts = _Options(dt=dt, reset=reset, surrogate=surrogate, use_metadata=use_metadata, rngs=nnx.Rngs(0))
    chain = _chain(graph)
    in_node = next(v for v in graph.nodes.values() if isinstance(v, nir.Input))
    in_shape = in_node.input_type.get("input") if isinstance(in_node.input_type, dict) else None
    if in_shape is None:
        raise ValueError("graph: the Input node has no shape")
    shape = tuple(int(d) for d in np.asarray(in_shape).reshape(-1))
    if not shape or math.prod(shape) < 1:
        raise ValueError(f"graph: the Input node's shape {shape} is empty")
    layers: list[Any] = []
    out_shape = shape
    for name, node in chain:
        new, out_shape = _import_node(name, node, out_shape, opts)
        layers.extend(new)
    return Network(layers, input_shape=_snn_shape(shape))
