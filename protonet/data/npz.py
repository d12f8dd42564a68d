"""NPZ sources: an array `data` (N, C, H, W) or (N, H, W) and, optionally, `labels` (N,).

Loaded with `allow_pickle=False`: an archive holding objects is refused, never executed.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError, StorageError

HOW_TO_SAVE = "save one with np.savez(path, data=images, labels=labels)"


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(data, labels or None) of an .npz file, as stored (shapes are checked by the caller)."""
    name = str(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError("is a single .npy array, not an .npz archive", file=name, hint=HOW_TO_SAVE)
        with archive:
            if "data" not in archive.files:
                raise DataError(f"has no array 'data' (found: {', '.join(archive.files) or 'none'})",
                                file=name, hint=HOW_TO_SAVE)
            return archive["data"], archive["labels"] if "labels" in archive.files else None
    except FileNotFoundError:
        raise DataError("file not found", file=name) from None
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"not a readable .npz archive ({exc})", file=name,
                        hint="the file is truncated or corrupt, or holds pickled objects") from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=name) from None
