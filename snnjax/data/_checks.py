"""Argument checks shared by the ``snnjax.data`` readers (not public API).

The generic checks (ints, bools, options, numbers) live in :mod:`snnjax.validation`;
these are the data-specific ones: paths, text files, cache folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snnjax.validation import describe

__all__ = ["check_path", "check_file_name", "check_cache_dir", "decode_text"]


def check_path(name: str, value: Any) -> Path:
    """``value`` as a :class:`~pathlib.Path`; ``TypeError`` naming ``name`` unless it is a
    ``str`` or ``os.PathLike`` (``None``, ints, bytes and file objects are refused)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {describe(value)}")
    if isinstance(value, str) and not value:
        raise ValueError(f"{name} must be a non-empty path, got ''")
    path = Path(value)
    return path


def check_file_name(name: str, value: Any) -> str:
    """A file name (``str`` or ``os.PathLike``) relative to a data directory, as a ``str``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file name (str), got {describe(value)}")
    value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty file name, got {value!r}")
    return value


def check_cache_dir(value: Any) -> Path | None:
    """``None`` or a path that is a directory or does not exist yet (checked before any
    work, so a bad ``cache_dir`` does not cost a full build)."""
    if value is None:
        return None
    path = check_path("cache_dir", value)
    if path.exists() and not path.is_dir():
        raise ValueError(f"cache_dir {path} exists and is not a directory")
    return path


def decode_text(raw: bytes, path: Path, what: str) -> str:
    """``raw`` decoded as UTF-8 (a BOM is accepted); ``ValueError`` naming the file otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not a text file ({what}): byte {e.start} is not valid UTF-8 "
            "(the file is corrupted or not the expected file)"
        ) from None
