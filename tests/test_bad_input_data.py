"""Bad input to the ``snnjax.data`` entry points: the audit table of the hardening issue.

Two tables:

* ``ARG_CASES``: one row per (entry point, argument, bad value); the call must raise
  the given ``TypeError`` / ``ValueError`` whose message matches the regex, and the
  message must name the argument.
* ``FILE_CASES``: a file or directory in the official format (written in ``tmp_path``
  with the writers of ``test_data`` / ``test_cifar`` / ``test_dvs``), broken in one way
  (missing, truncated, wrong magic, mismatched counts, checksum, corrupted pickle or
  AEDAT, ...); the reader must raise the given error whose message names the path and
  matches the problem regex.

The augmentation functions are jittable, so their rows run with and without ``jax.jit``
(``chex.variants``): shape, dtype, key and option errors are raised while tracing,
before anything is compiled; value checks (NaN/inf) run on concrete input only.
Nothing here touches the network; the TFDS rows stop before anything is built.
"""

from __future__ import annotations

import functools
import gzip
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from test_cifar import make_archive, py2_pickle, write_cifar10, write_cifar100
from test_data import idx_bytes, make_mnist_like, put, sums_file
from test_dvs import (
    AEDAT3_HEADER,
    cifar_address,
    make_cifar_dir,
    make_events,
    make_gesture_dir,
    packet,
    write_aedat2,
    write_aedat3,
)

from snnjax import data
from snnjax.data import augment as A
from snnjax.data import cifar, dvs

# --------------------------------------------------------------------------- fixtures


class Ctx(NamedTuple):
    mnist: Path  # MNIST-format IDX folder (train 3, test 2) with SHA256SUMS
    c10: Path  # cifar-10-batches-py folder
    c100: Path  # cifar-100-python folder
    gesture: Path  # DvsGesture folder
    cdvs: Path  # CIFAR10-DVS root (2 files per class)
    afile: Path  # a regular file (not a directory)
    missing: Path  # a path that does not exist


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    root = tmp_path_factory.mktemp("bad_input")
    rng = np.random.default_rng(0)
    mnist = root / "mnist"
    make_mnist_like(mnist, "train", rng.integers(0, 256, (3, 28, 28)), np.array([0, 9, 4]))
    make_mnist_like(mnist, "t10k", rng.integers(0, 256, (2, 28, 28)), np.array([1, 2]))
    sums_file(mnist, sorted(p.name for p in mnist.glob("*.gz")))
    c10, _ = write_cifar10(root / "c10")
    c100, _ = write_cifar100(root / "c100")
    make_gesture_dir(root / "gesture")
    make_cifar_dir(root / "cdvs", 2)
    afile = root / "afile.txt"
    afile.write_text("not a directory")
    return Ctx(mnist, c10, c100, root / "gesture" / "DvsGesture", root / "cdvs", afile, root / "does-not-exist")


def _tfds():
    pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("array_record")
    from snnjax.data import tfds as snn_tfds

    return snn_tfds


KEY = jax.random.key(0)
IMG = np.zeros((2, 8, 8, 3), np.float32)
EV = make_events([0, 5, 10], [1, 2, 3], [1, 2, 3], [0, 1, 1])
REC = {"image": np.zeros((28, 28, 1), np.uint8), "label": 3}


def _ev(**fields):
    base = {"t": [1, 2], "x": [1, 2], "y": [1, 2], "p": [0, 1]}
    base.update(fields)
    return base


def _frames(events=EV, T=2, **kw):
    kw = {"height": 8, "width": 8, **kw}
    return dvs.events_to_frames(events, T, **kw)


# --------------------------------------------------------------------------- argument table


class Case(NamedTuple):
    entry: str  # entry point
    arg: str  # the argument the message must name
    bad: Any  # the bad value
    exc: type  # expected error class
    pattern: str  # regex the message must match
    call: Callable[[Ctx, Any], Any]  # call(ctx, bad) makes the call


F = float
C = Case
ARG_CASES = [
    # ---- pipeline: num_batches / permutation / batches / holdout_split
    C("num_batches", "n", -1, ValueError, r"n must be >= 0, got -1", lambda c, v: data.num_batches(v, 2)),
    C("num_batches", "n", 2.0, TypeError, r"n must be an int, got float 2\.0", lambda c, v: data.num_batches(v, 2)),
    C(
        "num_batches",
        "batch_size",
        0,
        ValueError,
        r"batch_size must be >= 1, got 0",
        lambda c, v: data.num_batches(4, v),
    ),
    C(
        "num_batches",
        "batch_size",
        True,
        TypeError,
        r"batch_size must be an int, got bool True",
        lambda c, v: data.num_batches(4, v),
    ),
    C(
        "num_batches",
        "drop_last",
        "yes",
        TypeError,
        r"drop_last must be a bool .*got str 'yes'",
        lambda c, v: data.num_batches(4, 2, v),
    ),
    C(
        "permutation",
        "seed",
        None,
        TypeError,
        r"seed must be an int, got NoneType None",
        lambda c, v: data.permutation(4, seed=v),
    ),
    C("permutation", "seed", -1, ValueError, r"seed must be >= 0, got -1", lambda c, v: data.permutation(4, seed=v)),
    C(
        "permutation",
        "epoch",
        1.5,
        TypeError,
        r"epoch must be an int, got float 1\.5",
        lambda c, v: data.permutation(4, seed=0, epoch=v),
    ),
    C(
        "batches",
        "arrays",
        np.zeros(4),
        TypeError,
        r"arrays must be a tuple or list .*wrap a single array",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "arrays",
        (),
        ValueError,
        r"arrays must contain at least one array",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "arrays",
        (np.float32(1),),
        ValueError,
        r"arrays\[0\] is 0-d \(got float32 of shape \(\)",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "arrays",
        ([[1, 2], [3]],),
        ValueError,
        r"arrays\[0\] is not a rectangular array",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "arrays",
        (np.zeros((0, 3)),),
        ValueError,
        r"arrays hold 0 examples \(shapes \[\(0, 3\)\]\)",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "arrays",
        (np.zeros(4), np.zeros(3)),
        ValueError,
        r"arrays must share the leading size N.*\[4, 3\]",
        lambda c, v: data.batches(v, 2, shuffle=False),
    ),
    C(
        "batches",
        "batch_size",
        0,
        ValueError,
        r"batch_size must be >= 1, got 0",
        lambda c, v: data.batches((np.zeros(4),), v, shuffle=False),
    ),
    C(
        "batches",
        "shuffle",
        1,
        TypeError,
        r"shuffle must be a bool .*got int 1",
        lambda c, v: data.batches((np.zeros(4),), 2, shuffle=v),
    ),
    C(
        "batches",
        "seed",
        None,
        ValueError,
        r"seed is required when shuffle=True",
        lambda c, v: data.batches((np.zeros(4),), 2, shuffle=True, seed=v),
    ),
    C(
        "batches",
        "seed",
        -2,
        ValueError,
        r"seed must be >= 0, got -2",
        lambda c, v: data.batches((np.zeros(4),), 2, shuffle=True, seed=v),
    ),
    C(
        "batches",
        "epoch",
        -1,
        ValueError,
        r"epoch must be >= 0, got -1",
        lambda c, v: data.batches((np.zeros(4),), 2, shuffle=False, epoch=v),
    ),
    C(
        "batches",
        "drop_last",
        "no",
        TypeError,
        r"drop_last must be a bool .*got str 'no'",
        lambda c, v: data.batches((np.zeros(4),), 2, shuffle=False, drop_last=v),
    ),
    C(
        "holdout_split",
        "fraction",
        0.0,
        ValueError,
        r"fraction must lie in \(0, 1\), got 0\.0",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), v),
    ),
    C(
        "holdout_split",
        "fraction",
        F("nan"),
        ValueError,
        r"fraction must lie in \(0, 1\), got nan",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), v),
    ),
    C(
        "holdout_split",
        "fraction",
        "0.5",
        TypeError,
        r"fraction must be a real number .*got str '0\.5'",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), v),
    ),
    C(
        "holdout_split",
        "fraction",
        True,
        TypeError,
        r"fraction must be a real number .*got bool True",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), v),
    ),
    C(
        "holdout_split",
        "fraction",
        0.01,
        ValueError,
        r"fraction=0\.01 of n=10 examples holds out 0, leaving no held-out",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), v),
    ),
    C(
        "holdout_split",
        "x",
        np.float32(3),
        ValueError,
        r"x must have a leading example axis, got shape \(\)",
        lambda c, v: data.holdout_split(v, np.zeros(10), 0.5),
    ),
    C(
        "holdout_split",
        "x",
        np.zeros(9),
        ValueError,
        r"x and y must have the same length, got 9 and 10",
        lambda c, v: data.holdout_split(v, np.zeros(10), 0.5),
    ),
    C(
        "holdout_split",
        "seed",
        -1,
        ValueError,
        r"seed must be >= 0, got -1",
        lambda c, v: data.holdout_split(np.zeros(10), np.zeros(10), 0.5, seed=v),
    ),
    # ---- idx
    C(
        "read_idx",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike path, got NoneType None",
        lambda c, v: data.read_idx(v),
    ),
    C("read_idx", "path", "", ValueError, r"path must be a non-empty path", lambda c, v: data.read_idx(v)),
    C(
        "read_idx",
        "expected_sha256",
        123,
        TypeError,
        r"expected_sha256 must be a str of 64 hex digits or None, got int 123",
        lambda c, v: data.read_idx(c.mnist / "train-images-idx3-ubyte.gz", expected_sha256=v),
    ),
    C(
        "read_idx",
        "expected_sha256",
        "abc",
        ValueError,
        r"expected_sha256 must be 64 hex digits, got 'abc'",
        lambda c, v: data.read_idx(c.mnist / "train-images-idx3-ubyte.gz", expected_sha256=v),
    ),
    C(
        "write_idx",
        "array",
        np.zeros(3, np.complex64),
        TypeError,
        r"array has dtype complex64, which IDX cannot store",
        lambda c, v: data.write_idx(c.missing.parent / "w.idx", v),
    ),
    C(
        "write_idx",
        "array",
        np.zeros(3, bool),
        TypeError,
        r"array has dtype bool, which IDX cannot store",
        lambda c, v: data.write_idx(c.missing.parent / "w.idx", v),
    ),
    C(
        "write_idx",
        "array",
        np.zeros(3, np.int64),
        TypeError,
        r"array has dtype int64, which IDX cannot store",
        lambda c, v: data.write_idx(c.missing.parent / "w.idx", v),
    ),
    C(
        "write_idx",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike path",
        lambda c, v: data.write_idx(v, np.zeros(3, np.uint8)),
    ),
    C(
        "sha256_file",
        "path",
        3,
        TypeError,
        r"path must be a str or os\.PathLike path, got int 3",
        lambda c, v: data.sha256_file(v),
    ),
    C(
        "read_sha256sums",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike path",
        lambda c, v: data.read_sha256sums(v),
    ),
    C(
        "write_sha256sums",
        "files",
        3,
        TypeError,
        r"files must be a file name or an iterable of file names, got int 3",
        lambda c, v: data.write_sha256sums(c.mnist, v),
    ),
    C(
        "write_sha256sums",
        "files",
        [],
        ValueError,
        r"files must name at least one file",
        lambda c, v: data.write_sha256sums(c.mnist, v),
    ),
    C(
        "write_sha256sums",
        "files",
        [None],
        TypeError,
        r"files\[0\] must be a file name \(str\), got NoneType None",
        lambda c, v: data.write_sha256sums(c.mnist, v),
    ),
    C(
        "verify_checksums",
        "files",
        [],
        ValueError,
        r"files must name at least one file",
        lambda c, v: data.verify_checksums(c.mnist, v),
    ),
    C(
        "verify_checksums",
        "files",
        7,
        TypeError,
        r"files must be a file name or an iterable",
        lambda c, v: data.verify_checksums(c.mnist, v),
    ),
    C(
        "verify_checksums",
        "directory",
        None,
        TypeError,
        r"directory must be a str or os\.PathLike path",
        lambda c, v: data.verify_checksums(v),
    ),
    # ---- datasets (MNIST family)
    C(
        "load_mnist",
        "data_dir",
        None,
        TypeError,
        r"data_dir must be a str or os\.PathLike path, got NoneType None",
        lambda c, v: data.load_mnist(v),
    ),
    C(
        "load_mnist",
        "split",
        "val",
        ValueError,
        r"split must be one of \('train', 'test'\), got 'val'",
        lambda c, v: data.load_mnist(c.mnist, v),
    ),
    C(
        "load_mnist",
        "verify",
        1,
        TypeError,
        r"verify must be a bool \(True/False\), got int 1",
        lambda c, v: data.load_mnist(c.mnist, verify=v),
    ),
    C(
        "load_fashion_mnist",
        "split",
        None,
        ValueError,
        r"split must be one of \('train', 'test'\), got None",
        lambda c, v: data.load_fashion_mnist(c.mnist, v),
    ),
    C(
        "load_emnist",
        "subset",
        "foo",
        ValueError,
        r"subset must be one of \('byclass', .*'mnist'\), got 'foo'",
        lambda c, v: data.load_emnist(c.mnist, "train", v),
    ),
    C(
        "load_idx_dataset",
        "images_file",
        None,
        TypeError,
        r"images_file must be a file name \(str\), got NoneType None",
        lambda c, v: data.load_idx_dataset(c.mnist, v, "x", verify=False),
    ),
    C(
        "load_idx_dataset",
        "labels_file",
        3,
        TypeError,
        r"labels_file must be a file name \(str\), got int 3",
        lambda c, v: data.load_idx_dataset(c.mnist, "x", v, verify=False),
    ),
    C(
        "load_idx_dataset",
        "verify",
        "yes",
        TypeError,
        r"verify must be a bool .*got str 'yes'",
        lambda c, v: data.load_idx_dataset(c.mnist, "a", "b", verify=v),
    ),
    C(
        "mnist_files",
        "split",
        "valid",
        ValueError,
        r"split must be one of \('train', 'test'\)",
        lambda c, v: data.mnist_files(v),
    ),
    C(
        "emnist_files",
        "subset",
        3,
        ValueError,
        r"subset must be one of .*got 3",
        lambda c, v: data.emnist_files("train", v),
    ),
    # ---- CIFAR
    C(
        "load_cifar10",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike, got NoneType None",
        lambda c, v: data.load_cifar10(v),
    ),
    C(
        "load_cifar10",
        "split",
        "val",
        ValueError,
        r"split must be one of \('train', 'test'\), got 'val'",
        lambda c, v: data.load_cifar10(c.c10, v),
    ),
    C(
        "load_cifar10",
        "verify",
        1,
        TypeError,
        r"verify must be a bool .*got int 1",
        lambda c, v: data.load_cifar10(c.c10, verify=v),
    ),
    C(
        "load_cifar100",
        "label_mode",
        "medium",
        ValueError,
        r"label_mode must be one of \('fine', 'coarse'\), got 'medium'",
        lambda c, v: data.load_cifar100(c.c100, label_mode=v),
    ),
    C(
        "load_cifar100",
        "split",
        ["train"],
        ValueError,
        r"split must be one of .*got \['train'\]",
        lambda c, v: data.load_cifar100(c.c100, v),
    ),
    C(
        "cifar100_labels",
        "verify",
        "no",
        TypeError,
        r"verify must be a bool .*got str 'no'",
        lambda c, v: data.cifar100_labels(c.c100, verify=v),
    ),
    C(
        "cifar_class_names",
        "dataset",
        "cifar5",
        ValueError,
        r"dataset must be one of \('cifar10', 'cifar100'\), got 'cifar5'",
        lambda c, v: data.cifar_class_names(c.c10, v),
    ),
    C(
        "cifar_class_names",
        "label_mode",
        "coarse",
        ValueError,
        r"label_mode for cifar10 must be one of \('fine',\), got 'coarse'",
        lambda c, v: data.cifar_class_names(c.c10, "cifar10", label_mode=v),
    ),
    C(
        "cifar_files",
        "split",
        "dev",
        ValueError,
        r"split must be one of \('train', 'test'\), got 'dev'",
        lambda c, v: data.cifar_files("cifar10", v),
    ),
    # ---- DVS: events_to_frames
    C("events_to_frames", "T", 0, ValueError, r"T must be a positive int, got 0", lambda c, v: _frames(T=v)),
    C("events_to_frames", "T", 2.0, TypeError, r"T must be a positive int, got float 2\.0", lambda c, v: _frames(T=v)),
    C("events_to_frames", "T", True, TypeError, r"T must be a positive int, got bool True", lambda c, v: _frames(T=v)),
    C(
        "events_to_frames",
        "split_by",
        "frames",
        ValueError,
        r"split_by must be one of \('number', 'time'\), got 'frames'",
        lambda c, v: _frames(split_by=v),
    ),
    C(
        "events_to_frames",
        "height",
        0,
        ValueError,
        r"height must be a positive int, got 0",
        lambda c, v: _frames(height=v),
    ),
    C(
        "events_to_frames",
        "width",
        "8",
        TypeError,
        r"width must be a positive int, got str '8'",
        lambda c, v: _frames(width=v),
    ),
    C(
        "events_to_frames",
        "size",
        (4,),
        ValueError,
        r"size must be None, a positive int or a \(height, width\) pair .*length 1",
        lambda c, v: _frames(size=v),
    ),
    C(
        "events_to_frames",
        "size",
        4.5,
        TypeError,
        r"size must be None, a positive int .*got float 4\.5",
        lambda c, v: _frames(size=v),
    ),
    C(
        "events_to_frames",
        "size",
        (4, -1),
        ValueError,
        r"size must be None, .*got \(4, -1\)",
        lambda c, v: _frames(size=v),
    ),
    C(
        "events_to_frames",
        "size",
        16,
        ValueError,
        r"size must not exceed the sensor size \(8, 8\)",
        lambda c, v: _frames(size=v),
    ),
    C(
        "events_to_frames",
        "events",
        None,
        ValueError,
        r"events must be a structured array with fields t, x, y, p .*got NoneType None",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        {"t": [1]},
        ValueError,
        r"events must have keys t, x, y, p; missing \['x', 'y', 'p'\]",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(t=[1.5, 2.0]),
        TypeError,
        r"events field 't' must hold integers, got dtype float64",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(x=[True, False]),
        TypeError,
        r"events field 'x' must hold integers, got dtype bool",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(p=[0.5, F("nan")]),
        TypeError,
        r"events field 'p' must hold integers or bools",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(t=np.array([2**63 + 5, 1], np.uint64)),
        ValueError,
        r"events field 't' holds 9223372036854775813, which does not fit int64",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(x=[1, 8]),
        ValueError,
        r"events x must be in \[0, 8\) \(width=8\), got values in \[1, 8\]",
        lambda c, v: _frames(v),
    ),
    C(
        "events_to_frames",
        "events",
        _ev(t=[1, 2, 3]),
        ValueError,
        r"events fields must be 1-D and of equal length",
        lambda c, v: _frames(v),
    ),
    # ---- DVS: readers and loaders
    C(
        "read_aedat3",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike path",
        lambda c, v: dvs.read_aedat3(v),
    ),
    C(
        "read_aedat3",
        "valid_only",
        1,
        TypeError,
        r"valid_only must be a bool .*got int 1",
        lambda c, v: dvs.read_aedat3(c.gesture / "user01_lab.aedat", valid_only=v),
    ),
    C(
        "read_aedat2_raw",
        "path",
        3,
        TypeError,
        r"path must be a str or os\.PathLike path, got int 3",
        lambda c, v: dvs.read_aedat2_raw(v),
    ),
    C(
        "read_cifar10_dvs_file",
        "path",
        b"x.aedat",
        TypeError,
        r"path must be a str or os\.PathLike path, got bytes",
        lambda c, v: dvs.read_cifar10_dvs_file(v),
    ),
    C(
        "read_dvs_gesture_labels",
        "path",
        None,
        TypeError,
        r"path must be a str or os\.PathLike path",
        lambda c, v: dvs.read_dvs_gesture_labels(v),
    ),
    C(
        "dvs_gesture_trials",
        "split",
        "val",
        ValueError,
        r"split must be one of \('train', 'test'\), got 'val'",
        lambda c, v: dvs.dvs_gesture_trials(c.gesture, v),
    ),
    C(
        "dvs_gesture_trials",
        "root",
        None,
        TypeError,
        r"root must be a str or os\.PathLike path",
        lambda c, v: dvs.dvs_gesture_trials(v, "train"),
    ),
    C(
        "iter_dvs_gesture_samples",
        "verify",
        1,
        TypeError,
        r"verify must be a bool .*got int 1",
        lambda c, v: dvs.iter_dvs_gesture_samples(c.gesture, "train", verify=v),
    ),
    C(
        "load_dvs_gesture",
        "T",
        -1,
        ValueError,
        r"T must be a positive int, got -1",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=v),
    ),
    C(
        "load_dvs_gesture",
        "T",
        "4",
        TypeError,
        r"T must be a positive int, got str '4'",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=v),
    ),
    C(
        "load_dvs_gesture",
        "split",
        "all",
        ValueError,
        r"split must be one of \('train', 'test'\), got 'all'",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, v, T=2),
    ),
    C(
        "load_dvs_gesture",
        "size",
        0,
        ValueError,
        r"size must be None, a positive int .*got 0",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=2, size=v),
    ),
    C(
        "load_dvs_gesture",
        "size",
        256,
        ValueError,
        r"size must not exceed the sensor size \(128, 128\)",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=2, size=v),
    ),
    C(
        "load_dvs_gesture",
        "verify",
        None,
        TypeError,
        r"verify must be a bool .*got NoneType None",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=2, verify=v),
    ),
    C(
        "load_dvs_gesture",
        "cache_dir",
        3,
        TypeError,
        r"cache_dir must be a str or os\.PathLike path, got int 3",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=2, cache_dir=v),
    ),
    C(
        "load_dvs_gesture",
        "cache_dir",
        "<a file>",
        ValueError,
        r"cache_dir .*afile\.txt exists and is not a directory",
        lambda c, v: dvs.load_dvs_gesture(c.gesture, "train", T=2, cache_dir=c.afile),
    ),
    C(
        "load_dvs_gesture",
        "root",
        None,
        TypeError,
        r"root must be a str or os\.PathLike path",
        lambda c, v: dvs.load_dvs_gesture(v, "train", T=2),
    ),
    C(
        "cifar10_dvs_split",
        "train_ratio",
        1.0,
        ValueError,
        r"train_ratio must be a float in \(0, 1\), got 1\.0",
        lambda c, v: dvs.cifar10_dvs_split(c.cdvs, "train", train_ratio=v),
    ),
    C(
        "cifar10_dvs_split",
        "train_ratio",
        F("nan"),
        ValueError,
        r"train_ratio must be a float in \(0, 1\), got nan",
        lambda c, v: dvs.cifar10_dvs_split(c.cdvs, "train", train_ratio=v),
    ),
    C(
        "cifar10_dvs_split",
        "train_ratio",
        "0.9",
        TypeError,
        r"train_ratio must be a float in \(0, 1\), got str '0\.9'",
        lambda c, v: dvs.cifar10_dvs_split(c.cdvs, "train", train_ratio=v),
    ),
    C(
        "cifar10_dvs_split",
        "train_ratio",
        0.9,
        ValueError,
        r"the 'test' split of .* would hold no airplane file: "
        r".* has 2 \.aedat files and train_ratio=0\.9",
        lambda c, v: dvs.cifar10_dvs_split(c.cdvs, "test", train_ratio=v),
    ),
    C(
        "cifar10_dvs_split",
        "root",
        None,
        TypeError,
        r"root must be a str or os\.PathLike path",
        lambda c, v: dvs.cifar10_dvs_split(v, "train"),
    ),
    C(
        "load_cifar10_dvs",
        "train_ratio",
        True,
        TypeError,
        r"train_ratio must be a float in \(0, 1\), got bool True",
        lambda c, v: dvs.load_cifar10_dvs(c.cdvs, "train", T=2, train_ratio=v),
    ),
    C(
        "load_cifar10_dvs",
        "split_by",
        "count",
        ValueError,
        r"split_by must be one of \('number', 'time'\), got 'count'",
        lambda c, v: dvs.load_cifar10_dvs(c.cdvs, "train", T=2, split_by=v),
    ),
    C(
        "load_cifar10_dvs",
        "T",
        0,
        ValueError,
        r"T must be a positive int, got 0",
        lambda c, v: dvs.load_cifar10_dvs(c.cdvs, "train", T=v),
    ),
    C(
        "load_cifar10_dvs",
        "cache_dir",
        "<a file>",
        ValueError,
        r"cache_dir .*afile\.txt exists and is not a directory",
        lambda c, v: dvs.load_cifar10_dvs(c.cdvs, "train", T=2, train_ratio=0.5, cache_dir=c.afile),
    ),
]


def _case_id(case: Case) -> str:
    scalar = isinstance(case.bad, (int, float, str, type(None)))
    bad = case.bad if scalar else type(case.bad).__name__
    return f"{case.entry}-{case.arg}-{bad!r}"


def _check_message(msg: str, arg: str, pattern: str) -> None:
    assert re.search(pattern, msg, re.S), f"message {msg!r} does not match {pattern!r}"
    named = re.search(rf"(?<![\w]){re.escape(arg)}(?![\w])", msg)
    assert named, f"message {msg!r} does not name {arg!r}"


@pytest.mark.parametrize("case", ARG_CASES, ids=[_case_id(c) for c in ARG_CASES])
def test_bad_argument(case: Case, ctx: Ctx):
    with pytest.raises(case.exc) as info:
        case.call(ctx, case.bad)
    assert type(info.value) is case.exc, f"{type(info.value).__name__}: {info.value}"
    _check_message(str(info.value), case.arg, case.pattern)


# --------------------------------------------------------------------------- TFDS arguments

TFDS_CASES = [
    C(
        "build_and_load",
        "name",
        "mnistx",
        ValueError,
        r"name must be one of \('mnist', .*got 'mnistx'",
        lambda t, c, v: t.build_and_load(v, c.mnist, c.missing),
    ),
    C(
        "build_and_load",
        "name",
        None,
        TypeError,
        r"name must be a str, got NoneType None",
        lambda t, c, v: t.build_and_load(v, c.mnist, c.missing),
    ),
    C(
        "build_and_load",
        "subset",
        "emnist/foo",
        ValueError,
        r"EMNIST subset must be one of .*got 'foo'",
        lambda t, c, v: t.build_and_load(v, c.mnist, c.missing),
    ),
    C(
        "build_and_load",
        "overwrite",
        1,
        TypeError,
        r"overwrite must be a bool .*got int 1",
        lambda t, c, v: t.build_and_load("mnist", c.mnist, c.missing, overwrite=v),
    ),
    C(
        "build_and_load",
        "split",
        3,
        TypeError,
        r"split must be a str .*or None, got int 3",
        lambda t, c, v: t.build_and_load("mnist", c.mnist, c.missing, split=v),
    ),
    C(
        "build_and_load",
        "split",
        "validation",
        ValueError,
        r"split must be None or a split expression over \('train', 'test', 'all'\).*got 'validation'",
        lambda t, c, v: t.build_and_load("mnist", c.mnist, c.missing, split=v),
    ),
    C(
        "build_and_load",
        "data_dir_idx",
        None,
        TypeError,
        r"data_dir_idx must be a str or os\.PathLike path",
        lambda t, c, v: t.build_and_load("mnist", v, c.missing),
    ),
    C(
        "build_and_load",
        "tfds_data_dir",
        None,
        TypeError,
        r"tfds_data_dir must be a str or os\.PathLike path",
        lambda t, c, v: t.build_and_load("mnist", c.mnist, v),
    ),
    C(
        "build",
        "tfds_data_dir",
        "<a file>",
        ValueError,
        r"tfds_data_dir .*afile\.txt exists and is not a directory",
        lambda t, c, v: t.build("mnist", c.mnist, c.afile),
    ),
    C(
        "build",
        "data_dir_idx",
        None,
        TypeError,
        r"data_dir_idx must be a str or os\.PathLike path",
        lambda t, c, v: t.build("cifar10", v, c.missing),
    ),
    C(
        "to_numpy",
        "source",
        None,
        TypeError,
        r"source must be a data source of one split .*got NoneType None",
        lambda t, c, v: t.to_numpy(v),
    ),
    C(
        "to_numpy",
        "source",
        {"train": []},
        TypeError,
        r"takes the data source of one split, got a dict of splits",
        lambda t, c, v: t.to_numpy(v),
    ),
    C("to_numpy", "source", [], ValueError, r"source is empty \(0 records\)", lambda t, c, v: t.to_numpy(v)),
    C(
        "to_numpy",
        "batch_size",
        0,
        ValueError,
        r"batch_size must be >= 1, got 0",
        lambda t, c, v: t.to_numpy([REC], batch_size=v),
    ),
    C(
        "to_numpy",
        "batch_size",
        2.0,
        TypeError,
        r"batch_size must be an int, got float 2\.0",
        lambda t, c, v: t.to_numpy([REC], batch_size=v),
    ),
    C(
        "to_numpy",
        "label_dtype",
        np.float32,
        TypeError,
        r"label_dtype must be None or an integer dtype .*got float32",
        lambda t, c, v: t.to_numpy([REC], label_dtype=v),
    ),
    C(
        "to_numpy",
        "label_dtype",
        "nonsense",
        TypeError,
        r"label_dtype must be None or an integer dtype, got 'nonsense'",
        lambda t, c, v: t.to_numpy([REC], label_dtype=v),
    ),
    C(
        "to_numpy",
        "label_key",
        3,
        TypeError,
        r"label_key must be a str, got int 3",
        lambda t, c, v: t.to_numpy([REC], label_key=v),
    ),
    C(
        "to_numpy",
        "progress",
        3,
        TypeError,
        r"progress must be callable \(done, total\) or None, got int 3",
        lambda t, c, v: t.to_numpy([REC], progress=v),
    ),
    C(
        "to_numpy",
        "record",
        7,
        ValueError,
        r"record 0: expected a mapping with an 'image' feature",
        lambda t, c, v: t.to_numpy([v]),
    ),
    C(
        "to_numpy",
        "label",
        3.7,
        ValueError,
        r"record 0: 'label' must be an integer class index, got float 3\.7",
        lambda t, c, v: t.to_numpy([{**REC, "label": v}]),
    ),
    C(
        "to_numpy",
        "label",
        True,
        ValueError,
        r"record 1: 'label' must be an integer class index, got bool True",
        lambda t, c, v: t.to_numpy([REC, {**REC, "label": v}]),
    ),
    C(
        "to_numpy",
        "labels",
        300,
        ValueError,
        r"labels range 3\.\.300 does not fit uint8; pass label_dtype",
        lambda t, c, v: t.to_numpy([REC, {**REC, "label": v}]),
    ),
    C(
        "to_numpy",
        "image",
        np.zeros((28, 28, 1), np.float32),
        ValueError,
        r"record 0: expected a uint8 \[H, W, C\] image",
        lambda t, c, v: t.to_numpy([{**REC, "image": v}]),
    ),
]


@pytest.mark.parametrize("case", TFDS_CASES, ids=[_case_id(c) for c in TFDS_CASES])
def test_bad_tfds_argument(case: Case, ctx: Ctx):
    snn_tfds = _tfds()
    with pytest.raises(case.exc) as info:
        case.call(snn_tfds, ctx, case.bad)
    assert type(info.value) is case.exc, f"{type(info.value).__name__}: {info.value}"
    _check_message(str(info.value), case.arg, case.pattern)
    assert not ctx.missing.exists(), "a bad argument made TFDS write something"


# --------------------------------------------------------------------------- files

FILE_CASES: dict[str, Callable] = {}


def file_case(fn):
    """Register ``fn(tmp_path, ctx) -> (call, error class, path to name, problem regex)``."""
    FILE_CASES[fn.__name__] = fn
    return fn


def _copy(src: Path, tmp: Path) -> Path:
    dst = tmp / src.parent.name / src.name
    shutil.copytree(src, dst)
    return dst


def _images_idx(n=2, shape=(28, 28)) -> bytes:
    return idx_bytes(0x08, (n, *shape), bytes(n * int(np.prod(shape))))


# ---- IDX / MNIST family


@file_case
def idx_missing_file(tmp, c):
    path = tmp / "absent-idx3-ubyte.gz"
    return lambda: data.read_idx(path), FileNotFoundError, path, r"IDX file not found"


@file_case
def idx_truncated_gz(tmp, c):
    path = tmp / "t-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_images_idx())[:-9])
    return (lambda: data.read_idx(path), ValueError, path, r"is not a valid gzip file \(truncated or corrupted\)")


@file_case
def idx_corrupted_gz_crc(tmp, c):
    raw = bytearray(gzip.compress(_images_idx()))
    raw[-6] ^= 0xFF  # the CRC32 in the trailer
    path = tmp / "crc-idx3-ubyte.gz"
    path.write_bytes(bytes(raw))
    return lambda: data.read_idx(path), ValueError, path, r"not a valid gzip file .*CRC"


@file_case
def idx_bad_magic(tmp, c):
    path = put(tmp / "magic-idx3-ubyte", b"\x00\x01\x08\x03" + b"\x00" * 20, gz=False)
    return (lambda: data.read_idx(path), ValueError, path, r"is not an IDX file: bad magic number 0x00010803")


@file_case
def idx_short_payload(tmp, c):
    path = put(tmp / "short-idx3-ubyte.gz", _images_idx()[:-100], gz=True)
    return (lambda: data.read_idx(path), ValueError, path, r"is truncated: header says shape \(2, 28, 28\)")


@file_case
def idx_trailing_bytes(tmp, c):
    path = put(tmp / "long-idx3-ubyte", _images_idx() + b"\x00", gz=False)
    return lambda: data.read_idx(path), ValueError, path, r"is corrupted: .* but 1569 bytes follow"


@file_case
def idx_huge_header(tmp, c):
    # dimensions whose product overflows int64: must still read as "truncated", not wrap around
    path = put(tmp / "huge-idx3-ubyte", b"\x00\x00\x08\x03" + b"\xff" * 12, gz=False)
    return (lambda: data.read_idx(path), ValueError, path, r"is truncated: header says shape \(4294967295, ")


@file_case
def idx_checksum_mismatch(tmp, c):
    d = _copy(c.mnist, tmp)
    path = d / "train-labels-idx1-ubyte.gz"
    put(path, idx_bytes(0x08, (3,), b"\x01\x02\x03"), gz=True)
    return (lambda: data.load_mnist(d), ValueError, path, r"checksum mismatch for .*expected sha256 [0-9a-f]{64}, got")


@file_case
def idx_count_mismatch(tmp, c):
    d = tmp / "m"
    make_mnist_like(d, "train", np.zeros((3, 28, 28)), np.zeros(2))
    return (
        lambda: data.load_mnist(d),
        ValueError,
        d / "train-images-idx3-ubyte.gz",
        r"has shape \(3, 28, 28\) but .*train-labels-idx1-ubyte\.gz holds 2 labels",
    )


@file_case
def idx_zero_examples(tmp, c):
    d = tmp / "m"
    make_mnist_like(d, "train", np.zeros((0, 28, 28)), np.zeros(0))
    return (lambda: data.load_mnist(d), ValueError, d / "train-images-idx3-ubyte.gz", r"hold 0 examples")


@file_case
def idx_label_out_of_range(tmp, c):
    d = tmp / "m"
    make_mnist_like(d, "train", np.zeros((2, 28, 28)), np.array([3, 10]))
    return (
        lambda: data.load_mnist(d),
        ValueError,
        d / "train-labels-idx1-ubyte.gz",
        r"should hold labels in 0\.\.9, got 3\.\.10",
    )


@file_case
def idx_wrong_image_size(tmp, c):
    d = tmp / "m"
    make_mnist_like(d, "train", np.zeros((2, 32, 32)), np.array([3, 1]))
    return (
        lambda: data.load_fashion_mnist(d),
        ValueError,
        d / "train-images-idx3-ubyte.gz",
        r"should hold uint8 images \[N, 28, 28\], got uint8 \(2, 32, 32\)",
    )


@file_case
def idx_missing_directory(tmp, c):
    path = tmp / "no-mnist-here"
    return (
        lambda: data.load_mnist(path),
        FileNotFoundError,
        path,
        r"data directory not found: .*expected it to contain train-images-idx3-ubyte\.gz, "
        r"train-labels-idx1-ubyte\.gz, SHA256SUMS",
    )


@file_case
def idx_missing_labels_file(tmp, c):
    d = _copy(c.mnist, tmp)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    return (lambda: data.load_mnist(d, "test"), FileNotFoundError, d, r"missing in .*: t10k-labels-idx1-ubyte\.gz")


@file_case
def idx_no_sha256sums(tmp, c):
    d = _copy(c.mnist, tmp)
    (d / "SHA256SUMS").unlink()
    return (
        lambda: data.load_mnist(d),
        FileNotFoundError,
        d / "SHA256SUMS",
        r"verify=True but .* does not exist; create it with .*sha256sum.* or pass verify=False",
    )


@file_case
def sums_malformed_line(tmp, c):
    path = tmp / "SHA256SUMS"
    path.write_text("deadbeef  train-images-idx3-ubyte.gz\n")
    return (lambda: data.read_sha256sums(path), ValueError, path, r", line 1: expected '<64 hex digits>  <file name>'")


@file_case
def sums_binary(tmp, c):
    path = tmp / "SHA256SUMS"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    return (lambda: data.verify_checksums(tmp), ValueError, path, r"is not a text file .*not valid UTF-8")


@file_case
def sums_empty(tmp, c):
    (tmp / "SHA256SUMS").write_text("# nothing here\n")
    return (
        lambda: data.verify_checksums(tmp),
        ValueError,
        tmp / "SHA256SUMS",
        r"lists no files, so nothing would be checked",
    )


@file_case
def sums_no_entry(tmp, c):
    d = _copy(c.mnist, tmp)
    return (
        lambda: data.verify_checksums(d, ["other.gz"]),
        ValueError,
        d / "SHA256SUMS",
        r"has no entry for 'other\.gz'",
    )


@file_case
def write_idx_missing_directory(tmp, c):
    path = tmp / "nodir" / "x-idx1-ubyte"
    return (
        lambda: data.write_idx(path, np.zeros(3, np.uint8)),
        FileNotFoundError,
        path,
        r"cannot write .*: directory .*nodir does not exist",
    )


# ---- CIFAR


@file_case
def cifar_missing_path(tmp, c):
    path = tmp / "cifar-10-batches-py"
    return (
        lambda: data.load_cifar10(path),
        FileNotFoundError,
        path,
        r"CIFAR-10 path not found: .*expected the cifar-10-batches-py folder",
    )


@file_case
def cifar_empty_directory(tmp, c):
    return (
        lambda: data.load_cifar10(tmp),
        FileNotFoundError,
        tmp,
        r"no CIFAR-10 data in .*download the python version from "
        r"https://www\.cs\.toronto\.edu/~kriz/cifar\.html",
    )


@file_case
def cifar_missing_batch(tmp, c):
    d = _copy(c.c10, tmp)
    (d / "data_batch_3").unlink()
    return lambda: data.load_cifar10(d), FileNotFoundError, d, r"missing in .*: data_batch_3"


@file_case
def cifar_checksum_mismatch(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(path.read_bytes() + b"\x00")
    return (lambda: data.load_cifar10(d, "test"), ValueError, path, r"checksum mismatch for .*expected sha256")


@file_case
def cifar_truncated_pickle(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(path.read_bytes()[:5000])
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"is not a valid CIFAR pickle \(truncated or corrupted\)",
    )


@file_case
def cifar_empty_file(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(b"")
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"is not a valid CIFAR pickle .*EOFError",
    )


@file_case
def cifar_garbage_file(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(bytes(range(256)))  # opcode 0x00 is no pickle opcode
    return (lambda: data.load_cifar10(d, "test", verify=False), ValueError, path, r"is not a valid CIFAR pickle")


@file_case
def cifar_not_a_dict(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(py2_pickle([1, 2, 3]))
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"should hold a pickled dict, got list",
    )


@file_case
def cifar_forbidden_global(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(b"cos\nsystem\n(S'true'\ntR.")  # protocol 0: os.system("true")
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"refusing to unpickle .*references the global os\.system",
    )


@file_case
def cifar_wrong_columns(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(py2_pickle({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}))
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"'data' should have 3072 columns .*got shape \(2, 1024\)",
    )


@file_case
def cifar_label_count_mismatch(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(py2_pickle({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}))
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"'labels' has 2 labels but 'data' has 3 rows",
    )


@file_case
def cifar_float_labels(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.5, 2.0]}))
    return (
        lambda: data.load_cifar10(d, "test", verify=False),
        ValueError,
        path,
        r"'labels' should be a list of ints, got float64",
    )


@file_case
def cifar_zero_rows(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "test_batch"
    path.write_bytes(py2_pickle({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))
    return (lambda: data.load_cifar10(d, "test", verify=False), ValueError, path, r"'data' has 0 rows")


@file_case
def cifar100_coarse_out_of_range(tmp, c):
    d = _copy(c.c100, tmp)
    path = d / "test"
    rows = np.zeros((2, 3072), np.uint8)
    batch = {b"data": rows, b"fine_labels": [0, 99], b"coarse_labels": [0, 20]}
    path.write_bytes(py2_pickle(batch))
    return (
        lambda: data.cifar100_labels(d, "test", verify=False),
        ValueError,
        path,
        r"'coarse_labels' should be in 0\.\.19, got 0\.\.20",
    )


@file_case
def cifar_bad_meta(tmp, c):
    d = _copy(c.c10, tmp)
    path = d / "batches.meta"
    path.write_bytes(py2_pickle({b"label_names": [b"cat"] * 3}))
    return (
        lambda: data.cifar_class_names(d, "cifar10", verify=False),
        ValueError,
        path,
        r"'label_names' should hold 10 class names, got 3",
    )


@file_case
def cifar_truncated_archive(tmp, c):
    arc = make_archive(c.c10, tmp / "cifar-10-python.tar.gz", sums=False)
    arc.write_bytes(arc.read_bytes()[:-200])
    return (
        lambda: data.load_cifar10(arc, verify=False),
        ValueError,
        arc,
        r"is not a valid cifar-10-python\.tar\.gz archive \(truncated or corrupted\)",
    )


@file_case
def cifar_corrupted_archive_crc(tmp, c):
    arc = make_archive(c.c10, tmp / "cifar-10-python.tar.gz", sums=False)
    raw = bytearray(arc.read_bytes())
    raw[-7] ^= 0xFF  # gzip trailer: CRC32; tarfile alone would not notice
    arc.write_bytes(bytes(raw))
    return (
        lambda: data.load_cifar10(arc, "test", verify=False),
        ValueError,
        arc,
        r"archive \(truncated or corrupted\).*CRC",
    )


@file_case
def cifar_archive_checksum(tmp, c):
    arc = make_archive(c.c10, tmp / "cifar-10-python.tar.gz", sums=True)
    arc.write_bytes(arc.read_bytes() + b"\x00")
    return (lambda: data.load_cifar10(arc), ValueError, arc, r"checksum mismatch for .*expected sha256")


@file_case
def cifar_archive_missing_member(tmp, c):
    d = _copy(c.c10, tmp / "src")
    (d / "data_batch_2").unlink()
    arc = make_archive(d, tmp / "cifar-10-python.tar.gz", sums=False)
    return (
        lambda: data.load_cifar10(arc, verify=False),
        FileNotFoundError,
        arc,
        r"has no member cifar-10-batches-py/data_batch_2",
    )


# ---- AEDAT / DVS128 Gesture / CIFAR10-DVS


@file_case
def aedat3_missing(tmp, c):
    path = tmp / "user01_lab.aedat"
    return lambda: dvs.read_aedat3(path), FileNotFoundError, path, r"AEDAT 3 file not found"


@file_case
def aedat3_header_truncated(tmp, c):
    path = tmp / "h.aedat"
    path.write_bytes(AEDAT3_HEADER[:30])
    return (
        lambda: dvs.read_aedat3(path),
        ValueError,
        path,
        r"not a valid AEDAT 3 file: the header has no '#!END-HEADER'",
    )


@file_case
def aedat3_packet_truncated(tmp, c):
    path = write_aedat3(tmp / "p.aedat", [packet([(1, 2, 1, 10, 1), (3, 4, 0, 20, 1)])])
    path.write_bytes(path.read_bytes()[:-5])
    return (lambda: dvs.read_aedat3(path), ValueError, path, r"is truncated: packet at byte \d+ claims 2 events")


@file_case
def aedat3_header_cut(tmp, c):
    path = write_aedat3(tmp / "p.aedat", [packet([(1, 2, 1, 10, 1)])])
    path.write_bytes(path.read_bytes() + b"\x01\x00\x01")  # 3 bytes of a next packet header
    return (
        lambda: dvs.read_aedat3(path),
        ValueError,
        path,
        r"is truncated: a packet header at byte \d+ needs 28 bytes",
    )


@file_case
def aedat3_inconsistent_packet(tmp, c):
    path = write_aedat3(tmp / "p.aedat", [packet([(1, 2, 1, 10, 1)], number=5, capacity=1)])
    return (lambda: dvs.read_aedat3(path), ValueError, path, r"is corrupted: packet at byte \d+ .*eventNumber=5")


@file_case
def aedat3_given_aedat2(tmp, c):
    path = write_aedat2(tmp / "v2.aedat", [(cifar_address(1, 2, 1), 5)])
    return lambda: dvs.read_aedat3(path), ValueError, path, r"is AEDAT 2\.0, expected AEDAT 3\.x"


@file_case
def aedat2_odd_words(tmp, c):
    path = write_aedat2(tmp / "o.aedat", [(cifar_address(1, 2, 1), 5)])
    path.write_bytes(path.read_bytes() + b"\x00\x00\x00\x07")
    return (
        lambda: dvs.read_aedat2_raw(path),
        ValueError,
        path,
        r"is truncated or corrupted: 12 data bytes .*odd number \(3\)",
    )


@file_case
def aedat2_empty_file(tmp, c):
    path = tmp / "e.aedat"
    path.write_bytes(b"")
    return lambda: dvs.read_cifar10_dvs_file(path), ValueError, path, r"is empty \(0 bytes\)"


@file_case
def aedat2_given_aedat3(tmp, c):
    path = write_aedat3(tmp / "v3.aedat", [])
    return (lambda: dvs.read_aedat2_raw(path), ValueError, path, r"is AEDAT 3\.1, expected AEDAT 2\.0")


@file_case
def labels_csv_binary(tmp, c):
    path = tmp / "user01_lab_labels.csv"
    path.write_bytes(b"\xff\xfe\x00\x01\x02")
    return (lambda: dvs.read_dvs_gesture_labels(path), ValueError, path, r"is not a text file .*not valid UTF-8")


@file_case
def labels_csv_bad_header(tmp, c):
    path = tmp / "user01_lab_labels.csv"
    path.write_text("label,start,stop\n1,0,10\n")
    return (lambda: dvs.read_dvs_gesture_labels(path), ValueError, path, r", line 1: expected the header")


@file_case
def labels_csv_reversed_segment(tmp, c):
    path = tmp / "user01_lab_labels.csv"
    path.write_text("class,startTime_usec,endTime_usec\n1,500,400\n")
    return (
        lambda: dvs.read_dvs_gesture_labels(path),
        ValueError,
        path,
        r", line 2: expected 0 <= startTime_usec < endTime_usec, got start 500 and end 400",
    )


@file_case
def labels_csv_no_rows(tmp, c):
    path = tmp / "user01_lab_labels.csv"
    path.write_text("class,startTime_usec,endTime_usec\r\n")
    return lambda: dvs.read_dvs_gesture_labels(path), ValueError, path, r"lists no gestures"


@file_case
def labels_csv_bad_class(tmp, c):
    path = tmp / "user01_lab_labels.csv"
    path.write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    return (lambda: dvs.read_dvs_gesture_labels(path), ValueError, path, r", line 2: class must be in 1\.\.11, got 12")


@file_case
def gesture_empty_trials(tmp, c):
    d = _copy(c.gesture, tmp)
    (d / "trials_to_test.txt").write_text("\n\n")
    return (lambda: dvs.load_dvs_gesture(d, "test", T=2), ValueError, d / "trials_to_test.txt", r"lists no recordings")


@file_case
def gesture_missing_directory(tmp, c):
    path = tmp / "DvsGesture"
    return (
        lambda: dvs.load_dvs_gesture(path, "train", T=2),
        FileNotFoundError,
        path,
        r"DVS128 Gesture data not found in .*DvsGesture\.tar\.gz",
    )


@file_case
def gesture_missing_recording(tmp, c):
    d = _copy(c.gesture, tmp)
    (d / "user01_lab.aedat").unlink()
    return (
        lambda: dvs.load_dvs_gesture(d, "train", T=2),
        FileNotFoundError,
        d,
        r"missing in .*: user01_lab\.aedat \(listed in trials_to_train\.txt\)",
    )


@file_case
def gesture_truncated_recording(tmp, c):
    d = _copy(c.gesture, tmp)
    path = d / "user24_led.aedat"
    path.write_bytes(path.read_bytes()[:-11])
    return lambda: dvs.load_dvs_gesture(d, "test", T=2, size=8), ValueError, path, r"is truncated"


@file_case
def gesture_checksum_mismatch(tmp, c):
    d = _copy(c.gesture, tmp)
    data.write_sha256sums(d, ["user24_led.aedat"])
    path = d / "user24_led.aedat"
    path.write_bytes(path.read_bytes() + b"\x00" * 8)
    return (lambda: dvs.load_dvs_gesture(d, "test", T=2, size=8), ValueError, path, r"checksum mismatch for")


@file_case
def cdvs_missing_root(tmp, c):
    path = tmp / "CIFAR10-DVS"
    return (
        lambda: dvs.load_cifar10_dvs(path, "train", T=2),
        FileNotFoundError,
        path,
        r"CIFAR10-DVS data directory not found: .*extracted from the figshare zips",
    )


@file_case
def cdvs_root_is_file(tmp, c):
    path = tmp / "cifar10_dvs.zip"
    path.write_bytes(b"PK\x03\x04")
    return (lambda: dvs.cifar10_dvs_split(path, "train"), ValueError, path, r"is a file, not a directory")


@file_case
def cdvs_missing_class(tmp, c):
    d = _copy(c.cdvs, tmp)
    shutil.rmtree(d / "frog")
    return (
        lambda: dvs.load_cifar10_dvs(d, "train", T=2),
        FileNotFoundError,
        d,
        r"missing in .*: class folder\(s\) frog",
    )


@file_case
def cdvs_empty_class(tmp, c):
    d = _copy(c.cdvs, tmp)
    for f in (d / "deer").iterdir():
        f.unlink()
    return (lambda: dvs.cifar10_dvs_split(d, "train"), FileNotFoundError, d / "deer", r"holds no \.aedat files")


@file_case
def cdvs_truncated_recording(tmp, c):
    d = _copy(c.cdvs, tmp)
    path = d / "ship" / "cifar10_ship_0.aedat"
    path.write_bytes(path.read_bytes()[:-3])
    return (
        lambda: dvs.load_cifar10_dvs(d, "train", T=2, train_ratio=0.5),
        ValueError,
        path,
        r"is truncated or corrupted: .*not a whole number of 32-bit words",
    )


@file_case
def tfds_missing_sha256sums(tmp, c):
    snn_tfds = _tfds()
    d = _copy(c.mnist, tmp)
    (d / "SHA256SUMS").unlink()
    out = tmp / "tfds_out"
    return (
        lambda: snn_tfds.build_and_load("mnist", d, out),
        FileNotFoundError,
        d / "SHA256SUMS",
        r"does not exist; the TFDS builders verify every file",
    )


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_bad_file(name, tmp_path, ctx):
    call, exc, path, problem = FILE_CASES[name](tmp_path, ctx)
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    msg = str(info.value)
    assert str(path) in msg, f"message {msg!r} does not name {path}"
    assert re.search(problem, msg, re.S), f"message {msg!r} does not match {problem!r}"


# --------------------------------------------------------------------------- nothing heavy first


def test_options_are_checked_before_any_file_is_read(ctx, monkeypatch):
    """A bad option fails before a recording / batch / IDX file is decoded."""

    def fail(*a, **k):
        raise AssertionError("a data file was read before the options were checked")

    monkeypatch.setattr(dvs, "read_aedat3", fail)
    monkeypatch.setattr(dvs, "read_aedat2_raw", fail)
    monkeypatch.setattr(cifar, "_read_files", fail)
    monkeypatch.setattr(data.datasets, "read_idx", fail)
    calls = [
        (lambda: dvs.load_dvs_gesture(ctx.gesture, "train", T=2, cache_dir=ctx.afile), ValueError),
        (lambda: dvs.load_dvs_gesture(ctx.gesture, "train", T=2, size=(2, 2, 2)), ValueError),
        (lambda: dvs.load_cifar10_dvs(ctx.cdvs, "train", T=2, train_ratio="0.5"), TypeError),
        (lambda: dvs.load_cifar10_dvs(ctx.cdvs, "test", T=2, train_ratio=0.9), ValueError),
        (lambda: data.load_cifar100(ctx.c100, label_mode="both"), ValueError),
        (lambda: data.load_mnist(ctx.mnist, verify="yes"), TypeError),
        (lambda: data.load_idx_dataset(ctx.mnist, "train-images-idx3-ubyte.gz", None), TypeError),
    ]
    for call, exc in calls:
        with pytest.raises(exc):
            call()


def test_batches_validates_at_call_time():
    """``batches`` is a generator function in effect, but its checks run at the call."""
    with pytest.raises(TypeError, match="drop_last"):
        data.batches((np.zeros(4),), 2, shuffle=False, drop_last=None)


# --------------------------------------------------------------------------- augmentation

X = jnp.zeros((2, 8, 8, 3), jnp.float32)
U8 = jnp.zeros((2, 8, 8, 3), jnp.uint8)
V = jnp.zeros((2, 3, 8, 8, 2), jnp.float32)
M3, S3 = jnp.asarray(A.CIFAR10_MEAN), jnp.asarray(A.CIFAR10_STD)
STATS = {"mean": A.CIFAR10_MEAN, "std": A.CIFAR10_STD}
CIFAR = A.cifar_train_transform

# (name, function, positional args (traced under jit), static keyword args, error, regex)
AUG_CASES = [
    (
        "crop_int_images",
        A.random_crop,
        (KEY, X.astype(jnp.int32)),
        {},
        TypeError,
        r"images must have a floating dtype or uint8, got int32",
    ),
    (
        "crop_bool_images",
        A.random_crop,
        (KEY, X.astype(bool)),
        {},
        TypeError,
        r"images must have a floating dtype or uint8, got bool",
    ),
    (
        "crop_complex_images",
        A.random_crop,
        (KEY, X.astype(jnp.complex64)),
        {},
        TypeError,
        r"images must have a floating dtype or uint8, got complex64",
    ),
    (
        "crop_rank3",
        A.random_crop,
        (KEY, X[0]),
        {},
        ValueError,
        r"images must have rank 4 \[B, H, W, C\] or rank 5 .*got shape \(8, 8, 3\)",
    ),
    (
        "crop_empty_batch",
        A.random_crop,
        (KEY, X[:0]),
        {},
        ValueError,
        r"images must hold at least one sample \(B >= 1\), got shape \(0, 8, 8, 3\)",
    ),
    (
        "crop_zero_frames",
        A.random_crop,
        (KEY, V[:, :0]),
        {},
        ValueError,
        r"images must hold at least one frame \(T >= 1\), got shape \(2, 0, 8, 8, 2\)",
    ),
    (
        "crop_channels_first",
        A.random_crop,
        (KEY, jnp.zeros((2, 3, 32, 32))),
        {},
        ValueError,
        r"images must be channels-last .*look channels-first",
    ),
    (
        "crop_padding_negative",
        A.random_crop,
        (KEY, X),
        {"padding": -1},
        ValueError,
        r"padding must be an int >= 0, got -1",
    ),
    (
        "crop_padding_float",
        A.random_crop,
        (KEY, X),
        {"padding": 2.0},
        TypeError,
        r"padding must be an int >= 0, got float 2\.0",
    ),
    ("crop_key_int", A.random_crop, (0, X), {}, TypeError, r"key must be a single PRNG key"),
    (
        "crop_key_batch",
        A.random_crop,
        (jax.random.split(KEY, 2), X),
        {},
        TypeError,
        r"key must be a single PRNG key .*shape \(2,\)",
    ),
    (
        "flip_int_images",
        A.random_flip,
        (KEY, X.astype(jnp.int16)),
        {},
        TypeError,
        r"images must have a floating dtype or uint8, got int16",
    ),
    ("flip_empty_batch", A.random_flip, (KEY, X[:0]), {}, ValueError, r"images must hold at least one sample"),
    ("cutout_length_negative", A.cutout, (KEY, X), {"length": -2}, ValueError, r"length must be an int >= 0, got -2"),
    (
        "cutout_n_holes_float",
        A.cutout,
        (KEY, X),
        {"n_holes": 1.5},
        TypeError,
        r"n_holes must be an int >= 0, got float 1\.5",
    ),
    ("cutout_rank6", A.cutout, (KEY, jnp.zeros((1, 2, 2, 8, 8, 3))), {}, ValueError, r"images must have rank 4"),
    ("toolbox_p_above_one", A.toolbox_cutout, (KEY, U8), {"p": 1.5}, ValueError, r"p must lie in \[0, 1\], got 1\.5"),
    ("toolbox_p_nan", A.toolbox_cutout, (KEY, U8), {"p": float("nan")}, ValueError, r"p must lie in \[0, 1\], got nan"),
    (
        "toolbox_p_complex",
        A.toolbox_cutout,
        (KEY, U8),
        {"p": 0.5j},
        TypeError,
        r"p must be a Python number in \[0, 1\] .*got complex",
    ),
    (
        "toolbox_scale_reversed",
        A.toolbox_cutout,
        (KEY, U8),
        {"scale": (0.5, 0.1)},
        ValueError,
        r"scale must satisfy 0\.0 <= min <= max <= 1\.0, got \(0\.5, 0\.1\)",
    ),
    (
        "toolbox_scale_bool",
        A.toolbox_cutout,
        (KEY, U8),
        {"scale": (True, 1)},
        TypeError,
        r"scale must be a pair \(min, max\) of numbers, got \(True, 1\)",
    ),
    (
        "toolbox_ratio_zero",
        A.toolbox_cutout,
        (KEY, U8),
        {"ratio": (0.0, 1.0)},
        ValueError,
        r"ratio must satisfy .* <= min <= max <= inf, got \(0\.0, 1\.0\)",
    ),
    (
        "toolbox_ratio_inf",
        A.toolbox_cutout,
        (KEY, U8),
        {"ratio": (1.0, float("inf"))},
        ValueError,
        r"ratio must satisfy .*got \(1\.0, inf\)",
    ),
    (
        "roll_max_shift_negative",
        A.random_roll,
        (KEY, V),
        {"max_shift": -1},
        ValueError,
        r"max_shift must be an int >= 0, got -1",
    ),
    (
        "normalize_int_images",
        A.normalize,
        (X.astype(jnp.int32), M3, S3),
        {},
        TypeError,
        r"images must have a floating dtype or uint8, got int32",
    ),
    (
        "normalize_mean_length",
        A.normalize,
        (X, M3[:2], S3),
        {},
        ValueError,
        r"mean must have one value per channel, length C = 3, got shape \(2,\)",
    ),
    (
        "normalize_std_2d",
        A.normalize,
        (X, M3, S3[None]),
        {},
        ValueError,
        r"std must have one value per channel, length C = 3, got shape \(1, 3\)",
    ),
    (
        "normalize_mean_bool",
        A.normalize,
        (X, jnp.array([True, False, True]), S3),
        {},
        TypeError,
        r"mean must hold real numbers .*got dtype bool",
    ),
    (
        "normalize_std_complex",
        A.normalize,
        (X, M3, S3.astype(jnp.complex64)),
        {},
        TypeError,
        r"std must hold real numbers .*got dtype complex64",
    ),
    ("normalize_empty_batch", A.normalize, (X[:0], M3, S3), {}, ValueError, r"images must hold at least one sample"),
    (
        "cifar_cutout_option",
        CIFAR,
        (KEY, U8),
        {**STATS, "cutout": "random"},
        ValueError,
        r"cutout must be one of \('toolbox', 'devries', 'none'\), got 'random'",
    ),
    ("cifar_augment_int", CIFAR, (KEY, U8), {**STATS, "augment": 1}, TypeError, r"augment must be a bool .*got int 1"),
    (
        "cifar_mean_length",
        CIFAR,
        (KEY, U8),
        {**STATS, "mean": (0.5,) * 4},
        ValueError,
        r"mean must have one value per channel, length C = 3, got shape \(4,\)",
    ),
    (
        "cifar_std_zero",
        CIFAR,
        (KEY, U8),
        {**STATS, "std": (0.2, 0.0, 0.2)},
        ValueError,
        r"std must be > 0 in every channel",
    ),
    ("cifar_std_nan", CIFAR, (KEY, U8), {**STATS, "std": (0.2, float("nan"), 0.2)}, ValueError, r"std must be finite"),
    (
        "cifar_padding_negative",
        CIFAR,
        (KEY, U8),
        {**STATS, "padding": -4},
        ValueError,
        r"padding must be an int >= 0, got -4",
    ),
    ("cifar_key_int", CIFAR, (7, U8), STATS, TypeError, r"key must be a single PRNG key"),
    (
        "eval_int_images",
        A.cifar_eval_transform,
        (X.astype(jnp.int8),),
        STATS,
        TypeError,
        r"images must have a floating dtype or uint8, got int8",
    ),
    (
        "dvs_translate_option",
        A.dvs_train_transform,
        (KEY, V),
        {"translate": "shift"},
        ValueError,
        r"translate must be one of \('roll', 'crop', 'none'\), got 'shift'",
    ),
    ("dvs_flip_int", A.dvs_train_transform, (KEY, V), {"flip": 1}, TypeError, r"flip must be a bool .*got int 1"),
    (
        "dvs_int_frames",
        A.dvs_train_transform,
        (KEY, V.astype(jnp.int32)),
        {},
        TypeError,
        r"frames must have a floating dtype or uint8, got int32",
    ),
    (
        "dvs_zero_frames",
        A.dvs_train_transform,
        (KEY, V[:, :0]),
        {},
        ValueError,
        r"frames must hold at least one frame \(T >= 1\)",
    ),
    (
        "crop_offsets_batch_zero",
        A.crop_offsets,
        (KEY,),
        {"batch_size": 0, "padding": 4},
        ValueError,
        r"batch_size must be an int >= 1, got 0",
    ),
    (
        "flip_decisions_batch_float",
        A.flip_decisions,
        (KEY,),
        {"batch_size": 2.0},
        TypeError,
        r"batch_size must be an int >= 1, got float 2\.0",
    ),
    (
        "cutout_centres_height_zero",
        A.cutout_centres,
        (KEY,),
        {"batch_size": 2, "height": 0, "width": 8},
        ValueError,
        r"height must be an int >= 1, got 0",
    ),
    (
        "toolbox_params_p",
        A.toolbox_cutout_params,
        (KEY,),
        {"batch_size": 2, "height": 8, "width": 8, "p": -0.1},
        ValueError,
        r"p must lie in \[0, 1\], got -0\.1",
    ),
]

# Value checks: only concrete input can be inspected, so these run without jit.
AUG_VALUE_CASES = [
    (
        "crop_nan",
        A.random_crop,
        (KEY, X.at[0, 1, 2, 0].set(jnp.nan)),
        {},
        ValueError,
        r"images must be finite \(no NaN/inf\), got 1 non-finite values",
    ),
    (
        "flip_inf_numpy",
        A.random_flip,
        (KEY, np.full((1, 4, 4, 1), np.inf, np.float32)),
        {},
        ValueError,
        r"images must be finite \(no NaN/inf\), got 16 non-finite values",
    ),
    ("normalize_nan", A.normalize, (X.at[1].set(jnp.nan), *STATS.values()), {}, ValueError, r"images must be finite"),
    (
        "normalize_mean_inf",
        A.normalize,
        (X, (0.5, float("inf"), 0.5), A.CIFAR10_STD),
        {},
        ValueError,
        r"mean must be finite, got \[0\.5, inf, 0\.5\]",
    ),
    (
        "normalize_mean_str",
        A.normalize,
        (X, ("a", "b", "c"), A.CIFAR10_STD),
        {},
        TypeError,
        r"mean must hold real numbers .*got dtype <U1",
    ),
    (
        "normalize_images_none",
        A.normalize,
        (None, A.CIFAR10_MEAN, A.CIFAR10_STD),
        {},
        TypeError,
        r"images must be a numeric array .*got NoneType None",
    ),
    (
        "normalize_mean_none",
        A.normalize,
        (X, None, A.CIFAR10_STD),
        {},
        ValueError,
        r"mean must have one value per channel, length C = 3, got shape \(\) \(NoneType None\)",
    ),
    # a str is no JAX type, so jit would refuse it before the function runs
    (
        "roll_shifts_key_str",
        A.roll_shifts,
        ("key",),
        {"batch_size": 2, "max_shift": 1},
        TypeError,
        r"key must be a single PRNG key .*got str",
    ),
    (
        "dvs_frames_nan",
        A.dvs_train_transform,
        (KEY, V.at[0, 1].set(jnp.nan)),
        {},
        ValueError,
        r"frames must be finite \(no NaN/inf\)",
    ),
]


class AugmentBadInputTest(chex.TestCase):
    """Each row raises the same error eagerly and under ``jax.jit`` (while tracing)."""

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*AUG_CASES)
    def test_bad_input(self, fn, args, kw, exc, pattern):
        call = self.variant(functools.partial(fn, **kw))
        with self.assertRaisesRegex(exc, pattern) as info:
            call(*args)
        self.assertIs(type(info.exception), exc)

    @chex.variants(without_jit=True)
    @parameterized.named_parameters(*AUG_VALUE_CASES)
    def test_bad_values_eager(self, fn, args, kw, exc, pattern):
        call = self.variant(functools.partial(fn, **kw))
        with self.assertRaisesRegex(exc, pattern) as info:
            call(*args)
        self.assertIs(type(info.exception), exc)

    def test_nan_check_is_skipped_under_jit_and_good_input_passes(self):
        bad = X.at[0, 0, 0, 0].set(jnp.nan)
        out = jax.jit(A.random_flip)(KEY, bad)  # values unknown while tracing: no check
        self.assertEqual(out.shape, X.shape)
        # traced mean/std tuples (a jit argument) are accepted
        out = jax.jit(A.normalize)(X, A.CIFAR10_MEAN, A.CIFAR10_STD)
        self.assertEqual(out.shape, X.shape)
        out = A.cifar_train_transform(KEY, U8, mean=A.CIFAR10_MEAN, std=A.CIFAR10_STD)
        self.assertEqual(out.dtype, jnp.float32)


# --------------------------------------------------------------------------- good input still works


def test_good_input_still_loads(ctx):
    """The stricter checks accept the official-format fixtures."""
    x, y = data.load_mnist(ctx.mnist)
    assert x.shape == (3, 28, 28) and y.tolist() == [0, 9, 4]
    assert data.load_cifar10(ctx.c10, "test")[0].shape[1:] == (32, 32, 3)
    assert len(dvs.cifar10_dvs_split(ctx.cdvs, "test", train_ratio=0.5)) == 10
    assert data.read_sha256sums(ctx.mnist)  # a parsable SHA256SUMS
    assert data.verify_checksums(ctx.mnist, "train-images-idx3-ubyte.gz")  # a single name
    fit = data.holdout_split(np.arange(10), np.arange(10), 0.2)
    assert [len(p) for p in fit] == [8, 8, 2, 2]
    assert data.num_batches(0, 3) == 0  # a count, not a dataset: 0 is fine
    no_events = np.zeros(0, dvs.EVENT_DTYPE)
    assert dvs.events_to_frames(no_events, 2, height=4, width=4).shape == (2, 4, 4, 2)
    frames = dvs.events_to_frames(_ev(p=[False, True]), 1, height=4, width=4)
    assert frames[0, 2, 2, 1] == 1 and frames[0, 1, 1, 0] == 1
