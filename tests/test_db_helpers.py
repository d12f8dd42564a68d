"""Databases as Caffe's tools write them, made here without protonet: Datum bytes encoded by hand in
protobuf's wire format (fields in number order, only those Caffe sets; float_data unpacked, as proto2
writes a repeated float), stored with the `lmdb` package (or `plyvel`) directly."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes) -> bytes:
    """A varint field (int) or a length-delimited one (bytes)."""
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def caffe_datum(image: np.ndarray | None = None, label: int = 0, *, floats: np.ndarray | None = None,
                encoded: bytes | None = None) -> bytes:
    """A Datum's bytes: raw (convert_mnist_data / convert_imageset: channels, height, width, data, label),
    float_data (channels, height, width, label, float_data) or encoded (ReadFileToDatum: data, label,
    encoded)."""
    if encoded is not None:
        return field(4, encoded) + field(5, label) + field(7, 1)
    array = image if image is not None else floats
    channels, height, width = array.shape
    head = field(1, channels) + field(2, height) + field(3, width)
    if image is not None:
        return head + field(4, image.astype(np.uint8).tobytes()) + field(5, label)
    return head + field(5, label) + b"".join(varint(6 << 3 | 5) + struct.pack("<f", v) for v in floats.ravel())


def write_lmdb(folder: Path, records: list[tuple[bytes, bytes]]) -> Path:
    """An LMDB of (key, value) records, written in the order given (LMDB keeps them in key order)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = pytest.importorskip("lmdb").open(str(folder), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for key, value in records:
            txn.put(key, value)
    env.close()
    return folder


def read_lmdb(folder: Path) -> list[tuple[bytes, bytes]]:
    """Every (key, value) record of an LMDB, in key order."""
    env = pytest.importorskip("lmdb").open(str(folder), readonly=True)
    with env.begin() as txn:
        records = list(txn.cursor())
    env.close()
    return records


def write_leveldb(folder: Path, records: list[tuple[bytes, bytes]]) -> Path:
    """A LevelDB of (key, value) records, through plyvel (the test is skipped without it)."""
    db = pytest.importorskip("plyvel").DB(str(folder), create_if_missing=True)
    for key, value in records:
        db.put(key, value)
    db.close()
    return folder


def numbered(count: int, shape: tuple[int, ...] = (1, 2, 3)) -> list[tuple[bytes, bytes]]:
    """Raw records '%08d' % i labelled i, every pixel i mod 256."""
    return [(b"%08d" % i, caffe_datum(np.full(shape, i % 256, np.uint8), i)) for i in range(count)]


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) grey or (H, W, 3) RGB uint8 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
