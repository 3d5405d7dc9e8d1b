"""snnjax.data.cifar: the official CIFAR-10/100 python-version files, and their TFDS builders.

Fixtures are written here in the official format: Python 2 style pickles
(protocol 2, byte strings as ``BINSTRING`` opcodes, arrays reconstructed through
``numpy.core.multiarray._reconstruct`` as numpy 1.x wrote them), a dict with
byte-string keys, in the official folder layout and as a ``.tar.gz``. Batches
are tiny (7 / 5 / 4 images), so they carry their own ``SHA256SUMS``; the
published MD5 path is tested by patching the MD5 table.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from snnjax import data
from snnjax.data import cifar

C10_TRAIN = (7, 5, 6, 4, 3)  # rows in data_batch_1..5
C10_TEST = 4
C100_TRAIN, C100_TEST = 9, 5
C10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


# --------------------------------------------------------------------------- writers


class Py2Pickler(pickle._Pickler):
    """Writes pickles as Python 2's cPickle (protocol 2) did: ``str``/``bytes`` as
    ``BINSTRING`` (loaded as bytes with ``encoding="bytes"``) and NumPy's
    ``numpy.core.multiarray`` module name."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        name = name or obj.__qualname__
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)

    dispatch[type] = save_global


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def rgb_rows(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] -> the official [N, 3072] rows (R plane, G plane, B plane)."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), 3072)


def batch_dict(images, labels: dict, batch_label: str) -> dict:
    d = {b"batch_label": batch_label.encode(), b"data": rgb_rows(images)}
    for key, lab in labels.items():
        d[key] = [int(x) for x in lab]
    d[b"filenames"] = [f"img_{i:05d}.png".encode() for i in range(len(images))]
    return d


def write_cifar10(root: Path, seed: int = 0, *, sums: bool = True) -> tuple[Path, dict]:
    """Official-layout ``root/cifar-10-batches-py`` with tiny batches; returns (folder, truth)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    truth = {"train": ([], []), "test": ([], [])}
    batches = [(f"data_batch_{i + 1}", "train", n) for i, n in enumerate(C10_TRAIN)]
    for name, split, n in batches + [("test_batch", "test", C10_TEST)]:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        (folder / name).write_bytes(py2_pickle(batch_dict(images, {b"labels": labels}, name)))
        truth[split][0].append(images)
        truth[split][1].append(labels)
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in C10_NAMES]}
    meta[b"num_vis"] = 3072
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    if sums:
        data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    return folder, {s: (np.concatenate(x), np.concatenate(y)) for s, (x, y) in truth.items()}


def write_cifar100(root: Path, seed: int = 1, *, sums: bool = True) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    truth = {}
    for split, n in (("train", C100_TRAIN), ("test", C100_TEST)):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        fine, coarse = rng.integers(0, 100, n), rng.integers(0, 20, n)
        d = batch_dict(images, {b"fine_labels": fine, b"coarse_labels": coarse}, split)
        (folder / split).write_bytes(py2_pickle(d))
        truth[split] = (images, fine, coarse)
    meta = {
        b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(py2_pickle(meta))
    if sums:
        data.write_sha256sums(folder, cifar.cifar_files("cifar100"))
    return folder, truth


def make_archive(folder: Path, archive: Path, *, sums: bool = True) -> Path:
    """``archive`` (.tar.gz) of ``folder`` as the official one: members ``<folder name>/<file>``."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    if sums:
        data.write_sha256sums(archive.parent, [archive.name])
    return archive


@pytest.fixture(scope="module")
def c10(tmp_path_factory):
    root = tmp_path_factory.mktemp("c10")
    folder, truth = write_cifar10(root / "extracted")
    archive = make_archive(folder, root / "cifar-10-python.tar.gz")
    return folder, archive, truth


@pytest.fixture(scope="module")
def c100(tmp_path_factory):
    root = tmp_path_factory.mktemp("c100")
    folder, truth = write_cifar100(root / "extracted")
    archive = make_archive(folder, root / "cifar-100-python.tar.gz")
    return folder, archive, truth


# --------------------------------------------------------------------------- reading


def test_fixture_pickles_look_like_python2_ones(c10):
    folder, _, _ = c10
    raw = (folder / "data_batch_1").read_bytes()
    assert raw[:2] == b"\x80\x02" and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert b"_codecs" not in raw and b"numpy._core" not in raw
    d = pickle.load(io.BytesIO(raw), encoding="bytes")  # as the CIFAR page says
    assert sorted(d) == [b"batch_label", b"data", b"filenames", b"labels"]
    assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (C10_TRAIN[0], 3072)


def test_pixel_order_is_hwc_rgb(tmp_path):
    # Rows are R plane, G plane, B plane, each 32x32 row-major.
    row = np.zeros(3072, np.uint8)
    r, g, b = (row[i * 1024 : (i + 1) * 1024].reshape(32, 32) for i in range(3))
    r[0, 1] = 11  # red at row 0, column 1
    g[2, 0] = 22  # green at row 2, column 0
    b[31, 30] = 33  # blue at row 31, column 30
    r[5, 5], g[5, 5], b[5, 5] = 1, 2, 3
    folder, _ = write_cifar10(tmp_path, sums=False)
    d = {b"batch_label": b"x", b"labels": [3], b"data": row[None], b"filenames": [b"a.png"]}
    (folder / "test_batch").write_bytes(py2_pickle(d))
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    images, labels = data.load_cifar10(folder, "test")
    assert images.shape == (1, 32, 32, 3) and images.dtype == np.uint8
    expected = np.zeros((32, 32, 3), np.uint8)
    expected[0, 1, 0], expected[2, 0, 1], expected[31, 30, 2] = 11, 22, 33
    expected[5, 5] = [1, 2, 3]
    np.testing.assert_array_equal(images[0], expected)
    assert labels.tolist() == [3] and labels.dtype == np.int32


@pytest.mark.parametrize("where", ["folder", "parent", "archive", "archive_parent"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_cifar10_every_path_form(c10, tmp_path, where, split):
    folder, archive, truth = c10
    if where == "archive_parent":  # a directory holding only the archive
        path = tmp_path
        (path / archive.name).write_bytes(archive.read_bytes())
        data.write_sha256sums(path, [archive.name])
    else:
        path = {"folder": folder, "parent": folder.parent, "archive": archive}[where]
    images, labels = data.load_cifar10(path, split)
    ref_images, ref_labels = truth[split]
    n = sum(C10_TRAIN) if split == "train" else C10_TEST
    assert images.shape == (n, 32, 32, 3) and images.dtype == np.uint8
    assert images.flags.c_contiguous
    assert labels.shape == (n,) and labels.dtype == np.int32
    np.testing.assert_array_equal(images, ref_images)  # data_batch_1 first, in order
    np.testing.assert_array_equal(labels, ref_labels)


@pytest.mark.parametrize("use_archive", [False, True])
def test_load_cifar100_fine_coarse_and_names(c100, use_archive):
    folder, archive, truth = c100
    path = archive if use_archive else folder
    for split in ("train", "test"):
        ref_images, ref_fine, ref_coarse = truth[split]
        images, fine = data.load_cifar100(path, split)
        _, coarse = data.load_cifar100(path, split, label_mode="coarse")
        np.testing.assert_array_equal(images, ref_images)
        np.testing.assert_array_equal(fine, ref_fine)
        np.testing.assert_array_equal(coarse, ref_coarse)
        assert fine.dtype == coarse.dtype == np.int32
        both = data.cifar100_labels(path, split)
        np.testing.assert_array_equal(both[0], ref_fine)
        np.testing.assert_array_equal(both[1], ref_coarse)
    names = data.cifar_class_names(path, "cifar100")
    assert len(names) == 100 and names[0] == "fine_0" and isinstance(names[0], str)
    coarse_names = data.cifar_class_names(path, "cifar100", label_mode="coarse")
    assert coarse_names == tuple(f"coarse_{i}" for i in range(20))


def test_cifar10_class_names_and_file_lists(c10):
    folder, archive, _ = c10
    assert data.cifar_class_names(folder, "cifar10") == tuple(C10_NAMES)
    assert data.cifar_class_names(archive, "cifar10") == tuple(C10_NAMES)
    assert data.cifar_files("cifar10", "train") == tuple(f"data_batch_{i}" for i in range(1, 6))
    assert data.cifar_files("cifar100") == ("train", "test", "meta")
    with pytest.raises(ValueError, match="label_mode for cifar10 must be one of"):
        data.cifar_class_names(folder, "cifar10", label_mode="coarse")


def test_option_validation(c10):
    folder, _, _ = c10
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        data.load_cifar10(folder, "val")
    with pytest.raises(ValueError, match="label_mode must be one of"):
        data.load_cifar100(folder, label_mode="both")
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.cifar_class_names(folder, "cifar1000")
    with pytest.raises(TypeError, match="verify must be a bool"):
        data.load_cifar10(folder, verify="yes")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        data.load_cifar10(123)


# --------------------------------------------------------------------------- checksums


def test_published_md5_checked_without_sha256sums(tmp_path, monkeypatch):
    folder, truth = write_cifar10(tmp_path, sums=False)
    # The tiny files are not the official ones: the published MD5 rejects them.
    with pytest.raises(ValueError, match=r"checksum mismatch for .*test_batch: expected the publ"):
        data.load_cifar10(folder, "test")
    assert "c99cafc152244af753f735de768cd75f" in cifar.CIFAR10_MD5.values()
    # With their MD5s in the table (as for the real files), they pass.
    md5 = {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in os.listdir(folder)}
    monkeypatch.setitem(cifar.CIFAR10_MD5, "test_batch", md5["test_batch"])
    images, _ = data.load_cifar10(folder, "test")
    np.testing.assert_array_equal(images, truth["test"][0])
    # An archive is checked against the archive's published MD5.
    archive = make_archive(folder, tmp_path / "cifar-10-python.tar.gz", sums=False)
    with pytest.raises(ValueError, match=r"checksum mismatch for .*cifar-10-python\.tar\.gz"):
        data.load_cifar10(archive, "test")
    arch_md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(cifar.CIFAR10_MD5, "cifar-10-python.tar.gz", arch_md5)
    np.testing.assert_array_equal(data.load_cifar10(archive, "test")[0], truth["test"][0])
    assert data.load_cifar10(folder, "train", verify=False)[0].shape[0] == sum(C10_TRAIN)


def test_sha256_mismatch_names_the_file(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    raw = bytearray((folder / "data_batch_3").read_bytes())
    raw[-200] ^= 0xFF  # flip one pixel byte; still a valid pickle
    (folder / "data_batch_3").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"checksum mismatch for .*data_batch_3: expected sha256"):
        data.load_cifar10(folder, "train")
    data.load_cifar10(folder, "test")  # other files are fine
    assert data.load_cifar10(folder, "train", verify=False)[0].shape[0] == sum(C10_TRAIN)


def test_archive_sha256_mismatch(c10, tmp_path):
    _, archive, _ = c10
    copy = tmp_path / archive.name
    copy.write_bytes(archive.read_bytes())
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  {archive.name}\n")
    with pytest.raises(ValueError, match=r"checksum mismatch for .*cifar-10-python\.tar\.gz"):
        data.load_cifar10(tmp_path, "test")


# --------------------------------------------------------------------------- bad files


def test_truncated_pickle_names_the_file(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:5000])
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))  # checksums pass
    with pytest.raises(ValueError, match=r"data_batch_2 is not a valid CIFAR pickle \(truncated"):
        data.load_cifar10(folder, "train")


def test_wrong_shape_and_label_count(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    d = {b"data": np.zeros((3, 3000), np.uint8), b"labels": [0, 1, 2]}
    (folder / "test_batch").write_bytes(py2_pickle(d))
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    with pytest.raises(ValueError, match=r"test_batch: 'data' should have 3072 columns .*10000"):
        data.load_cifar10(folder, "test")
    d = {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}
    (folder / "test_batch").write_bytes(py2_pickle(d))
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    with pytest.raises(ValueError, match=r"test_batch: 'labels' has 2 labels but 'data' has 3"):
        data.load_cifar10(folder, "test")
    d = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    (folder / "test_batch").write_bytes(py2_pickle(d))
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    with pytest.raises(ValueError, match=r"'labels' should be in 0\.\.9, got 0\.\.10"):
        data.load_cifar10(folder, "test")
    (folder / "test_batch").write_bytes(py2_pickle({b"labels": []}))
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))
    with pytest.raises(ValueError, match=r"test_batch has no 'data' entry"):
        data.load_cifar10(folder, "test")


def test_truncated_archive(c10, tmp_path):
    _, archive, _ = c10
    bad = tmp_path / archive.name
    bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz is not a valid .*truncated"):
        data.load_cifar10(bad, "train", verify=False)


def test_missing_files(tmp_path, c10):
    folder, _ = write_cifar10(tmp_path / "a")
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing in .*cifar-10-batches-py: data_batch_4"):
        data.load_cifar10(folder.parent, "train")
    with pytest.raises(FileNotFoundError, match="path not found"):
        data.load_cifar10(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no CIFAR-100 data in .*cifar-100-python\.tar\.gz"):
        data.load_cifar100(tmp_path / "empty")
    # an archive without the member
    with tarfile.open(tmp_path / "partial.tar.gz", "w:gz") as tar:
        tar.add(folder / "test_batch", arcname="cifar-10-batches-py/test_batch")
    data.load_cifar10(tmp_path / "partial.tar.gz", "test", verify=False)
    with pytest.raises(FileNotFoundError, match=r"has no member cifar-10-batches-py/data_batch_1"):
        data.load_cifar10(tmp_path / "partial.tar.gz", "train", verify=False)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", ["os.system", "eval"])
def test_restricted_unpickler_refuses_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        evil = {b"data": _Evil(marker), b"labels": []}
    else:
        evil = {b"data": _EvalEvil(marker), b"labels": []}
    raw = py2_pickle(evil)  # the official format, with a payload
    folder, _ = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(raw)
    data.write_sha256sums(folder, cifar.cifar_files("cifar10"))  # checksums pass
    expected = "posix.system" if payload == "os.system" else "builtins.exec"
    with pytest.raises(ValueError, match=rf"refusing to unpickle .*test_batch.*{expected}"):
        data.load_cifar10(folder, "test")
    assert not marker.exists()  # the command did not run
    with pytest.raises(ValueError, match="refusing to unpickle"):
        data.load_cifar10(folder, "test", verify=False)
    assert not marker.exists()


class _EvalEvil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


# --------------------------------------------------------------------------- TFDS


@pytest.fixture(scope="module")
def tfds_mod():
    pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("array_record")
    from snnjax.data import tfds as snn_tfds

    return snn_tfds


def test_tfds_cifar10_from_archive_equals_reader(tfds_mod, c10, tmp_path):
    folder, archive, _ = c10
    tfds_dir = tmp_path / "tfds"
    source = tfds_mod.build_and_load("cifar10", archive, tfds_dir, split="train")
    images, labels = tfds_mod.to_numpy(source, batch_size=6)
    ref_images, ref_labels = data.load_cifar10(archive, "train")
    assert images.shape == (sum(C10_TRAIN), 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)
    rec = source[2]
    assert rec["image"].shape == (32, 32, 3) and rec["id"] in (b"train_00002", "train_00002")
    builder = tfds_mod.build("local_cifar10", archive.parent, tfds_dir)  # same archive: reused
    assert isinstance(builder, tfds_mod.LocalCifar10)
    assert builder.info.features["label"].names == C10_NAMES
    assert builder.info.splits["test"].num_examples == C10_TEST
    sums = data.read_sha256sums(archive.parent)
    assert builder.info.metadata["source_checksums"] == {archive.name: f"sha256:{sums[archive.name]}"}
    # The extracted folder has its own SHA256SUMS: not provably the same files.
    with pytest.raises(ValueError, match="built from different files"):
        tfds_mod.build("cifar10", folder, tfds_dir)


def test_tfds_cifar100_fine_and_coarse(tfds_mod, c100, tmp_path):
    folder, _, truth = c100
    tfds_dir = tmp_path / "tfds"
    source = tfds_mod.build_and_load("cifar100", folder, tfds_dir, split="test")
    images, fine = tfds_mod.to_numpy(source)
    _, coarse = tfds_mod.to_numpy(source, label_key="coarse_label")
    np.testing.assert_array_equal(images, truth["test"][0])
    np.testing.assert_array_equal(fine, truth["test"][1])
    np.testing.assert_array_equal(coarse, truth["test"][2])
    features = tfds_mod.build("cifar100", folder, tfds_dir).info.features
    assert sorted(features.keys()) == ["coarse_label", "id", "image", "label"]
    assert features["coarse_label"].names[19] == "coarse_19"
    # Different files (another SHA256SUMS) in the same place are detected.
    other, _ = write_cifar100(tmp_path / "other", seed=7)
    with pytest.raises(ValueError, match="built from different files"):
        tfds_mod.build("cifar100", other, tfds_dir)
    with pytest.raises(ValueError, match="record 0 has no 'nope' feature"):
        tfds_mod.to_numpy(source, label_key="nope")


def test_tfds_cifar_checksum_error_writes_nothing(tfds_mod, tmp_path):
    folder, _ = write_cifar10(tmp_path / "src", sums=False)  # published MD5s: mismatch
    with pytest.raises(ValueError, match=r"checksum mismatch for .*data_batch_1"):
        tfds_mod.build("cifar10", folder, tmp_path / "tfds")
    assert not tfds_mod.LocalCifar10(data_dir=tmp_path / "tfds").is_prepared()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 data"):
        tfds_mod.build("cifar10", tmp_path, tmp_path / "tfds")
