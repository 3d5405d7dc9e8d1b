"""Augmentation: each transform against an independent NumPy loop, given the parameters it drew.

The JAX transforms draw their parameters through public helpers (``crop_offsets``, ...);
the references below take those parameters and apply the documented mechanics with
plain NumPy slicing per sample (and PIL's ``paste`` for the torchtoolbox fill), so the
check of the mechanics does not reuse the library's code.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.data import augment as A

KEY = jax.random.key(0)


def _images(shape, dtype=np.float32, seed=0):
    """Distinct values (a permutation of 0 … n-1), so any misplaced pixel shows."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n)
    if dtype == np.uint8:
        return (vals % 256).astype(np.uint8).reshape(shape)
    return vals.astype(dtype).reshape(shape)


# --------------------------------------------------------------------------- NumPy references


def ref_crop(x, offsets, p):
    h, w = x.shape[-3:-1]
    pad = [(0, 0)] * (x.ndim - 3) + [(p, p), (p, p), (0, 0)]
    xp = np.pad(x, pad)
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(np.asarray(offsets)):
        out[i] = xp[i, ..., dy : dy + h, dx : dx + w, :]
    return out


def ref_flip(x, flips):
    out = x.copy()
    for i, f in enumerate(np.asarray(flips)):
        if f:
            out[i] = x[i, ..., ::-1, :]
    return out


def ref_cutout(x, centres, length):
    """DeVries & Taylor's loop (uoguelph-mlrg/Cutout util/cutout.py), per sample."""
    h, w = x.shape[-3:-1]
    out = x.copy()
    for i, holes in enumerate(np.asarray(centres)):
        mask = np.ones((h, w), x.dtype)
        for y, xc in holes:
            y1, y2 = np.clip(y - length // 2, 0, h), np.clip(y + length // 2, 0, h)
            x1, x2 = np.clip(xc - length // 2, 0, w), np.clip(xc + length // 2, 0, w)
            mask[y1:y2, x1:x2] = 0
        out[i] = x[i] * mask[:, :, None]
    return out


def ref_toolbox(x, box):
    """Fill (v, 0, …, 0) on rows top … top+h-1, columns left … left+w-1."""
    out = x.copy()
    box = [np.asarray(f) for f in box]
    for i, (apply, top, left, h, w, v) in enumerate(zip(*box, strict=True)):
        if apply:
            fill = np.zeros(x.shape[-1], x.dtype)
            fill[0] = v if x.dtype == np.uint8 else v / 255.0
            out[i, ..., top : top + h, left : left + w, :] = fill
    return out


def ref_roll(x, shifts):
    out = np.empty_like(x)
    for i, (sy, sx) in enumerate(np.asarray(shifts)):
        out[i] = np.roll(x[i], (sy, sx), axis=(-3, -2))
    return out


def ref_normalize(x, mean, std):
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    return (x - np.asarray(mean)) / np.asarray(std)


# --------------------------------------------------------------------------- mechanics


@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize("shape", [(1, 6, 6, 2), (5, 6, 7, 2), (3, 4, 6, 5, 2)])
def test_random_crop_equals_numpy(padding, shape):
    x = _images(shape)
    key = jax.random.key(padding + 10 * len(shape))
    offsets = A.crop_offsets(key, shape[0], padding)
    assert offsets.shape == (shape[0], 2) and offsets.dtype == jnp.int32
    out = A.random_crop(key, x, padding=padding)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, ref_crop(x, offsets, padding))


def test_random_crop_hand_checked():
    x = _images((1, 6, 6, 2))
    offsets = np.asarray(A.crop_offsets(KEY, 1, 2))
    dy, dx = offsets[0]
    out = np.asarray(A.random_crop(KEY, x, padding=2))
    # pixel (r, c) of the output is input pixel (r + dy - 2, c + dx - 2), or 0 outside
    for r in range(6):
        for c in range(6):
            rr, cc = r + dy - 2, c + dx - 2
            want = x[0, rr, cc] if 0 <= rr < 6 and 0 <= cc < 6 else 0
            np.testing.assert_array_equal(out[0, r, c], want)


@pytest.mark.parametrize("shape", [(1, 6, 6, 2), (16, 6, 6, 2), (6, 3, 5, 4, 2)])
def test_random_flip_equals_numpy(shape):
    x = _images(shape)
    flips = A.flip_decisions(KEY, shape[0])
    assert flips.dtype == jnp.bool_
    np.testing.assert_array_equal(A.random_flip(KEY, x), ref_flip(x, flips))


@pytest.mark.parametrize("length, n_holes", [(0, 1), (3, 2), (4, 1), (16, 1)])
def test_cutout_equals_numpy(length, n_holes):
    x = _images((8, 6, 6, 2)) - 100.0  # negative values too (normalised data)
    key = jax.random.key(length)
    centres = A.cutout_centres(key, 8, 6, 6, n_holes)
    assert centres.shape == (8, n_holes, 2)
    out = A.cutout(key, x, length=length, n_holes=n_holes)
    np.testing.assert_array_equal(out, ref_cutout(x, centres, length))


def test_cutout_hand_checked_corner():
    """A hole centred at a corner is clipped: length 4 at (0, 0) zeroes rows/cols 0..1."""
    x = np.ones((1, 6, 6, 2), np.float32)
    for seed in range(200):
        key = jax.random.key(seed)
        ((cy, cx),) = np.asarray(A.cutout_centres(key, 1, 6, 6))[0]
        if (cy, cx) == (0, 0):
            out = np.asarray(A.cutout(key, x, length=4))
            want = np.ones_like(x)
            want[0, :2, :2] = 0
            np.testing.assert_array_equal(out, want)
            return
    pytest.fail("no key drew the corner centre")


@pytest.mark.parametrize(
    "dtype, shape",
    [(np.uint8, (12, 6, 6, 2)), (np.float32, (12, 6, 6, 3)), (np.uint8, (6, 3, 8, 8, 1))],
)
def test_toolbox_cutout_equals_numpy(dtype, shape):
    x = _images(shape, dtype) if dtype == np.uint8 else _images(shape) / np.float32(1000)
    kw = dict(p=0.7, scale=(0.1, 0.6), ratio=(0.5, 2.0))
    box = A.toolbox_cutout_params(KEY, shape[0], shape[-3], shape[-2], **kw)
    assert np.any(np.asarray(box.apply) & (np.asarray(box.height) * np.asarray(box.width) > 0))
    out = A.toolbox_cutout(KEY, x, **kw)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out, ref_toolbox(x, box), rtol=1e-6, atol=0)  # v / 255: 1 ulp


def test_toolbox_cutout_equals_pil_paste():
    """The official scripts paste an int into an RGB PIL image: PIL writes (v, 0, 0)."""
    Image = pytest.importorskip("PIL.Image")
    x = _images((16, 32, 32, 3), np.uint8)
    box = A.toolbox_cutout_params(KEY, 16, 32, 32)
    out = np.asarray(A.toolbox_cutout(KEY, x))
    for i in range(16):
        im = Image.fromarray(x[i])
        if bool(box.apply[i]):
            t, le, h, w, v = (int(f[i]) for f in box[1:])
            im.paste(v, (le, t, le + w, t + h))  # torchtoolbox: img.paste(c, (left, top, ...))
        np.testing.assert_array_equal(out[i], np.asarray(im))


@pytest.mark.parametrize("max_shift", [0, 5])
@pytest.mark.parametrize("shape", [(7, 6, 6, 2), (4, 3, 6, 5, 2)])
def test_random_roll_equals_numpy(max_shift, shape):
    x = _images(shape)
    shifts = A.roll_shifts(KEY, shape[0], max_shift)
    assert int(jnp.max(jnp.abs(shifts))) <= max_shift
    np.testing.assert_array_equal(A.random_roll(KEY, x, max_shift=max_shift), ref_roll(x, shifts))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_normalize_equals_numpy(dtype):
    x = _images((3, 4, 5, 3), dtype) if dtype == np.uint8 else _images((3, 4, 5, 3)) / 60.0
    out = A.normalize(x, A.CIFAR10_MEAN, A.CIFAR10_STD)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref_normalize(x, A.CIFAR10_MEAN, A.CIFAR10_STD), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        A.cifar_eval_transform(x, mean=A.CIFAR100_MEAN, std=A.CIFAR100_STD),
        ref_normalize(x, A.CIFAR100_MEAN, A.CIFAR100_STD),
        rtol=1e-6,
        atol=1e-6,
    )


def test_normalize_keeps_float_dtype(x64):
    x = _images((1, 2, 2, 3), np.float64) / 16.0
    out = A.normalize(x, A.CIFAR10_MEAN, A.CIFAR10_STD)
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(out, ref_normalize(x, A.CIFAR10_MEAN, A.CIFAR10_STD), rtol=1e-14)


def test_constants():
    assert A.CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and A.CIFAR10_STD == (0.2023, 0.1994, 0.2010)
    assert A.CIFAR100_MEAN == (0.5071, 0.4867, 0.4408)
    assert A.CIFAR100_STD == (0.2675, 0.2565, 0.2761)


# --------------------------------------------------------------------------- composed transforms


@pytest.mark.parametrize("mode", A.CUTOUT_MODES)
def test_cifar_train_transform_equals_numpy_pipeline(mode):
    x = _images((8, 8, 8, 3), np.uint8)
    key = jax.random.key(3)
    k_crop, k_cutout, k_flip = jax.random.split(key, 3)
    offsets = A.crop_offsets(k_crop, 8, 2)
    flips = A.flip_decisions(k_flip, 8)
    y = ref_crop(x, offsets, 2)
    if mode == "toolbox":
        y = ref_toolbox(y, A.toolbox_cutout_params(k_cutout, 8, 8, 8))
    y = ref_normalize(ref_flip(y, flips), A.CIFAR10_MEAN, A.CIFAR10_STD)
    if mode == "devries":
        y = ref_cutout(y, A.cutout_centres(k_cutout, 8, 8, 8), 4)
    out = A.cifar_train_transform(
        key, x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD, cutout=mode, cutout_length=4, padding=2
    )
    assert out.dtype == jnp.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, y, rtol=1e-6, atol=1e-6)


def test_cifar_train_transform_no_augment_is_eval():
    x = _images((4, 8, 8, 3), np.uint8)
    out = A.cifar_train_transform(KEY, x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD, augment=False)
    np.testing.assert_array_equal(out, A.cifar_eval_transform(x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD))


@pytest.mark.parametrize("translate", ["roll", "crop", "none"])
def test_dvs_train_transform_equals_numpy(translate):
    x = _images((6, 3, 8, 8, 2))
    key = jax.random.key(5)
    k_flip, k_shift = jax.random.split(key)
    y = ref_flip(x, A.flip_decisions(k_flip, 6))
    if translate == "roll":
        y = ref_roll(y, A.roll_shifts(k_shift, 6, 3))
    elif translate == "crop":
        y = ref_crop(y, A.crop_offsets(k_shift, 6, 3), 3)
    out = A.dvs_train_transform(key, x, translate=translate, max_shift=3)
    np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(A.dvs_train_transform(key, x, flip=False, translate="none"), x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda k, x: A.random_crop(k, x, padding=2),
        A.random_flip,
        lambda k, x: A.cutout(k, x, length=3, n_holes=2),
        lambda k, x: A.toolbox_cutout(k, x, p=1.0, scale=(0.2, 0.4)),
        lambda k, x: A.random_roll(k, x, max_shift=2),
        A.dvs_train_transform,
    ],
    ids=["crop", "flip", "cutout", "toolbox", "roll", "dvs"],
)
def test_event_frames_share_one_transform(fn):
    """[B, T, H, W, C]: frame t of the output = the [B, H, W, C] transform of frame t, same key."""
    x = _images((5, 4, 8, 8, 2))
    out = np.asarray(fn(KEY, x))
    for t in range(4):
        np.testing.assert_array_equal(out[:, t], fn(KEY, x[:, t]))


# --------------------------------------------------------------------------- randomness


TRANSFORMS = {
    "crop": lambda k, x: A.random_crop(k, x, padding=4),
    "flip": A.random_flip,
    "cutout": lambda k, x: A.cutout(k, x, length=4),
    "toolbox": lambda k, x: A.toolbox_cutout(k, x, p=1.0),
    "roll": lambda k, x: A.random_roll(k, x, max_shift=3),
    "cifar": lambda k, x: A.cifar_train_transform(k, x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD),
    "dvs": A.dvs_train_transform,
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_deterministic_per_key_and_keys_differ(name):
    fn = TRANSFORMS[name]
    x = _images((32, 12, 12, 3), np.uint8)
    a, b = fn(jax.random.key(1), x), fn(jax.random.key(1), x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, fn(jax.random.PRNGKey(1), x))  # raw keys too
    assert not np.array_equal(a, fn(jax.random.key(2), x))


def test_samples_are_independent():
    """One key per sample: a batch of equal images gets distinct crops."""
    x = np.broadcast_to(_images((1, 8, 8, 1)), (64, 8, 8, 1)).copy()
    out = np.asarray(A.random_crop(KEY, x, padding=2)).reshape(64, -1)
    assert len({row.tobytes() for row in out}) > 15
    offsets = np.asarray(A.crop_offsets(KEY, 4096, 2))
    assert abs(np.corrcoef(offsets[:-1, 0], offsets[1:, 0])[0, 1]) < 0.1  # neighbours uncorrelated


def _assert_uniform(values, low, high, n):
    counts = np.bincount(np.asarray(values).ravel() - low, minlength=high - low + 1)
    assert counts.size == high - low + 1, "values outside the range"
    expect = n / (high - low + 1)
    assert np.all(np.abs(counts - expect) < 5 * np.sqrt(expect)), counts


def test_statistics():
    n = 20000
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.key(42), 5)
    off = A.crop_offsets(k1, n, 4)
    _assert_uniform(off[:, 0], 0, 8, n)
    _assert_uniform(off[:, 1], 0, 8, n)
    assert abs(np.corrcoef(np.asarray(off).T)[0, 1]) < 0.05  # dy, dx independent
    rate = float(jnp.mean(A.flip_decisions(k2, n)))
    assert abs(rate - 0.5) < 5 * np.sqrt(0.25 / n)
    c = A.cutout_centres(k3, n, 32, 32)
    _assert_uniform(c[:, 0, 0], 0, 31, n)
    _assert_uniform(c[:, 0, 1], 0, 31, n)
    s = A.roll_shifts(k4, n, 5)
    _assert_uniform(s[:, 0], -5, 5, n)
    _assert_uniform(s[:, 1], -5, 5, n)
    box = A.toolbox_cutout_params(k5, n, 32, 32)
    apply = np.asarray(box.apply)
    assert abs(apply.mean() - 0.5) < 5 * np.sqrt(0.25 / n)
    h, w, top, left = (np.asarray(f) for f in (box.height, box.width, box.top, box.left))
    assert np.all(top >= 0) and np.all(top + h <= 32)
    assert np.all(left >= 0) and np.all(left + w <= 32)
    frac = h * w / 1024
    assert frac.max() <= 0.4 and frac.min() >= 0.0
    # area fraction s ~ U(0.02, 0.4) before flooring: mean ≈ 0.21, a little less after
    assert 0.17 < frac.mean() < 0.21
    assert 0 <= box.value.min() and box.value.max() == 255


# --------------------------------------------------------------------------- jit


def test_jit_second_call_does_not_recompile():
    traces = []

    def step(key, x):
        traces.append(1)
        return A.cifar_train_transform(key, x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD)

    f = jax.jit(step)
    x = _images((4, 32, 32, 3), np.uint8)
    a = f(jax.random.key(0), x)
    b = f(jax.random.key(1), x)
    assert len(traces) == 1
    assert not np.array_equal(a, b)
    # the same crops, flips and holes as the eager call (the normalisation may round 1 ulp apart
    # once fused: JAX 0.8's XLA does)
    np.testing.assert_allclose(
        a, A.cifar_train_transform(jax.random.key(0), x, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD), rtol=1e-6, atol=1e-6
    )
    # the public functions themselves, jitted with static arguments
    g = jax.jit(A.random_crop, static_argnames="padding")
    g(jax.random.key(0), x, padding=4)
    g(jax.random.key(1), x, padding=4)
    assert g._cache_size() == 1
    # and eager calls reuse the internal compiled function
    A.random_crop(jax.random.key(0), x, padding=3)
    size = A._random_crop._cache_size()
    A.random_crop(jax.random.key(5), x, padding=3)
    assert A._random_crop._cache_size() == size


# --------------------------------------------------------------------------- validation


X = np.zeros((2, 8, 8, 3), np.float32)


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: A.random_crop(KEY, np.zeros((8, 8, 3), np.float32)), ValueError, ["images", "rank"]),
        (lambda: A.random_flip(KEY, np.zeros((2, 3, 8, 8), np.float32)), ValueError, ["channels-last", "(2, 3, 8, 8)"]),
        (lambda: A.random_crop(KEY, X.astype(np.int32)), TypeError, ["images", "int32"]),
        (lambda: A.random_crop(KEY, X.astype(bool)), TypeError, ["images", "bool"]),
        (lambda: A.random_crop(KEY, X, padding=-1), ValueError, ["padding", ">= 0", "-1"]),
        (lambda: A.random_crop(KEY, X, padding=1.5), TypeError, ["padding", "int", "1.5"]),
        (lambda: A.random_crop(KEY, X, padding=True), TypeError, ["padding", "bool"]),
        (lambda: A.cutout(KEY, X, length=-2), ValueError, ["length", "-2"]),
        (lambda: A.cutout(KEY, X, n_holes=2.0), TypeError, ["n_holes", "float"]),
        (lambda: A.random_roll(KEY, X, max_shift=-1), ValueError, ["max_shift"]),
        (lambda: A.toolbox_cutout(KEY, X, p=1.5), ValueError, ["p", "[0, 1]", "1.5"]),
        (lambda: A.toolbox_cutout(KEY, X, scale=(0.5, 0.1)), ValueError, ["scale"]),
        (lambda: A.toolbox_cutout(KEY, X, ratio=(0.0, 1.0)), ValueError, ["ratio"]),
        (lambda: A.random_crop(0, X), TypeError, ["key", "PRNG"]),
        (lambda: A.random_crop(jax.random.split(KEY, 2), X), TypeError, ["key", "(2,)"]),
        (lambda: A.normalize(X, (0.5, 0.5), (1.0, 1.0, 1.0)), ValueError, ["mean", "C = 3", "(2,)"]),
        (lambda: A.normalize(X, (0.5,) * 3, (1.0, 0.0, 1.0)), ValueError, ["std", "> 0"]),
        (lambda: A.normalize(X, (0.5,) * 3, (1.0, float("nan"), 1.0)), ValueError, ["std", "finite"]),
        (lambda: A.cifar_train_transform(KEY, X, mean=(0.5,) * 4, std=(1.0,) * 3), ValueError, ["mean", "C = 3"]),
        (
            lambda: A.cifar_train_transform(KEY, X, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD, cutout="random"),
            ValueError,
            ["cutout", "'toolbox'", "'devries'", "'none'", "'random'"],
        ),
        (
            lambda: A.cifar_train_transform(KEY, X, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD, augment=1),
            TypeError,
            ["augment", "bool"],
        ),
        (lambda: A.dvs_train_transform(KEY, X, translate="shift"), ValueError, ["translate", "'roll'", "'crop'"]),
        (lambda: A.crop_offsets(KEY, -1, 4), ValueError, ["batch_size"]),
        (lambda: A.cutout_centres(KEY, 2, 0, 8), ValueError, ["height", ">= 1"]),
    ],
)
def test_validation_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)
