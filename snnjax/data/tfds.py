"""TensorFlow Datasets (TFDS) builders for MNIST, Fashion-MNIST and EMNIST from local IDX files.

This is the TFDS route to the same data that :func:`snnjax.data.load_mnist` and
friends read: ``tfds.core.GeneratorBasedBuilder`` subclasses that build a TFDS
dataset from a local directory of the official IDX files (no download), written
as ``array_record`` files and read back with ``tfds.data_source`` (random
access, decoded to NumPy). TensorFlow is not needed for any of it.

* :class:`LocalMnist` (TFDS name ``local_mnist``) reads what
  :func:`snnjax.data.load_mnist` reads;
* :class:`LocalFashionMnist` (``local_fashion_mnist``): :func:`snnjax.data.load_fashion_mnist`;
* :class:`LocalEmnist` (``local_emnist/<subset>``): :func:`snnjax.data.load_emnist`.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snnjax._src import check_option
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

__all__ = [
    "LocalMnist",
    "LocalFashionMnist",
    "LocalEmnist",
    "DATASETS",
    "builder_class",
    "build",
    "build_and_load",
    "to_numpy",
]

PathLike = str | os.PathLike

DATASETS = ("mnist", "fashion_mnist", "emnist")
"""Dataset names accepted by :func:`build` / :func:`build_and_load` (``emnist/<subset>`` too)."""

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
    """Lossless PNG bytes of a uint8 [28, 28] image (Pillow; TFDS would need TensorFlow)."""
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
    return verify_checksums(directory, resolved)


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


def _define_builders(tfds) -> dict[str, type]:
    base = _make_base(tfds)
    mnist_instructions = _INSTRUCTIONS.format(
        files=", ".join(f for s in SPLITS for f in mnist_files(s))
    )

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
            tfds.core.BuilderConfig(name=subset, description=f"EMNIST {subset}")
            for subset in EMNIST_SUBSETS
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

    classes = {"mnist": LocalMnist, "fashion_mnist": LocalFashionMnist, "emnist": LocalEmnist}
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
    # LocalMnist / LocalFashionMnist / LocalEmnist are created (and tensorflow_datasets
    # imported) on first access.
    if name in ("LocalMnist", "LocalFashionMnist", "LocalEmnist"):
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
    """The builder class for ``"mnist"``, ``"fashion_mnist"`` or ``"emnist"``
    (``local_`` prefix and ``/<subset>`` suffix accepted and ignored)."""
    return _builders()[_parse_name(name)[0]]


# --------------------------------------------------------------------------- build / load


def _tfds_name(name: str) -> str:
    base, config = _parse_name(name)
    return f"local_{base}" + (f"/{config}" if config else "")


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
    """Build (if not built yet) a TFDS ``array_record`` dataset from local IDX files.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"``, ``"emnist"`` (= ``"emnist/byclass"``)
        or ``"emnist/<subset>"``; a ``local_`` prefix is accepted.
      data_dir_idx: directory holding the IDX files and ``SHA256SUMS`` (the
        builder's manual directory).
      tfds_data_dir: TFDS ``data_dir`` to write to (``<tfds_data_dir>/local_mnist/1.0.0/...``).
      overwrite: rebuild even if the dataset already exists there.

    Returns:
      The prepared ``tfds.core.DatasetBuilder``.

    Raises:
      FileNotFoundError: if ``data_dir_idx``, a data file or ``SHA256SUMS`` is missing.
      ValueError: on a bad ``name``, a checksum mismatch or a corrupted file; or if
        ``tfds_data_dir`` already holds this dataset built from files whose hashes
        differ from ``data_dir_idx``'s ``SHA256SUMS`` (pass ``overwrite=True`` or
        use another ``tfds_data_dir``).
    """
    tfds = _tfds()
    base, config = _parse_name(name)
    directory = Path(data_dir_idx)
    if not directory.is_dir():
        raise FileNotFoundError(f"IDX directory not found: {directory}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    cls = _builders()[base]
    builder = cls(data_dir=os.fspath(tfds_data_dir), config=config, file_format="array_record")
    if builder.is_prepared() and not overwrite:
        stale = _recorded_mismatch(builder, directory)
        if stale:
            raise ValueError(
                f"{builder.data_dir} was built from different files than {directory} holds "
                f"(SHA256SUMS differ for {', '.join(stale)}); pass overwrite=True to rebuild "
                "or use another tfds_data_dir"
            )
        return builder
    mode = tfds.download.GenerateMode
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(directory),
            download_mode=mode.REUSE_CACHE_IF_EXISTS if overwrite else mode.REUSE_DATASET_IF_EXISTS,
        )
    )
    return builder


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
      name, data_dir_idx, tfds_data_dir, overwrite: as for :func:`build`.
      split: ``"train"``, ``"test"``, a TFDS split expression (``"train[:10%]"``), or
        ``None`` for a dict of all splits.

    Returns:
      A random-access data source (``len(source)``, ``source[i]`` ->
      ``{"image": uint8 [28, 28, 1], "label": int}``) needing no TensorFlow;
      see :func:`to_numpy`.
    """
    build(name, data_dir_idx, tfds_data_dir, overwrite=overwrite)
    return _tfds().data_source(
        _tfds_name(name), data_dir=os.fspath(tfds_data_dir), split=split, download=False
    )


def to_numpy(
    source,
    *,
    batch_size: int = 4096,
    label_dtype: Any = np.uint8,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole TFDS data source of 28x28 grayscale images into NumPy arrays.

    Works on sources from :func:`build_and_load` and on TFDS's own
    ``tfds.data_source("mnist" | "fashion_mnist" | "emnist/...", split=...)``
    (same features), giving what :func:`snnjax.data.load_mnist` returns.

    Args:
      source: a data source for one split (``len`` and ``[i]``; ``__getitems__``
        is used when present).
      batch_size: records decoded per request.
      label_dtype: dtype of the returned labels (``uint8``, as the IDX loaders
        return, by default); labels that do not fit raise ``ValueError``.
      progress: optional ``callable(done, total)`` called after each batch.

    Returns:
      ``(images, labels)``: ``uint8`` ``[N, 28, 28]`` and ``label_dtype`` ``[N]``,
      in the source's order.

    Raises:
      TypeError: if ``source`` is a dict of splits rather than one split.
      ValueError: if a record is not a 28x28(x1) uint8 image with an integer label.
    """
    if isinstance(source, dict):
        raise TypeError(
            f"to_numpy takes the data source of one split, got a dict of splits {sorted(source)}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = len(source)
    images = np.empty((n, 28, 28), np.uint8)
    labels = np.empty((n,), np.int64)
    get_many = getattr(source, "__getitems__", None)
    for start in range(0, n, batch_size):
        keys = list(range(start, min(start + batch_size, n)))
        records = get_many(keys) if get_many is not None else [source[k] for k in keys]
        for k, rec in zip(keys, records):
            img = np.asarray(rec["image"])
            if img.dtype != np.uint8 or img.shape not in ((28, 28, 1), (28, 28)):
                raise ValueError(
                    f"record {k}: expected a uint8 [28, 28, 1] image, got {img.dtype} {img.shape}"
                )
            images[k] = img.reshape(28, 28)
            labels[k] = int(rec["label"])
        if progress is not None:
            progress(keys[-1] + 1, n)
    dtype = np.dtype(label_dtype)
    if n and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if labels.min() < info.min or labels.max() > info.max:
            raise ValueError(
                f"labels range {labels.min()}..{labels.max()} does not fit {dtype}; "
                "pass label_dtype"
            )
    return images, labels.astype(dtype)
