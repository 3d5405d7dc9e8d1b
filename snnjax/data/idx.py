"""IDX files (the MNIST family's format), gzip-compressed or raw, and SHA-256 checks.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian ``uint32`` dimension sizes, then the data in C order, big-endian:

======  ===========  ==============
type    element      NumPy dtype
======  ===========  ==============
0x08    uint8        ``uint8``
0x09    int8         ``int8``
0x0B    int16        ``int16``
0x0C    int32        ``int32``
0x0D    float32      ``float32``
0x0E    float64      ``float64``
======  ===========  ==============

Checksums use ``SHA256SUMS`` files in ``sha256sum`` format: one
``<64 hex digits>  <file name>`` line per file (``<hex> *<name>`` for binary
mode is accepted too), names relative to the directory holding ``SHA256SUMS``.
Hashes are of the file bytes as stored (the compressed bytes for ``.gz``).

Only NumPy and the standard library are used here.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import re
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from snnjax.data._checks import check_file_name, check_path, decode_text
from snnjax.validation import describe

__all__ = [
    "read_idx",
    "write_idx",
    "sha256_file",
    "read_sha256sums",
    "write_sha256sums",
    "verify_checksums",
    "SHA256SUMS",
]

SHA256SUMS = "SHA256SUMS"
"""Name of the checksum file looked for in a data directory."""

# type code -> big-endian dtype as stored in the file
_CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# (kind, itemsize) of a native array -> type code
_KIND_TO_CODE = {
    ("u", 1): 0x08,
    ("i", 1): 0x09,
    ("i", 2): 0x0B,
    ("i", 4): 0x0C,
    ("f", 4): 0x0D,
    ("f", 8): 0x0E,
}
_GZIP_MAGIC = b"\x1f\x8b"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")

PathLike = str | os.PathLike


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    return path.read_bytes()


def sha256_file(path: PathLike) -> str:
    """SHA-256 of a file's bytes as a lowercase hex string.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      TypeError: if ``path`` is not a ``str`` / ``os.PathLike``.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_hash(path: Path, actual: str, expected: str) -> None:
    if actual != expected.lower():
        raise ValueError(
            f"checksum mismatch for {path}: expected sha256 {expected.lower()}, got {actual} "
            "(the file is corrupted, incomplete or not the expected version)"
        )


def read_idx(path: PathLike, *, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a NumPy array.

    Compression is detected from the content (the gzip magic bytes), not the
    file name, so ``foo-idx3-ubyte`` and ``foo-idx3-ubyte.gz`` both work.

    Args:
      path: the file to read.
      expected_sha256: if given, the SHA-256 (hex) the file's stored bytes must
        have; checked before anything is decoded.

    Returns:
      A writable C-contiguous array with the file's shape and the dtype of its
      type code (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
      ``float64``) in native byte order.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      TypeError: if ``path`` is not a path or ``expected_sha256`` not a ``str``.
      ValueError: naming the file, if the checksum does not match (both hashes
        are given), the gzip stream is corrupted or truncated, the magic number
        is invalid, or the data is shorter or longer than the header says.
    """
    path = check_path("path", path)
    if expected_sha256 is not None:
        if not isinstance(expected_sha256, str):
            raise TypeError(f"expected_sha256 must be a str of 64 hex digits or None, got {describe(expected_sha256)}")
        if not _HEX64.match(expected_sha256):
            raise ValueError(f"expected_sha256 must be 64 hex digits, got {expected_sha256!r}")
    raw = _read_bytes(path)
    if expected_sha256 is not None:
        _check_hash(path, hashlib.sha256(raw).hexdigest(), expected_sha256)

    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"{path} is not a valid gzip file (truncated or corrupted): {type(e).__name__}: {e}"
            ) from e

    if len(raw) < 4:
        raise ValueError(f"{path} is too short to be an IDX file ({len(raw)} bytes, need at least 4)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _CODE_TO_DTYPE:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()} "
            f"(expected 0x0000TTNN with type TT in {{08, 09, 0B, 0C, 0D, 0E}})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: header declares {ndim} dimensions but the file ends early")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge headers
    have = len(raw) - header
    if have < expected:
        raise ValueError(
            f"{path} is truncated: header says shape {shape} of {dtype.name} "
            f"({expected} data bytes) but only {have} bytes follow"
        )
    if have > expected:
        raise ValueError(
            f"{path} is corrupted: header says shape {shape} of {dtype.name} "
            f"({expected} data bytes) but {have} bytes follow"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends in ``.gz``.

    The gzip header carries no timestamp or file name, so the same array always
    gives the same bytes (and the same checksum) with a given zlib.

    Args:
      path: destination file (its directory must exist).
      array: array of dtype ``uint8``, ``int8``, ``int16``, ``int32``,
        ``float32`` or ``float64``, with at most 255 dimensions each < 2**32.

    Returns:
      ``path`` as a :class:`pathlib.Path`.

    Raises:
      TypeError: if ``path`` is not a path, or ``array``'s dtype has no IDX type code.
      ValueError: if ``array`` has too many dimensions or a dimension too large.
      FileNotFoundError: if the directory of ``path`` does not exist.
    """
    path = check_path("path", path)
    try:
        arr = np.asarray(array)
    except (TypeError, ValueError) as e:
        raise TypeError(f"array must be array-like, got {describe(array)}: {e}") from None
    code = _KIND_TO_CODE.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"array has dtype {arr.dtype}, which IDX cannot store; use uint8, int8, int16, int32, float32 or float64"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    if arr.ndim > 255:
        raise ValueError(f"array has {arr.ndim} dimensions; IDX allows at most 255")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"array shape {arr.shape} has a dimension >= 2**32, which IDX cannot store")
    header = struct.pack(f">HBB{arr.ndim}I", 0, code, arr.ndim, *arr.shape)
    body = np.ascontiguousarray(arr, dtype=_CODE_TO_DTYPE[code]).tobytes()
    data = header + body
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path


def read_sha256sums(path: PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into ``{file name: lowercase hex digest}``.

    ``path`` may be the ``SHA256SUMS`` file itself or the directory holding it.
    Blank lines and lines starting with ``#`` are ignored.

    Raises:
      FileNotFoundError: if the file does not exist.
      ValueError: naming the file and line, for a malformed or duplicated line,
        or naming the file if it is not UTF-8 text.
    """
    path = check_path("path", path)
    if path.is_dir():
        path = path / SHA256SUMS
    if not path.is_file():
        raise FileNotFoundError(f"checksum file not found: {path}")
    text = decode_text(path.read_bytes(), path, "a sha256sum-format checksum list")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SUMS_LINE.match(line)
        if m is None:
            raise ValueError(
                f"{path}, line {lineno}: expected '<64 hex digits>  <file name>' (sha256sum format), got {line!r}"
            )
        digest, name = m.group(1).lower(), m.group(2)
        if name in sums and sums[name] != digest:
            raise ValueError(f"{path}, line {lineno}: {name!r} is listed twice with different hashes")
        sums[name] = digest
    return sums


def write_sha256sums(directory: PathLike, files: Iterable[str]) -> Path:
    """Write ``directory/SHA256SUMS`` for ``files`` (names inside ``directory``), sorted.

    ``files`` may be a single name. Every file is hashed before ``SHA256SUMS`` is written.

    Returns:
      The path of the written ``SHA256SUMS``.

    Raises:
      FileNotFoundError: if ``directory`` or a file is missing.
      TypeError / ValueError: if ``files`` is not an iterable of names, or is empty.
    """
    directory = check_path("directory", directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"directory not found: {directory}")
    names = _file_names(files)
    lines = [f"{sha256_file(directory / name)}  {name}\n" for name in sorted(set(names))]
    out = directory / SHA256SUMS
    out.write_text("".join(lines))
    return out


def verify_checksums(directory: PathLike, files: Iterable[str] | None = None) -> dict[str, str]:
    """Check files in ``directory`` against its ``SHA256SUMS``.

    Args:
      directory: directory holding ``SHA256SUMS`` and the files.
      files: names (relative to ``directory``) to check; each must be listed in
        ``SHA256SUMS``. ``None`` checks every listed file.

    Returns:
      ``{file name: verified hex digest}`` for the checked files.

    Raises:
      FileNotFoundError: if ``directory``, ``SHA256SUMS`` or a checked file is missing.
      ValueError: naming the file and both hashes, on a mismatch; if a
        requested file has no entry in ``SHA256SUMS``; or if nothing would be
        checked (``files`` empty, or ``files=None`` and ``SHA256SUMS`` lists no file).
    """
    directory = check_path("directory", directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"data directory not found: {directory}")
    sums = _lookup_sums(directory, files)
    if not sums:
        raise ValueError(
            f"{directory / SHA256SUMS} lists no files, so nothing would be checked; "
            "add '<sha256>  <file name>' lines (`sha256sum FILES > SHA256SUMS`)"
        )
    for name, expected in sums.items():
        _check_hash(directory / name, sha256_file(directory / name), expected)
    return sums


def _lookup_sums(directory: Path, files: Iterable[str] | None) -> dict[str, str]:
    """Expected digests for ``files`` from ``directory/SHA256SUMS`` (all if ``None``)."""
    if files is not None:
        files = _file_names(files)  # checked before SHA256SUMS is read
    sums = read_sha256sums(directory / SHA256SUMS)
    if files is None:
        return sums
    out: dict[str, str] = {}
    for name in files:
        if name not in sums:
            raise ValueError(
                f"{directory / SHA256SUMS} has no entry for {name!r} (it lists {sorted(sums)}); "
                "add one with `sha256sum` or pass verify=False"
            )
        out[name] = sums[name]
    return out


def _file_names(files) -> list[str]:
    """``files`` (one name, or an iterable of names) as a non-empty list of ``str``."""
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    try:
        names = list(files)
    except TypeError:
        raise TypeError(f"files must be a file name or an iterable of file names, got {describe(files)}") from None
    if not names:
        raise ValueError("files must name at least one file, got an empty collection")
    return [check_file_name(f"files[{i}]", n) for i, n in enumerate(names)]
