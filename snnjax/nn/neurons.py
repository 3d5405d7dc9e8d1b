"""Flax NNX modules over the pure neurons of :mod:`snnjax.neurons`.

Each module is a thin wrapper: it stores the neuron's constants (learnable ones
as :class:`flax.nnx.Param`), builds the params pytree with :meth:`Neuron.params`
and calls the pure ``step`` / :func:`snnjax.run` — it never re-implements the
dynamics.

Two modes:

* multi-step: ``module(xs)`` with time-major ``xs [T, B, ...]`` returns the
  outputs ``[T, B, ...]`` (the state starts at ``init_state`` unless given);
  ``return_state=True`` also returns the final state.
* single-step: ``state = module.init_state(x.shape)``, then
  ``state, out = module.step(state, x)`` per step, state carried explicitly.

Example:
    >>> layer = LIF(tau=2.0, learn_tau=True)
    >>> spikes = layer(jnp.ones((16, 4, 10)))          # [T, B, N]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from snnjax import neurons as _n
from snnjax import surrogate as _surrogate
from snnjax._src import check_bool, check_float_array, check_int, check_option, describe
from snnjax.scan import BACKENDS, run

__all__ = ["Neuron", "IF", "LIF", "PLIF", "ALIF", "SpytorchLIF", "LI", "RLIF", "ILIF", "CLIF", "Polara"]


def _value(v: Any) -> Any:
    return v[...] if isinstance(v, nnx.Variable) else v


def param_fields(params: Any) -> tuple[str, ...]:
    """The field names of a params object: a dataclass (e.g. :func:`snnjax.params_dataclass`)
    or a ``NamedTuple``; anything else is a ``TypeError`` that says what is needed."""
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return tuple(f.name for f in dataclasses.fields(params))
    if isinstance(params, tuple) and hasattr(type(params), "_fields"):
        return tuple(type(params)._fields)
    raise TypeError(
        f"params must be a params dataclass (snnjax.params_dataclass) or a NamedTuple instance, got {describe(params)}"
    )


def _check_param_shape(param_shape: Any) -> tuple[int, ...]:
    if isinstance(param_shape, (int, np.integer)) and not isinstance(param_shape, bool):
        param_shape = (param_shape,)
    try:
        shape = tuple(check_int("param_shape entry", d, low=1) for d in param_shape)
    except TypeError as e:
        raise TypeError(f"param_shape must be a tuple of positive ints (() or (N,)), got {param_shape!r}") from e
    except ValueError as e:
        raise ValueError(f"param_shape must be a tuple of positive ints (() or (N,)), got {param_shape!r}") from e
    return shape


def _check_xs(xs: Any, num_steps: int | None, time_axis: int) -> jax.Array:
    """Multi-step input of a layer: floating, rank >= 2 (time and at least one more axis), and
    ``num_steps`` steps on the time axis when the layer was told T."""
    xs = check_float_array("xs", xs, min_rank=2)
    check_int("time_axis", time_axis, low=-xs.ndim, high=xs.ndim - 1)
    if num_steps is not None and xs.shape[time_axis] != num_steps:
        others = [i for i, d in enumerate(xs.shape) if d == num_steps and i != time_axis % xs.ndim]
        hint = (f" — axis {others[0]} has {num_steps}: batch-major input? pass time_axis={others[0]} or "
                f"transpose to time-major [T, B, ...]") if others else ""
        raise ValueError(
            f"xs must have num_steps = {num_steps} time steps on axis {time_axis}, got shape {xs.shape}{hint}"
        )
    return xs


class Neuron(nnx.Module):
    """Base class: a neuron module over a pure neuron module (``neuron``).

    Subclasses set the class attribute ``neuron`` (e.g. :mod:`snnjax.neurons.lif`)
    and ``params_cls``, and call ``super().__init__(params, learn=..., ...)`` with
    a validated params object. Fields named in ``learn`` become
    ``nnx.Param`` arrays of shape ``param_shape`` (``()``: one value per layer;
    ``(N,)``: one per neuron); all other fields are stored as given.
    """

    neuron: ClassVar[ModuleType]
    params_cls: ClassVar[type]

    def __init__(
        self,
        params: Any,
        *,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        param_dtype: Any = jnp.float32,
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        check_option("backend", backend, BACKENDS)
        fields = param_fields(params)
        if isinstance(learn, str):
            raise TypeError(f"learn must be a tuple of parameter names, e.g. ({learn!r},), got the str {learn!r}")
        learn = tuple(learn)
        for name in learn:
            check_option("learnable parameter (learn)", name, fields)
        param_shape = _check_param_shape(param_shape)
        try:
            param_dtype = jnp.dtype(param_dtype)
        except TypeError as e:
            raise TypeError(f"param_dtype must be a floating dtype, got {param_dtype!r}") from e
        if not jnp.issubdtype(param_dtype, jnp.floating):
            raise TypeError(f"param_dtype must be a floating dtype (learnable values are trained), got {param_dtype}")
        self.num_steps = check_int("num_steps", num_steps, low=1, allow_none=True)
        self._fields = fields
        self._params_type = type(params)
        self.backend = backend
        for name in fields:
            v = getattr(params, name)
            if name in learn:
                a = jnp.asarray(v, param_dtype)
                if a.shape not in ((), param_shape):
                    raise ValueError(f"{name} has shape {a.shape}; a learnable parameter of param_shape "
                                     f"{param_shape} must be a scalar or have that shape")
                v = nnx.Param(jnp.broadcast_to(a, param_shape))
            setattr(self, name, v)

    def params(self) -> Any:
        """The params pytree of the pure neuron, built from this module's current values."""
        cls = getattr(self, "params_cls", None) or self._params_type
        return cls(**{name: _value(getattr(self, name)) for name in self._fields})

    def init_state(self, shape: int | Sequence[int], dtype: Any = jnp.float32) -> Any:
        """Initial state for one time step of shape ``shape`` (e.g. ``(B, N)``)."""
        return self.neuron.init_state(shape, dtype, params=self.params())

    def step(self, state: Any, x: jax.Array) -> tuple[Any, jax.Array]:
        """Single step: ``(new_state, out)`` = the pure ``step`` with this module's params."""
        return self.neuron.step(self.params(), state, x)

    def __call__(
        self,
        xs: jax.Array,
        state: Any = None,
        *,
        return_state: bool = False,
        return_states: bool = False,
        time_axis: int = 0,
        **run_kwargs: Any,
    ) -> jax.Array | tuple:
        """Multi-step: outputs ``[T, ...]`` for time-major ``xs`` ``[T, ...]``.

        Args:
          xs: input currents ``[T, B, ...]`` (rank >= 2); with the layer's ``num_steps`` set,
            an input without ``num_steps`` steps on the time axis is an error (it names the
            axis that has them, e.g. for batch-major input).
          state: initial state (default: :meth:`init_state` of ``xs.shape[1:]``).
          return_state: also return the final state, as ``(ys, final_state)``.
          return_states: also return the state after every step (``[T, ...]`` per field), as
            ``(ys, states)``, or ``(ys, final_state, states)`` with ``return_state``.
          time_axis: the time axis of ``xs`` (``1`` for batch-major ``[B, T, ...]``; outputs
            come back in the same layout), as in :func:`snnjax.run`.
          **run_kwargs: forwarded to :func:`snnjax.run` (``remat``, ``checkpoint_every``, ``unroll``).
        """
        return _call(self.params(), self.num_steps, self.neuron.step, self.backend, xs, state, return_state,
                     return_states, time_axis, run_kwargs)


def _call(params, num_steps, step, backend, xs, state, return_state, return_states, time_axis, run_kwargs):
    check_bool("return_state", return_state)
    check_bool("return_states", return_states)
    xs = _check_xs(xs, num_steps, time_axis)
    out = run(step, params, xs, state, backend=backend, return_states=return_states, time_axis=time_axis,
              **run_kwargs)
    final, ys = out[0], out[1]
    extra = ((final,) if return_state else ()) + ((out[2],) if return_states else ())
    return (ys, *extra) if extra else ys


class IF(Neuron):
    """Integrate-and-fire layer; see :mod:`snnjax.neurons.if_`."""

    neuron = _n.if_
    params_cls = _n.IFParams

    def __init__(
        self,
        *,
        v_th: ArrayLike = 1.0,
        v_reset: ArrayLike = 0.0,
        surrogate: str | _surrogate.Surrogate = "rectangle",
        reset: str = "soft",
        detach_reset: bool = False,
        learn_v_th: bool = False,
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.IFParams(v_th=v_th, v_reset=v_reset, surrogate=surrogate, reset=reset, detach_reset=detach_reset)
        super().__init__(p, learn=("v_th",) if learn_v_th else (), param_shape=param_shape, backend=backend,
                         num_steps=num_steps)


class LIF(Neuron):
    """LIF layer; see :mod:`snnjax.neurons.lif` (defaults τ = 1.1, V_th = 1, rectangle γ = 1)."""

    neuron = _n.lif
    params_cls = _n.LIFParams

    def __init__(
        self,
        *,
        tau: ArrayLike = 1.1,
        v_th: ArrayLike = 1.0,
        v_reset: ArrayLike = 0.0,
        surrogate: str | _surrogate.Surrogate = "rectangle",
        reset: str = "soft",
        detach_reset: bool = False,
        learn_tau: bool = False,
        learn_v_th: bool = False,
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.LIFParams(
            tau=tau, v_th=v_th, v_reset=v_reset, surrogate=surrogate, reset=reset, detach_reset=detach_reset
        )
        learn = (("tau",) if learn_tau else ()) + (("v_th",) if learn_v_th else ())
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class PLIF(Neuron):
    """Parametric LIF layer (learnable leak λ = sigmoid(w)); see :mod:`snnjax.neurons.plif`."""

    neuron = _n.plif
    params_cls = _n.PLIFParams

    def __init__(
        self,
        *,
        tau_init: float = 2.0,
        v_th: ArrayLike = 1.0,
        v_reset: ArrayLike = 0.0,
        surrogate: str | _surrogate.Surrogate = "rectangle",
        reset: str = "soft",
        detach_reset: bool = False,
        learn_v_th: bool = False,
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.PLIFParams(
            w=_n.plif.w_from_tau(tau_init),
            v_th=v_th,
            v_reset=v_reset,
            surrogate=surrogate,
            reset=reset,
            detach_reset=detach_reset,
        )
        learn = ("w",) + (("v_th",) if learn_v_th else ())
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class ALIF(Neuron):
    """Adaptive-threshold LIF layer; see :mod:`snnjax.neurons.alif`."""

    neuron = _n.alif
    params_cls = _n.ALIFParams

    def __init__(
        self,
        *,
        tau: ArrayLike = 20.0,
        tau_adapt: ArrayLike = 200.0,
        beta_adapt: ArrayLike = 1.8,
        v_th: ArrayLike = 1.0,
        v_reset: ArrayLike = 0.0,
        surrogate: str | _surrogate.Surrogate = "superspike",
        reset: str = "soft",
        detach_reset: bool = False,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.ALIFParams(
            tau=tau,
            tau_adapt=tau_adapt,
            beta_adapt=beta_adapt,
            v_th=v_th,
            v_reset=v_reset,
            surrogate=surrogate,
            reset=reset,
            detach_reset=detach_reset,
        )
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class SpytorchLIF(Neuron):
    """The spytorch synaptic LIF layer; see :mod:`snnjax.neurons.spytorch_lif`."""

    neuron = _n.spytorch_lif
    params_cls = _n.SpytorchLIFParams

    def __init__(
        self,
        *,
        tau_syn: ArrayLike = 5.0,
        tau_mem: ArrayLike = 10.0,
        v_th: ArrayLike = 1.0,
        surrogate: str | _surrogate.Surrogate = "superspike",
        detach_reset: bool = True,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.SpytorchLIFParams(
            tau_syn=tau_syn, tau_mem=tau_mem, v_th=v_th, surrogate=surrogate, detach_reset=detach_reset
        )
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class LI(Neuron):
    """Leaky-integrator readout layer (non-spiking); see :mod:`snnjax.neurons.li`."""

    neuron = _n.li
    params_cls = _n.LIParams

    def __init__(
        self,
        *,
        tau_syn: ArrayLike = 5.0,
        tau_mem: ArrayLike = 10.0,
        synaptic: bool = True,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.LIParams(tau_syn=tau_syn, tau_mem=tau_mem, synaptic=synaptic)
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class RLIF(nnx.Module):
    """Recurrent LIF layer of ``n`` neurons with a learnable ``W_rec [n, n]``.

    ``W_rec`` is initialised ``N(0, (scale/sqrt(n))²)`` with a zero diagonal.
    The LIF part is an :class:`LIF` module (its options are keyword arguments
    here), so learnable τ / V_th work the same way.
    """

    def __init__(self, n: int, *, rngs: nnx.Rngs, w_scale: float = 1.0, zero_diagonal: bool = True, **lif_kwargs: Any):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        w = jax.random.normal(rngs.params(), (n, n)) * (w_scale / jnp.sqrt(n))
        if zero_diagonal:
            w = w * (1.0 - jnp.eye(n))
        self.w_rec = nnx.Param(w)
        self.lif = LIF(**lif_kwargs)

    def params(self) -> _n.RLIFParams:
        return _n.RLIFParams(w_rec=self.w_rec[...], lif=self.lif.params())

    def init_state(self, shape: int | Sequence[int], dtype: Any = jnp.float32) -> _n.RLIFState:
        return _n.rlif.init_state(shape, dtype)

    def step(self, state: _n.RLIFState, x: jax.Array) -> tuple[_n.RLIFState, jax.Array]:
        return _n.rlif.step(self.params(), state, x)

    def __call__(self, xs: jax.Array, state: Any = None, *, return_state: bool = False, return_states: bool = False,
                 time_axis: int = 0, **run_kwargs: Any):
        """As :meth:`Neuron.__call__`."""
        return _call(self.params(), self.lif.num_steps, _n.rlif.step, self.lif.backend, xs, state, return_state,
                     return_states, time_axis, run_kwargs)


class ILIF(Neuron):
    """ILIF layer (LIF with inhibitory units); see :mod:`snnjax.neurons.ilif`.

    ``plif=True`` gives IPLIF (learnable leak λ = sigmoid(w), initialised to τ = ``tau``).
    """

    neuron = _n.ilif

    def __init__(
        self,
        *,
        tau: ArrayLike = 1.1,
        v_th: ArrayLike = 1.0,
        lambda_u: ArrayLike = 1.0,
        lambda_i: ArrayLike = 0.03,
        surrogate: str | _surrogate.Surrogate = "rectangle",
        use_mpiu: bool = True,
        use_ciu: bool = True,
        ciu_source: str = "input",
        plif: bool = False,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        common = dict(
            v_th=v_th,
            lambda_u=lambda_u,
            lambda_i=lambda_i,
            surrogate=surrogate,
            use_mpiu=use_mpiu,
            use_ciu=use_ciu,
            ciu_source=ciu_source,
        )
        if plif:
            self.params_cls = _n.IPLIFParams
            p = _n.IPLIFParams(w=_n.plif.w_from_tau(tau), **common)
            learn = ("w", *learn)
        else:
            self.params_cls = _n.ILIFParams
            p = _n.ILIFParams(tau=tau, **common)
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class CLIF(Neuron):
    """CLIF layer; see :mod:`snnjax.neurons.clif`."""

    neuron = _n.clif
    params_cls = _n.CLIFParams

    def __init__(
        self,
        *,
        tau: ArrayLike = 2.0,
        v_th: ArrayLike = 1.0,
        surrogate: str | _surrogate.Surrogate = "rectangle",
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
    ):
        p = _n.CLIFParams(tau=tau, v_th=v_th, surrogate=surrogate)
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)


class Polara(Neuron):
    """POLARA layer; see :mod:`snnjax.neurons.polara`.

    Keyword arguments are those of :class:`snnjax.neurons.PolaraParams`
    (``grad="mask"`` (default, the fidelity study's choice) ``| "exact" | "eq13"``, the constants,
    the ablation flags);
    ``ablation=`` selects one of the paper's Table 2 variants by name.
    """

    neuron = _n.polara
    params_cls = _n.PolaraParams

    def __init__(
        self,
        *,
        ablation: str | None = None,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        backend: str = "auto",
        num_steps: int | None = None,
        **kwargs: Any,
    ):
        kwargs = {**_n.polara.ablation(ablation), **kwargs}
        p = _n.PolaraParams(**kwargs)
        super().__init__(p, learn=learn, param_shape=param_shape, backend=backend, num_steps=num_steps)
