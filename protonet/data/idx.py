"""MNIST-format IDX files (gzipped or not): read with every header field checked, and write.

Layout (big-endian): two zero bytes, a type code, the number of dimensions d, then d uint32
sizes, then the values in C order. A file whose length is not exactly what its header says is
truncated or corrupt, and is refused with a DataError naming it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError, StorageError
from ..io import atomic_write

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CORRUPT = "the file is truncated or corrupt; fetch or convert it again"


@contextlib.contextmanager
def open_maybe_gzip(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream of `path`, decompressed when it starts with the gzip magic.

    A missing file or bad gzip data is a DataError, another read failure a StorageError,
    both naming the path.
    """
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == GZIP_MAGIC
            handle.seek(0)
            yield gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"bad gzip data ({exc})", file=str(path), hint=CORRUPT) from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def read_bytes(path: str | Path) -> bytes:
    """The whole (decompressed) content of `path`."""
    with open_maybe_gzip(path) as stream:
        return stream.read()


def read_idx(path: str | Path, *, sha256: str | None = None) -> np.ndarray:
    """The array in an IDX file; uint8 data is a read-only view of the file's bytes (no copy).

    `sha256`, when given, is the expected digest of the uncompressed content.
    """
    raw = read_bytes(path)
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError("content does not match the published checksum", file=str(path), hint=CORRUPT)
    return parse_idx(raw, str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    if len(raw) < 4:
        raise DataError(f"{len(raw)} bytes is too short for an IDX header", file=name, hint=CORRUPT)
    if raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataError(f"not an IDX file: header bytes {raw[:4].hex()}, expected 0000 then a type code "
                        f"({', '.join(f'{code:02x}' for code in IDX_TYPES)}) and a dimension count",
                        file=name, hint="the Data layer reads IDX (MNIST format) and .npz files")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{len(raw)} bytes is too short for an IDX header of {ndim} dimensions",
                        file=name, hint=CORRUPT)
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims, dtype=object))
    expected = header + count * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"holds {len(raw)} bytes, but its header (shape {list(dims)}, "
                        f"{dtype.itemsize}-byte values) needs {expected}", file=name, hint=CORRUPT)
    array = np.frombuffer(raw, dtype, count=count, offset=header).reshape(dims)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file (gzipped when `path` ends in .gz), atomically."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot hold {array.dtype} values", file=str(path),
                        hint="use uint8, int8, int16, int32, float32 or float64")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(IDX_TYPES[code], copy=False).tobytes()
    atomic_write(path, gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)
