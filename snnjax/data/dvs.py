"""Neuromorphic (DVS) data: DVS128 Gesture and CIFAR10-DVS readers, event-to-frame integration.

Only NumPy and the standard library are used; nothing is downloaded. The readers
parse the datasets' release files directly (no ``tonic``, no torch). The layouts
below were checked against SpikingJelly (``spikingjelly/datasets/__init__.py``:
``load_aedat_v3``, ``integrate_events_by_fixed_frames_number``,
``split_to_train_test_set``; ``dvs128_gesture.py``; ``cifar10_dvs.py``), tonic
(``tonic/io.py``) and libcaer's ``events/common.h`` / ``events/polarity.h``.

Events
======

Every reader returns a structured array of dtype :data:`EVENT_DTYPE`, fields
``t`` (``int64``, microseconds), ``x`` and ``y`` (``int16``, pixel column and
row; ``0 <= x, y < 128`` for the DVS128) and ``p`` (``uint8``: 1 = ON, brightness
increase; 0 = OFF), in file order.

AEDAT 3.1 (DVS128 Gesture, ``userXX_<lighting>.aedat``)
=======================================================

* An ASCII header: lines starting with ``#`` and ending ``\\r\\n``. The first is
  the version line ``#!AER-DAT3.1``; the last is ``#!END-HEADER\\r\\n``. A file
  whose header does not reach ``#!END-HEADER`` is rejected.
* Then a sequence of packets until the end of the file. Each packet is a
  28-byte little-endian header::

      int16 eventType      1 = polarity events (others are skipped)
      int16 eventSource
      int32 eventSize      bytes per event (8 for polarity events)
      int32 eventTSOffset  byte offset of the timestamp inside an event (4)
      int32 eventTSOverflow
      int32 eventCapacity  event slots stored after the header
      int32 eventNumber    events present (valid + invalid), <= eventCapacity
      int32 eventValid     events with the validity bit set

  followed by ``eventCapacity * eventSize`` bytes of events (the packet length
  SpikingJelly's ``load_aedat_v3`` and tonic use; packets stored in files are
  normally trimmed so that ``eventCapacity == eventNumber``). Only the first
  ``eventNumber`` events are decoded.
* A polarity event is two little-endian ``uint32``: ``data`` and ``timestamp``::

      data bit 0       validity mark (1 = valid)
      data bit 1       polarity (1 = ON, 0 = OFF)
      data bits 2-16   y address (15 bits)
      data bits 17-31  x address (15 bits)
      t = eventTSOverflow << 31 | timestamp     (microseconds, 64-bit)

  Invalid events (bit 0 = 0) are dropped by default (``valid_only=True``);
  SpikingJelly keeps them, which only differs for files that contain any.

A packet header cut short, a packet claiming more bytes than the file still
holds, ``eventNumber > eventCapacity``, negative sizes, or a polarity packet
with ``eventSize != 8`` raise :class:`ValueError` naming the file.

DVS128 Gesture layout
=====================

The ``DvsGesture/`` folder of IBM's ``DvsGesture.tar.gz`` holds, per recording,
``userXX_<lighting>.aedat`` and ``userXX_<lighting>_labels.csv``, plus
``trials_to_train.txt`` and ``trials_to_test.txt`` (one ``.aedat`` name per
line). The CSV has a header row ``class,startTime_usec,endTime_usec`` and one
row per labelled gesture, classes 1..11. As in SpikingJelly, a sample is the
events of one row with ``startTime_usec <= t < endTime_usec`` (a mask on ``t``,
so overlapping rows share events), labelled ``class - 1`` (0..10). Samples are
ordered by the trials file, then by CSV row. SpikingJelly gets 1176 train and
288 test samples this way.

AEDAT 2.0 (CIFAR10-DVS, ``<class>/cifar10_<class>_<i>.aedat``)
==============================================================

* An ASCII header of lines starting with ``#`` (``#!AER-DAT2.0\\r\\n`` first);
  the data starts at the first line that does not start with ``#``.
* Then big-endian records of ``uint32 address, uint32 timestamp`` (8 bytes,
  microseconds, no wrap-around handling). A data section whose length is not a
  multiple of 8 bytes (an odd number of 32-bit words, or a partial word) raises
  :class:`ValueError` naming the file.
* Address decoding of the DVS128 used to record CIFAR10-DVS follows the current
  SpikingJelly ``cifar10_dvs.py`` (which credits events-tfds PR #1)::

      x = 127 - ((address >> 8) & 0x7F)
      y = 127 - ((address >> 1) & 0x7F)
      p = 1 - (address & 1)

  (Older SpikingJelly, SLTT's ``utils/cifar10_dvs.py`` and jAER's ``dat2mat.m``
  use ``x = 127 - ((address >> 1) & 0x7F)``, ``y = (address >> 8) & 0x7F`` with
  the same polarity, a 90-degree rotation of the image above; tonic's
  ``read_dvs_128`` applies no flips.) No address bits are filtered, as in
  SpikingJelly.

CIFAR10-DVS has no official train/test split. :func:`cifar10_dvs_split`
follows SpikingJelly's ``split_to_train_test_set(train_ratio, dataset, 10,
random_split=False)`` over its ``DatasetFolder``: classes in alphabetical order
(= :data:`CIFAR10_DVS_CLASSES`, labels 0..9), files of each class sorted by name
as strings (``..._0, ..._1, ..._10, ..._100, ...``), the first
``ceil(n * train_ratio)`` files of each class for training and the rest for
testing. (This is not the TEBN split, which tests on files 0-99 in numeric order.)

Frames
======

:func:`events_to_frames` counts events per frame, pixel and polarity into a
``float32`` array ``[T, H, W, 2]``: channels last, channel 0 = OFF (``p == 0``),
channel 1 = ON (any other ``p``), ``frames[k, y, x, c]``. SpikingJelly's
``integrate_events_by_fixed_frames_number`` gives the same counts as
``[T, 2, H, W]``.

* ``split_by="number"``: with ``N`` events and ``d = N // T``, frame ``k < T-1``
  holds events ``k*d .. (k+1)*d - 1`` (file order) and the last frame holds
  events ``(T-1)*d .. N-1``, so it also takes the remainder ``N mod T``
  (and everything when ``N < T``).
* ``split_by="time"``: with ``t0 = min t``, ``t1 = max t`` and
  ``dt = (t1 - t0) // T`` (integer floor), frame ``k < T-1`` holds events with
  ``t0 + k*dt <= t < t0 + (k+1)*dt`` (left-closed, right-open) and the last
  frame holds every event with ``t >= t0 + (T-1)*dt``, including those at or
  after ``t0 + T*dt`` left over by the floor. When ``dt == 0`` all events are
  in the last frame. For time-sorted events this is SpikingJelly's rule
  (``t0 = t[0]``, ``t1 = t[-1]``); where SpikingJelly fails on an empty window
  this gives an empty frame.

Downsampling (``size=``) bins event coordinates before counting:
``x' = x * size_w // width`` and ``y' = y * size_h // height`` (integer floor;
tonic's ``Downsample`` + ``ToFrame`` floor the same products), so each output
pixel sums the counts of a block of input pixels. For ``128 % size == 0``
(e.g. 64, 32) this equals sum pooling of the full-resolution frames; for 48 the
blocks are 3, 3 or 2 pixels wide. Counts stay integers. This is not an
interpolation: SLTT (``train_SLTT.py``) resizes DVS-CIFAR10 frames to 48x48 with
a ``ToPILImage -> Resize(48) -> ToTensor`` transform from its own
``utils/augmentation.py`` (not the ``F.interpolate`` of other code bases) and
keeps DVS128 Gesture at 128x128; rescale the returned frames yourself to mimic it.

Datasets and cache
==================

:func:`load_dvs_gesture` and :func:`load_cifar10_dvs` return
``(frames float32 [N, T, H, W, 2], labels int32 [N])``. With ``cache_dir`` the
frames are stored in ``cache_dir`` as ``<name>_<digest>.npz`` (integer counts,
compressed) next to ``<name>_<digest>.json`` (the options and the source files
with their sizes and modification times). The digest covers every option and
the data directory, so a changed option builds another file; a JSON that does
not match the options or the current source files, or an unreadable ``.npz``,
triggers a rebuild. Both files are written atomically (temporary file +
``os.replace``). With ``verify=True`` and a ``SHA256SUMS`` in the data
directory, every file read that it lists is checked (via
:func:`snnjax.data.idx.verify_checksums`) before decoding; files it does not list
are not checked, and without ``SHA256SUMS`` nothing is checked. A cache hit
reads no source file and checks nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnjax.data._checks import check_cache_dir, check_path, decode_text
from snnjax.data.idx import SHA256SUMS, read_sha256sums, verify_checksums
from snnjax.validation import check_bool, check_option, describe

__all__ = [
    "EVENT_DTYPE",
    "SENSOR_SIZE",
    "DVS_GESTURE_CLASSES",
    "CIFAR10_DVS_CLASSES",
    "SPLIT_BY",
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
]

PathLike = str | os.PathLike

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
"""Structured dtype of decoded events: ``t`` µs, ``x`` column, ``y`` row, ``p`` 1 = ON, 0 = OFF."""

SENSOR_SIZE = (128, 128)
"""``(height, width)`` of the DVS128 sensor both datasets were recorded with."""

DVS_GESTURE_CLASSES = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
"""DVS128 Gesture class names; label ``k`` (0..10) is CSV class ``k + 1``."""

CIFAR10_DVS_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""CIFAR10-DVS class folders; label ``k`` is ``CIFAR10_DVS_CLASSES[k]`` (alphabetical)."""

SPLIT_BY = ("number", "time")
"""Accepted ``split_by`` values of :func:`events_to_frames`."""

SPLITS = ("train", "test")

_CACHE_FORMAT = 1
_AEDAT3_PACKET = struct.Struct("<hhiiiiii")
_POLARITY_EVENT = 1
_GESTURE_TRIALS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
_VERSION_LINE = re.compile(rb"^#!AER-DAT(\d+)\.(\d+)")


# --------------------------------------------------------------------------- argument checks


def _check_split(split: Any) -> str:
    check_option("split", split, SPLITS)
    return split


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {describe(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_T(T: Any) -> int:
    return _check_positive_int("T", T)


def _check_split_by(split_by: Any) -> str:
    check_option("split_by", split_by, SPLIT_BY)
    return split_by


def _check_dim(name: str, value: Any) -> int:
    return _check_positive_int(name, value)


def _check_size(size: Any, height: int, width: int) -> tuple[int, int] | None:
    """``None`` or ``(size_h, size_w)``, each positive and at most the sensor's."""
    if size is None:
        return None
    what = "size must be None, a positive int or a (height, width) pair of positive ints"
    if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
        hw = (size, size)
    elif isinstance(size, Sequence) and not isinstance(size, (str, bytes)):
        if len(size) != 2:
            raise ValueError(f"{what}, got a sequence of length {len(size)}: {size!r}")
        hw = tuple(size)
    else:
        raise TypeError(f"{what}, got {describe(size)}")
    for v in hw:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what}, got {size!r} (an element is {describe(v)})")
        if v <= 0:
            raise ValueError(f"{what}, got {size!r}")
    sh, sw = int(hw[0]), int(hw[1])
    if sh > height or sw > width:
        raise ValueError(
            f"size must not exceed the sensor size ({height}, {width}) (binning only downsamples), got {size!r}"
        )
    return sh, sw


# --------------------------------------------------------------------------- AEDAT readers


def _read_file(path: Path, what: str) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    return path.read_bytes()


def _check_version(line: bytes, path: Path, major: bytes, expected: str) -> None:
    """Raise if a header's first line names an AEDAT major version other than ``major``."""
    m = _VERSION_LINE.match(line)
    if m is not None and m.group(1) != major:
        raise ValueError(f"{path} is AEDAT {m.group(1).decode()}.{m.group(2).decode()}, {expected}")


def _aedat3_data_start(raw: bytes, path: Path) -> int:
    """Byte offset just after ``#!END-HEADER``; checks the header's lines and version."""
    pos = 0
    first = True
    while True:
        if pos >= len(raw):
            raise ValueError(
                f"{path} is not a valid AEDAT 3 file: the header has no '#!END-HEADER' line "
                "(the file is truncated or not AEDAT 3)"
            )
        end = raw.find(b"\n", pos)
        line = raw[pos:] if end < 0 else raw[pos : end + 1]
        if not line.startswith(b"#"):
            raise ValueError(
                f"{path} is not a valid AEDAT 3 file: header line at byte {pos} does not start "
                f"with '#' and no '#!END-HEADER' line came before it (got {line[:40]!r})"
            )
        if first:
            _check_version(line, path, b"3", "expected AEDAT 3.x (use read_aedat2_raw for AEDAT 2.0 files)")
            first = False
        if end < 0:
            raise ValueError(f"{path} is not a valid AEDAT 3 file: the header has no '#!END-HEADER' line")
        pos = end + 1
        if line.rstrip(b"\r\n") == b"#!END-HEADER":
            return pos


def read_aedat3(path: PathLike, *, valid_only: bool = True) -> np.ndarray:
    """Read the polarity events of an AEDAT 3.1 file (DVS128 Gesture recordings).

    The format is described in the module docstring. Packets of other event
    types (special, frame, IMU, ...) are skipped.

    Args:
      path: the ``.aedat`` file.
      valid_only: drop events whose validity bit (``data`` bit 0) is clear.

    Returns:
      A structured array of dtype :data:`EVENT_DTYPE` in file order, ``t`` with
      the packet's timestamp overflow applied (``overflow << 31 | timestamp``).

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: naming the file, if the header has no ``#!END-HEADER`` line or
        declares another AEDAT version, or a packet is truncated or inconsistent.
    """
    path = check_path("path", path)
    check_bool("valid_only", valid_only)
    raw = _read_file(path, "AEDAT 3 file")
    off = _aedat3_data_start(raw, path)
    n = len(raw)
    chunks: list[bytes] = []  # the polarity events of each packet, 8 bytes each
    counts: list[int] = []
    overflows: list[int] = []
    while off < n:
        if n - off < _AEDAT3_PACKET.size:
            raise ValueError(
                f"{path} is truncated: a packet header at byte {off} needs "
                f"{_AEDAT3_PACKET.size} bytes but only {n - off} remain"
            )
        etype, _src, esize, ts_off, ts_overflow, capacity, number, _valid = _AEDAT3_PACKET.unpack_from(raw, off)
        if esize < 0 or capacity < 0 or number < 0 or ts_overflow < 0 or number > capacity:
            raise ValueError(
                f"{path} is corrupted: packet at byte {off} has eventSize={esize}, "
                f"eventCapacity={capacity}, eventNumber={number}, eventTSOverflow={ts_overflow} "
                "(expected non-negative values with eventNumber <= eventCapacity)"
            )
        off += _AEDAT3_PACKET.size
        body = capacity * esize
        if body > n - off:
            raise ValueError(
                f"{path} is truncated: packet at byte {off - _AEDAT3_PACKET.size} claims "
                f"{capacity} events of {esize} bytes ({body} bytes) but only {n - off} bytes remain"
            )
        if etype == _POLARITY_EVENT and number > 0:
            if esize != 8 or ts_off != 4:
                raise ValueError(
                    f"{path} is corrupted: polarity packet at byte {off - _AEDAT3_PACKET.size} has "
                    f"eventSize={esize}, eventTSOffset={ts_off} (expected 8 and 4)"
                )
            chunks.append(raw[off : off + 8 * number])
            counts.append(number)
            overflows.append(ts_overflow)
        off += body
    # one vectorized decode for all packets (per-packet NumPy calls dominate otherwise)
    words = np.frombuffer(b"".join(chunks), dtype="<u4").reshape(-1, 2)
    data, ts = words[:, 0], words[:, 1]
    overflow = np.repeat(np.asarray(overflows, np.int64), counts)
    ev = np.empty(data.shape[0], EVENT_DTYPE)
    ev["t"] = ts.astype(np.int64) | (overflow << np.int64(31))
    ev["x"] = (data >> 17) & 0x7FFF
    ev["y"] = (data >> 2) & 0x7FFF
    ev["p"] = (data >> 1) & 1
    if valid_only:
        ev = ev[(data & 1) == 1]
    return ev


def _aedat2_data_start(raw: bytes, path: Path) -> int:
    pos = 0
    first = True
    while pos < len(raw) and raw[pos : pos + 1] == b"#":
        end = raw.find(b"\n", pos)
        line = raw[pos:] if end < 0 else raw[pos : end + 1]
        if first:
            _check_version(line, path, b"2", "expected AEDAT 2.0 (8-byte big-endian address/timestamp records)")
            first = False
        if end < 0:
            return len(raw)
        pos = end + 1
    return pos


def read_aedat2_raw(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the raw records of an AEDAT 2.0 file (jAER; CIFAR10-DVS).

    Args:
      path: the ``.aedat`` file.

    Returns:
      ``(address, timestamp)``: ``uint32`` addresses and ``int64`` timestamps
      (µs, as stored), both ``[N]`` in file order.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: naming the file, if it is empty (0 bytes), the version line declares
        another AEDAT version or the data is not a whole number of 8-byte records.
    """
    path = check_path("path", path)
    raw = _read_file(path, "AEDAT 2 file")
    if not raw:
        raise ValueError(f"{path} is empty (0 bytes): not an AEDAT 2.0 file (truncated or incompletely extracted)")
    start = _aedat2_data_start(raw, path)
    size = len(raw) - start
    if size % 8:
        detail = (
            f"an odd number ({size // 4}) of 32-bit words" if size % 4 == 0 else "not a whole number of 32-bit words"
        )
        raise ValueError(
            f"{path} is truncated or corrupted: {size} data bytes after the header is {detail}; "
            "expected whole 8-byte (address, timestamp) records"
        )
    words = np.frombuffer(raw, dtype=">u4", offset=start, count=size // 4).reshape(-1, 2)
    return words[:, 0].astype(np.uint32), words[:, 1].astype(np.int64)


def read_cifar10_dvs_file(path: PathLike) -> np.ndarray:
    """Read one CIFAR10-DVS recording (AEDAT 2.0) as decoded events.

    The address decoding (SpikingJelly's current convention) is given in the
    module docstring: ``x = 127 - ((a >> 8) & 0x7F)``, ``y = 127 - ((a >> 1) & 0x7F)``,
    ``p = 1 - (a & 1)``.

    Args:
      path: the ``.aedat`` file.

    Returns:
      A structured array of dtype :data:`EVENT_DTYPE` in file order.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: naming the file, if it is truncated or not AEDAT 2.0.
    """
    addr, t = read_aedat2_raw(path)
    ev = np.empty(addr.shape[0], EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = 127 - ((addr >> 8) & 0x7F).astype(np.int16)
    ev["y"] = 127 - ((addr >> 1) & 0x7F).astype(np.int16)
    ev["p"] = 1 - (addr & 1).astype(np.uint8)
    return ev


# --------------------------------------------------------------------------- DVS128 Gesture


_LABELS_HEADER = ("class", "starttime_usec", "endtime_usec")


def read_dvs_gesture_labels(path: PathLike) -> np.ndarray:
    """Read a DVS128 Gesture ``*_labels.csv``.

    Args:
      path: the CSV: a header row ``class,startTime_usec,endTime_usec`` (optional)
        then one ``class,start,end`` row per gesture (commas, tabs or spaces).

    Returns:
      ``int64`` array ``[K, 3]`` of ``(class 1..11, start µs, end µs)`` rows in file
      order, ``K >= 1``.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: naming the file (and line), if it is not UTF-8 text, a first row is
        neither the header nor a gesture, a row is malformed, a class is outside
        1..11, a time is negative or ``end <= start``, or there is no gesture row.
    """
    path = check_path("path", path)
    text = decode_text(_read_file(path, "labels file"), path, "a DVS128 Gesture labels CSV")
    rows: list[tuple[int, int, int]] = []
    first = True
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = [f for f in re.split(r"[,\s]+", line) if f]
        if first and not fields[0].lstrip("+-").isdigit():
            first = False
            if tuple(f.lower() for f in fields) != _LABELS_HEADER:
                raise ValueError(
                    f"{path}, line {lineno}: expected the header 'class,startTime_usec,"
                    f"endTime_usec' or a 'class,start,end' row of integers, got {line[:80]!r}"
                )
            continue  # header row
        first = False
        try:
            if len(fields) != 3:
                raise ValueError
            cls, start, end = (int(f) for f in fields)
        except ValueError:
            raise ValueError(
                f"{path}, line {lineno}: expected 'class,startTime_usec,endTime_usec' (3 integers), got {line!r}"
            ) from None
        if not 1 <= cls <= len(DVS_GESTURE_CLASSES):
            raise ValueError(f"{path}, line {lineno}: class must be in 1..{len(DVS_GESTURE_CLASSES)}, got {cls}")
        if start < 0 or end <= start:
            raise ValueError(
                f"{path}, line {lineno}: expected 0 <= startTime_usec < endTime_usec, "
                f"got start {start} and end {end} (an empty or reversed segment)"
            )
        rows.append((cls, start, end))
    if not rows:
        raise ValueError(
            f"{path} lists no gestures (expected one 'class,startTime_usec,endTime_usec' row "
            "per gesture after the header)"
        )
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _gesture_dir(root: PathLike) -> Path:
    root = check_path("root", root)
    for cand in (root, root / "DvsGesture"):
        if (cand / _GESTURE_TRIALS["train"]).is_file() or (cand / _GESTURE_TRIALS["test"]).is_file():
            return cand
    raise FileNotFoundError(
        f"DVS128 Gesture data not found in {root}: expected the DvsGesture folder of IBM's "
        "DvsGesture.tar.gz (or its parent), holding trials_to_train.txt, trials_to_test.txt, "
        "userXX_<lighting>.aedat and userXX_<lighting>_labels.csv"
    )


def dvs_gesture_trials(root: PathLike, split: str) -> list[str]:
    """The ``.aedat`` names listed in ``trials_to_train.txt`` / ``trials_to_test.txt``.

    Args:
      root: the ``DvsGesture`` folder (or the folder holding it).
      split: ``"train"`` or ``"test"``.

    Returns:
      The file names in the order listed (blank lines skipped).

    Raises:
      FileNotFoundError: if the folder or the trials file is missing.
      ValueError: on a bad ``split``, or if the trials file lists no recording.
    """
    _check_split(split)
    directory = _gesture_dir(root)
    path = directory / _GESTURE_TRIALS[split]
    text = decode_text(_read_file(path, "trials file"), path, "a DVS128 Gesture trials list")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{path} lists no recordings (expected one userXX_<lighting>.aedat per line)")
    return names


def _labels_name(aedat_name: str) -> str:
    stem = aedat_name[: -len(".aedat")] if aedat_name.endswith(".aedat") else aedat_name
    return stem + "_labels.csv"


def _gesture_sources(directory: Path, split: str, trials: list[str]) -> list[str]:
    names = [_GESTURE_TRIALS[split]]
    for name in trials:
        names += [name, _labels_name(name)]
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise FileNotFoundError(f"missing in {directory}: {shown} (listed in {_GESTURE_TRIALS[split]})")
    return names


def _verify_listed(directory: Path, names: list[str]) -> None:
    """Check the files of ``names`` that ``directory/SHA256SUMS`` lists, if it exists."""
    if not (directory / SHA256SUMS).is_file():
        return
    listed = read_sha256sums(directory / SHA256SUMS)
    wanted = [n for n in names if n in listed]
    if wanted:
        verify_checksums(directory, wanted)


def iter_dvs_gesture_samples(
    root: PathLike, split: str, *, verify: bool = True
) -> Iterator[tuple[np.ndarray, int, str]]:
    """Yield the labelled segments of the DVS128 Gesture recordings of a split.

    Args:
      root: the ``DvsGesture`` folder (or the folder holding it).
      split: ``"train"`` or ``"test"``.
      verify: check the files read against a ``SHA256SUMS`` in that folder, when present.

    Yields:
      ``(events, label, aedat name)``: the events of one CSV row with
      ``start <= t < end`` (:data:`EVENT_DTYPE`), the label ``class - 1`` (0..10)
      and the recording it came from; ordered by trials file, then CSV row.

    Raises:
      FileNotFoundError: if the folder or a listed file is missing.
      ValueError: on a bad ``split``, a checksum mismatch or a corrupted file.

    The arguments and the presence of every listed file are checked when this is
    called; checksums and file contents when the first sample is requested.
    """
    check_bool("verify", verify)
    directory = _gesture_dir(root)
    trials = dvs_gesture_trials(directory, split)
    names = _gesture_sources(directory, split, trials)
    return _gesture_samples(directory, trials, names, verify)


def _gesture_samples(directory: Path, trials: list[str], names: list[str], verify: bool):
    if verify:
        _verify_listed(directory, names)
    for name in trials:
        events = read_aedat3(directory / name)
        rows = read_dvs_gesture_labels(directory / _labels_name(name))
        for cls, start, end in rows:
            mask = (events["t"] >= start) & (events["t"] < end)
            yield events[mask], int(cls) - 1, name


# --------------------------------------------------------------------------- CIFAR10-DVS


def _cifar_files(root: Path) -> list[list[str]]:
    if root.exists() and not root.is_dir():
        raise ValueError(
            f"CIFAR10-DVS root {root} is a file, not a directory (expected the folder holding "
            f"the class folders {', '.join(CIFAR10_DVS_CLASSES)})"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            f"CIFAR10-DVS data directory not found: {root} (expected folders "
            f"{', '.join(CIFAR10_DVS_CLASSES)} of .aedat files, extracted from the figshare zips)"
        )
    missing = [c for c in CIFAR10_DVS_CLASSES if not (root / c).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"missing in {root}: class folder(s) {', '.join(missing)} (expected folders "
            f"{', '.join(CIFAR10_DVS_CLASSES)} of .aedat files, extracted from the figshare zips)"
        )
    out = []
    for c in CIFAR10_DVS_CLASSES:
        files = sorted(f.name for f in (root / c).iterdir() if f.name.endswith(".aedat") and f.is_file())
        if not files:
            raise FileNotFoundError(f"{root / c} holds no .aedat files (expected cifar10_{c}_<i>.aedat)")
        out.append(files)
    return out


def _check_train_ratio(train_ratio: Any) -> float:
    if isinstance(train_ratio, (bool, np.bool_)) or not isinstance(train_ratio, (int, float, np.integer, np.floating)):
        raise TypeError(f"train_ratio must be a float in (0, 1), got {describe(train_ratio)}")
    r = float(train_ratio)
    if not 0.0 < r < 1.0:
        raise ValueError(f"train_ratio must be a float in (0, 1), got {train_ratio!r}")
    return r


def cifar10_dvs_split(root: PathLike, split: str, *, train_ratio: float = 0.9) -> list[tuple[str, int]]:
    """The files and labels of a deterministic per-class CIFAR10-DVS split.

    SpikingJelly's ``split_to_train_test_set(train_ratio, ..., random_split=False)``:
    per class (alphabetical), files sorted by name as strings; the first
    ``ceil(n * train_ratio)`` are ``"train"``, the rest ``"test"``.

    Args:
      root: the folder holding the 10 class folders.
      split: ``"train"`` or ``"test"``.
      train_ratio: fraction of each class used for training, in (0, 1).

    Returns:
      ``[(relative path "class/file.aedat", label 0..9), ...]``, class by class.

    Raises:
      FileNotFoundError: if ``root`` or a class folder is missing or empty.
      ValueError: on a bad ``split`` or ``train_ratio``, or if the split would hold no
        file of some class (too few files for ``train_ratio``).
      TypeError: if ``root`` is not a path or ``train_ratio`` not a number.
    """
    _check_split(split)
    ratio = _check_train_ratio(train_ratio)
    root = check_path("root", root)
    out: list[tuple[str, int]] = []
    for label, (cls, files) in enumerate(zip(CIFAR10_DVS_CLASSES, _cifar_files(root), strict=True)):
        pos = math.ceil(len(files) * ratio)
        chosen = files[:pos] if split == "train" else files[pos:]
        if not chosen:
            raise ValueError(
                f"the {split!r} split of {root} would hold no {cls} file: {root / cls} has "
                f"{len(files)} .aedat files and train_ratio={ratio:g} puts ceil({len(files)} * "
                f"{ratio:g}) = {pos} of them in 'train'; add files or change train_ratio"
            )
        out += [(f"{cls}/{name}", label) for name in chosen]
    return out


# --------------------------------------------------------------------------- frames


def _event_fields(events: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(events, Mapping):
        missing = [k for k in "txyp" if k not in events]
        if missing:
            raise ValueError(
                f"events must have keys t, x, y, p; missing {missing} (got keys {sorted(map(str, events))})"
            )
        get = events.__getitem__
    else:
        try:
            arr = np.asarray(events)
        except (TypeError, ValueError):
            arr = np.asarray(None)
        names = arr.dtype.names or ()
        missing = [k for k in "txyp" if k not in names]
        if missing:
            raise ValueError(
                f"events must be a structured array with fields t, x, y, p (see EVENT_DTYPE) or a "
                f"mapping of those keys; got {describe(events)} (missing {missing})"
            )
        get = arr.__getitem__
    fields = []
    for k in "txyp":
        try:
            fields.append(np.asarray(get(k)))
        except (TypeError, ValueError) as e:
            raise ValueError(f"events field {k!r} is not a 1-D array: {e}") from None
    t, x, y, p = fields
    n = t.shape
    if t.ndim != 1 or any(a.shape != n for a in (x, y, p)):
        raise ValueError(
            f"events fields must be 1-D and of equal length, got shapes t{t.shape} x{x.shape} y{y.shape} p{p.shape}"
        )
    for k, a in zip("txy", (t, x, y), strict=True):
        if a.dtype.kind not in "iu":
            raise TypeError(f"events field {k!r} must hold integers, got dtype {a.dtype}")
        if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(
                f"events field {k!r} holds {a.max()}, which does not fit int64 (corrupted timestamps or coordinates)"
            )
    if p.dtype.kind not in "biu":
        raise TypeError(f"events field 'p' must hold integers or bools (0 = OFF, other values ON), got dtype {p.dtype}")
    return t.astype(np.int64), x.astype(np.int64), y.astype(np.int64), p


def _frame_index(t: np.ndarray, T: int, split_by: str) -> np.ndarray:
    n = t.shape[0]
    if split_by == "number":
        d = n // T
        if d == 0:
            return np.full(n, T - 1, np.int64)
        return np.minimum(np.arange(n, dtype=np.int64) // d, T - 1)
    t0, t1 = int(t.min()), int(t.max())
    dt = (t1 - t0) // T
    if dt == 0:
        return np.full(n, T - 1, np.int64)
    return np.minimum((t - t0) // dt, T - 1)


def events_to_frames(
    events: Any,
    T: int,
    *,
    split_by: str = "number",
    height: int,
    width: int,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Integrate events into ``T`` frames of per-pixel, per-polarity event counts.

    The frame boundary rules of ``split_by="number"`` and ``"time"`` (those of
    SpikingJelly's ``integrate_events_by_fixed_frames_number``) and the
    downsampling by coordinate binning are given in the module docstring.

    Args:
      events: a structured array with integer fields ``t``, ``x``, ``y``, ``p``
        (e.g. :data:`EVENT_DTYPE`) or a mapping of those keys to 1-D arrays.
        ``p == 0`` is OFF; any other value is ON.
      T: number of frames, a positive int.
      split_by: ``"number"`` (equal event counts, file order) or ``"time"``
        (equal time windows).
      height: sensor height; every ``y`` must be in ``[0, height)``.
      width: sensor width; every ``x`` must be in ``[0, width)``.
      size: ``None`` (no downsampling), an int ``s`` (``s x s``) or
        ``(size_h, size_w)``, at most ``(height, width)``.

    Returns:
      ``float32`` array ``[T, H, W, 2]`` (``H, W`` = ``size`` or ``height, width``):
      ``frames[k, y, x, 0]`` counts OFF events and ``frames[k, y, x, 1]`` ON events.
      No events give all-zero frames.

    Raises:
      ValueError: naming the argument, for a bad ``T``, ``split_by``, ``height``,
        ``width`` or ``size`` value, malformed ``events``, or coordinates out of range.
      TypeError: naming the argument, if ``T``, ``height``, ``width`` or ``size`` is
        not an int (``size``: or a pair of ints), or an ``events`` field has a
        non-integer dtype (``p`` may also be bool).
    """
    T = _check_T(T)
    split_by = _check_split_by(split_by)
    height = _check_dim("height", height)
    width = _check_dim("width", width)
    hw = _check_size(size, height, width)
    t, x, y, p = _event_fields(events)
    out_h, out_w = hw if hw is not None else (height, width)
    if t.shape[0] == 0:
        return np.zeros((T, out_h, out_w, 2), np.float32)
    for name, a, lim, dim in (("x", x, width, "width"), ("y", y, height, "height")):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= lim:
            raise ValueError(f"events {name} must be in [0, {lim}) ({dim}={lim}), got values in [{lo}, {hi}]")
    if hw is not None:
        x = x * out_w // width
        y = y * out_h // height
    k = _frame_index(t, T, split_by)
    c = (p != 0).astype(np.int64)
    flat = ((k * out_h + y) * out_w + x) * 2 + c
    counts = np.bincount(flat, minlength=T * out_h * out_w * 2)
    return counts.astype(np.float32).reshape(T, out_h, out_w, 2)


# --------------------------------------------------------------------------- cache


def _source_stats(directory: Path, names: list[str]) -> list[list[Any]]:
    out = []
    for name in names:
        st = (directory / name).stat()
        out.append([name, st.st_size, st.st_mtime_ns])
    return out


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _compact(frames: np.ndarray) -> np.ndarray:
    """The counts in the smallest unsigned dtype that holds them exactly."""
    top = float(frames.max()) if frames.size else 0.0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return frames.astype(dt)
    return frames


def _cache_paths(cache_dir: Path, name: str, key: dict) -> tuple[Path, Path, str]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    stem = f"{name}_{digest}"
    return cache_dir / f"{stem}.npz", cache_dir / f"{stem}.json", digest


def _load_cached(npz: Path, meta: Path, key: dict, sources: list, digest: str):
    if not (npz.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if info.get("key") != key or info.get("sources") != sources or info.get("digest") != digest:
        return None
    try:
        with np.load(npz, allow_pickle=False) as z:
            if str(z["digest"]) != digest:
                return None
            frames = z["frames"].astype(np.float32)
            labels = z["labels"].astype(np.int32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if frames.shape[0] != labels.shape[0]:
        return None
    return frames, labels


def _save_cache(npz: Path, meta: Path, key: dict, sources: list, digest: str, frames, labels) -> None:
    npz.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(
        npz,
        lambda f: np.savez_compressed(f, frames=_compact(frames), labels=labels, digest=np.array(digest)),
    )
    info = {
        "key": key,
        "digest": digest,
        "sources": sources,
        "num_samples": int(labels.shape[0]),
        "frames_shape": list(frames.shape),
    }
    _atomic_write(meta, lambda f: f.write(json.dumps(info, indent=1, sort_keys=True).encode()))


def _cached_build(name: str, key: dict, directory: Path, names: list[str], cache_dir, build):
    if cache_dir is None:
        return build()
    cache_dir = Path(cache_dir)
    sources = _source_stats(directory, names)
    npz, meta, digest = _cache_paths(cache_dir, name, key)
    hit = _load_cached(npz, meta, key, sources, digest)
    if hit is not None:
        return hit
    frames, labels = build()
    _save_cache(npz, meta, key, sources, digest, frames, labels)
    return frames, labels


def _size_key(hw: tuple[int, int] | None) -> str:
    return "128x128" if hw is None else f"{hw[0]}x{hw[1]}"


# --------------------------------------------------------------------------- loaders


def load_dvs_gesture(
    root: PathLike,
    split: str,
    *,
    T: int,
    split_by: str = "number",
    size: int | tuple[int, int] | None = None,
    cache_dir: PathLike | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load DVS128 Gesture (Amir et al., CVPR 2017) as event-count frames.

    Reads the ``DvsGesture`` folder of IBM's release (see the module docstring
    for the files and the segmentation into samples) and integrates each
    labelled segment with :func:`events_to_frames`.

    Args:
      root: the ``DvsGesture`` folder (or the folder holding it).
      split: ``"train"`` (``trials_to_train.txt``) or ``"test"`` (``trials_to_test.txt``).
      T: frames per sample, a positive int.
      split_by: ``"number"`` or ``"time"`` (see :func:`events_to_frames`).
      size: ``None`` for 128x128, or an int / ``(h, w)`` to bin coordinates down.
      cache_dir: directory for the ``.npz`` frame cache; ``None`` disables it.
      verify: check the files read against ``SHA256SUMS`` in the folder, when present.

    Returns:
      ``(frames, labels)``: ``float32`` ``[N, T, H, W, 2]`` (channel 0 OFF, 1 ON)
      and ``int32`` ``[N]`` (0..10, see :data:`DVS_GESTURE_CLASSES`).

    Raises:
      FileNotFoundError: if the folder or a listed file is missing.
      ValueError: naming the argument or file, for a bad option value, a
        ``cache_dir`` that is a file, a checksum mismatch or a corrupted/truncated
        file (all options are checked before any file is read).
      TypeError: naming the argument, for an option of the wrong type.
    """
    _check_split(split)
    T = _check_T(T)
    split_by = _check_split_by(split_by)
    hw = _check_size(size, *SENSOR_SIZE)
    check_bool("verify", verify)
    cache_dir = check_cache_dir(cache_dir)
    directory = _gesture_dir(root)
    trials = dvs_gesture_trials(directory, split)
    names = _gesture_sources(directory, split, trials)
    key = {
        "format": _CACHE_FORMAT,
        "dataset": "dvs_gesture",
        "root": str(directory.resolve()),
        "split": split,
        "T": T,
        "split_by": split_by,
        "size": None if hw is None else list(hw),
    }

    def build():
        # count the samples first (CSV files are small) so the frames are allocated once
        n = sum(len(read_dvs_gesture_labels(directory / _labels_name(name))) for name in trials)
        h, w = hw if hw is not None else SENSOR_SIZE
        frames = np.zeros((n, T, h, w, 2), np.float32)
        labels = np.zeros(n, np.int32)
        samples = iter_dvs_gesture_samples(directory, split, verify=verify)
        for i, (events, label, _) in enumerate(samples):
            frames[i] = events_to_frames(events, T, split_by=split_by, height=128, width=128, size=hw)
            labels[i] = label
        return frames, labels

    name = f"dvs_gesture_{split}_T{T}_{split_by}_{_size_key(hw)}"
    return _cached_build(name, key, directory, names, cache_dir, build)


def load_cifar10_dvs(
    root: PathLike,
    split: str,
    *,
    T: int,
    split_by: str = "number",
    size: int | tuple[int, int] | None = None,
    train_ratio: float = 0.9,
    cache_dir: PathLike | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR10-DVS (Li et al., 2017) as event-count frames.

    ``root`` holds the 10 class folders (``airplane/ ... truck/``) of ``.aedat``
    files extracted from the figshare zips. The split is SpikingJelly's
    deterministic per-class split (:func:`cifar10_dvs_split`); the file format
    and address decoding are in the module docstring.

    Args:
      root: the folder holding the class folders.
      split: ``"train"`` or ``"test"``.
      T: frames per sample, a positive int.
      split_by: ``"number"`` or ``"time"`` (see :func:`events_to_frames`).
      size: ``None`` for 128x128, or an int / ``(h, w)`` to bin coordinates down
        (e.g. 48 or 64).
      train_ratio: fraction of each class used for training, in (0, 1).
      cache_dir: directory for the ``.npz`` frame cache; ``None`` disables it.
      verify: check the files read against ``root/SHA256SUMS`` (names like
        ``airplane/cifar10_airplane_0.aedat``), when present.

    Returns:
      ``(frames, labels)``: ``float32`` ``[N, T, H, W, 2]`` (channel 0 OFF, 1 ON)
      and ``int32`` ``[N]`` (0..9, see :data:`CIFAR10_DVS_CLASSES`), class by class.

    Raises:
      FileNotFoundError: if ``root`` or a class folder is missing or empty.
      ValueError: naming the argument or file, for a bad option value, a
        ``cache_dir`` that is a file, a split with no file of some class, a checksum
        mismatch or a corrupted/truncated file (options are checked before any
        recording is read).
      TypeError: naming the argument, for an option of the wrong type.
    """
    _check_split(split)
    T = _check_T(T)
    split_by = _check_split_by(split_by)
    hw = _check_size(size, *SENSOR_SIZE)
    ratio = _check_train_ratio(train_ratio)
    check_bool("verify", verify)
    cache_dir = check_cache_dir(cache_dir)
    directory = check_path("root", root)
    items = cifar10_dvs_split(directory, split, train_ratio=ratio)
    names = [rel for rel, _ in items]
    key = {
        "format": _CACHE_FORMAT,
        "dataset": "cifar10_dvs",
        "root": str(directory.resolve()),
        "split": split,
        "T": T,
        "split_by": split_by,
        "size": None if hw is None else list(hw),
        "train_ratio": ratio,
    }

    def build():
        if verify:
            _verify_listed(directory, names)
        h, w = hw if hw is not None else SENSOR_SIZE
        frames = np.zeros((len(items), T, h, w, 2), np.float32)
        for i, (rel, _) in enumerate(items):
            events = read_cifar10_dvs_file(directory / rel)
            frames[i] = events_to_frames(events, T, split_by=split_by, height=128, width=128, size=hw)
        return frames, np.asarray([label for _, label in items], np.int32)

    name = f"cifar10_dvs_{split}_T{T}_{split_by}_{_size_key(hw)}_r{ratio:g}"
    return _cached_build(name, key, directory, names, cache_dir, build)
