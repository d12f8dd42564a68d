"""`protonet data convert | mean | info`: LMDBs with Caffe's keys and Datum bytes (compared with Datums
encoded by hand as Caffe's converters write them), image lists, mean files, summaries, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from protonet.cli import cli
from protonet.data import database
from protonet.data.idx import write_idx
from protonet.data.transform import read_mean_file
from protonet.errors import DataError, StorageError
from protonet.proto import pb

from .test_db_helpers import caffe_datum, numbered, read_lmdb, write_leveldb, write_lmdb

lmdb = pytest.importorskip("lmdb")


def protonet(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["data", *map(str, args)])


def mnist_like(folder: Path, rng: np.random.Generator, count: int = 5) -> tuple[Path, np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, (count, 3, 4)).astype(np.uint8)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    return folder / "train-images-idx3-ubyte", images, labels


def test_convert_idx_writes_what_convert_mnist_data_writes(tmp_path, rng):
    source, images, labels = mnist_like(tmp_path, rng)
    result = protonet("convert", source, tmp_path / "db")
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'db'}: wrote 5 records of 1x3x4 uint8 from {source} (IDX)" in result.output
    assert read_lmdb(tmp_path / "db") == [(b"%08d" % i, caffe_datum(x[None], int(y)))
                                           for i, (x, y) in enumerate(zip(images, labels))]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_convert_npz_floats_to_float_data(tmp_path, rng):
    data = rng.normal(size=(3, 2, 2, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", data=data, labels=np.array([0, 1, 2]))
    assert protonet("convert", tmp_path / "d.npz", tmp_path / "db").exit_code == 0
    assert read_lmdb(tmp_path / "db") == [(b"%08d" % i, caffe_datum(floats=x, label=i)) for i, x in enumerate(data)]
    np.savez(tmp_path / "f.npz", data=data, labels=np.array([0, 1.5, 2]))
    assert "labels that are not integers" in str(protonet("convert", tmp_path / "f.npz", tmp_path / "f").exception)


def image_list(folder: Path, rng: np.random.Generator, sizes=((5, 4), (6, 3), (5, 4))) -> tuple[Path, list]:
    """PNG files (RGB, of the given (height, width)) and a list naming them with labels 10, 11, ..."""
    pixels = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8) for h, w in sizes]
    lines = []
    for k, array in enumerate(pixels):
        Image.fromarray(array).save(folder / f"im {k}.png")
        lines.append(f"im {k}.png {10 + k}")
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder / "list.txt", pixels


def decoded(value: bytes) -> tuple[np.ndarray, pb.Datum]:
    datum = pb.Datum.FromString(value)
    return np.frombuffer(datum.data, np.uint8).reshape(datum.channels, datum.height, datum.width), datum


def test_convert_an_image_list_as_convert_imageset(tmp_path, rng):
    listing, pixels = image_list(tmp_path, rng, sizes=((5, 4), (5, 4)))
    assert protonet("convert", listing, tmp_path / "db").exit_code == 0
    records = read_lmdb(tmp_path / "db")
    assert [key for key, _ in records] == [b"00000000_im 0.png", b"00000001_im 1.png"]
    for (_, value), rgb, label in zip(records, pixels, (10, 11)):
        assert value == caffe_datum(rgb[..., ::-1].transpose(2, 0, 1), label)  # BGR, as OpenCV reads it


def test_resize_gray_shuffle_and_encoded(tmp_path, rng):
    listing, pixels = image_list(tmp_path, rng)
    result = protonet("convert", listing, tmp_path / "db", "--resize", 2, 3, "--gray", "--shuffle", "--seed", 3)
    assert result.exit_code == 0, result.output
    records = read_lmdb(tmp_path / "db")
    order = [int(pb.Datum.FromString(v).label) - 10 for _, v in records]
    assert sorted(order) == [0, 1, 2] and order != [0, 1, 2]
    assert [k for k, _ in records] == [b"%08d_im %d.png" % (i, k) for i, k in enumerate(order)]
    assert all(decoded(v)[0].shape == (1, 2, 3) for _, v in records)
    assert protonet("convert", listing, tmp_path / "enc", "--encoded").exit_code == 0
    for (_, value), k in zip(read_lmdb(tmp_path / "enc"), range(3)):
        datum = pb.Datum.FromString(value)
        assert datum.encoded and datum.data == (tmp_path / f"im {k}.png").read_bytes()  # the file itself
    assert protonet("convert", listing, tmp_path / "enc2", "--encoded", "--resize", 2, 2).exit_code == 0
    with Image.open(io.BytesIO(pb.Datum.FromString(read_lmdb(tmp_path / "enc2")[1][1]).data)) as im:
        assert im.format == "PNG" and im.size == (2, 2)


def test_image_list_errors_name_the_line(tmp_path, rng):
    listing, _ = image_list(tmp_path, rng)
    listing.write_text(listing.read_text() + "im 9.png 1\n")
    result = protonet("convert", listing, tmp_path / "db")
    assert isinstance(result.exception, DataError)
    assert f"{listing}:4: image 'im 9.png' not found" in str(result.exception)
    assert not (tmp_path / "db").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".db")]
    listing.write_text("im 0.png cat\n")
    assert "list.txt:1: expected 'path label' with an integer label, found 'im 0.png cat'" in str(
        protonet("convert", listing, tmp_path / "db").exception)


def test_convert_refuses_an_existing_destination(tmp_path, rng):
    source, _, _ = mnist_like(tmp_path, rng)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "keep").write_text("mine")
    result = protonet("convert", source, tmp_path / "db")
    assert isinstance(result.exception, StorageError) and "db: already exists" in str(result.exception)
    assert [p.name for p in (tmp_path / "db").iterdir()] == ["keep"]


def test_convert_a_database_and_grow_the_map(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "INITIAL_MAP_SIZE", 1 << 16)
    records = numbered(3000, shape=(1, 10, 10))
    write_lmdb(tmp_path / "src", records)
    result = protonet("convert", tmp_path / "src", tmp_path / "db")
    assert result.exit_code == 0, result.output
    assert "wrote 3000 records of 1x10x10 uint8" in result.output and "(LMDB)" in result.output
    assert read_lmdb(tmp_path / "db") == records


def test_convert_a_leveldb(tmp_path):
    write_leveldb(tmp_path / "src", numbered(4))
    assert protonet("convert", tmp_path / "src", tmp_path / "db").exit_code == 0
    assert read_lmdb(tmp_path / "db") == numbered(4)


def test_mean_writes_what_compute_image_mean_writes(tmp_path, rng):
    images = rng.integers(0, 256, (6, 3, 2, 4)).astype(np.uint8)
    write_lmdb(tmp_path / "db", [(b"%08d" % i, caffe_datum(x, 0)) for i, x in enumerate(images)])
    result = protonet("mean", tmp_path / "db", tmp_path / "mean.binaryproto")
    assert result.exit_code == 0, result.output
    expected = images.mean(axis=0)
    for c in range(3):
        assert f"mean_value channel [{c}]: {expected[c].mean():.6g}" in result.output
    assert "mean.binaryproto: the mean of 6 records of 3x2x4 uint8" in result.output
    blob = pb.BlobProto.FromString((tmp_path / "mean.binaryproto").read_bytes())
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 3, 2, 4)
    assert np.allclose(read_mean_file(str(tmp_path / "mean.binaryproto"), tmp_path).reshape(3, 2, 4), expected)


def test_mean_needs_records_of_one_size(tmp_path):
    write_lmdb(tmp_path / "db", [*numbered(2), (b"z", caffe_datum(np.zeros((1, 3, 3), np.uint8)))])
    result = protonet("mean", tmp_path / "db", tmp_path / "m.binaryproto")
    assert "record 'z' is 1x3x3 uint8, but the first record is 1x2x3 uint8" in str(result.exception)
    assert not (tmp_path / "m.binaryproto").exists()


def test_info(tmp_path):
    write_lmdb(tmp_path / "db", [(b"%08d" % i, caffe_datum(np.zeros((1, 2, 3), np.uint8), i % 3)) for i in range(7)])
    result = protonet("info", tmp_path / "db")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"source: {tmp_path / 'db'} (LMDB)",
        "records: 7, each 1x2x3 uint8",
        "labels: 0: 3, 1: 2, 2: 2",
        "first keys: 00000000, 00000001, 00000002",
    ]


def test_info_on_real_mnist(mnist_dir):
    result = protonet("info", mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert result.exit_code == 0, result.output
    assert "records: 10000, each 1x28x28 uint8" in result.output and "labels: 0: 980, 1: 1135," in result.output


def test_missing_source(tmp_path):
    assert "data source 'nope' not found" in str(protonet("info", "nope").exception)
