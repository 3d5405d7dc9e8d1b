"""CIFAR-10 and CIFAR-100 from the official "python version" releases, read locally.

Nothing is downloaded. The files are the ones published at
https://www.cs.toronto.edu/~kriz/cifar.html:

=========  ===========================  =========================  =====================
dataset    archive                      extracted folder           files in the folder
=========  ===========================  =========================  =====================
CIFAR-10   ``cifar-10-python.tar.gz``   ``cifar-10-batches-py/``   ``data_batch_1`` ..
                                                                   ``data_batch_5``
                                                                   (train),
                                                                   ``test_batch``,
                                                                   ``batches.meta``
CIFAR-100  ``cifar-100-python.tar.gz``  ``cifar-100-python/``      ``train``, ``test``,
                                                                   ``meta``
=========  ===========================  =========================  =====================

Each data file is a Python 2 pickle of a dict with byte-string keys:
``b"data"``, a ``uint8`` array ``[10000, 3072]`` in the official batches (the
CIFAR-100 ``train`` file has 50000 rows) whose rows are one 32x32 image as
three row-major planes, red (columns 0-1023), green, then blue; ``b"labels"``
(CIFAR-10) or ``b"fine_labels"`` and ``b"coarse_labels"`` (CIFAR-100), lists
of ints; ``b"filenames"`` and ``b"batch_label"``. The meta files hold the class
names (``b"label_names"``; ``b"fine_label_names"``/``b"coarse_label_names"``).
Any positive number of rows is accepted (the checksums pin the official files); each
row must have 3072 columns and there must be one label per row.

**Which files** ``path`` **means.** The loaders take one ``path``, resolved in
this order:

1. a file: the ``.tar.gz`` archive itself (any name), read in place with
   :mod:`tarfile` (members ``cifar-10-batches-py/data_batch_1`` ...; nothing is
   extracted to disk);
2. a directory named like the extracted folder (``cifar-10-batches-py`` /
   ``cifar-100-python``), or holding at least one of its files: the extracted
   folder itself;
3. a directory holding the extracted folder: that folder;
4. a directory holding the archive under its official name: that archive.

So the extracted folder wins over the archive when a directory holds both.

**Checksums** (``verify=True``, the default). Every file read is checked
before it is unpickled, against exactly one reference:

* the ``SHA256SUMS`` file (``sha256sum`` format, see
  :func:`snnjax.data.verify_checksums`) beside it, when one exists and lists
  it: inside the extracted folder for its files, in the archive's directory for
  the archive;
* otherwise the published MD5 (:data:`CIFAR10_MD5`, :data:`CIFAR100_MD5`: the
  archive's MD5 from the CIFAR page, the per-file MD5s of the extracted files as
  torchvision lists them).

So the real files are always checked (against the published MD5s, or against
a ``SHA256SUMS`` you wrote after checking them), and your own files, such as
tiny test fixtures in the official format, are checked against a
``SHA256SUMS`` written beside them. ``verify=False`` skips all checks. An
archive's members are covered by the archive's checksum and are not checked
one by one.

**Safety.** The pickles are read with ``encoding="bytes"`` (as the CIFAR page
says) by a restricted :class:`pickle.Unpickler` that resolves only the globals
a NumPy array needs (``numpy.core.multiarray._reconstruct`` or
``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``);
any other global (``os.system``, ``builtins.eval``, ...) is refused with a
``ValueError`` before it is called, so a tampered file cannot run code.

Loaders return ``(images, labels)``: ``uint8`` images ``[N, 32, 32, 3]``
(height, width, RGB channels last) and ``int32`` labels ``[N]``, in the files'
order (CIFAR-10 train: ``data_batch_1`` first).

Only NumPy and the standard library are used here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snnjax.data.idx import SHA256SUMS, _check_hash, read_sha256sums
from snnjax.validation import check_bool, check_option, describe

__all__ = [
    "load_cifar10",
    "load_cifar100",
    "cifar100_labels",
    "cifar_class_names",
    "cifar_files",
    "CIFAR_DATASETS",
    "CIFAR10_MD5",
    "CIFAR100_MD5",
]

PathLike = str | os.PathLike

CIFAR_DATASETS = ("cifar10", "cifar100")
"""Dataset names accepted by :func:`cifar_class_names` and :func:`cifar_files`."""

_SPLITS = ("train", "test")
_LABEL_MODES = ("fine", "coarse")
_IMAGE_SHAPE = (32, 32, 3)
_ROW = 32 * 32 * 3  # 3072 bytes per image: R, G, B planes of 32x32
_OFFICIAL_ROWS = 10000

CIFAR10_MD5: dict[str, str] = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
"""Published MD5s of the CIFAR-10 python archive and of its extracted files."""

CIFAR100_MD5: dict[str, str] = {
    "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}
"""Published MD5s of the CIFAR-100 python archive and of its extracted files."""


class _Spec:
    """Static facts about one of the two releases."""

    def __init__(self, name, title, archive, folder, train, test, meta, md5, label_keys, meta_keys):
        self.name = name
        self.title = title
        self.archive = archive
        self.folder = folder
        self.files = {"train": train, "test": test}
        self.meta = meta
        self.md5 = md5
        self.label_keys = label_keys  # {label mode: (pickle key, number of classes)}
        self.meta_keys = meta_keys  # {label mode: pickle key of the class names}

    @property
    def all_files(self) -> tuple[str, ...]:
        return self.files["train"] + self.files["test"] + (self.meta,)


_SPECS = {
    "cifar10": _Spec(
        "cifar10",
        "CIFAR-10",
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        CIFAR10_MD5,
        {"fine": (b"labels", 10)},
        {"fine": b"label_names"},
    ),
    "cifar100": _Spec(
        "cifar100",
        "CIFAR-100",
        "cifar-100-python.tar.gz",
        "cifar-100-python",
        ("train",),
        ("test",),
        "meta",
        CIFAR100_MD5,
        {"fine": (b"fine_labels", 100), "coarse": (b"coarse_labels", 20)},
        {"fine": b"fine_label_names", "coarse": b"coarse_label_names"},
    ),
}


def cifar_files(dataset: str, split: str | None = None) -> tuple[str, ...]:
    """Names of a release's files inside its extracted folder.

    Args:
      dataset: ``"cifar10"`` or ``"cifar100"``.
      split: ``"train"`` or ``"test"`` for that split's data files, or ``None``
        for every file (data files of both splits, then the meta file).

    Returns:
      The file names, e.g. ``("data_batch_1", ..., "data_batch_5")`` for
      CIFAR-10 train; prefix them with the folder name
      (``cifar-10-batches-py/``) for the archive's member names.
    """
    check_option("dataset", dataset, CIFAR_DATASETS)
    spec = _SPECS[dataset]
    if split is None:
        return spec.all_files
    check_option("split", split, _SPLITS)
    return spec.files[split]


# --------------------------------------------------------------------------- locating


class _Location:
    """Where a release's files are: an extracted folder or a ``.tar.gz`` archive."""

    def __init__(self, spec: _Spec, kind: str, path: Path):
        self.spec = spec
        self.kind = kind  # "folder" or "archive"
        self.path = path

    def describe(self, name: str) -> str:
        """How errors name file ``name`` of this location."""
        if self.kind == "folder":
            return str(self.path / name)
        return f"{self.spec.folder}/{name} in {self.path}"

    def expected_checksums(self) -> dict[str, str]:
        """``{file name: "sha256:<hex>" | "md5:<hex>"}``: what ``verify=True`` checks
        each file against (without reading any data file). For an archive the
        one entry is the archive's own file name."""
        directory = self.path if self.kind == "folder" else self.path.parent
        names = self.spec.all_files if self.kind == "folder" else (self.path.name,)
        sums = read_sha256sums(directory / SHA256SUMS) if (directory / SHA256SUMS).is_file() else {}
        out = {}
        for name in names:
            if name in sums:
                out[name] = f"sha256:{sums[name]}"
            else:
                published = self.spec.md5[self.spec.archive if self.kind == "archive" else name]
                out[name] = f"md5:{published}"
        return out


def _locate(path: PathLike, dataset: str) -> _Location:
    """Resolve ``path`` as documented in the module docstring."""
    spec = _SPECS[dataset]
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    if isinstance(path, str) and not path:
        raise ValueError("path must be a non-empty path, got ''")
    p = Path(path)
    expected = (
        f"the {spec.folder} folder ({', '.join(spec.all_files)}), a directory holding it, "
        f"or the {spec.archive} archive (or a directory holding it)"
    )
    if p.is_file():
        return _Location(spec, "archive", p)
    if p.is_dir():
        if p.name == spec.folder or any((p / n).is_file() for n in spec.all_files):
            return _Location(spec, "folder", p)
        if (p / spec.folder).is_dir():
            return _Location(spec, "folder", p / spec.folder)
        if (p / spec.archive).is_file():
            return _Location(spec, "archive", p / spec.archive)
        raise FileNotFoundError(
            f"no {spec.title} data in {p}: expected {p / spec.folder}/ or {p / spec.archive}, "
            f"or {p} to be the extracted {spec.folder} folder itself (holding "
            f"{', '.join(spec.all_files)}); download the python version from "
            "https://www.cs.toronto.edu/~kriz/cifar.html"
        )
    raise FileNotFoundError(f"{spec.title} path not found: {p} (expected {expected})")


# --------------------------------------------------------------------------- reading + checks


def _verify_bytes(loc: _Location, name: str, raw: bytes, where: Path) -> None:
    """Check ``raw`` (file ``name`` at ``where``) against SHA256SUMS or the published MD5."""
    directory = where.parent
    sums_file = directory / SHA256SUMS
    if sums_file.is_file():
        sums = read_sha256sums(sums_file)
        if where.name in sums:
            _check_hash(where, hashlib.sha256(raw).hexdigest(), sums[where.name])
            return
    key = loc.spec.archive if loc.kind == "archive" else name
    expected = loc.spec.md5[key]
    actual = hashlib.md5(raw).hexdigest()
    if actual != expected:
        raise ValueError(
            f"checksum mismatch for {where}: expected the published {loc.spec.title} md5 "
            f"{expected}, got {actual} (the file is corrupted, incomplete or not the official "
            f"release; for your own files in this format, list them in {sums_file} "
            "with `sha256sum`, or pass verify=False)"
        )


def _read_files(loc: _Location, names: Iterable[str], verify: bool) -> dict[str, bytes]:
    """The bytes of ``names`` (files of the release), checked when ``verify``."""
    names = list(dict.fromkeys(names))
    if loc.kind == "folder":
        missing = [n for n in names if not (loc.path / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"missing in {loc.path}: {', '.join(missing)} "
                f"(the {loc.spec.folder} folder holds {', '.join(loc.spec.all_files)})"
            )
        out = {}
        for name in names:
            raw = (loc.path / name).read_bytes()
            if verify:
                _verify_bytes(loc, name, raw, loc.path / name)
            out[name] = raw
        return out

    raw = loc.path.read_bytes()
    if verify:
        _verify_bytes(loc, loc.path.name, raw, loc.path)
    wanted = {f"{loc.spec.folder}/{n}": n for n in names}
    out = {}
    try:
        if raw[:2] == b"\x1f\x8b":
            # Decompress the whole stream first: gzip's CRC and length at its end are
            # then checked, so a corrupted archive fails here even with verify=False
            # (tarfile's streaming read stops before the end of the stream).
            raw = gzip.decompress(raw)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            for member in tar:
                member_name = member.name.removeprefix("./")
                if member_name not in wanted or not member.isfile():
                    continue
                f = tar.extractfile(member)
                out[wanted[member_name]] = f.read()
                if len(out) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise ValueError(
            f"{loc.path} is not a valid {loc.spec.archive} archive (truncated or corrupted): {type(e).__name__}: {e}"
        ) from e
    missing = [n for n in names if n not in out]
    if missing:
        raise FileNotFoundError(
            f"{loc.path} has no member {', '.join(f'{loc.spec.folder}/{n}' for n in missing)} "
            f"(expected the official {loc.spec.archive}, holding {loc.spec.folder}/ with "
            f"{', '.join(loc.spec.all_files)})"
        )
    return out


_NP_CORE = getattr(np, "_core", None) or np.core
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _NP_CORE.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _NP_CORE.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals NumPy array reconstruction needs."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(f"{module}.{name}") from None


def _unpickle(raw: bytes, where: str) -> dict:
    """Restricted ``pickle.load(f, encoding="bytes")`` of a CIFAR file; must give a dict."""
    try:
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _ForbiddenGlobal as e:
        raise ValueError(
            f"refusing to unpickle {where}: it references the global {e}, but a CIFAR file "
            "may only reference NumPy array reconstruction (numpy.core.multiarray._reconstruct, "
            "numpy.ndarray, numpy.dtype); the file is not an official CIFAR file and may be "
            "malicious"
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        UnicodeDecodeError,
        MemoryError,
    ) as e:
        raise ValueError(
            f"{where} is not a valid CIFAR pickle (truncated or corrupted): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(obj, dict):
        raise ValueError(f"{where} should hold a pickled dict, got {type(obj).__name__}")
    # Python 2 pickles give bytes keys with encoding="bytes"; accept str keys as well.
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def _get(d: dict, key: bytes, where: str) -> Any:
    if key not in d:
        keys = sorted(k.decode(errors="replace") if isinstance(k, bytes) else repr(k) for k in d)
        raise ValueError(f"{where} has no {key.decode()!r} entry (it has {keys})")
    return d[key]


def _parse_batch(d: dict, spec: _Spec, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(uint8 rows [N, 3072] as stored, {label mode: int32 labels [N]})`` of one data file."""
    data = _get(d, b"data", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{where}: 'data' should be a uint8 array [N, {_ROW}], got {desc}")
    if data.shape[1] != _ROW:
        raise ValueError(
            f"{where}: 'data' should have {_ROW} columns (32x32 pixels x 3 colour planes; "
            f"official batches are [{_OFFICIAL_ROWS}, {_ROW}]), got shape {data.shape}"
        )
    n = data.shape[0]
    if n == 0:
        raise ValueError(
            f"{where}: 'data' has 0 rows (shape {data.shape}); a CIFAR data file holds at least "
            f"one image (official batches are [{_OFFICIAL_ROWS}, {_ROW}])"
        )
    labels = {}
    for mode, (key, num_classes) in spec.label_keys.items():
        raw = _get(d, key, where)
        try:
            lab = np.asarray(raw)
        except (TypeError, ValueError) as e:  # pragma: no cover - ragged nested objects
            raise ValueError(f"{where}: {key.decode()!r} is not a list of ints: {e}") from e
        if lab.ndim != 1 or (lab.size and lab.dtype.kind not in "iu"):
            raise ValueError(f"{where}: {key.decode()!r} should be a list of ints, got {lab.dtype} {lab.shape}")
        if lab.shape[0] != n:
            raise ValueError(
                f"{where}: {key.decode()!r} has {lab.shape[0]} labels but 'data' has {n} rows "
                "(the file is corrupted or truncated)"
            )
        if n and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(
                f"{where}: {key.decode()!r} should be in 0..{num_classes - 1}, got {lab.min()}..{lab.max()}"
            )
        labels[mode] = lab.astype(np.int32)
    return data, labels


def _parse_meta(d: dict, spec: _Spec, where: str) -> dict[str, tuple[str, ...]]:
    """``{label mode: class names}`` from a meta file."""
    out = {}
    for mode, key in spec.meta_keys.items():
        names = _get(d, key, where)
        num_classes = spec.label_keys[mode][1]
        if not isinstance(names, (list, tuple)) or not all(isinstance(x, (bytes, str)) for x in names):
            raise ValueError(f"{where}: {key.decode()!r} should be a list of strings")
        names = [x.decode("utf-8") if isinstance(x, bytes) else x for x in names]
        while names and not names[-1]:  # tolerate empty trailing entries, nothing else
            names = names[:-1]
        if len(names) != num_classes:
            raise ValueError(f"{where}: {key.decode()!r} should hold {num_classes} class names, got {len(names)}")
        out[mode] = tuple(names)
    return out


def _read_split(
    loc: _Location, split: str, verify: bool, raws: Mapping[str, bytes] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images and ``{label mode: labels}`` of a split, batches concatenated in order."""
    names = loc.spec.files[split]
    if raws is None:
        raws = _read_files(loc, names, verify)
    parts = []
    for name in names:
        where = loc.describe(name)
        parts.append(_parse_batch(_unpickle(raws[name], where), loc.spec, where))
    # Rows are R, G, B planes of 32x32 (row-major): pixel p of channel c is column
    # c * 1024 + p. Copy each plane into its channel of the HWC output (a copy per
    # plane is ~3x faster than a 4-D transpose, and avoids a concatenation copy).
    images = np.empty((sum(p[0].shape[0] for p in parts), *_IMAGE_SHAPE), np.uint8)
    start = 0
    for rows, _ in parts:
        n = rows.shape[0]
        out = images[start : start + n].reshape(n, 1024, 3)
        for c in range(3):
            out[:, :, c] = rows[:, c * 1024 : (c + 1) * 1024]
        start += n
    labels = {mode: np.concatenate([p[1][mode] for p in parts]) for mode in loc.spec.label_keys}
    return images, labels


def _read_all(path: PathLike, dataset: str, verify: bool = True):
    """Every split and the class names in one pass over the files (the TFDS builders' use).

    Returns:
      ``(location, {split: (images, {label mode: labels})}, {label mode: class names})``.
    """
    check_bool("verify", verify)
    loc = _locate(path, dataset)
    raws = _read_files(loc, loc.spec.all_files, verify)
    splits = {s: _read_split(loc, s, verify, raws) for s in _SPLITS}
    meta = loc.spec.meta
    names = _parse_meta(_unpickle(raws[meta], loc.describe(meta)), loc.spec, loc.describe(meta))
    return loc, splits, names


# --------------------------------------------------------------------------- public API


def load_cifar10(path: PathLike, split: str = "train", *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR-10 (Krizhevsky, 2009) from the official python-version files.

    Args:
      path: the ``cifar-10-batches-py`` folder, a directory holding it or
        ``cifar-10-python.tar.gz``, or the archive itself (resolution order in
        the module docstring).
      split: ``"train"`` (50,000 images: ``data_batch_1`` .. ``data_batch_5`` in
        that order) or ``"test"`` (10,000: ``test_batch``).
      verify: check each file read against a ``SHA256SUMS`` beside it when it
        lists the file, else against the published MD5, before unpickling.

    Returns:
      ``(images, labels)``: ``uint8`` ``[N, 32, 32, 3]`` (HWC, RGB) and
      ``int32`` ``[N]`` in 0-9 (airplane, automobile, bird, cat, deer, dog,
      frog, horse, ship, truck; see :func:`cifar_class_names`).

    Raises:
      FileNotFoundError: if ``path`` or a needed file (or archive member) is
        missing; the message says what was expected.
      ValueError: naming the file, on a bad ``split``, a checksum mismatch, a
        truncated or corrupted file or archive, an unexpected array shape, or a
        pickle referencing anything but NumPy array reconstruction.
      TypeError: if ``verify`` is not a bool or ``path`` not a path.
    """
    check_option("split", split, _SPLITS)
    check_bool("verify", verify)
    images, labels = _read_split(_locate(path, "cifar10"), split, verify)
    return images, labels["fine"]


def load_cifar100(
    path: PathLike, split: str = "train", *, label_mode: str = "fine", verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR-100 (Krizhevsky, 2009) from the official python-version files.

    Args:
      path: the ``cifar-100-python`` folder, a directory holding it or
        ``cifar-100-python.tar.gz``, or the archive itself (resolution order in
        the module docstring).
      split: ``"train"`` (50,000 images, the ``train`` file) or ``"test"``
        (10,000, ``test``).
      label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses);
        :func:`cifar100_labels` gives both.
      verify: as for :func:`load_cifar10`.

    Returns:
      ``(images, labels)``: ``uint8`` ``[N, 32, 32, 3]`` (HWC, RGB) and
      ``int32`` ``[N]`` (0-99 fine or 0-19 coarse).

    Raises:
      FileNotFoundError: as for :func:`load_cifar10`.
      ValueError: as for :func:`load_cifar10`; also for a bad ``label_mode``.
      TypeError: as for :func:`load_cifar10`.
    """
    check_option("split", split, _SPLITS)
    check_option("label_mode", label_mode, _LABEL_MODES)
    check_bool("verify", verify)
    images, labels = _read_split(_locate(path, "cifar100"), split, verify)
    return images, labels[label_mode]


def cifar100_labels(path: PathLike, split: str = "train", *, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Both CIFAR-100 label sets of a split.

    Args:
      path: as for :func:`load_cifar100`.
      split: as for :func:`load_cifar100`.
      verify: as for :func:`load_cifar100`.

    Returns:
      ``(fine, coarse)``: ``int32`` ``[N]`` each, 0-99 and 0-19, in the order of
      :func:`load_cifar100`'s images.
    """
    check_option("split", split, _SPLITS)
    check_bool("verify", verify)
    _, labels = _read_split(_locate(path, "cifar100"), split, verify)
    return labels["fine"], labels["coarse"]


def cifar_class_names(
    path: PathLike, dataset: str, *, label_mode: str = "fine", verify: bool = True
) -> tuple[str, ...]:
    """Class names from a release's meta file, indexed by label.

    Args:
      path: as for :func:`load_cifar10` / :func:`load_cifar100`.
      dataset: ``"cifar10"`` (``batches.meta``, ``label_names``) or
        ``"cifar100"`` (``meta``).
      label_mode: for CIFAR-100, ``"fine"`` (``fine_label_names``, 100) or
        ``"coarse"`` (``coarse_label_names``, 20); CIFAR-10 has only ``"fine"``.
      verify: as for :func:`load_cifar10`.

    Returns:
      The names, e.g. ``("airplane", "automobile", ...)`` for CIFAR-10.

    Raises:
      ValueError: on a bad ``dataset`` / ``label_mode``, or a bad meta file.
      FileNotFoundError: if the meta file is missing.
    """
    check_option("dataset", dataset, CIFAR_DATASETS)
    spec = _SPECS[dataset]
    check_option(f"label_mode for {dataset}", label_mode, tuple(spec.meta_keys))
    check_bool("verify", verify)
    loc = _locate(path, dataset)
    raw = _read_files(loc, [spec.meta], verify)[spec.meta]
    where = loc.describe(spec.meta)
    return _parse_meta(_unpickle(raw, where), spec, where)[label_mode]
