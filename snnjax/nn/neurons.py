"""Flax NNX modules over the pure neurons of :mod:`snnjax.neurons`.

Each module is a thin wrapper around a :class:`~snnjax.neurons.Neuron` record: it stores
the neuron's constants (learnable ones as :class:`flax.nnx.Param`), builds the params
pytree with :meth:`Neuron.params` and calls the record's pure ``step`` /
:func:`snnjax.run` — it never re-implements the dynamics. One generic class,
:class:`Neuron`, does this for every neuron (also one written outside the package); the
named layers (``LIF``, ``ILIF``, ...) only name the record, and their keyword arguments
are the params class's fields with its defaults.

Learnable constants: ``learn=("tau", "v_th")`` (or ``learn_tau=True``-style flags) makes
those fields ``nnx.Param`` arrays of ``param_shape`` (``()``: one value per layer; ``(N,)``:
one per neuron). A field with a lower bound (the params class's ``BOUNDS``: time constants
``τ >= 1``, thresholds ``V_th > 0``, inhibition strengths ``>= 0``, ...) is trained through
a reparameterisation that cannot leave the valid range: the ``nnx.Param`` holds ``w`` and
the neuron sees ``low + softplus(w)`` (initialised so that it starts at the given value,
which must lie strictly above the bound). :meth:`Neuron.params` returns the values the
neuron sees; the gradient is with respect to ``w``.

Two modes:

* multi-step: ``module(xs)`` with time-major ``xs [T, B, ...]`` returns the
  outputs ``[T, B, ...]`` (the state starts at ``init_state`` unless given);
  ``return_state=True`` also returns the final state, ``return_states=True`` every state.
* single-step: ``state = module.init_state(x.shape)``, then
  ``state, out = module.step(state, x)`` per step, state carried explicitly.

Example:
    >>> layer = LIF(tau=2.0, learn=("tau",))
    >>> spikes = layer(jnp.ones((16, 4, 10)))          # [T, B, N]
    >>> custom = Neuron(my_record, MyParams(a=0.02), learn=("a",))   # a user-written neuron
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax import neurons as _n
from snnjax.scan import BACKENDS, run
from snnjax.validation import check_bool, check_dtype, check_float_array, check_int, check_option, describe

__all__ = [
    "Neuron",
    "record",
    "Spikes",
    "States",
    "IF",
    "LIF",
    "PLIF",
    "ALIF",
    "SpytorchLIF",
    "LI",
    "RLIF",
    "ILIF",
    "CLIF",
    "Polara",
]


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
        hint = (
            (
                f" — axis {others[0]} has {num_steps}: batch-major input? pass time_axis={others[0]} or "
                f"transpose to time-major [T, B, ...]"
            )
            if others
            else ""
        )
        raise ValueError(
            f"xs must have num_steps = {num_steps} time steps on axis {time_axis}, got shape {xs.shape}{hint}"
        )
    return xs


class Spikes(nnx.Intermediate):
    """What :func:`record` collects from every neuron layer: its outputs ``[T, ...]``."""


class States(nnx.Intermediate):
    """What :func:`record` collects with ``states=True``: every layer's state after each step."""


def _capturing(module: nnx.Module, kind: type) -> bool:
    """Whether ``module`` is being called inside an ``nnx.capture`` of ``kind`` (Flax marks the
    modules of a capture with ``__captures__``; outside one, nothing is recorded)."""
    return any(type(v) is kind for v in getattr(module, "__captures__", ()))


def _flatten_records(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(v, dict) and not ({"spikes", "states"} & set(v)):
            out.update(_flatten_records(v, name))
        else:
            out[name] = {k: (x[0] if isinstance(x, tuple) and len(x) == 1 else x) for k, x in v.items()}
    return out


def record(fn: Any, *, states: bool = False) -> Any:
    """Monitors, functionally: ``record(fn)(model, *args)`` returns ``(fn's result, records)``.

    ``fn`` is a model (its ``__call__``) or a function ``fn(model, *args)``; during the call
    every :class:`Neuron` layer (and :class:`RLIF`) records its outputs ``[T, ...]`` and, with
    ``states=True``, its state after every step (a pytree of ``[T, ...]``, as
    ``run(..., return_states=True)``). ``records`` maps each layer's path in the model
    (``"lif"``, ``"blocks/0/neuron1"``, ...) to ``{"spikes": ..., "states": ...}`` (a tuple of
    them if the layer ran more than once). Nothing is stored on the model and nothing global
    is set: it is ``nnx.capture`` with the variable types :class:`Spikes` / :class:`States`, so
    it works inside ``nnx.jit`` and ``nnx.grad``; outside ``record`` the layers record
    nothing and cost nothing extra.

    Example:
        >>> out, rec = nn.record(model)(xs)
        >>> {name: float(r["spikes"].mean()) for name, r in rec.items()}   # firing rate per layer
    """
    check_bool("states", states)
    kinds = (Spikes, States) if states else (Spikes,)
    captured = nnx.capture(fn, *kinds)

    def wrapper(*args: Any, **kwargs: Any):
        result, *intermediates = captured(*args, **kwargs)
        merged: dict[str, dict[str, Any]] = {}
        for kind, inter in zip(("spikes", "states"), intermediates):
            for name, v in _flatten_records(nnx.to_pure_dict(inter)).items():
                merged.setdefault(name, {}).update({kind: v[kind]} if kind in v else v)
        return result, merged

    return wrapper


def _inverse_softplus(y: np.ndarray) -> np.ndarray:
    """``w`` with ``softplus(w) = y`` (y > 0), stable for large y."""
    y = np.asarray(y, np.float64)
    return np.where(y > 30.0, y, np.log(np.expm1(np.minimum(y, 30.0))))


def _is_params(obj: Any) -> bool:
    return (dataclasses.is_dataclass(obj) and not isinstance(obj, type)) or (
        isinstance(obj, tuple) and hasattr(type(obj), "_fields")
    )


class Neuron(nnx.Module):
    """A layer over any :class:`~snnjax.neurons.Neuron` record.

    Args:
      neuron: the record (default: the class attribute ``neuron`` of a named layer).
        Anything with ``step`` and ``init_state`` attributes works (a neuron module too).
      params: a params object (a :func:`~snnjax.params_dataclass` or a ``NamedTuple``);
        default: built by :meth:`make_params` from ``**param_kwargs`` (the record's params
        class called with them, so its defaults and checks apply).
      learn: names of fields to train (``nnx.Param``). ``learn_<field>=True`` keyword
        flags are accepted as well.
      param_shape: shape of every learnable field (``()`` or ``(N,)``).
      param_dtype: floating dtype of the learnable fields.
      backend: passed to :func:`snnjax.run`.
      remat: the layer's default for :func:`snnjax.run`'s ``remat`` (recompute each step in
        the backward pass; a ``lax.scan`` option, so ``backend="auto"`` runs ``"scan"``).
      checkpoint_every: the layer's default for :func:`snnjax.run`'s ``checkpoint_every``
        (store the state every ``k`` steps, recompute the chunks in the backward pass:
        memory ``O(T/k + k)`` per layer instead of ``O(T)``; a ``lax.scan`` option too). These
        two make the time loop's memory policy reachable where a model builds its neurons,
        ``models.resnet38(..., neuron=make_neuron("polara", checkpoint_every=10))``; keyword
        arguments of a call override them.
      num_steps: if given, the number of time steps every input must have (a mismatch
        names the axis that has them: batch-major input).
      **param_kwargs: fields of the params class.
    """

    neuron: ClassVar[Any] = None
    always_learn: ClassVar[tuple[str, ...]] = ()  # fields a named layer always trains (when present)

    def __init__(
        self,
        neuron: Any = None,
        params: Any = None,
        *,
        learn: Iterable[str] = (),
        param_shape: Sequence[int] = (),
        param_dtype: Any = jnp.float32,
        backend: str = "auto",
        remat: bool = False,
        checkpoint_every: int | None = None,
        num_steps: int | None = None,
        **param_kwargs: Any,
    ):
        if params is None and _is_params(neuron):  # Neuron(params, ...) in a named layer's subclass
            neuron, params = None, neuron
        record = neuron if neuron is not None else type(self).neuron
        if record is None or not (callable(getattr(record, "step", None))
                                  and callable(getattr(record, "init_state", None))):  # fmt: skip
            raise TypeError(
                "neuron must be a snnjax.neurons.Neuron record (Neuron(init_state, step, params=...)), "
                f"got {describe(record)}"
            )
        check_option("backend", backend, BACKENDS)
        # the time loop's memory policy (run options), only those set: a call's keywords override them
        run_defaults = {"remat": check_bool("remat", remat) or None}
        run_defaults["checkpoint_every"] = check_int("checkpoint_every", checkpoint_every, low=1, allow_none=True)
        run_defaults = {k: v for k, v in run_defaults.items() if v is not None}
        for name in run_defaults:
            if backend not in ("auto", "scan"):
                option = "remat=True" if name == "remat" else name
                raise ValueError(f"{option} is a lax.scan option: backend must be 'auto' or 'scan', got {backend!r}")
        if isinstance(learn, str):
            raise TypeError(f"learn must be a tuple of parameter names, e.g. ({learn!r},), got the str {learn!r}")
        learn = list(learn)
        for key in [k for k in param_kwargs if k.startswith("learn_")]:
            if check_bool(key, param_kwargs.pop(key)):
                learn.append(key[len("learn_") :])
        if params is None:
            params = self.make_params(record, **param_kwargs)
        elif param_kwargs:
            raise TypeError(f"pass either params or field keywords, got params and {sorted(param_kwargs)}")
        fields = param_fields(params)
        learn = tuple(dict.fromkeys([*learn, *(f for f in self.always_learn if f in fields)]))
        for name in learn:
            check_option("learnable parameter (learn)", name, fields)
        param_shape = _check_param_shape(param_shape)
        param_dtype = check_dtype(param_dtype, "param_dtype")
        self.record = record
        self.num_steps = check_int("num_steps", num_steps, low=1, allow_none=True)
        self.backend = backend
        self._run_defaults = run_defaults
        self._fields = fields
        self._params_type = type(params)
        bounds = getattr(type(params), "BOUNDS", {})
        for name in fields:
            v = getattr(params, name)
            if name in learn:
                a = jnp.asarray(v, param_dtype)
                if a.shape not in ((), param_shape):
                    raise ValueError(f"{name} has shape {a.shape}; a learnable parameter of param_shape "
                                     f"{param_shape} must be a scalar or have that shape")  # fmt: skip
                a = jnp.broadcast_to(a, param_shape)
                if name in bounds:
                    low = float(bounds[name])
                    if not np.all(np.asarray(a) > low):
                        raise ValueError(
                            f"a learnable {name} must start above its bound {low} (it is trained as "
                            f"{low} + softplus(w)), got {np.asarray(a).min()}"
                        )
                    v = nnx.Param(jnp.asarray(_inverse_softplus(np.asarray(a) - low), param_dtype), softplus_low=low)
                else:
                    v = nnx.Param(a)
            setattr(self, name, v)

    @classmethod
    def make_params(cls, record: Any, **kwargs: Any) -> Any:
        """The params object of the layer's keyword arguments: ``record.params(**kwargs)``.
        Named layers override it where a keyword is not a field (``PLIF(tau_init=)``)."""
        params_cls = getattr(record, "params", None)
        if not isinstance(params_cls, type):
            raise TypeError(f"{record!r} has no params class: pass params= (a params object)")
        return params_cls(**kwargs)

    def params(self) -> Any:
        """The params pytree of the pure neuron, built from this module's current values
        (reparameterised fields as the neuron sees them, ``low + softplus(w)``)."""
        values = {}
        for name in self._fields:
            v = getattr(self, name)
            if isinstance(v, nnx.Variable):
                low = v.get_metadata().get("softplus_low")
                if low is None:
                    v = v[...]
                else:  # + tiny: softplus underflows to 0 far below the bound, an open bound stays open
                    raw = v[...]
                    v = low + jax.nn.softplus(raw) + jnp.finfo(raw.dtype).tiny
            values[name] = v
        return self._params_type(**values)

    def init_state(self, shape: int | Sequence[int], dtype: Any = jnp.float32) -> Any:
        """Initial state for one time step of shape ``shape`` (e.g. ``(B, N)``)."""
        return self.record.init_state(shape, dtype, params=self.params())

    def step(self, state: Any, x: jax.Array) -> tuple[Any, jax.Array]:
        """Single step: ``(new_state, out)`` = the pure ``step`` with this module's params."""
        return self.record.step(self.params(), state, x)

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
        step = self.record if isinstance(self.record, _n.Neuron) else self.record.step
        return _call(
            self.params(),
            self.num_steps,
            step,
            self.backend,
            xs,
            state,
            return_state,
            return_states,
            time_axis,
            {**self._run_defaults, **run_kwargs},
            monitor=self,
        )


def _call(
    params, num_steps, step, backend, xs, state, return_state, return_states, time_axis, run_kwargs, monitor=None
):
    check_bool("return_state", return_state)
    check_bool("return_states", return_states)
    xs = _check_xs(xs, num_steps, time_axis)
    want_states = monitor is not None and _capturing(monitor, States)
    out = run(
        step,
        params,
        xs,
        state,
        backend=backend,
        return_states=return_states or want_states,
        time_axis=time_axis,
        **run_kwargs,
    )
    final, ys = out[0], out[1]
    if monitor is not None and _capturing(monitor, Spikes):
        monitor.sow(Spikes, "spikes", ys)
    if want_states:
        monitor.sow(States, "states", out[2])
    extra = ((final,) if return_state else ()) + ((out[2],) if return_states else ())
    return (ys, *extra) if extra else ys


class IF(Neuron):
    """Integrate-and-fire layer; see :mod:`snnjax.neurons.if_` (keywords: :class:`~snnjax.neurons.IFParams`)."""

    neuron = _n.if_.neuron


class LIF(Neuron):
    """LIF layer; see :mod:`snnjax.neurons.lif` (keywords: :class:`~snnjax.neurons.LIFParams`;
    defaults τ = 1.1, V_th = 1, rectangle γ = 1)."""

    neuron = _n.lif.neuron


class PLIF(Neuron):
    """Parametric LIF layer (learnable leak λ = sigmoid(w), always trained); see
    :mod:`snnjax.neurons.plif`. ``tau_init`` (default 2) sets the initial ``w``; the other
    keywords are :class:`~snnjax.neurons.PLIFParams` fields."""

    neuron = _n.plif.neuron
    always_learn = ("w",)

    @classmethod
    def make_params(cls, record: Any, *, tau_init: float = 2.0, **kwargs: Any) -> Any:
        return _n.PLIFParams(w=_n.plif.w_from_tau(tau_init), **kwargs)


class ALIF(Neuron):
    """Adaptive-threshold LIF layer; see :mod:`snnjax.neurons.alif` (keywords: :class:`~snnjax.neurons.ALIFParams`)."""

    neuron = _n.alif.neuron


class SpytorchLIF(Neuron):
    """The spytorch synaptic LIF layer; see :mod:`snnjax.neurons.spytorch_lif`."""

    neuron = _n.spytorch_lif.neuron


class LI(Neuron):
    """Leaky-integrator readout layer (non-spiking); see :mod:`snnjax.neurons.li`."""

    neuron = _n.li.neuron


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

    # the multi-step call is Neuron's: it needs only record, params(), num_steps and backend
    record = _n.rlif.neuron

    @property
    def num_steps(self) -> int | None:
        return self.lif.num_steps

    @property
    def backend(self) -> str:
        return self.lif.backend

    @property
    def _run_defaults(self) -> dict[str, Any]:  # the LIF part's remat / checkpoint_every
        return self.lif._run_defaults

    __call__ = Neuron.__call__


class ILIF(Neuron):
    """ILIF layer (LIF with inhibitory units); see :mod:`snnjax.neurons.ilif` (keywords:
    :class:`~snnjax.neurons.ILIFParams`). ``plif=True`` gives IPLIF: learnable leak
    λ = sigmoid(w), always trained, initialised to τ = ``tau``."""

    neuron = _n.ilif.neuron
    always_learn = ("w",)  # IPLIF only (ILIFParams has no w)

    @classmethod
    def make_params(cls, record: Any, *, plif: bool = False, tau: float = 1.1, **kwargs: Any) -> Any:
        if check_bool("plif", plif):
            return _n.IPLIFParams(w=_n.plif.w_from_tau(tau), **kwargs)
        return _n.ILIFParams(tau=tau, **kwargs)


class CLIF(Neuron):
    """CLIF layer; see :mod:`snnjax.neurons.clif` (keywords: :class:`~snnjax.neurons.CLIFParams`)."""

    neuron = _n.clif.neuron


class Polara(Neuron):
    """POLARA layer; see :mod:`snnjax.neurons.polara`.

    Keyword arguments are those of :class:`snnjax.neurons.PolaraParams`
    (``grad="mask"`` (default, the fidelity study's choice) ``| "exact" | "eq13"``, the constants,
    the ablation flags); ``ablation=`` selects one of the paper's Table 2 variants by name.
    """

    neuron = _n.polara.neuron

    @classmethod
    def make_params(cls, record: Any, *, ablation: str | None = None, **kwargs: Any) -> Any:
        return _n.PolaraParams(**{**_n.polara.ablation(ablation), **kwargs})
