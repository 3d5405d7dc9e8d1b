"""TensorFlow Datasets (TFDS) builders for MNIST, Fashion-MNIST, EMNIST (local IDX files)
and CIFAR-10/100 (the local official python-version files).

This is the TFDS route to the same data that :func:`snnjax.data.load_mnist` and
friends read: ``tfds.core.GeneratorBasedBuilder`` subclasses that build a TFDS
dataset from a local directory of the official IDX files (no download), written
as ``array_record`` files and read back with ``tfds.data_source`` (random
access, decoded to NumPy). TensorFlow is not needed for any of it.

* :class:`LocalMnist` (TFDS name ``local_mnist``) reads what
  :func:`snnjax.data.load_mnist` reads;
* :class:`LocalFashionMnist` (``local_fashion_mnist``): :func:`snnjax.data.load_fashion_mnist`;
* :class:`LocalEmnist` (``local_emnist/<subset>``): :func:`snnjax.data.load_emnist`;
* :class:`LocalCifar10` (``local_cifar10``): :func:`snnjax.data.load_cifar10`;
* :class:`LocalCifar100` (``local_cifar100``): :func:`snnjax.data.load_cifar100`
  (fine ``label`` and ``coarse_label``).

``LocalEmnist`` has one builder config per EMNIST subset (``byclass`` (the
default), ``bymerge``, ``balanced``, ``letters``, ``digits``, ``mnist``).

The IDX directory is TFDS's *manual directory* (``MANUAL_DOWNLOAD_INSTRUCTIONS``
+ ``dl_manager.manual_dir``), passed as
``tfds.download.DownloadConfig(manual_dir=...)``. It must hold the files the
loaders read plus a ``SHA256SUMS`` listing them; every file is checked against
it (with :func:`snnjax.data.verify_checksums`) before anything is written, and
then read with the loader, so images, labels, order and EMNIST orientation are
exactly the loader's. The verified hashes are stored in the built dataset's
metadata (``builder.info.metadata["source_sha256"]``).

Features match TFDS's own ``mnist`` / ``fashion_mnist`` / ``emnist`` builders:
``image`` (``tfds.features.Image``, ``uint8`` ``[28, 28, 1]``, PNG-encoded) and
``label`` (``tfds.features.ClassLabel``), so :func:`to_numpy` works equally on a
source from ``tfds.data_source("mnist")`` for users who download with TFDS.
Examples keep the IDX files' order (shuffling at build time is disabled).

The CIFAR builders read through :mod:`snnjax.data.cifar`, so their source is
anything :func:`snnjax.data.load_cifar10` accepts: the extracted
``cifar-10-batches-py`` / ``cifar-100-python`` folder, a directory holding it,
or the ``.tar.gz`` archive (or a directory holding it). Every file is checked
before anything is written (a ``SHA256SUMS`` entry beside it, else the
published MD5), and what each was checked against is stored in
``builder.info.metadata["source_checksums"]``. Their features match TFDS's own
``cifar10`` / ``cifar100``: ``id`` (``"train_00000"`` ...), ``image``
(``uint8`` ``[32, 32, 3]``, PNG-encoded), ``label`` (``ClassLabel`` named from
the meta file) and, for CIFAR-100, ``coarse_label``; so :func:`to_numpy` works on
``tfds.data_source("cifar10")`` as well. Pass the CIFAR path as
``data_dir_idx`` to :func:`build` / :func:`build_and_load`, or as
``LocalCifar10(cifar_path=...)`` (else the manual directory is used)::

    source = snn_tfds.build_and_load("cifar10", "data/cifar-10-python.tar.gz",
                                     "/tmp/tensorflow_datasets", split="test")
    images, labels = snn_tfds.to_numpy(source)  # uint8 [N, 32, 32, 3], int32 [N]

Usage::

    from snnjax.data import tfds as snn_tfds

    source = snn_tfds.build_and_load("mnist", "experiments/data/mnist_small",
                                     "/tmp/tensorflow_datasets", split="train")
    images, labels = snn_tfds.to_numpy(source)  # uint8 [N, 28, 28], uint8 [N]

or with TFDS directly (after importing this module, which registers the names)::

    import tensorflow_datasets as tfds
    builder = snn_tfds.LocalMnist(data_dir="/tmp/tensorflow_datasets",
                                  file_format="array_record")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="path/to/idx"))
    source = tfds.data_source("local_mnist", data_dir="/tmp/tensorflow_datasets",
                              split="test", download=False)

Requirements: ``tensorflow-datasets`` (with its ``array_record`` dependency) and
``pillow`` (PNG encoding when building; TFDS decodes images with OpenCV if
installed, else Pillow). ``tensorflow_datasets`` is imported lazily, on first
use of a builder class or function of this module, so importing this module
(or :mod:`snnjax.data`) does not import it.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snnjax.data import cifar as _cifar
from snnjax.data._checks import check_path
from snnjax.data.datasets import (
    EMNIST_SUBSETS,
    SPLITS,
    _resolve,
    emnist_files,
    load_emnist,
    load_fashion_mnist,
    load_mnist,
    mnist_files,
)
from snnjax.data.idx import SHA256SUMS, read_sha256sums, verify_checksums
from snnjax.data.pipeline import _check_int
from snnjax.validation import check_bool, check_callable, check_option, describe

__all__ = [
    "LocalMnist",
    "LocalFashionMnist",
    "LocalEmnist",
    "LocalCifar10",
    "LocalCifar100",
    "DATASETS",
    "builder_class",
    "build",
    "build_and_load",
    "to_numpy",
]

PathLike = str | os.PathLike

DATASETS = ("mnist", "fashion_mnist", "emnist", "cifar10", "cifar100")
"""Dataset names accepted by :func:`build` / :func:`build_and_load` (``emnist/<subset>`` too)."""

_CIFAR = ("cifar10", "cifar100")
_BUILDER_NAMES = ("LocalMnist", "LocalFashionMnist", "LocalEmnist", "LocalCifar10", "LocalCifar100")

_VERSION = "1.0.0"

_IMAGE_SHAPE = (28, 28, 1)
_FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_DIGITS = tuple("0123456789")
_UPPER = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = tuple("abcdefghijklmnopqrstuvwxyz")
# Class names per EMNIST subset, indexed by the stored label (the official mapping files).
_EMNIST_NAMES = {
    "byclass": _DIGITS + _UPPER + _LOWER,  # 62
    "bymerge": _DIGITS + _UPPER + tuple("abdefghnqrt"),  # 47
    "balanced": _DIGITS + _UPPER + tuple("abdefghnqrt"),  # 47
    # labels 1-26 (upper and lower case merged); there is no class 0
    "letters": ("(none)",) + tuple(f"{u}/{lo}" for u, lo in zip(_UPPER, _LOWER)),  # 27
    "digits": _DIGITS,
    "mnist": _DIGITS,
}

_INSTRUCTIONS = """\
Put the dataset's IDX files (gzip-compressed as distributed, or uncompressed
without the .gz) in one directory together with a SHA256SUMS file listing them
(`cd DIR && sha256sum *.gz > SHA256SUMS`). Pass that directory as
`tfds.download.DownloadConfig(manual_dir=DIR)` (the default is
<data_dir>/downloads/manual), or call
`snnjax.data.tfds.build_and_load(name, DIR, tfds_data_dir, split)`.
Expected files: {files}.
"""

_CIFAR_INSTRUCTIONS = """\
Download the python version of {title} ({archive}) from
https://www.cs.toronto.edu/~kriz/cifar.html. Use as the manual directory (or pass
as `cifar_path`, or as `data_dir_idx` to `snnjax.data.tfds.build_and_load`) the
archive, the directory holding it, the extracted {folder} folder ({files}) or the
directory holding that folder. Files are checked against a SHA256SUMS beside
them when it lists them, else against the published MD5s.
"""


def _tfds():
    """Import ``tensorflow_datasets`` (lazily), with a clear error if missing."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "snnjax.data.tfds needs tensorflow-datasets (and array_record): "
            "pip install tensorflow-datasets array_record pillow"
        ) from e
    return tfds


def _png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 [H, W] or [H, W, 3] image (Pillow; TFDS would need TF)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("building TFDS image datasets without TensorFlow needs pillow") from e
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- builders


def _check_source(directory: Path, files: list[str]) -> dict[str, str]:
    """Resolve ``files`` in ``directory`` (``.gz`` or uncompressed twin), verify them
    against ``SHA256SUMS`` and return ``{resolved name: sha256}``."""
    return verify_checksums(directory, _check_present(directory, files))


def _check_present(directory: Path, files: list[str]) -> list[str]:
    """The resolved names of ``files`` in ``directory``; ``FileNotFoundError`` naming what
    is missing (a file, ``SHA256SUMS`` or the directory). Reads no data."""
    if not directory.is_dir():
        raise FileNotFoundError(f"IDX directory not found: {directory}")
    resolved = [_resolve(directory, name) for name in files]
    missing = [name for name, r in zip(files, resolved) if r is None]
    if missing:
        raise FileNotFoundError(
            f"missing in {directory}: {', '.join(missing)} "
            f"(expected {', '.join(files)} and {SHA256SUMS}; "
            "uncompressed files without .gz are accepted too)"
        )
    if not (directory / SHA256SUMS).is_file():
        raise FileNotFoundError(
            f"{directory / SHA256SUMS} does not exist; the TFDS builders verify every file, "
            f"so create it with `cd {directory} && sha256sum {' '.join(resolved)} > {SHA256SUMS}`"
        )
    return resolved


def _make_base(tfds):
    class _LocalIdxBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """Shared logic: verify the manual dir's IDX files, then yield the loader's arrays."""

        VERSION = tfds.core.Version(_VERSION)
        RELEASE_NOTES = {_VERSION: "Initial release: built from local IDX files."}
        DESCRIPTION = ""
        HOMEPAGE = ""
        CITATION = ""

        def _class_label(self):
            raise NotImplementedError

        def _files(self, split: str) -> tuple[str, str]:
            raise NotImplementedError

        def _load(self, directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
            raise NotImplementedError

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description=self.DESCRIPTION,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=_IMAGE_SHAPE),
                        "label": self._class_label(),
                    }
                ),
                supervised_keys=("image", "label"),
                homepage=self.HOMEPAGE,
                citation=self.CITATION,
                metadata=tfds.core.MetadataDict(),
                disable_shuffling=True,  # keep the IDX files' order
            )

        def _split_generators(self, dl_manager):
            directory = Path(os.fspath(dl_manager.manual_dir))
            # Verify every split's files before any split is written.
            sums: dict[str, str] = {}
            for split in SPLITS:
                sums.update(_check_source(directory, list(self._files(split))))
            self.info.metadata["source_sha256"] = dict(sorted(sums.items()))
            return {split: self._generate_examples(directory, split) for split in SPLITS}

        def _generate_examples(self, directory: Path, split: str):
            images, labels = self._load(directory, split)
            for i in range(labels.shape[0]):
                yield i, {"image": _png(images[i]), "label": int(labels[i])}

    return _LocalIdxBuilder


def _make_cifar_base(tfds):
    class _LocalCifarBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """Shared logic: read (and verify) every file with snnjax.data.cifar, then yield it."""

        VERSION = tfds.core.Version(_VERSION)
        RELEASE_NOTES = {_VERSION: "Initial release: built from the local python-version files."}
        DATASET = ""  # "cifar10" or "cifar100"
        DESCRIPTION = ""
        HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
        CITATION = """\
@TECHREPORT{Krizhevsky09learningmultiple,
    author = {Alex Krizhevsky},
    title = {Learning multiple layers of features from tiny images},
    institution = {},
    year = {2009}
}"""

        def __init__(self, *, cifar_path: PathLike | None = None, **kwargs: Any):
            """Create the builder.

            Args:
              cifar_path: the CIFAR files, anything :func:`snnjax.data.load_cifar10`
                accepts (folder, archive, or a directory holding either); ``None``
                reads ``dl_manager.manual_dir``.
              **kwargs: passed to ``tfds.core.GeneratorBasedBuilder`` (``data_dir``,
                ``file_format``, ...).
            """
            self._cifar_path = None if cifar_path is None else Path(os.fspath(cifar_path))
            super().__init__(**kwargs)

        def _label_features(self) -> dict[str, Any]:
            raise NotImplementedError

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description=self.DESCRIPTION,
                features=tfds.features.FeaturesDict(
                    {
                        "id": tfds.features.Text(),
                        "image": tfds.features.Image(shape=_cifar._IMAGE_SHAPE),
                        **self._label_features(),
                    }
                ),
                supervised_keys=("image", "label"),
                homepage=self.HOMEPAGE,
                citation=self.CITATION,
                metadata=tfds.core.MetadataDict(),
                disable_shuffling=True,  # keep the files' order
            )

        def _split_generators(self, dl_manager):
            path = self._cifar_path
            if path is None:
                path = Path(os.fspath(dl_manager.manual_dir))
            # Reads and verifies every file (both splits and the meta file) before
            # any split is written.
            loc, splits, names = _cifar._read_all(path, self.DATASET, verify=True)
            self.info.features["label"].names = list(names["fine"])
            if "coarse" in names:
                self.info.features["coarse_label"].names = list(names["coarse"])
            self.info.metadata["source_checksums"] = loc.expected_checksums()
            return {s: self._generate_examples(s, *splits[s]) for s in SPLITS}

        def _generate_examples(self, split: str, images: np.ndarray, labels: dict):
            keys = {"fine": "label", "coarse": "coarse_label"}
            for i in range(images.shape[0]):
                record = {"id": f"{split}_{i:05d}", "image": _png(images[i])}
                for mode, lab in labels.items():
                    record[keys[mode]] = int(lab[i])
                yield i, record

    return _LocalCifarBuilder


def _define_builders(tfds) -> dict[str, type]:
    base = _make_base(tfds)
    cifar_base = _make_cifar_base(tfds)
    mnist_instructions = _INSTRUCTIONS.format(files=", ".join(f for s in SPLITS for f in mnist_files(s)))

    class LocalMnist(base):
        """MNIST from local IDX files (``local_mnist``); see :func:`snnjax.data.load_mnist`."""

        MANUAL_DOWNLOAD_INSTRUCTIONS = mnist_instructions
        DESCRIPTION = "The MNIST database of handwritten digits, built from local IDX files."
        HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"

        def _class_label(self):
            return tfds.features.ClassLabel(num_classes=10)

        def _files(self, split):
            return mnist_files(split)

        def _load(self, directory, split):
            return load_mnist(directory, split)

    class LocalFashionMnist(base):
        """Fashion-MNIST from local IDX files (``local_fashion_mnist``)."""

        MANUAL_DOWNLOAD_INSTRUCTIONS = mnist_instructions
        DESCRIPTION = "Fashion-MNIST (Zalando article images), built from local IDX files."
        HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"

        def _class_label(self):
            return tfds.features.ClassLabel(names=list(_FASHION_NAMES))

        def _files(self, split):
            return mnist_files(split)

        def _load(self, directory, split):
            return load_fashion_mnist(directory, split)

    class LocalEmnist(base):
        """EMNIST from local IDX files (``local_emnist/<subset>``), images upright
        as :func:`snnjax.data.load_emnist` returns them."""

        BUILDER_CONFIGS = [
            tfds.core.BuilderConfig(name=subset, description=f"EMNIST {subset}") for subset in EMNIST_SUBSETS
        ]
        MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS.format(
            files="emnist-<subset>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz "
            "(the gzip/ folder of the official gzip.zip)"
        )
        DESCRIPTION = "EMNIST (Cohen et al., 2017), built from local IDX files; images upright."
        HOMEPAGE = "https://www.nist.gov/itl/products-and-services/emnist-dataset"

        def _class_label(self):
            return tfds.features.ClassLabel(names=list(_EMNIST_NAMES[self.builder_config.name]))

        def _files(self, split):
            return emnist_files(split, self.builder_config.name)

        def _load(self, directory, split):
            return load_emnist(directory, split, self.builder_config.name)

    def cifar_instructions(dataset: str) -> str:
        spec = _cifar._SPECS[dataset]
        return _CIFAR_INSTRUCTIONS.format(
            title=spec.title,
            archive=spec.archive,
            folder=spec.folder,
            files=", ".join(spec.all_files),
        )

    class LocalCifar10(cifar_base):
        """CIFAR-10 from the local python-version files (``local_cifar10``); see
        :func:`snnjax.data.load_cifar10`. Features as TFDS's ``cifar10``."""

        DATASET = "cifar10"
        MANUAL_DOWNLOAD_INSTRUCTIONS = cifar_instructions("cifar10")
        DESCRIPTION = (
            "CIFAR-10: 60000 32x32 colour images in 10 classes (50000 train, 10000 test), "
            "built from the local python-version files."
        )

        def _label_features(self):
            return {"label": tfds.features.ClassLabel(num_classes=10)}

    class LocalCifar100(cifar_base):
        """CIFAR-100 from the local python-version files (``local_cifar100``); see
        :func:`snnjax.data.load_cifar100`. Features as TFDS's ``cifar100``: ``label``
        (fine, 100 classes) and ``coarse_label`` (20 superclasses)."""

        DATASET = "cifar100"
        MANUAL_DOWNLOAD_INSTRUCTIONS = cifar_instructions("cifar100")
        DESCRIPTION = (
            "CIFAR-100: 60000 32x32 colour images, 100 fine classes in 20 superclasses "
            "(50000 train, 10000 test), built from the local python-version files."
        )

        def _label_features(self):
            return {
                "label": tfds.features.ClassLabel(num_classes=100),
                "coarse_label": tfds.features.ClassLabel(num_classes=20),
            }

    classes = {
        "mnist": LocalMnist,
        "fashion_mnist": LocalFashionMnist,
        "emnist": LocalEmnist,
        "cifar10": LocalCifar10,
        "cifar100": LocalCifar100,
    }
    for cls in classes.values():
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return classes


def _registered(tfds, name: str) -> bool:
    registry = getattr(getattr(tfds.core, "registered", None), "_DATASET_REGISTRY", {})
    return name in registry


@functools.cache
def _builders() -> dict[str, type]:
    tfds = _tfds()
    # Register the names (``tfds.builder("local_mnist")``) unless a previous copy of
    # this module (e.g. after importlib.reload) already did.
    if _registered(tfds, "local_mnist"):
        with tfds.core.registered.skip_registration():
            classes = _define_builders(tfds)
    else:
        classes = _define_builders(tfds)
    for cls in classes.values():
        globals()[cls.__name__] = cls  # so pickle and later lookups find them
    return classes


def __getattr__(name: str) -> Any:
    # The builder classes are created (and tensorflow_datasets imported) on first access.
    if name in _BUILDER_NAMES:
        return {cls.__name__: cls for cls in _builders().values()}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse_name(name: str) -> tuple[str, str | None]:
    """``"mnist"`` / ``"local_emnist/digits"`` ... -> (dataset key, config or None)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
    base, _, config = name.strip().partition("/")
    base = base.removeprefix("local_")
    check_option("name", base, DATASETS)
    if base == "emnist":
        config = config or "byclass"
        check_option("EMNIST subset", config, EMNIST_SUBSETS)
        return base, config
    if config:
        raise ValueError(f"{base} has no builder configs, got {name!r}")
    return base, None


def builder_class(name: str) -> type:
    """The builder class for ``"mnist"``, ``"fashion_mnist"``, ``"emnist"``, ``"cifar10"``
    or ``"cifar100"`` (``local_`` prefix and ``/<subset>`` suffix accepted and ignored)."""
    return _builders()[_parse_name(name)[0]]


# --------------------------------------------------------------------------- build / load


def _tfds_name(name: str) -> str:
    base, config = _parse_name(name)
    return f"local_{base}" + (f"/{config}" if config else "")


def _cifar_recorded_mismatch(builder, loc) -> list[str]:
    """Files the built CIFAR dataset was checked against differently than ``loc``'s are now.

    Two sources are the same data when every check is identical, or when both were
    checked against the published MD5s only (the official release, as folder or
    archive)."""
    recorded = (builder.info.metadata or {}).get("source_checksums")
    if not recorded:
        return []
    current = loc.expected_checksums()
    if dict(recorded) == current:
        return []

    def official(sums):
        return all(str(v).startswith("md5:") for v in sums.values())

    if official(recorded) and official(current):
        return []
    return sorted(n for n in set(recorded) | set(current) if recorded.get(n) != current.get(n))


def _recorded_mismatch(builder, directory: Path) -> list[str]:
    """Files whose ``SHA256SUMS`` entry in ``directory`` differs from the built dataset's record."""
    recorded = (builder.info.metadata or {}).get("source_sha256")
    if not recorded or not (directory / SHA256SUMS).is_file():
        return []
    current = read_sha256sums(directory / SHA256SUMS)
    return sorted(n for n, h in recorded.items() if current.get(n, h) != h)


def build(
    name: str,
    data_dir_idx: PathLike,
    tfds_data_dir: PathLike,
    *,
    overwrite: bool = False,
):
    """Build (if not built yet) a TFDS ``array_record`` dataset from local files.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"``, ``"emnist"`` (= ``"emnist/byclass"``),
        ``"emnist/<subset>"``, ``"cifar10"`` or ``"cifar100"``; a ``local_`` prefix
        is accepted.
      data_dir_idx: for the MNIST family, the directory holding the IDX files and
        ``SHA256SUMS`` (the builder's manual directory); for CIFAR, anything
        :func:`snnjax.data.load_cifar10` accepts (the extracted folder, the
        ``.tar.gz`` archive, or a directory holding either).
      tfds_data_dir: TFDS ``data_dir`` to write to (``<tfds_data_dir>/local_mnist/1.0.0/...``).
      overwrite: rebuild even if the dataset already exists there.

    Returns:
      The prepared ``tfds.core.DatasetBuilder``.

    Raises:
      FileNotFoundError: if ``data_dir_idx``, a data file or (IDX) ``SHA256SUMS`` is missing.
      ValueError: on a bad ``name``, a checksum mismatch or a corrupted file; or if
        ``tfds_data_dir`` already holds this dataset built from files whose hashes
        differ from ``data_dir_idx``'s (``SHA256SUMS`` entries; for CIFAR, also a
        switch between the published MD5s and a ``SHA256SUMS``); pass
        ``overwrite=True`` or use another ``tfds_data_dir``.
    """
    base, config = _parse_name(name)
    overwrite = check_bool("overwrite", overwrite)
    tfds_data_dir = check_path("tfds_data_dir", tfds_data_dir)
    if tfds_data_dir.exists() and not tfds_data_dir.is_dir():
        raise ValueError(f"tfds_data_dir {tfds_data_dir} exists and is not a directory")
    kwargs: dict[str, Any] = {}
    check_path("data_dir_idx", data_dir_idx)
    if base in _CIFAR:
        loc = _cifar._locate(data_dir_idx, base)  # FileNotFoundError saying what is expected
        directory = loc.path if loc.kind == "folder" else loc.path.parent
        kwargs["cifar_path"] = loc.path
    else:
        directory = check_path("data_dir_idx", data_dir_idx)
        if not directory.is_dir():
            raise FileNotFoundError(f"IDX directory not found: {directory}")
    tfds = _tfds()
    cls = _builders()[base]
    builder = cls(data_dir=os.fspath(tfds_data_dir), config=config, file_format="array_record", **kwargs)
    if builder.is_prepared() and not overwrite:
        if base in _CIFAR:
            stale, source, what = _cifar_recorded_mismatch(builder, loc), loc.path, "checksums"
        else:
            stale, source, what = _recorded_mismatch(builder, directory), directory, "SHA256SUMS"
        if stale:
            raise ValueError(
                f"{builder.data_dir} was built from different files than {source} holds "
                f"({what} differ for {', '.join(stale)}); pass overwrite=True to rebuild "
                "or use another tfds_data_dir"
            )
        return builder
    if base not in _CIFAR:
        # every split's files and SHA256SUMS must be there before TFDS creates anything
        _check_present(directory, [f for s in SPLITS for f in _idx_files(base, config, s)])
    mode = tfds.download.GenerateMode
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(directory),
            download_mode=mode.REUSE_CACHE_IF_EXISTS if overwrite else mode.REUSE_DATASET_IF_EXISTS,
        )
    )
    return builder


def _idx_files(base: str, config: str | None, split: str) -> tuple[str, str]:
    return emnist_files(split, config) if base == "emnist" else mnist_files(split)


_SPLIT_NAME = re.compile(r"^\s*([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$")


def _check_split(split: Any) -> None:
    """``split``: ``None``, or a TFDS split expression over ``train`` / ``test``
    (``"train"``, ``"train[:10%]"``, ``"train+test"``), checked before anything is built."""
    if split is None:
        return
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a str (a TFDS split such as 'train' or 'train[:10%]') or None, got {describe(split)}"
        )
    for part in split.split("+"):
        m = _SPLIT_NAME.match(part)
        if m is None or m.group(1) not in SPLITS + ("all",):
            raise ValueError(
                f"split must be None or a split expression over {SPLITS + ('all',)!r} "
                "(e.g. 'train', "
                f"'test[:50%]', 'train+test'), got {split!r}"
            )


def build_and_load(
    name: str,
    data_dir_idx: PathLike,
    tfds_data_dir: PathLike,
    split: str | None = "train",
    *,
    overwrite: bool = False,
):
    """Build with :func:`build` (``array_record`` files) and open it with ``tfds.data_source``.

    Args:
      name: as for :func:`build`.
      data_dir_idx: as for :func:`build`.
      tfds_data_dir: as for :func:`build`.
      split: ``"train"``, ``"test"``, a TFDS split expression (``"train[:10%]"``), or
        ``None`` for a dict of all splits.
      overwrite: as for :func:`build`.

    Returns:
      A random-access data source (``len(source)``, ``source[i]`` ->
      ``{"image": uint8 [28, 28, 1], "label": int}``; for CIFAR ``{"id": str,
      "image": uint8 [32, 32, 3], "label": int}`` and ``"coarse_label"`` for
      CIFAR-100) needing no TensorFlow; see :func:`to_numpy`.

    Raises:
      FileNotFoundError: as for :func:`build`.
      ValueError: as for :func:`build`; also for a ``split`` that is not ``None`` or an
        expression over ``"train"`` / ``"test"`` (checked before building).
      TypeError: for a ``split`` that is neither a ``str`` nor ``None``.
    """
    _check_split(split)
    build(name, data_dir_idx, tfds_data_dir, overwrite=overwrite)
    return _tfds().data_source(_tfds_name(name), data_dir=os.fspath(tfds_data_dir), split=split, download=False)


def to_numpy(
    source,
    *,
    batch_size: int = 4096,
    label_dtype: Any = None,
    label_key: str = "label",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole TFDS data source of ``uint8`` images into NumPy arrays.

    Works on sources from :func:`build_and_load` and on TFDS's own
    ``tfds.data_source("mnist" | "fashion_mnist" | "emnist/..." | "cifar10" |
    "cifar100", split=...)`` (same features), giving what
    :func:`snnjax.data.load_mnist` / :func:`snnjax.data.load_cifar10` /
    :func:`snnjax.data.load_cifar100` return.

    Args:
      source: a data source for one split (``len`` and ``[i]``; ``__getitems__``
        is used when present).
      batch_size: records decoded per request.
      label_dtype: dtype of the returned labels; ``None`` gives the matching
        loader's: ``uint8`` for 28x28 grayscale images (the IDX loaders),
        ``int32`` otherwise (the CIFAR loaders). Labels that do not fit raise
        ``ValueError``.
      label_key: the record's label feature: ``"label"``, or ``"coarse_label"``
        for CIFAR-100's superclasses.
      progress: optional ``callable(done, total)`` called after each batch.

    Returns:
      ``(images, labels)``: ``uint8`` images in the source's order, ``[N, H, W]``
      for single-channel images (``[N, 28, 28]`` for MNIST) and ``[N, H, W, C]``
      otherwise (``[N, 32, 32, 3]`` for CIFAR), and ``label_dtype`` labels ``[N]``.

    Raises:
      TypeError: if ``source`` is a dict of splits rather than one split, or not a
        sequence of records; or another argument has the wrong type (``label_dtype``
        must be an integer dtype).
      ValueError: if ``source`` is empty, a record is not a mapping with an ``image``
        and ``label_key``, its image is not ``uint8`` ``[H, W]`` / ``[H, W, C]`` of
        the first record's shape, or its label is not an integer.
    """
    if isinstance(source, dict):
        raise TypeError(f"to_numpy takes the data source of one split, got a dict of splits {sorted(source)}")
    if not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
        raise TypeError(
            f"source must be a data source of one split (len(source) and source[i]), "
            f"e.g. from build_and_load or tfds.data_source, got {describe(source)}"
        )
    batch_size = _check_int("batch_size", batch_size, 1)
    if not isinstance(label_key, str):
        raise TypeError(f"label_key must be a str, got {describe(label_key)}")
    check_callable("progress", progress, allow_none=True, signature="(done, total)")
    if label_dtype is not None:
        try:
            label_dtype = np.dtype(label_dtype)
        except TypeError as e:
            raise TypeError(f"label_dtype must be None or an integer dtype, got {label_dtype!r}: {e}") from None
        if label_dtype.kind not in "iu":
            raise TypeError(f"label_dtype must be None or an integer dtype (uint8, int32, ...), got {label_dtype}")
    n = len(source)
    if n == 0:
        raise ValueError("source is empty (0 records); pass the data source of a non-empty split")
    images = None
    labels = np.empty((n,), np.int64)
    get_many = getattr(source, "__getitems__", None)
    for start in range(0, n, batch_size):
        keys = list(range(start, min(start + batch_size, n)))
        records = get_many(keys) if get_many is not None else [source[k] for k in keys]
        for k, rec in zip(keys, records):
            if not isinstance(rec, Mapping) or "image" not in rec:
                raise ValueError(
                    f"record {k}: expected a mapping with an 'image' feature (and {label_key!r}), "
                    f"got {describe(rec) if not isinstance(rec, Mapping) else sorted(rec)}"
                )
            img = np.asarray(rec["image"])
            if images is None:  # the first record fixes the shape
                if img.dtype != np.uint8 or img.ndim not in (2, 3):
                    raise ValueError(
                        f"record {k}: expected a uint8 [H, W, C] image (e.g. [28, 28, 1] or "
                        f"[32, 32, 3]), got {img.dtype} {img.shape}"
                    )
                stored = img.shape
                images = np.empty((n, *_squeeze_channel(stored)), np.uint8)
            if img.dtype != np.uint8 or img.shape != stored:
                raise ValueError(
                    f"record {k}: expected a uint8 {list(stored)} image (the first record's "
                    f"shape), got {img.dtype} {img.shape}"
                )
            images[k] = img.reshape(images.shape[1:])
            if label_key not in rec:
                raise ValueError(f"record {k} has no {label_key!r} feature (it has {sorted(rec)}); pass label_key")
            labels[k] = _label_value(rec[label_key], k, label_key)
        if progress is not None:
            progress(keys[-1] + 1, n)
    if label_dtype is None:
        label_dtype = np.uint8 if images.shape[1:] == (28, 28) else np.int32
    dtype = np.dtype(label_dtype)
    if n and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if labels.min() < info.min or labels.max() > info.max:
            raise ValueError(f"labels range {labels.min()}..{labels.max()} does not fit {dtype}; pass label_dtype")
    return images, labels.astype(dtype)


def _squeeze_channel(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``(H, W, 1)`` -> ``(H, W)``; other shapes unchanged."""
    return tuple(shape[:-1]) if len(shape) == 3 and shape[-1] == 1 else tuple(shape)


def _label_value(value: Any, k: int, label_key: str) -> int:
    """A record's label as an int; a float, bool, string or array names the record."""
    v = np.asarray(value)
    if v.ndim != 0 or v.dtype.kind not in "iu" or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"record {k}: {label_key!r} must be an integer class index, got {describe(value)}")
    return int(v)
