"""snnjax.data: IDX reader/writer, SHA256SUMS checks, dataset loaders, batch iterator.

IDX fixtures are written here byte by byte with ``struct`` and ``gzip`` (not with
``write_idx``), so the reader is tested against the format, not against itself.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnjax import data

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "experiments" / "data" / "mnist_small"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


# --------------------------------------------------------------------------- helpers


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """Raw IDX bytes: magic 0x0000<code><ndim>, big-endian uint32 dims, payload."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def put(path: Path, raw: bytes, *, gz: bool) -> Path:
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def sums_file(directory: Path, names) -> None:
    lines = [f"{hashlib.sha256((directory / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    (directory / "SHA256SUMS").write_text("".join(lines))


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
def test_read_ubyte_images_and_labels(tmp_path, gz):
    pixels = bytes(range(2 * 3 * 4))
    images = put(tmp_path / ("img" + (".gz" if gz else "")), idx_bytes(0x08, (2, 3, 4), pixels), gz=gz)
    labels = put(tmp_path / ("lab" + (".gz" if gz else "")), idx_bytes(0x08, (2,), bytes([7, 3])), gz=gz)
    x = data.read_idx(images)
    assert x.dtype == np.uint8 and x.shape == (2, 3, 4)
    np.testing.assert_array_equal(x, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert x[1, 2, 3] == 23  # C order: last axis fastest
    y = data.read_idx(labels)
    assert y.dtype == np.uint8 and y.shape == (2,)
    assert y.tolist() == [7, 3]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "code, fmt, dtype, values",
    [
        (0x09, "b", np.int8, [-128, -1, 0, 127, 5, -7]),
        (0x0B, "h", np.int16, [-32768, -1, 0, 32767, 300, -300]),
        (0x0C, "i", np.int32, [-(2**31), -1, 0, 2**31 - 1, 70000, -70000]),
        (0x0D, "f", np.float32, [-1.5, 0.0, 0.25, 3.0e38, 1e-3, -2.0]),
        (0x0E, "d", np.float64, [-1.5, 0.0, 0.1, 1e300, 1e-300, -2.0]),
    ],
)
def test_read_typed(tmp_path, gz, code, fmt, dtype, values):
    payload = struct.pack(f">{len(values)}{fmt}", *values)
    path = put(tmp_path / "a.idx", idx_bytes(code, (2, 3), payload), gz=gz)
    a = data.read_idx(path)
    assert a.dtype == np.dtype(dtype) and a.dtype.isnative
    assert a.shape == (2, 3)
    np.testing.assert_array_equal(a, np.array(values, dtype=dtype).reshape(2, 3))


def test_read_returns_writable_array(tmp_path):
    a = data.read_idx(put(tmp_path / "a", idx_bytes(0x08, (3,), b"\x01\x02\x03"), gz=False))
    a[0] = 9  # not a read-only view of the file buffer
    assert a.tolist() == [9, 2, 3]


def test_read_empty_dimension(tmp_path):
    a = data.read_idx(put(tmp_path / "a", idx_bytes(0x08, (0, 28, 28), b""), gz=True))
    assert a.shape == (0, 28, 28)


def test_missing_file(tmp_path):
    path = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        data.read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path, gz):
    path = put(tmp_path / "short.gz", idx_bytes(0x08, (10, 28, 28), bytes(10 * 28 * 28 - 1)), gz=gz)
    with pytest.raises(ValueError, match=r"short\.gz.*truncated"):
        data.read_idx(path)


def test_truncated_header(tmp_path):
    path = put(tmp_path / "hdr", bytes([0, 0, 8, 3]) + struct.pack(">I", 5), gz=False)
    with pytest.raises(ValueError, match=r"hdr.*truncated"):
        data.read_idx(path)


def test_trailing_bytes(tmp_path):
    path = put(tmp_path / "long", idx_bytes(0x08, (2,), b"\x01\x02\x03"), gz=False)
    with pytest.raises(ValueError, match=r"long.*corrupted"):
        data.read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04", b"\x00\x00"])
def test_bad_magic(tmp_path, head):
    path = put(tmp_path / "bad.idx", head + struct.pack(">I", 1) + b"\x00", gz=False)
    with pytest.raises(ValueError, match=r"bad\.idx"):
        data.read_idx(path)


def test_truncated_gzip(tmp_path):
    full = gzip.compress(idx_bytes(0x08, (100, 28, 28), np.random.default_rng(0).bytes(78400)))
    path = tmp_path / "cut-idx3-ubyte.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"cut-idx3-ubyte\.gz.*gzip"):
        data.read_idx(path)


def test_corrupted_gzip(tmp_path):
    full = bytearray(gzip.compress(idx_bytes(0x08, (50,), bytes(range(50)))))
    full[12:20] = b"\xff" * 8  # damage the deflate stream
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(full))
    with pytest.raises(ValueError, match=r"bad\.gz"):
        data.read_idx(path)


def test_expected_sha256(tmp_path):
    path = put(tmp_path / "lab.gz", idx_bytes(0x08, (3,), b"\x00\x01\x02"), gz=True)
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.read_idx(path, expected_sha256=good.upper()).tolist() == [0, 1, 2]
    bad = "0" * 64
    with pytest.raises(ValueError) as e:
        data.read_idx(path, expected_sha256=bad)
    msg = str(e.value)
    assert str(path) in msg and good in msg and bad in msg
    with pytest.raises(ValueError, match="expected_sha256"):
        data.read_idx(path, expected_sha256="abc")


# --------------------------------------------------------------------------- write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "arr",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-3, 0, 100], dtype=np.int8),
        np.arange(-6, 6, dtype=np.int16).reshape(3, 4),
        np.array([[-(2**31), 2**31 - 1]], dtype=np.int32),
        np.linspace(-1, 1, 10, dtype=np.float32),
        np.array([np.pi, -np.e, 1e-300]),
        np.zeros((0, 5), np.uint8),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_write_roundtrip(tmp_path, suffix, arr):
    path = tmp_path / f"a{suffix}"
    data.write_idx(path, arr)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = data.read_idx(path)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_write_matches_hand_made_bytes(tmp_path):
    arr = np.array([[1, 2], [3, 4]], dtype=np.int32)
    data.write_idx(tmp_path / "a", arr)
    assert (tmp_path / "a").read_bytes() == idx_bytes(0x0C, (2, 2), struct.pack(">4i", 1, 2, 3, 4))
    data.write_idx(tmp_path / "a.gz", arr)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == (tmp_path / "a").read_bytes()


def test_write_gz_is_deterministic(tmp_path):
    arr = np.arange(100, dtype=np.uint8)
    data.write_idx(tmp_path / "a.gz", arr)
    data.write_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("dtype", [np.bool_, np.uint16, np.int64, np.float16, np.complex64])
def test_write_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(TypeError, match="dtype"):
        data.write_idx(tmp_path / "a", np.zeros(3, dtype))


# --------------------------------------------------------------------------- SHA256SUMS


def test_sha256sums_parse_and_verify(tmp_path):
    put(tmp_path / "a.gz", idx_bytes(0x08, (1,), b"\x05"), gz=True)
    put(tmp_path / "b", idx_bytes(0x08, (1,), b"\x06"), gz=False)
    ha = hashlib.sha256((tmp_path / "a.gz").read_bytes()).hexdigest()
    hb = hashlib.sha256((tmp_path / "b").read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"# comment\n{ha}  a.gz\n\n{hb.upper()} *b\n")
    assert data.read_sha256sums(tmp_path) == {"a.gz": ha, "b": hb}
    assert data.verify_checksums(tmp_path) == {"a.gz": ha, "b": hb}
    assert data.verify_checksums(tmp_path, ["b"]) == {"b": hb}
    assert data.sha256_file(tmp_path / "a.gz") == ha


def test_verify_checksums_mismatch(tmp_path):
    put(tmp_path / "a.gz", idx_bytes(0x08, (1,), b"\x05"), gz=True)
    sums_file(tmp_path, ["a.gz"])
    expected = data.read_sha256sums(tmp_path)["a.gz"]
    put(tmp_path / "a.gz", idx_bytes(0x08, (1,), b"\x07"), gz=True)  # file changed afterwards
    actual = hashlib.sha256((tmp_path / "a.gz").read_bytes()).hexdigest()
    with pytest.raises(ValueError) as e:
        data.verify_checksums(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "a.gz") in msg and expected in msg and actual in msg


def test_verify_checksums_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        data.verify_checksums(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        data.verify_checksums(tmp_path / "nowhere")
    put(tmp_path / "a", b"x", gz=False)
    sums_file(tmp_path, ["a"])
    with pytest.raises(ValueError, match="no entry for 'b'"):
        data.verify_checksums(tmp_path, ["b"])
    (tmp_path / "SHA256SUMS").write_text("deadbeef  a\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS, line 1"):
        data.read_sha256sums(tmp_path)


def test_write_sha256sums_format(tmp_path):
    put(tmp_path / "b", b"1", gz=False)
    put(tmp_path / "a", b"2", gz=False)
    data.write_sha256sums(tmp_path, ["b", "a"])
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert [ln.split("  ")[1] for ln in lines] == ["a", "b"]
    assert lines[0] == f"{hashlib.sha256(b'2').hexdigest()}  a"


def test_shared_sums_format_parses():
    if not (SHARED_MNIST / "SHA256SUMS").is_file():
        pytest.skip("no shared MNIST copy")
    sums = data.read_sha256sums(SHARED_MNIST / "SHA256SUMS")
    assert set(sums) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }


# --------------------------------------------------------------------------- dataset loaders


def make_mnist_like(directory: Path, prefix: str, images: np.ndarray, labels: np.ndarray, *, sums=True):
    directory.mkdir(parents=True, exist_ok=True)
    img, lab = f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"
    put(directory / img, idx_bytes(0x08, images.shape, images.astype(np.uint8).tobytes()), gz=True)
    put(directory / lab, idx_bytes(0x08, labels.shape, labels.astype(np.uint8).tobytes()), gz=True)
    if sums:
        sums_file(directory, [img, lab])
    return img, lab


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_fashion_mnist])
def test_load_mnist_layout(tmp_path, loader):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y = np.array([0, 9, 3, 3, 1], np.uint8)
    make_mnist_like(tmp_path, "t10k", x, y)
    xt, yt = loader(tmp_path, "test")
    np.testing.assert_array_equal(xt, x)
    np.testing.assert_array_equal(yt, y)
    assert xt.dtype == np.uint8 and yt.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        loader(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        loader(tmp_path, "valid")


def test_load_mnist_missing_dir_lists_files(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        data.load_mnist(tmp_path / "absent", "train")
    msg = str(e.value)
    for name in ("absent", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "SHA256SUMS"):
        assert name in msg


def test_load_verify_requires_sums(tmp_path):
    x, y = np.zeros((2, 28, 28), np.uint8), np.array([1, 2], np.uint8)
    make_mnist_like(tmp_path, "train", x, y, sums=False)
    with pytest.raises(FileNotFoundError, match="verify=False"):
        data.load_mnist(tmp_path)
    xt, yt = data.load_mnist(tmp_path, verify=False)
    assert xt.shape == (2, 28, 28) and yt.tolist() == [1, 2]


def test_load_checksum_mismatch_names_file(tmp_path):
    x, y = np.zeros((2, 28, 28), np.uint8), np.array([1, 2], np.uint8)
    img, lab = make_mnist_like(tmp_path, "train", x, y)
    put(tmp_path / lab, idx_bytes(0x08, (2,), b"\x01\x03"), gz=True)  # tamper with the labels
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / lab)) + ".*expected sha256"):
        data.load_mnist(tmp_path, "train")
    assert data.load_mnist(tmp_path, "train", verify=False)[1].tolist() == [1, 3]


def test_load_uncompressed_fallback(tmp_path):
    x, y = np.ones((3, 28, 28), np.uint8), np.array([4, 5, 6], np.uint8)
    put(tmp_path / "train-images-idx3-ubyte", idx_bytes(0x08, x.shape, x.tobytes()), gz=False)
    put(tmp_path / "train-labels-idx1-ubyte", idx_bytes(0x08, y.shape, y.tobytes()), gz=False)
    sums_file(tmp_path, ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
    xt, yt = data.load_mnist(tmp_path)
    assert xt.shape == (3, 28, 28) and yt.tolist() == [4, 5, 6]


def test_load_idx_dataset_length_mismatch(tmp_path):
    put(tmp_path / "x", idx_bytes(0x0D, (3, 2), struct.pack(">6f", *range(6))), gz=False)
    put(tmp_path / "y", idx_bytes(0x08, (2,), b"\x00\x01"), gz=False)
    with pytest.raises(ValueError, match="leading sizes must match"):
        data.load_idx_dataset(tmp_path, "x", "y", verify=False)
    put(tmp_path / "y", idx_bytes(0x08, (3,), b"\x00\x01\x02"), gz=False)
    sums_file(tmp_path, ["x", "y"])
    x, y = data.load_idx_dataset(tmp_path, "x", "y")
    assert x.dtype == np.float32 and x.shape == (3, 2) and y.shape == (3,)


def test_load_mnist_rejects_wrong_image_size(tmp_path):
    make_mnist_like(tmp_path, "train", np.zeros((2, 14, 14), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"\[N, 28, 28\]"):
        data.load_mnist(tmp_path)


@pytest.mark.parametrize("subset", ["byclass", "letters"])
def test_load_emnist_transposes(tmp_path, subset):
    rng = np.random.default_rng(1)
    upright = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    upright[:, :, :3] = 255  # a bar on the left edge, so orientation is unambiguous
    stored = np.ascontiguousarray(upright.transpose(0, 2, 1))  # EMNIST's on-disk layout
    labels = np.array([1, 26, 5, 2] if subset == "letters" else [0, 61, 10, 36], np.uint8)
    for split in ("train", "test"):
        img = f"emnist-{subset}-{split}-images-idx3-ubyte.gz"
        lab = f"emnist-{subset}-{split}-labels-idx1-ubyte.gz"
        put(tmp_path / img, idx_bytes(0x08, stored.shape, stored.tobytes()), gz=True)
        put(tmp_path / lab, idx_bytes(0x08, labels.shape, labels.tobytes()), gz=True)
    sums_file(tmp_path, sorted(p.name for p in tmp_path.glob("emnist-*")))
    x, y = data.load_emnist(tmp_path, "test", subset=subset)
    np.testing.assert_array_equal(x, upright)
    assert (x[:, :, :3] == 255).all() and x.flags.c_contiguous
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="emnist-balanced-train-images-idx3-ubyte.gz"):
        data.load_emnist(tmp_path, "train", subset="balanced")
    with pytest.raises(ValueError, match="subset"):
        data.load_emnist(tmp_path, "train", subset="bogus")


# --------------------------------------------------------------------------- shipped subset


def test_shipped_subset():
    assert sorted(p.name for p in SMALL.iterdir()) == [
        "README.md",
        "SHA256SUMS",
        "t10k-images-idx3-ubyte.gz",
        "t10k-indices-idx1-int.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-indices-idx1-int.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    assert len(data.verify_checksums(SMALL)) == 6
    assert sum(p.stat().st_size for p in SMALL.iterdir()) < 3_000_000
    for split, n in (("train", 6000), ("test", 1000)):
        x, y = data.load_mnist(SMALL, split)
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8
        assert y.shape == (n,)
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10
        assert 0 < x.mean() < 255 and x.max() == 255


@pytest.mark.skipif(not (SHARED_MNIST / "SHA256SUMS").is_file(), reason="no shared MNIST copy")
def test_shipped_subset_matches_source():
    for split, prefix in (("train", "train"), ("test", "t10k")):
        idx = data.read_idx(SMALL / f"{prefix}-indices-idx1-int.gz")
        assert idx.dtype == np.int32 and np.all(np.diff(idx) > 0)
        xs, ys = data.load_mnist(SHARED_MNIST, split, verify=False)
        x, y = data.load_mnist(SMALL, split)
        np.testing.assert_array_equal(x, xs[idx])
        np.testing.assert_array_equal(y, ys[idx])


# --------------------------------------------------------------------------- batches


def test_batches_cover_every_index_once():
    n, bs = 103, 10
    ids = np.arange(n)
    feats = np.arange(n * 2).reshape(n, 2)
    out = list(data.batches((ids, feats), bs, shuffle=True, seed=3, epoch=0))
    assert len(out) == data.num_batches(n, bs) == 11
    assert [len(b[0]) for b in out] == [10] * 10 + [3]  # final partial batch present
    seen = np.concatenate([b[0] for b in out])
    assert sorted(seen.tolist()) == list(range(n))
    assert not np.array_equal(seen, ids)  # actually shuffled
    for b_ids, b_feats in out:  # arrays stay aligned
        np.testing.assert_array_equal(b_feats, feats[b_ids])


def test_batches_no_shuffle_keeps_order():
    x = np.arange(7)
    out = [b for (b,) in data.batches((x,), 3, shuffle=False)]
    assert [b.tolist() for b in out] == [[0, 1, 2], [3, 4, 5], [6]]
    out = [b for (b,) in data.batches([x], 3, shuffle=False, drop_last=True)]
    assert [b.tolist() for b in out] == [[0, 1, 2], [3, 4, 5]]


def test_batches_deterministic_in_seed_and_epoch():
    x = np.arange(50)

    def order(seed, epoch):
        return np.concatenate([b for (b,) in data.batches((x,), 8, shuffle=True, seed=seed, epoch=epoch)])

    np.testing.assert_array_equal(order(0, 4), order(0, 4))
    np.testing.assert_array_equal(order(0, 4), data.permutation(50, seed=0, epoch=4))
    assert not np.array_equal(order(0, 4), order(0, 5))
    assert not np.array_equal(order(0, 4), order(1, 4))


def test_batches_drop_last():
    x = np.arange(23)
    out = [b for (b,) in data.batches((x,), 5, shuffle=True, seed=0, drop_last=True)]
    assert len(out) == data.num_batches(23, 5, drop_last=True) == 4
    assert all(len(b) == 5 for b in out)
    assert len(set(np.concatenate(out).tolist())) == 20
    assert list(data.batches((x[:3],), 5, shuffle=False, drop_last=True)) == []
    with pytest.raises(ValueError, match=r"arrays hold 0 examples"):
        data.batches((x[:0],), 5, shuffle=False)


def test_num_batches():
    assert data.num_batches(0, 4) == 0
    assert data.num_batches(8, 4) == 2
    assert data.num_batches(9, 4) == 3
    assert data.num_batches(9, 4, True) == 2
    with pytest.raises(ValueError, match="batch_size"):
        data.num_batches(9, 0)
    with pytest.raises(TypeError, match="batch_size"):
        data.num_batches(9, 2.0)


def test_batches_validation():
    x, y = np.zeros(10), np.zeros(9)
    with pytest.raises(ValueError, match=r"leading size.*\[10, 9\]"):
        data.batches((x, y), 2, shuffle=False)
    with pytest.raises(ValueError, match="batch_size"):
        data.batches((x,), 0, shuffle=False)
    with pytest.raises(TypeError, match="tuple or list"):
        data.batches(x, 2, shuffle=False)
    with pytest.raises(ValueError, match="at least one"):
        data.batches((), 2, shuffle=False)
    with pytest.raises(ValueError, match="seed is required"):
        data.batches((x,), 2, shuffle=True)
    with pytest.raises(ValueError, match="epoch"):
        data.batches((x,), 2, shuffle=True, seed=0, epoch=-1)
    with pytest.raises(ValueError, match="seed"):
        data.batches((x,), 2, shuffle=True, seed=-1)
    with pytest.raises(ValueError, match="0-d"):
        data.batches((np.float32(1.0),), 2, shuffle=False)


def test_fresh_process_no_tensorflow_same_order():
    """In a fresh interpreter: importing snnjax.data pulls in no TensorFlow/TFDS, and
    the shuffled order is the same as here (no hidden global RNG state)."""
    code = (
        "import sys; from snnjax.data import permutation; "
        "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_datasets')]); "
        "print(permutation(20, seed=7, epoch=2).tolist())"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    imported, order = res.stdout.strip().splitlines()
    assert imported == "[]"
    assert order == str(data.permutation(20, seed=7, epoch=2).tolist())
