"""Datasets and batching: IDX files, MNIST-family loaders, a NumPy batch iterator.

Everything here is plain NumPy and reads local files only (nothing is
downloaded, and TensorFlow is not imported).

* :mod:`snnjax.data.idx`: :func:`read_idx` / :func:`write_idx` for IDX files
  (``.gz`` or raw) and ``SHA256SUMS`` checks (:func:`verify_checksums`).
* :mod:`snnjax.data.datasets`: :func:`load_mnist`, :func:`load_fashion_mnist`,
  :func:`load_emnist` and the generic :func:`load_idx_dataset`.
* :mod:`snnjax.data.pipeline`: :func:`batches`, deterministic in ``(seed, epoch)``,
  and :func:`num_batches`.
* :mod:`snnjax.data.dvs`: DVS128 Gesture and CIFAR10-DVS from their release files
  (AEDAT 3.1 / 2.0 readers), :func:`events_to_frames`, :func:`load_dvs_gesture`,
  :func:`load_cifar10_dvs` (``.npz`` frame cache).
* :mod:`snnjax.data.tfds`: TFDS builders over the same IDX folders (``array_record``
  files read with ``tfds.data_source``, no TensorFlow): ``build_and_load``, ``to_numpy``.
  Imported on first use (``snnjax.data.tfds``), so this package never imports TFDS.
* :mod:`snnjax.data.cifar`: :func:`load_cifar10`, :func:`load_cifar100`,
  :func:`cifar100_labels`, :func:`cifar_class_names` from the official
  python-version CIFAR files (extracted folder or ``.tar.gz``, MD5/SHA256 checked).
"""

from snnjax.data.cifar import (
    CIFAR10_MD5,
    CIFAR100_MD5,
    CIFAR_DATASETS,
    cifar100_labels,
    cifar_class_names,
    cifar_files,
    load_cifar10,
    load_cifar100,
)
from snnjax.data.datasets import (
    EMNIST_SUBSETS,
    emnist_files,
    load_emnist,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
    mnist_files,
)
from snnjax.data.dvs import (
    CIFAR10_DVS_CLASSES,
    DVS_GESTURE_CLASSES,
    EVENT_DTYPE,
    cifar10_dvs_split,
    dvs_gesture_trials,
    events_to_frames,
    iter_dvs_gesture_samples,
    load_cifar10_dvs,
    load_dvs_gesture,
    read_aedat2_raw,
    read_aedat3,
    read_cifar10_dvs_file,
    read_dvs_gesture_labels,
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
    "load_cifar10",
    "load_cifar100",
    "cifar100_labels",
    "cifar_class_names",
    "cifar_files",
    "CIFAR_DATASETS",
    "CIFAR10_MD5",
    "CIFAR100_MD5",
    "holdout_split",
    "HOLDOUT_SEED",
    "read_aedat3",
    "read_aedat2_raw",
    "read_cifar10_dvs_file",
    "read_dvs_gesture_labels",
    "dvs_gesture_trials",
    "iter_dvs_gesture_samples",
    "cifar10_dvs_split",
    "events_to_frames",
    "load_dvs_gesture",
    "load_cifar10_dvs",
    "EVENT_DTYPE",
    "DVS_GESTURE_CLASSES",
    "CIFAR10_DVS_CLASSES",
]


def __getattr__(name):
    if name == "tfds":  # lazy: importing tensorflow_datasets is slow
        import importlib

        return importlib.import_module("snnjax.data.tfds")
    raise AttributeError(f"module 'snnjax.data' has no attribute {name!r}")
