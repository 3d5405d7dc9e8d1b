"""Image and event-frame augmentation as pure JAX functions of an explicit PRNG key.

Layout: images are channels-last ``[B, H, W, C]``; event frames are
``[B, T, H, W, C]`` and every geometric transform draws **one** set of parameters
per sample and applies it to all ``T`` frames of that sample (a crop, flip,
shift or hole is the same at every time step). The parameters of sample ``i``
come from ``jax.random.split(key, B)[i]`` alone, so samples are independent and
the output is a deterministic function of ``(key, images)``. Each random
transform has a public helper that draws exactly the parameters it uses
(:func:`crop_offsets`, :func:`flip_decisions`, :func:`cutout_centres`,
:func:`toolbox_cutout_params`, :func:`roll_shifts`), so the draw can be inspected
and the mechanics checked independently.

Dtypes: the geometric transforms (crop, flip, cutout, roll) keep the input dtype
and accept floating images or ``uint8`` images. Only :func:`normalize` and the
CIFAR transforms convert: ``uint8`` becomes ``float32`` in [0, 1] (``x / 255``,
as torchvision's ``ToTensor``); floating input is taken to be in [0, 1] already
and keeps its dtype.

All functions validate eagerly (rank, channels-last shape, dtype, at least one
sample (and frame), finite values of concrete floating inputs, integer arguments,
``mean``/``std`` length, dtype and positivity) and are ``jax.jit``-able with
the integer/option arguments static (under ``jit`` the checks that need values,
such as NaN/inf, are skipped; those on shapes and dtypes still run while tracing), e.g.
``jax.jit(random_crop, static_argnames="padding")``; each calls an internal
jitted function, so eager calls compile once per shape.

What the official SNN training scripts do (read from the SLTT and CLIF
repositories, ``qymeng94/SLTT/train_SLTT.py`` and
``HuuYuLong/Complementary-LIF/train.py``; the ILIF script follows the same
order per ``NEURONS.md``)::

    transforms.RandomCrop(32, padding=4),      # on the uint8 PIL image, zero fill
    torchtoolbox.transform.Cutout(),           # default arguments, see toolbox_cutout
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),                     # uint8 -> float in [0, 1]
    transforms.Normalize(mean, std)

Their ``Cutout`` is **not** DeVries & Taylor's ``Cutout(n_holes=1, length=16)``
but torchtoolbox's random-erasing variant (probability 0.5, a random rectangle,
filled before normalisation). Both are here: :func:`toolbox_cutout` (the
scripts' default in :func:`cifar_train_transform`) and :func:`cutout` (DeVries &
Taylor, applied after normalisation as in their ``train.py``).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from snnjax.validation import check_bool, check_option, concrete, describe

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "CUTOUT_MODES",
    "CutoutBox",
    "crop_offsets",
    "flip_decisions",
    "cutout_centres",
    "toolbox_cutout_params",
    "roll_shifts",
    "random_crop",
    "random_flip",
    "cutout",
    "toolbox_cutout",
    "random_roll",
    "normalize",
    "cifar_train_transform",
    "cifar_eval_transform",
    "dvs_train_transform",
]

#: Per-channel (R, G, B) statistics used by the SLTT/CLIF/ILIF CIFAR scripts.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)

#: Options of ``cifar_train_transform(cutout=...)``.
CUTOUT_MODES = ("toolbox", "devries", "none")

# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def _check_key(key: Any) -> jax.Array:
    dtype = getattr(key, "dtype", None)
    if dtype is not None:
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            if jnp.shape(key) == ():
                return key
        elif dtype == np.uint32 and jnp.ndim(key) == 1:
            return jnp.asarray(key)
    raise TypeError(
        "key must be a single PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got "
        f"{type(key).__name__} with dtype {dtype} and shape {getattr(key, 'shape', None)}"
    )


def _check_images(name: str, images: Any) -> jax.Array:
    """Channels-last ``[B, H, W, C]`` or ``[B, T, H, W, C]``, floating or uint8, with
    ``B, T, H, W, C >= 1`` and (when the values are known now) no NaN/inf."""
    if not (hasattr(images, "dtype") and hasattr(images, "shape")):
        given = images
        try:
            images = np.asarray(images)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name} must be an array [B, H, W, C] or [B, T, H, W, C], got {describe(given)}: {e}"
            ) from None
        if images.dtype == object or images.dtype.kind in "SUV":
            raise TypeError(f"{name} must be a numeric array [B, H, W, C] or [B, T, H, W, C], got {describe(given)}")
    dtype = images.dtype
    if not (jnp.issubdtype(dtype, jnp.floating) or dtype == np.uint8):
        raise TypeError(f"{name} must have a floating dtype or uint8, got {dtype}")
    shape = tuple(images.shape)
    if len(shape) not in (4, 5):
        raise ValueError(
            f"{name} must have rank 4 [B, H, W, C] or rank 5 [B, T, H, W, C] (channels-last), got shape {shape}"
        )
    h, w, c = shape[-3:]
    if shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample (B >= 1), got shape {shape}")
    if len(shape) == 5 and shape[1] < 1:
        raise ValueError(f"{name} must hold at least one frame (T >= 1), got shape {shape}")
    if min(h, w, c) < 1:
        raise ValueError(f"{name} must have H, W, C >= 1 (channels-last), got shape {shape}")
    if h <= 4 < c:
        raise ValueError(
            f"{name} must be channels-last [..., H, W, C]; got shape {shape}, whose H = {h} "
            f"and C = {c} look channels-first (transpose it to [..., H, W, C])"
        )
    _check_finite_images(name, images)
    return images if isinstance(images, jax.Array) else jnp.asarray(images)


def _check_finite_images(name: str, images: Any) -> None:
    """NaN/inf in a floating input whose values are known now (not under tracing)."""
    if isinstance(images, jax.core.Tracer) or not jnp.issubdtype(images.dtype, jnp.floating):
        return
    if isinstance(images, np.ndarray):
        bad = int(images.size - np.count_nonzero(np.isfinite(images)))
    else:
        try:
            bad = int(jnp.size(images) - jnp.count_nonzero(jnp.isfinite(images)))
        except jax.errors.ConcretizationTypeError:  # pragma: no cover - abstract values
            return
    if bad:
        raise ValueError(
            f"{name} must be finite (no NaN/inf), got {bad} non-finite values in an array of "
            f"shape {tuple(images.shape)} and dtype {images.dtype}"
        )


def _check_stats(name: str, value: Any, channels: int, *, positive: bool) -> jax.Array:
    if isinstance(value, (tuple, list)) and any(isinstance(v, jax.Array) for v in value):
        # e.g. a tuple traced by jit: stack it (np.asarray cannot take tracers)
        try:
            value = jnp.stack([jnp.asarray(v) for v in value])
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name} must be {channels} real numbers (one per channel), got {describe(value)}: {e}"
            ) from None
    if isinstance(value, jax.Array):
        shape, dtype = tuple(value.shape), value.dtype
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{name} must be {channels} real numbers (one per channel), got {describe(value)}: {e}"
            ) from None
        shape, dtype = arr.shape, arr.dtype
    if shape != (channels,):
        got = "" if hasattr(value, "shape") else f" ({describe(value)})"
        raise ValueError(f"{name} must have one value per channel, length C = {channels}, got shape {shape}{got}")
    if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        raise TypeError(f"{name} must hold real numbers (int or float; not bool, complex or str), got dtype {dtype}")
    v = concrete(value)
    if v is not None:
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite, got {v.tolist()}")
        if positive and not np.all(v > 0):
            raise ValueError(f"{name} must be > 0 in every channel, got {v.tolist()}")
        return v  # float64 NumPy: cast to the images' dtype inside
    return value


def _check_range(name: str, value: Any, *, low: float, high: float | None) -> tuple[float, float]:
    try:
        not_real = (bool, np.bool_, str, bytes, complex, np.complexfloating)
        if any(isinstance(v, not_real) for v in value):
            raise TypeError
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (min, max) of numbers, got {value!r}") from None
    top = "inf" if high is None else high
    if not (low <= a <= b and (high is None or b <= high)) or not np.isfinite(b):
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {top}, got {value!r}")
    return a, b


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a Python number in [0, 1] (static under jit), got {describe(value)}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return float(value)


def _check_option(name: str, value: Any, valid: tuple[str, ...]) -> str:
    check_option(name, value, valid)
    return value


def _spatial_mask(mask: jax.Array, ndim: int) -> jax.Array:
    """``[B, H, W]`` -> ``[B, 1 (T), H, W, 1]`` for broadcasting against the images."""
    b, h, w = mask.shape
    return mask.reshape((b,) + (1,) * (ndim - 4) + (h, w, 1))


def _sample_mask(mask: jax.Array, ndim: int) -> jax.Array:
    """``[B]`` -> ``[B, 1, ..., 1]``."""
    return mask.reshape(mask.shape + (1,) * (ndim - 1))


# --------------------------------------------------------------------------- parameter draws


@functools.partial(jax.jit, static_argnames=("batch_size", "padding"))
def _crop_offsets(key, batch_size, padding):
    keys = jax.random.split(key, batch_size)
    draw = functools.partial(jax.random.randint, shape=(2,), minval=0, maxval=2 * padding + 1)
    return jax.vmap(lambda k: draw(k).astype(jnp.int32))(keys)


def crop_offsets(key: jax.Array, batch_size: int, padding: int) -> jax.Array:
    """The crop offsets :func:`random_crop` draws for ``key``.

    Args:
      key: PRNG key; sample ``i`` uses ``jax.random.split(key, batch_size)[i]``.
      batch_size: B (int >= 1).
      padding: p (int >= 0).

    Returns:
      int32 ``[B, 2]``: ``(dy, dx)``, the top-left corner of the crop in the padded
      image, each uniform on the integers ``0 … 2p`` (torchvision's
      ``RandomCrop(size, padding=p)``).
    """
    key = _check_key(key)
    batch_size = _check_int("batch_size", batch_size, 1)
    return _crop_offsets(key, batch_size, _check_int("padding", padding, 0))


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _flip_decisions(key, batch_size):
    keys = jax.random.split(key, batch_size)
    return jax.vmap(lambda k: jax.random.bernoulli(k, 0.5))(keys)


def flip_decisions(key: jax.Array, batch_size: int) -> jax.Array:
    """The flips :func:`random_flip` draws: bool ``[B]``, each True with probability 0.5."""
    key = _check_key(key)
    return _flip_decisions(key, _check_int("batch_size", batch_size, 1))


@functools.partial(jax.jit, static_argnames=("batch_size", "height", "width", "n_holes"))
def _cutout_centres(key, batch_size, height, width, n_holes):
    keys = jax.random.split(key, batch_size)

    def one(k):
        ky, kx = jax.random.split(k)
        cy = jax.random.randint(ky, (n_holes,), 0, height)
        cx = jax.random.randint(kx, (n_holes,), 0, width)
        return jnp.stack([cy, cx], axis=-1).astype(jnp.int32)

    return jax.vmap(one)(keys)


def cutout_centres(key: jax.Array, batch_size: int, height: int, width: int, n_holes: int = 1) -> jax.Array:
    """The hole centres :func:`cutout` draws for ``key``.

    Returns:
      int32 ``[B, n_holes, 2]``: ``(cy, cx)`` with ``cy`` uniform on ``0 … H-1`` and
      ``cx`` on ``0 … W-1`` (anywhere in the image, as DeVries & Taylor).
    """
    key = _check_key(key)
    return _cutout_centres(
        key,
        _check_int("batch_size", batch_size, 1),
        _check_int("height", height, 1),
        _check_int("width", width, 1),
        _check_int("n_holes", n_holes, 0),
    )


class CutoutBox(NamedTuple):
    """Per-sample rectangles of :func:`toolbox_cutout` (every field ``[B]``)."""

    apply: jax.Array  # bool: the rectangle is drawn (probability p)
    top: jax.Array  # int32: first row, uniform on 0 … H - height
    left: jax.Array  # int32: first column, uniform on 0 … W - width
    height: jax.Array  # int32: rows, floor(sqrt(s·H·W·r)), at most H
    width: jax.Array  # int32: columns, floor(sqrt(s·H·W/r)), at most W
    value: jax.Array  # int32: fill level, uniform on 0 … 255


def _uniform_int(u, n):
    """``floor(u · n)`` for ``u ~ U[0, 1)``: uniform on ``0 … n-1`` (n may be traced)."""
    return jnp.minimum(jnp.floor(u * n), n - 1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("batch_size", "height", "width", "p", "scale", "ratio"))
def _toolbox_params(key, batch_size, height, width, p, scale, ratio):
    keys = jax.random.split(key, batch_size)

    def one(k):
        # one vector of uniforms per sample: [apply, s, r, top, left, value]
        u = jax.random.uniform(k, (6,))
        apply = u[0] < p
        s = scale[0] + (scale[1] - scale[0]) * u[1]
        r = ratio[0] + (ratio[1] - ratio[0]) * u[2]
        area = s * (height * width)
        w = jnp.clip(jnp.floor(jnp.sqrt(area / r)), 0, width).astype(jnp.int32)
        h = jnp.clip(jnp.floor(jnp.sqrt(area * r)), 0, height).astype(jnp.int32)
        top = _uniform_int(u[3], height - h + 1)
        left = _uniform_int(u[4], width - w + 1)
        value = _uniform_int(u[5], 256)
        return CutoutBox(apply, top, left, h, w, value)

    return jax.vmap(one)(keys)


def toolbox_cutout_params(
    key: jax.Array,
    batch_size: int,
    height: int,
    width: int,
    *,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.4, 2.5),
) -> CutoutBox:
    """The rectangles :func:`toolbox_cutout` draws for ``key`` (see there for the distribution)."""
    key = _check_key(key)
    return _toolbox_params(
        key,
        _check_int("batch_size", batch_size, 1),
        _check_int("height", height, 1),
        _check_int("width", width, 1),
        _check_probability("p", p),
        _check_range("scale", scale, low=0.0, high=1.0),
        _check_range("ratio", ratio, low=np.finfo(np.float32).tiny, high=None),
    )


@functools.partial(jax.jit, static_argnames=("batch_size", "max_shift"))
def _roll_shifts(key, batch_size, max_shift):
    keys = jax.random.split(key, batch_size)
    draw = functools.partial(jax.random.randint, shape=(2,), minval=-max_shift, maxval=max_shift + 1)
    return jax.vmap(lambda k: draw(k).astype(jnp.int32))(keys)


def roll_shifts(key: jax.Array, batch_size: int, max_shift: int) -> jax.Array:
    """The shifts :func:`random_roll` draws: int32 ``[B, 2]`` ``(sy, sx)``, uniform on -m … m."""
    key = _check_key(key)
    return _roll_shifts(key, _check_int("batch_size", batch_size, 1), _check_int("max_shift", max_shift, 0))


# --------------------------------------------------------------------------- mechanics (jitted)


def _crop(images, offsets, padding):
    h, w = images.shape[-3:-1]
    lead = images.ndim - 4  # 0, or 1 for the T axis
    pad = [(0, 0)] * (lead + 1) + [(padding, padding), (padding, padding), (0, 0)]
    padded = jnp.pad(images, pad)

    def one(x, off):  # x: [(T,) H + 2p, W + 2p, C]
        start = (0,) * lead + (off[0], off[1], 0)
        return lax.dynamic_slice(x, start, x.shape[:lead] + (h, w, x.shape[-1]))

    return jax.vmap(one)(padded, offsets)


def _flip(images, flips):
    return jnp.where(_sample_mask(flips, images.ndim), images[..., ::-1, :], images)


def _devries_mask(centres, height, width, length):
    half = length // 2
    cy, cx = centres[..., 0], centres[..., 1]  # [B, n]
    y1, y2 = jnp.clip(cy - half, 0, height), jnp.clip(cy + half, 0, height)
    x1, x2 = jnp.clip(cx - half, 0, width), jnp.clip(cx + half, 0, width)
    ys, xs = jnp.arange(height), jnp.arange(width)
    in_y = (ys >= y1[..., None]) & (ys < y2[..., None])  # [B, n, H]
    in_x = (xs >= x1[..., None]) & (xs < x2[..., None])  # [B, n, W]
    return jnp.any(in_y[..., :, None] & in_x[..., None, :], axis=1)  # [B, H, W]


def _cutout(images, centres, length):
    h, w = images.shape[-3:-1]
    hole = _spatial_mask(_devries_mask(centres, h, w, length), images.ndim)
    return jnp.where(hole, jnp.zeros((), images.dtype), images)


def _toolbox_fill(images, box):
    h, w, c = images.shape[-3:]
    ys, xs = jnp.arange(h), jnp.arange(w)
    rows = (ys >= box.top[:, None]) & (ys < (box.top + box.height)[:, None])  # [B, H]
    cols = (xs >= box.left[:, None]) & (xs < (box.left + box.width)[:, None])  # [B, W]
    inside = rows[:, :, None] & cols[:, None, :] & box.apply[:, None, None]  # [B, H, W]
    if images.dtype == jnp.uint8:
        level = box.value.astype(jnp.uint8)
    else:
        level = box.value.astype(images.dtype) / jnp.asarray(255, images.dtype)
    # PIL's Image.paste(int, box) on an RGB image writes the int as the packed pixel
    # 0x00BBGGRR: (value, 0, 0). Channel 0 gets the value, the others 0.
    fill = jnp.where(jnp.arange(c) == 0, level[:, None], jnp.zeros((), images.dtype))  # [B, C]
    fill = fill.reshape((fill.shape[0],) + (1,) * (images.ndim - 2) + (c,))
    return jnp.where(_spatial_mask(inside, images.ndim), fill, images)


def _roll(images, shifts):
    return jax.vmap(lambda x, s: jnp.roll(x, (s[0], s[1]), axis=(-3, -2)))(images, shifts)


def _to_float(images):
    if images.dtype == jnp.uint8:
        return images.astype(jnp.float32) / jnp.float32(255)
    return images


def _normalize(images, mean, std):
    x = _to_float(images)
    return (x - mean.astype(x.dtype)) / std.astype(x.dtype)


@functools.partial(jax.jit, static_argnames=("padding",))
def _random_crop(key, images, padding):
    return _crop(images, _crop_offsets(key, images.shape[0], padding), padding)


@jax.jit
def _random_flip(key, images):
    return _flip(images, _flip_decisions(key, images.shape[0]))


@functools.partial(jax.jit, static_argnames=("length", "n_holes"))
def _random_cutout(key, images, length, n_holes):
    b, h, w = images.shape[0], images.shape[-3], images.shape[-2]
    return _cutout(images, _cutout_centres(key, b, h, w, n_holes), length)


@functools.partial(jax.jit, static_argnames=("p", "scale", "ratio"))
def _random_toolbox(key, images, p, scale, ratio):
    b, h, w = images.shape[0], images.shape[-3], images.shape[-2]
    return _toolbox_fill(images, _toolbox_params(key, b, h, w, p, scale, ratio))


@functools.partial(jax.jit, static_argnames=("max_shift",))
def _random_roll(key, images, max_shift):
    return _roll(images, _roll_shifts(key, images.shape[0], max_shift))


_normalize_jit = jax.jit(_normalize)

_TOOLBOX_DEFAULTS = dict(p=0.5, scale=(0.02, 0.4), ratio=(0.4, 2.5))


@functools.partial(jax.jit, static_argnames=("padding", "cutout", "cutout_length"))
def _cifar_train(key, images, mean, std, padding, cutout, cutout_length):
    k_crop, k_cutout, k_flip = jax.random.split(key, 3)
    x = _random_crop(k_crop, images, padding)
    if cutout == "toolbox":
        x = _random_toolbox(k_cutout, x, **_TOOLBOX_DEFAULTS)
    x = _random_flip(k_flip, x)
    x = _normalize(x, mean, std)
    if cutout == "devries":
        x = _random_cutout(k_cutout, x, cutout_length, 1)
    return x


@functools.partial(jax.jit, static_argnames=("flip", "translate", "max_shift"))
def _dvs_train(key, frames, flip, translate, max_shift):
    k_flip, k_shift = jax.random.split(key)
    x = _random_flip(k_flip, frames) if flip else frames
    if translate == "roll":
        x = _random_roll(k_shift, x, max_shift)
    elif translate == "crop":
        x = _random_crop(k_shift, x, max_shift)
    return x


# --------------------------------------------------------------------------- public transforms


def random_crop(key: jax.Array, images: ArrayLike, *, padding: int = 4) -> jax.Array:
    """Zero-pad by ``padding`` on each side, then crop back to ``H × W`` at a random offset.

    torchvision's ``RandomCrop((H, W), padding=p)`` (fill 0): the output is
    ``pad(x)[dy : dy + H, dx : dx + W]`` with ``(dy, dx) = crop_offsets(key, B, p)[i]``
    for sample ``i``, uniform on ``{0, …, 2p}²``; one offset per sample, shared by
    all ``T`` frames of a ``[B, T, H, W, C]`` input.

    Args:
      key: PRNG key.
      images: ``[B, H, W, C]`` or ``[B, T, H, W, C]``, floating or uint8 (dtype kept).
      padding: p, int >= 0 (``0`` returns the input).

    Returns:
      Array of ``images``' shape and dtype.
    """
    key = _check_key(key)
    images = _check_images("images", images)
    return _random_crop(key, images, _check_int("padding", padding, 0))


def random_flip(key: jax.Array, images: ArrayLike) -> jax.Array:
    """Horizontal flip (reverse the W axis) of each sample with probability 0.5.

    Sample ``i`` is flipped iff ``flip_decisions(key, B)[i]``; all ``T`` frames of
    an event sample are flipped together. Floating or uint8 input, dtype kept.
    """
    key = _check_key(key)
    images = _check_images("images", images)
    return _random_flip(key, images)


def cutout(key: jax.Array, images: ArrayLike, *, length: int = 16, n_holes: int = 1) -> jax.Array:
    """DeVries & Taylor's Cutout (``uoguelph-mlrg/Cutout``, ``Cutout(n_holes, length)``).

    For each hole a centre ``(cy, cx)`` is drawn uniformly over all pixels
    (:func:`cutout_centres`), and the rows ``clip(cy - L//2, 0, H) … clip(cy + L//2, 0, H) - 1``
    × columns ``clip(cx - L//2, 0, W) … clip(cx + L//2, 0, W) - 1`` are set to zero
    in every channel (and every frame): a square of side ``2·(L//2)`` clipped at
    the borders, so a hole near an edge is smaller. Holes may overlap.

    DeVries & Taylor apply it *after* ``Normalize`` (zero = the dataset mean), which
    :func:`cifar_train_transform` with ``cutout="devries"`` follows.

    Args:
      key: PRNG key.
      images: ``[B, H, W, C]`` or ``[B, T, H, W, C]``, floating or uint8 (dtype kept).
      length: L, int >= 0 (16 for CIFAR in the Cutout paper).
      n_holes: int >= 0.
    """
    key = _check_key(key)
    images = _check_images("images", images)
    return _random_cutout(key, images, _check_int("length", length, 0), _check_int("n_holes", n_holes, 0))


def toolbox_cutout(
    key: jax.Array,
    images: ArrayLike,
    *,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.4, 2.5),
) -> jax.Array:
    """``torchtoolbox.transform.Cutout()`` — the "Cutout" of the SLTT / CLIF / ILIF CIFAR scripts.

    With probability ``p`` a rectangle is filled (:func:`toolbox_cutout_params`):
    area fraction ``s ~ U(scale)``, aspect ``r ~ U(ratio)``,
    ``width = floor(sqrt(s·H·W / r))``, ``height = floor(sqrt(s·H·W · r))`` (capped at
    ``W``, ``H``), top-left corner uniform over the positions where it fits, fill
    level ``v`` uniform on ``0 … 255`` (the integers are ``floor(u·n)`` of float32
    uniforms ``u``, uniform to within 2⁻²⁴). torchtoolbox pastes the int ``v`` into the
    uint8 RGB PIL image, which PIL writes as the pixel ``(v, 0, 0)``; so, as in the
    scripts, channel 0 gets ``v`` and the other channels 0 (a single-channel image
    gets ``v``). Float images are taken to be in [0, 1] and get ``v / 255``.

    The scripts apply it to the uint8 image after ``RandomCrop`` and before the flip
    and ``Normalize`` (:func:`cifar_train_transform` with ``cutout="toolbox"``).
    (torchtoolbox reads ``img_h, img_w = img.size``, which swaps H and W for PIL
    images; it makes no difference for square images, and here ``width`` runs along W.)

    Args:
      key: PRNG key.
      images: ``[B, H, W, C]`` or ``[B, T, H, W, C]``, uint8 or floating (dtype kept).
      p: probability of drawing the rectangle, in [0, 1].
      scale: ``(min, max)`` area fraction, ``0 <= min <= max <= 1``.
      ratio: ``(min, max)`` aspect ratio height/width, ``0 < min <= max``.
    """
    key = _check_key(key)
    images = _check_images("images", images)
    return _random_toolbox(
        key,
        images,
        _check_probability("p", p),
        _check_range("scale", scale, low=0.0, high=1.0),
        _check_range("ratio", ratio, low=np.finfo(np.float32).tiny, high=None),
    )


def random_roll(key: jax.Array, images: ArrayLike, *, max_shift: int = 5) -> jax.Array:
    """Circular shift of each sample by ``(sy, sx) = roll_shifts(key, B, m)[i]`` along (H, W).

    ``out[..., y, x, :] = in[..., (y - sy) mod H, (x - sx) mod W, :]`` — ``torch.roll``
    as in CLIF's DVS-CIFAR10 loader (``randint(-5, 5)`` per axis); one shift per
    sample for all its frames.

    Args:
      key: PRNG key.
      images: ``[B, H, W, C]`` or ``[B, T, H, W, C]``, floating or uint8 (dtype kept).
      max_shift: m, int >= 0.
    """
    key = _check_key(key)
    images = _check_images("images", images)
    return _random_roll(key, images, _check_int("max_shift", max_shift, 0))


def normalize(images: ArrayLike, mean: ArrayLike, std: ArrayLike) -> jax.Array:
    """Per-channel ``(x - mean) / std`` on the last axis.

    ``uint8`` input is first converted to ``float32`` in [0, 1] (``x / 255``, as
    ``ToTensor``); floating input is used as given and keeps its dtype.

    Args:
      images: ``[B, H, W, C]`` or ``[B, T, H, W, C]``.
      mean: ``C`` values (e.g. :data:`CIFAR10_MEAN`).
      std: ``C`` values, all > 0 (e.g. :data:`CIFAR10_STD`).

    Returns:
      Floating array of ``images``' shape (float32 for uint8 input).
    """
    images = _check_images("images", images)
    c = images.shape[-1]
    mean = _check_stats("mean", mean, c, positive=False)
    std = _check_stats("std", std, c, positive=True)
    return _normalize_jit(images, mean, std)


def cifar_eval_transform(images: ArrayLike, *, mean: ArrayLike, std: ArrayLike) -> jax.Array:
    """The scripts' test transform, ``ToTensor`` + ``Normalize``: :func:`normalize`."""
    return normalize(images, mean, std)


def cifar_train_transform(
    key: jax.Array,
    images: ArrayLike,
    *,
    mean: ArrayLike,
    std: ArrayLike,
    augment: bool = True,
    cutout: str = "toolbox",
    cutout_length: int = 16,
    padding: int = 4,
) -> jax.Array:
    """The CIFAR training transform of the SLTT / CLIF / ILIF scripts, batched.

    With ``k_crop, k_cutout, k_flip = jax.random.split(key, 3)``:

    * ``cutout="toolbox"`` (default; the scripts' order)::

        random_crop(k_crop, ·, padding) → toolbox_cutout(k_cutout, ·) → random_flip(k_flip, ·)
        → normalize(·, mean, std)

      the crop and the rectangle act on the uint8 pixels, before normalisation.
    * ``cutout="devries"`` (DeVries & Taylor's own pipeline)::

        random_crop → random_flip → normalize → cutout(k_cutout, ·, length=cutout_length)

      the hole is zero in normalised units (= the dataset mean).
    * ``cutout="none"``: ``random_crop → random_flip → normalize``.

    ``augment=False`` returns :func:`cifar_eval_transform` (no randomness; the
    ILIF paper's "no data augmentation").

    Args:
      key: PRNG key (unused when ``augment=False``).
      images: ``[B, H, W, C]`` uint8 (converted to float32 ``x / 255``) or floating in [0, 1].
      mean: ``C`` per-channel values (:data:`CIFAR10_MEAN`, ...).
      std: ``C`` per-channel values (:data:`CIFAR10_STD`, ...); ``std > 0``.
      augment: apply the random transforms.
      cutout: one of :data:`CUTOUT_MODES`.
      cutout_length: side L of the DeVries hole (``cutout="devries"`` only).
      padding: crop padding (4).

    Returns:
      Float array of ``images``' shape (float32 for uint8 input).
    """
    check_bool("augment", augment)
    images = _check_images("images", images)
    c = images.shape[-1]
    mean = _check_stats("mean", mean, c, positive=False)
    std = _check_stats("std", std, c, positive=True)
    cutout = _check_option("cutout", cutout, CUTOUT_MODES)
    cutout_length = _check_int("cutout_length", cutout_length, 0)
    padding = _check_int("padding", padding, 0)
    if not augment:
        return _normalize_jit(images, mean, std)
    key = _check_key(key)
    return _cifar_train(key, images, mean, std, padding, cutout, cutout_length)


def dvs_train_transform(
    key: jax.Array,
    frames: ArrayLike,
    *,
    flip: bool = True,
    translate: str = "roll",
    max_shift: int = 5,
) -> jax.Array:
    """Training augmentation for event frames ``[B, T, H, W, C]`` (e.g. DVS-CIFAR10 at 48×48).

    With ``k_flip, k_shift = jax.random.split(key)``: :func:`random_flip` with
    ``k_flip`` (if ``flip``), then a translation with ``k_shift``, one draw per sample
    applied to all ``T`` frames:

    * ``translate="roll"`` (default): :func:`random_roll` by ``-m … m`` pixels per axis —
      CLIF's DVS-CIFAR10 loader (``HuuYuLong/Complementary-LIF``, ``utils/cifar10_dvs.py``,
      ``DVSCifar10``: flip with probability 0.5, then ``torch.roll`` by ``randint(-5, 5)``).
    * ``translate="crop"``: :func:`random_crop` with ``padding = m`` (zero-padded shift).
    * ``translate="none"``.

    Not reproduced: CLIF's loader further applies, with probability 1/3 each, a random
    rotation (±30°) or a horizontal shear (±30°) with nearest-neighbour resampling.
    SLTT's DVS-CIFAR10 training uses no augmentation (only the resize to 48×48), and the
    ILIF paper reports its DVS results without augmentation.

    Args:
      key: PRNG key.
      frames: ``[B, T, H, W, C]`` (or ``[B, H, W, C]``), floating or uint8 (dtype kept).
      flip: apply the random horizontal flip.
      translate: ``"roll"``, ``"crop"`` or ``"none"``.
      max_shift: m, int >= 0.
    """
    key = _check_key(key)
    frames = _check_images("frames", frames)
    check_bool("flip", flip)
    translate = _check_option("translate", translate, ("roll", "crop", "none"))
    max_shift = _check_int("max_shift", max_shift, 0)
    return _dvs_train(key, frames, bool(flip), translate, max_shift)
