"""Loaders for MNIST, Fashion-MNIST and EMNIST from local IDX files.

Nothing is downloaded: each loader reads a directory holding the dataset's
official IDX files (``.gz`` as distributed; an uncompressed file of the same
name without ``.gz`` is used when the ``.gz`` is absent). With ``verify=True``
(the default) the directory must also hold a ``SHA256SUMS`` file in
``sha256sum`` format listing the files read, and every file is checked against
it before it is decoded; make one with ``sha256sum *.gz > SHA256SUMS``, or pass
``verify=False``.

Loaders return NumPy arrays ``(images, labels)``: ``uint8`` images ``[N, 28, 28]``
(0 = background) and ``uint8`` labels ``[N]``, in the files' order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snnjax.data._checks import check_file_name, check_path
from snnjax.data.idx import SHA256SUMS, _lookup_sums, read_idx
from snnjax.validation import check_bool, check_option

__all__ = [
    "load_idx_dataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_emnist",
    "mnist_files",
    "emnist_files",
    "SPLITS",
    "EMNIST_SUBSETS",
]

SPLITS = ("train", "test")
EMNIST_SUBSETS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")

# Highest stored label of each EMNIST subset (the official mapping files; ``letters``
# uses 1..26, and 0 is tolerated there as the TFDS builder's "(none)" class).
_EMNIST_MAX_LABEL = {
    "byclass": 61,
    "bymerge": 46,
    "balanced": 46,
    "letters": 26,
    "digits": 9,
    "mnist": 9,
}

PathLike = str | os.PathLike


def mnist_files(split: str) -> tuple[str, str]:
    """``(images file, labels file)`` names of an MNIST/Fashion-MNIST split."""
    check_option("split", split, SPLITS)
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def emnist_files(split: str, subset: str) -> tuple[str, str]:
    """``(images file, labels file)`` names of an EMNIST split and subset."""
    check_option("split", split, SPLITS)
    check_option("subset", subset, EMNIST_SUBSETS)
    return (
        f"emnist-{subset}-{split}-images-idx3-ubyte.gz",
        f"emnist-{subset}-{split}-labels-idx1-ubyte.gz",
    )


def _resolve(directory: Path, name: str) -> str | None:
    """``name`` if present in ``directory``; else its uncompressed twin if present; else None."""
    if (directory / name).is_file():
        return name
    if name.endswith(".gz") and (directory / name[:-3]).is_file():
        return name[:-3]
    return None


def load_idx_dataset(
    data_dir: PathLike,
    images_file: str,
    labels_file: str,
    *,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an ``(images, labels)`` pair of IDX files from ``data_dir``.

    Args:
      data_dir: directory holding the two files (and ``SHA256SUMS`` if ``verify``).
      images_file: file name of the inputs, relative to ``data_dir``.
      labels_file: file name of the labels (a 1-D IDX array), relative to ``data_dir``.
        A name ending in ``.gz`` falls back to the same name without ``.gz``
        when only the uncompressed file exists.
      verify: check both files against ``data_dir/SHA256SUMS`` (which must
        exist and list them) before decoding.

    Returns:
      ``(images, labels)`` as stored: ``images`` ``[N, ...]``, ``labels`` ``[N]``.

    Raises:
      FileNotFoundError: if ``data_dir``, a data file or (with ``verify``)
        ``SHA256SUMS`` is missing; the message lists the files expected.
      ValueError: naming the file, on a checksum mismatch, a corrupted/truncated
        file, if the labels are not 1-D or their count differs from the images',
        or if the files hold no examples.
      TypeError: if ``data_dir`` is not a path, a file name not a ``str`` or
        ``verify`` not a bool.
    """
    directory = check_path("data_dir", data_dir)
    images_file = check_file_name("images_file", images_file)
    labels_file = check_file_name("labels_file", labels_file)
    verify = check_bool("verify", verify)
    expected = [images_file, labels_file] + ([SHA256SUMS] if verify else [])
    if not directory.is_dir():
        raise FileNotFoundError(f"data directory not found: {directory} (expected it to contain {', '.join(expected)})")
    resolved = [_resolve(directory, name) for name in (images_file, labels_file)]
    missing = [name for name, r in zip((images_file, labels_file), resolved) if r is None]
    if missing:
        raise FileNotFoundError(
            f"missing in {directory}: {', '.join(missing)} "
            f"(expected {', '.join(expected)}; uncompressed files without .gz are accepted too)"
        )
    images_name, labels_name = resolved
    sums = {images_name: None, labels_name: None}
    if verify:
        if not (directory / SHA256SUMS).is_file():
            raise FileNotFoundError(
                f"verify=True but {directory / SHA256SUMS} does not exist; create it with "
                f"`cd {directory} && sha256sum {images_name} {labels_name} > {SHA256SUMS}` "
                "or pass verify=False"
            )
        sums = _lookup_sums(directory, [images_name, labels_name])
    images = read_idx(directory / images_name, expected_sha256=sums[images_name])
    labels = read_idx(directory / labels_name, expected_sha256=sums[labels_name])
    if labels.ndim != 1:
        raise ValueError(f"{directory / labels_name} must hold a 1-D label array, got shape {labels.shape}")
    if images.ndim < 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{directory / images_name} has shape {images.shape} but {directory / labels_name} "
            f"holds {labels.shape[0]} labels; the leading sizes must match"
        )
    if labels.shape[0] == 0:
        raise ValueError(
            f"{directory / images_name} and {directory / labels_name} hold 0 examples "
            "(the files are truncated or not the dataset's)"
        )
    return images, labels


def _check_28x28(
    data_dir: PathLike,
    names: tuple[str, str],
    images: np.ndarray,
    labels: np.ndarray,
    max_label: int = 9,
) -> None:
    images_file, labels_file = (_shown(data_dir, n) for n in names)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{images_file} should hold uint8 images [N, 28, 28], got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8:
        raise ValueError(f"{labels_file} should hold uint8 labels, got {labels.dtype}")
    if labels.size and int(labels.max()) > max_label:
        raise ValueError(
            f"{labels_file} should hold labels in 0..{max_label}, "
            f"got {labels.min()}..{labels.max()} "
            "(the file is corrupted or not this dataset's)"
        )


def _shown(data_dir: PathLike, name: str) -> Path:
    """The path of ``name`` as read (``.gz``, or its uncompressed twin)."""
    directory = Path(data_dir)
    return directory / (_resolve(directory, name) or name)


def load_mnist(data_dir: PathLike, split: str = "train", *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (LeCun, Cortes & Burges) from the four official IDX files.

    ``data_dir`` holds ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (only the
    requested split is read), plus ``SHA256SUMS`` when ``verify``.

    Args:
      data_dir: the directory.
      split: ``"train"`` (60,000 images) or ``"test"`` (10,000, the ``t10k`` files).
      verify: check the files against ``data_dir/SHA256SUMS`` first.

    Returns:
      ``(images, labels)``: ``uint8`` ``[N, 28, 28]`` and ``uint8`` ``[N]`` (0-9).

    Raises:
      FileNotFoundError: if the directory or a file is missing (the message
        lists the expected files).
      ValueError: on a bad ``split``, a checksum mismatch or a corrupted file.
    """
    images_file, labels_file = mnist_files(split)
    images, labels = load_idx_dataset(data_dir, images_file, labels_file, verify=verify)
    _check_28x28(data_dir, (images_file, labels_file), images, labels)
    return images, labels


def load_fashion_mnist(
    data_dir: PathLike, split: str = "train", *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf) from its IDX files.

    Same file names, layout and return values as :func:`load_mnist`; the 10
    labels are T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
    Sneaker, Bag, Ankle boot.
    """
    images_file, labels_file = mnist_files(split)
    images, labels = load_idx_dataset(data_dir, images_file, labels_file, verify=verify)
    _check_28x28(data_dir, (images_file, labels_file), images, labels)
    return images, labels


def load_emnist(
    data_dir: PathLike,
    split: str = "train",
    subset: str = "byclass",
    *,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load EMNIST (Cohen et al., 2017) from its IDX files.

    ``data_dir`` holds the files of the official ``gzip.zip`` distribution
    (its ``gzip/`` folder), named ``emnist-{subset}-{split}-images-idx3-ubyte.gz``
    and ``emnist-{subset}-{split}-labels-idx1-ubyte.gz``, plus ``SHA256SUMS``
    when ``verify``.

    EMNIST stores every image transposed relative to MNIST (rows and columns
    swapped). This loader transposes each image back, so the returned images
    are upright and in the same orientation as :func:`load_mnist`'s.

    Labels are returned as stored: ``byclass`` 0-61 (digits 0-9, then A-Z,
    then a-z), ``bymerge``/``balanced`` 0-46, ``digits``/``mnist`` 0-9, and
    ``letters`` 1-26 (A/a = 1; there is no class 0).

    Args:
      data_dir: the directory.
      split: ``"train"`` or ``"test"``.
      subset: ``"byclass"``, ``"bymerge"``, ``"balanced"``, ``"letters"``,
        ``"digits"`` or ``"mnist"``.
      verify: check the files against ``data_dir/SHA256SUMS`` first.

    Returns:
      ``(images, labels)``: ``uint8`` ``[N, 28, 28]`` (upright) and ``uint8`` ``[N]``.

    Raises:
      FileNotFoundError: if the directory or a file is missing (the message
        lists the expected files).
      ValueError: on a bad ``split``/``subset``, a checksum mismatch or a
        corrupted file.
    """
    images_file, labels_file = emnist_files(split, subset)
    images, labels = load_idx_dataset(data_dir, images_file, labels_file, verify=verify)
    _check_28x28(data_dir, (images_file, labels_file), images, labels, _EMNIST_MAX_LABEL[subset])
    return np.ascontiguousarray(images.transpose(0, 2, 1)), labels
