"""Datasets and batching: IDX files, MNIST-family loaders, a NumPy batch iterator.

Everything here is plain NumPy and reads local files only (nothing is
downloaded, and TensorFlow is not imported).

* :mod:`snnjax.data.idx`: :func:`read_idx` / :func:`write_idx` for IDX files
  (``.gz`` or raw) and ``SHA256SUMS`` checks (:func:`verify_checksums`).
* :mod:`snnjax.data.datasets`: :func:`load_mnist`, :func:`load_fashion_mnist`,
  :func:`load_emnist` and the generic :func:`load_idx_dataset`.
* :mod:`snnjax.data.pipeline`: :func:`batches`, deterministic in ``(seed, epoch)``,
  and :func:`num_batches`.
* :mod:`snnjax.data.tfds`: TFDS builders over the same IDX folders (``array_record``
  files read with ``tfds.data_source``, no TensorFlow): ``build_and_load``, ``to_numpy``.
  Imported on first use (``snnjax.data.tfds``), so this package never imports TFDS.
"""

from snnjax.data.datasets import (
    EMNIST_SUBSETS,
    emnist_files,
    load_emnist,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
    mnist_files,
)
from snnjax.data.idx import (
    read_idx,
    read_sha256sums,
    sha256_file,
    verify_checksums,
    write_idx,
    write_sha256sums,
)
from snnjax.data.pipeline import HOLDOUT_SEED, batches, holdout_split, num_batches, permutation

__all__ = [
    "read_idx",
    "write_idx",
    "sha256_file",
    "read_sha256sums",
    "write_sha256sums",
    "verify_checksums",
    "load_idx_dataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_emnist",
    "mnist_files",
    "emnist_files",
    "EMNIST_SUBSETS",
    "batches",
    "num_batches",
    "permutation",
    "holdout_split",
    "HOLDOUT_SEED",
]


def __getattr__(name):
    if name == "tfds":  # lazy: importing tensorflow_datasets is slow
        import importlib

        return importlib.import_module("snnjax.data.tfds")
    raise AttributeError(f"module 'snnjax.data' has no attribute {name!r}")
