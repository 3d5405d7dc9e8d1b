"""Pytree dataclasses for neuron parameters: :func:`params_dataclass` and :func:`static_field`.

Public as ``snnjax.params_dataclass`` / ``snnjax.static_field``. The value checks every params
class runs (field types, ranges) live in :mod:`snnjax.validation`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from snnjax.validation import check_field_types

__all__ = ["params_dataclass", "static_field"]


def static_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field that is static (part of the treedef, not a leaf)."""
    return dataclasses.field(default=default, metadata={"static": True}, **kwargs)


def params_dataclass(cls: type | None = None, *, check_types: bool = True) -> type:
    """Frozen dataclass registered as a JAX pytree.

    Fields made with :func:`static_field` are metadata (hashable, trigger
    recompilation when changed: strings, flags); all other fields are leaves
    (numbers, arrays, nested pytrees such as a :class:`~snnjax.surrogate.Surrogate`).

    ``check_types`` (default): every numeric field must hold a real number or array (see
    :func:`check_field_types`), checked before the class's own ``__post_init__``.

    ``__post_init__`` (eager validation) runs only when a user constructs the
    object; JAX's unflattening bypasses it, so ``jax.tree.map`` may fill the
    fields with anything (``vmap`` ``in_axes`` prefixes, sentinels, tracers).
    """
    if cls is None:  # @params_dataclass(check_types=False)
        return lambda c: params_dataclass(c, check_types=check_types)
    user_post_init = cls.__dict__.get("__post_init__")

    def __post_init__(self):
        if check_types:
            check_field_types(self)
        if user_post_init is not None:
            user_post_init(self)

    cls.__post_init__ = __post_init__
    cls.__snnjax_params__ = True
    cls = dataclasses.dataclass(frozen=True)(cls)
    data, meta = [], []
    for f in dataclasses.fields(cls):
        (meta if f.metadata.get("static", False) else data).append(f.name)
    data, meta = tuple(data), tuple(meta)
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten_with_keys(obj):
        children = tuple((k, getattr(obj, n)) for k, n in zip(keys, data))
        return children, tuple(getattr(obj, n) for n in meta)

    def flatten(obj):
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for n, v in zip(data, children):
            object.__setattr__(obj, n, v)
        for n, v in zip(meta, aux):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
