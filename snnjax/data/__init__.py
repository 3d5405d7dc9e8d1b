"""Datasets and batching: IDX files, MNIST-family loaders, a NumPy batch iterator.

Everything here is plain NumPy and reads local files only (nothing is
downloaded, and TensorFlow is not imported).

* :mod:`snnjax.data.idx`: :func:`read_idx` / :func:`write_idx` for IDX files
  (``.gz`` or raw) and ``SHA256SUMS`` checks (:func:`verify_checksums`).
* :mod:`snnjax.data.datasets`: :func:`load_mnist`, :func:`load_fashion_mnist`,
  :func:`load_emnist` and the generic :func:`load_idx_dataset`.
* :mod:`snnjax.data.pipeline`: :func:`batches`, deterministic in ``(seed, epoch)``,
  and :func:`num_batches`.
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
from snnjax.data.pipeline import batches, num_batches, permutation

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
]
