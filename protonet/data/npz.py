"""NPZ sources: an array `data` (N, C, H, W) or (N, H, W) and, optionally, `labels` (N,).

Each member's .npy header is checked (numbers, at most max_elements() of them: see
protonet.weights.check_npy_header) before numpy allocates anything, and arrays are loaded with
`allow_pickle=False`: an archive holding objects is refused, never executed. Members other than
`data` and `labels` are not read.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import DataError, StorageError
from ..io import open_regular
from ..weights import check_npy_header

HOW_TO_SAVE = "save one with np.savez(path, data=images, labels=labels)"
NPY_MAGIC = np.lib.format.MAGIC_PREFIX


class Unreadable(DataError):
    """An archive that cannot be read as data, with the reason in brackets."""

    def __init__(self, reason: str, **where: Any) -> None:
        super().__init__(f"not a readable .npz ({reason})", **where)


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(data, labels or None) of an .npz file, as stored (shapes are checked by the caller)."""
    name = str(path)
    try:
        with open_regular(path) as handle:
            return _read(handle, name)
    except FileNotFoundError:
        raise DataError("file not found", file=name) from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=name) from None


def _read(handle: BinaryIO, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
            raise DataError("is a single .npy array, not an .npz archive", file=name, hint=HOW_TO_SAVE)
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            members = {member.removesuffix(".npy"): member for member in archive.namelist()}
            if "data" not in members:
                raise DataError(f"has no array 'data' (found: {', '.join(sorted(members)) or 'none'})",
                                file=name, hint=HOW_TO_SAVE)
            labels = members.get("labels")
            return (_load(archive, members["data"], name),
                    None if labels is None else _load(archive, labels, name))
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as exc:  # a damaged archive, whatever part of it zipfile or numpy trips on
        raise Unreadable(str(exc), file=name,
                         hint="the file is truncated or corrupt, or holds pickled objects") from None


def _load(archive: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """The array in `member`, its header checked before anything of its size is allocated."""
    with archive.open(member) as stream:
        check_npy_header(stream, member.removesuffix(".npy"), name, error=Unreadable)
    with archive.open(member) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)
