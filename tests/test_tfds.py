"""snnjax.data.tfds: TFDS builders over local IDX files, array_record, tfds.data_source, no TF.

Every test writes its own tiny IDX directory (20 train / 10 test images) with
``snnjax.data.write_idx`` + ``write_sha256sums`` into ``tmp_path`` and builds into
a temporary TFDS ``data_dir``; nothing touches the network or ``~/tensorflow_datasets``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("array_record")

from snnjax import data  # noqa: E402
from snnjax.data import tfds as snn_tfds  # noqa: E402

N_TRAIN, N_TEST = 20, 10


def write_mnist_like(directory: Path, seed: int = 0, *, num_classes: int = 10, emnist: str | None = None):
    """Tiny random MNIST-format (or EMNIST ``emnist`` subset) IDX files + SHA256SUMS."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images_file, labels_file = data.emnist_files(split, emnist) if emnist else data.mnist_files(split)
        data.write_idx(directory / images_file, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(directory / labels_file, rng.integers(0, num_classes, (n,), dtype=np.uint8))
        names += [images_file, labels_file]
    data.write_sha256sums(directory, names)
    return directory


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One tiny MNIST IDX dir, built once into a shared TFDS data_dir."""
    root = tmp_path_factory.mktemp("tfds")
    idx_dir = write_mnist_like(root / "idx")
    tfds_dir = root / "tfds_data"
    sources = {s: snn_tfds.build_and_load("mnist", idx_dir, tfds_dir, split=s) for s in ("train", "test")}
    return idx_dir, tfds_dir, sources


@pytest.mark.parametrize("split,n", [("train", N_TRAIN), ("test", N_TEST)])
def test_build_and_load_matches_load_mnist(built, split, n):
    idx_dir, tfds_dir, sources = built
    source = sources[split]
    assert len(source) == n
    rec = source[3]
    assert rec["image"].dtype == np.uint8 and rec["image"].shape == (28, 28, 1)
    images, labels = snn_tfds.to_numpy(source, batch_size=7)  # several batches, a ragged last one
    ref_images, ref_labels = data.load_mnist(idx_dir, split)
    assert images.dtype == np.uint8 and images.shape == (n, 28, 28)
    assert labels.dtype == ref_labels.dtype == np.uint8
    np.testing.assert_array_equal(images, ref_images)  # same order: shuffling is disabled
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(rec["image"][..., 0], ref_images[3])
    assert int(rec["label"]) == int(ref_labels[3])


def test_written_as_array_record_without_tensorflow(built):
    _, tfds_dir, sources = built
    version_dir = tfds_dir / "local_mnist" / "1.0.0"
    files = sorted(p.name for p in version_dir.iterdir())
    assert any(".array_record-" in f for f in files), files
    assert not any("tfrecord" in f for f in files), files
    assert type(sources["train"]).__name__ == "ArrayRecordDataSource"
    assert "tensorflow" not in sys.modules


def test_builder_metadata_and_plain_tfds_api(built):
    idx_dir, tfds_dir, _ = built
    # Reusing the built dataset through TFDS's own API, by registered name.
    source = tfds.data_source("local_mnist", data_dir=tfds_dir, split="test", download=False)
    images, labels = snn_tfds.to_numpy(source)
    np.testing.assert_array_equal(images, data.load_mnist(idx_dir, "test")[0])
    builder = snn_tfds.build("mnist", idx_dir, tfds_dir)  # already built: reused
    assert builder.info.splits["train"].num_examples == N_TRAIN
    assert builder.info.features["label"].num_classes == 10
    assert builder.info.metadata["source_sha256"] == data.read_sha256sums(idx_dir)
    assert isinstance(builder, snn_tfds.LocalMnist)
    assert "SHA256SUMS" in builder.MANUAL_DOWNLOAD_INSTRUCTIONS


def test_checksum_mismatch_raises_and_writes_nothing(tmp_path):
    idx_dir = write_mnist_like(tmp_path / "idx")
    # Replace the test images after SHA256SUMS was written.
    name = data.mnist_files("test")[0]
    data.write_idx(idx_dir / name, np.zeros((N_TEST, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"checksum mismatch for .*t10k-images-idx3-ubyte\.gz"):
        snn_tfds.build_and_load("mnist", idx_dir, tmp_path / "tfds_data", split="train")
    builder = snn_tfds.LocalMnist(data_dir=tmp_path / "tfds_data", file_format="array_record")
    assert not builder.is_prepared()


def test_missing_files_and_sums(tmp_path):
    idx_dir = write_mnist_like(tmp_path / "idx")
    (idx_dir / "SHA256SUMS").unlink()
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        snn_tfds.build("mnist", idx_dir, tmp_path / "tfds_data")
    (idx_dir / data.mnist_files("train")[1]).unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.gz"):
        snn_tfds.build("mnist", idx_dir, tmp_path / "tfds_data")
    with pytest.raises(FileNotFoundError, match="IDX directory not found"):
        snn_tfds.build("mnist", tmp_path / "nope", tmp_path / "tfds_data")


def test_stale_build_is_detected_and_overwrite_rebuilds(tmp_path):
    tfds_dir = tmp_path / "tfds_data"
    a = write_mnist_like(tmp_path / "a", seed=1)
    b = write_mnist_like(tmp_path / "b", seed=2)
    snn_tfds.build("mnist", a, tfds_dir)
    with pytest.raises(ValueError, match="built from different files"):
        snn_tfds.build_and_load("mnist", b, tfds_dir, split="test")
    source = snn_tfds.build_and_load("mnist", b, tfds_dir, split="test", overwrite=True)
    images, labels = snn_tfds.to_numpy(source)
    ref_images, ref_labels = data.load_mnist(b, "test")
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)
    meta = snn_tfds.build("mnist", b, tfds_dir).info.metadata["source_sha256"]
    assert meta == data.read_sha256sums(b)


def test_fashion_mnist_class_names(tmp_path):
    idx_dir = write_mnist_like(tmp_path / "idx", seed=3)
    tfds_dir = tmp_path / "tfds_data"
    source = snn_tfds.build_and_load("fashion_mnist", idx_dir, tfds_dir, split="train")
    images, labels = snn_tfds.to_numpy(source)
    ref_images, ref_labels = data.load_fashion_mnist(idx_dir, "train")
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(labels, ref_labels)
    names = snn_tfds.build("fashion_mnist", idx_dir, tfds_dir).info.features["label"].names
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot"


def test_emnist_letters_upright_like_load_emnist(tmp_path):
    # letters: labels 1..26 (written here as 0..26; 0 is a valid ClassLabel index too)
    idx_dir = write_mnist_like(tmp_path / "idx", seed=4, num_classes=27, emnist="letters")
    tfds_dir = tmp_path / "tfds_data"
    source = snn_tfds.build_and_load("emnist/letters", idx_dir, tfds_dir, split="test")
    images, labels = snn_tfds.to_numpy(source)
    ref_images, ref_labels = data.load_emnist(idx_dir, "test", "letters")
    np.testing.assert_array_equal(images, ref_images)  # transposed back, as the loader does
    np.testing.assert_array_equal(labels, ref_labels)
    raw = data.read_idx(idx_dir / data.emnist_files("test", "letters")[0])
    np.testing.assert_array_equal(images, raw.transpose(0, 2, 1))
    builder = snn_tfds.build("local_emnist/letters", idx_dir, tfds_dir)
    assert builder.info.features["label"].num_classes == 27
    assert (tmp_path / "tfds_data" / "local_emnist" / "letters" / "1.0.0").is_dir()


def test_name_validation():
    assert snn_tfds.builder_class("mnist") is snn_tfds.LocalMnist
    assert snn_tfds.builder_class("local_emnist/digits") is snn_tfds.LocalEmnist
    assert [c.name for c in snn_tfds.LocalEmnist.BUILDER_CONFIGS] == list(data.EMNIST_SUBSETS)
    with pytest.raises(ValueError, match="name must be one of"):
        snn_tfds.builder_class("cifar1000")
    with pytest.raises(ValueError, match="EMNIST subset"):
        snn_tfds.builder_class("emnist/bogus")
    with pytest.raises(ValueError, match="no builder configs"):
        snn_tfds.builder_class("mnist/digits")


def test_to_numpy_rejects_split_dict_and_bad_records():
    with pytest.raises(TypeError, match="one split"):
        snn_tfds.to_numpy({"train": [], "test": []})
    with pytest.raises(ValueError, match="uint8"):
        snn_tfds.to_numpy([{"image": np.zeros((28, 28, 1), np.float32), "label": 0}])
    with pytest.raises(ValueError, match="does not fit"):
        snn_tfds.to_numpy([{"image": np.zeros((28, 28, 1), np.uint8), "label": 300}])
    images, labels = snn_tfds.to_numpy([{"image": np.ones((28, 28), np.uint8), "label": 300}], label_dtype=np.int32)
    assert images.shape == (1, 28, 28) and labels.tolist() == [300] and labels.dtype == np.int32


def test_importing_snnjax_data_does_not_import_tfds():
    code = (
        "import sys, snnjax.data, snnjax.data.tfds\n"
        "assert 'tensorflow_datasets' not in sys.modules, 'imported eagerly'\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
