"""MNIST-format IDX files (gzipped or not): read with every header field checked, and write.

Layout (big-endian): two zero bytes, a type code, the number of dimensions d, then d uint32
sizes, then the values in C order. A file whose length is not exactly what its header says is
truncated or corrupt, and is refused with a DataError naming it; so is a header declaring more
than max_elements() values (protonet.blob), before anything of that size is allocated.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..blob import check_shape
from ..errors import DataError, StorageError
from ..io import atomic_write, open_regular

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CHUNK = 1 << 24  # bytes read at a time
CORRUPT = "the file is truncated or corrupt; fetch or convert it again"


@contextlib.contextmanager
def open_maybe_gzip(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream of `path`, decompressed when it starts with the gzip magic.

    A missing file or bad gzip data is a DataError, another read failure a StorageError,
    both naming the path.
    """
    try:
        with open_regular(path) as handle:
            compressed = handle.read(2) == GZIP_MAGIC
            handle.seek(0)
            yield gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"bad gzip data ({exc})", file=str(path), hint=CORRUPT) from None
    except OSError as exc:
        raise StorageError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def read_idx(path: str | Path, *, sha256: str | None = None) -> np.ndarray:
    """The array in an IDX file; uint8 data is a read-only view of the bytes read (no copy).

    `sha256`, when given, is the expected digest of the uncompressed content. The header is
    checked (shape within max_elements()) before the values are read, and they are read a chunk
    at a time, so a short file or a gzip bomb never costs more memory than the data it holds.
    """
    name = str(path)
    with open_maybe_gzip(path) as stream:
        header, dtype, dims = read_header(stream, name)
        size = math.prod(dims) * dtype.itemsize
        payload = read_at_most(stream, size + 1)  # one byte more: trailing bytes are corruption too
    if len(payload) != size:
        found = len(payload) if len(payload) < size else f"more than {size}"
        raise DataError(f"holds {found} bytes of values, but its header (shape {list(dims)}, "
                        f"{dtype.itemsize}-byte values) needs {size}", file=name, hint=CORRUPT)
    if sha256 is not None:
        digest = hashlib.sha256(header)
        digest.update(payload)
        if digest.hexdigest() != sha256:
            raise DataError("content does not match the published checksum", file=name, hint=CORRUPT)
    array = np.frombuffer(payload, dtype).reshape(dims)
    if dtype.itemsize > 1:
        return array.astype(dtype.newbyteorder("="))
    array.flags.writeable = False  # records are shared between nets
    return array


def read_header(stream: BinaryIO, name: str) -> tuple[bytes, np.dtype, tuple[int, ...]]:
    """(header bytes, value dtype, shape) of an IDX stream, every field checked."""
    raw = stream.read(4)
    if len(raw) < 4:
        raise DataError(f"{len(raw)} bytes is too short for an IDX header", file=name, hint=CORRUPT)
    if raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataError(f"not an IDX file: header bytes {raw[:4].hex()}, expected 0000 then a type code "
                        f"({', '.join(f'{code:02x}' for code in IDX_TYPES)}) and a dimension count",
                        file=name, hint="the Data layer reads IDX (MNIST format) and .npz files")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    raw += stream.read(4 * ndim)
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{len(raw)} bytes is too short for an IDX header of {ndim} dimensions",
                        file=name, hint=CORRUPT)
    dims = check_shape(struct.unpack(f">{ndim}I", raw[4:]), "IDX", DataError, file=name)
    return raw, dtype, dims


def read_at_most(stream: BinaryIO, size: int) -> bytearray:
    """Up to `size` bytes of `stream`, gathered a chunk at a time (memory grows only with what is read)."""
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(min(size - len(data), CHUNK))
        if not chunk:
            break
        data += chunk
    return data


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
