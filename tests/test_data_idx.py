"""IDX reader/writer: round trips, hand-built files, and every corrupt-file case as a DataError."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from protonet.data.idx import read_idx, write_idx
from protonet.errors import DataError


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file built by hand from the format's description."""
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def test_reads_a_hand_built_uint8_file(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(0x08, (2, 2, 3), bytes(range(12))))
    array = read_idx(path)
    assert array.dtype == np.uint8 and array.shape == (2, 2, 3)
    assert array[1, 0, 2] == 1 * 6 + 0 * 3 + 2
    assert not array.flags.writeable  # a view of the file's bytes, not a copy


def test_reads_big_endian_int32_and_float64(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(0x0C, (3,), struct.pack(">3i", -1, 2, 70000)))
    assert read_idx(path).tolist() == [-1, 2, 70000]
    path.write_bytes(idx_bytes(0x0E, (2,), struct.pack(">2d", 0.5, -3.25)))
    assert read_idx(path).tolist() == [0.5, -3.25]


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, rng, name, dtype):
    array = (rng.random((4, 3, 5)) * 100).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "plain-name"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (3,), b"\x01\x02\x03")))
    assert read_idx(path).tolist() == [1, 2, 3]


def test_checksum_of_content(tmp_path):
    import hashlib

    raw = idx_bytes(0x08, (3,), b"\x01\x02\x03")
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(raw))
    assert read_idx(path, sha256=hashlib.sha256(raw).hexdigest()).tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="checksum"):
        read_idx(path, sha256="0" * 64)


GOOD = idx_bytes(0x08, (2, 2, 2), bytes(8))
CORRUPT = {
    "empty": b"",
    "short header": b"\0\0\x08",
    "bad magic": b"\x01\x02" + GOOD[2:],
    "unknown type code": b"\0\0\x07" + GOOD[3:],
    "zero dimensions": b"\0\0\x08\0",
    "truncated dims": GOOD[:9],
    "truncated data": GOOD[:-1],
    "trailing bytes": GOOD + b"\0",
    "dims larger than data": idx_bytes(0x08, (3, 2, 2), bytes(8)),
    "huge dims": idx_bytes(0x08, (2**31, 2**31), bytes(8)),
    "wrong item size": idx_bytes(0x0D, (2, 2, 2), bytes(8)),
}


@pytest.mark.parametrize("case", CORRUPT)
@pytest.mark.parametrize("compress", [False, True])
def test_corrupt_files_are_data_errors_naming_the_path(tmp_path, case, compress):
    path = tmp_path / f"bad-{case.replace(' ', '_')}"
    raw = CORRUPT[case]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_gzip_is_a_data_error(tmp_path, damage):
    packed = gzip.compress(GOOD)
    raw = packed[: len(packed) // 2] if damage == "truncated" else packed[:10] + b"\xff" * 40
    path = tmp_path / "bad.gz"
    path.write_bytes(raw)
    with pytest.raises(DataError, match="bad gzip data") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")


def test_writer_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="IDX cannot hold"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))
    assert not (tmp_path / "x").exists()


def test_real_mnist_header(mnist_dir):
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
