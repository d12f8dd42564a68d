"""The Data layer on Caffe's databases: LMDBs (and LevelDBs) written without protonet, Datum bytes laid out
as Caffe writes them; key order with wrap-around, raw / float_data / encoded records, transforms, resuming,
the prefetch thread, and every bad input."""

from __future__ import annotations

import gc
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from protonet.data.tools import convert, open_records
from protonet.errors import ConfigError, DataError
from protonet.proto import pb

from .layers.test_data import make, numbered_records, read_labels, windows, write_mean
from .test_db_helpers import caffe_datum, field, numbered, png, write_leveldb, write_lmdb

pytest.importorskip("lmdb")


def lmdb_layer(folder: Path, data_param: str = "batch_size: 4", transform: str = "", **kwargs):
    params = f'transform_param {{ {transform} }} data_param {{ source: "db" backend: LMDB {data_param} }}'
    return make(folder, params, **kwargs)


def batches(layer, top, count: int) -> list[tuple[np.ndarray, list[int]]]:
    out = []
    for _ in range(count):
        layer.forward([], top)
        out.append((top[0].data.copy(), top[1].data.astype(int).tolist()))
    return out


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("prefetch ")]


def test_raw_records_in_key_order_with_wrap_around(tmp_path):
    records = numbered(10)
    write_lmdb(tmp_path / "db", [records[i] for i in np.random.default_rng(0).permutation(10)])
    layer, top = lmdb_layer(tmp_path)
    assert top[0].shape == (4, 1, 2, 3) and layer.num_records == 10
    assert read_labels(layer, top, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]
    assert layer.cursor() == (6, 1)
    assert np.array_equal(top[0].data[:, 0, 1, 2], [2, 3, 4, 5])  # the images travel with their labels


def test_float_data_records_are_float32(tmp_path, rng):
    floats = rng.normal(size=(3, 2, 2, 2)).astype(np.float32)
    write_lmdb(tmp_path / "db", [(b"%08d" % i, caffe_datum(floats=f, label=i)) for i, f in enumerate(floats)])
    layer, top = lmdb_layer(tmp_path, "batch_size: 3", "scale: 2", dtype=np.float32)
    layer.forward([], top)
    assert np.array_equal(top[0].data, floats * np.float32(2)) and top[1].data.tolist() == [0, 1, 2]


def test_encoded_png_decodes_bgr_and_grey_stays_one_channel(tmp_path, rng):
    rgb = rng.integers(0, 256, (2, 5, 4, 3)).astype(np.uint8)
    write_lmdb(tmp_path / "db", [(b"%08d" % i, caffe_datum(encoded=png(p), label=7)) for i, p in enumerate(rgb)])
    layer, top = lmdb_layer(tmp_path, "batch_size: 2")
    layer.forward([], top)
    assert np.array_equal(top[0].data, rgb[..., ::-1].transpose(0, 3, 1, 2)) and top[1].data.tolist() == [7, 7]
    grey = rng.integers(0, 256, (4, 5)).astype(np.uint8)
    write_lmdb(tmp_path / "grey" / "db", [(b"a", caffe_datum(encoded=png(grey)))])
    layer, top = lmdb_layer(tmp_path / "grey", "batch_size: 1")
    layer.forward([], top)
    assert np.array_equal(top[0].data[0, 0], grey)
    layer, top = lmdb_layer(tmp_path / "grey", "batch_size: 1", "force_color: true")
    layer.forward([], top)
    assert top[0].shape == (1, 3, 4, 5) and all(np.array_equal(top[0].data[0, c], grey) for c in range(3))
    layer, top = lmdb_layer(tmp_path, "batch_size: 1", "force_gray: true")
    assert top[0].shape == (1, 1, 5, 4)


def test_jpeg_records(tmp_path):
    from PIL import Image

    smooth = np.add.outer(np.arange(16), np.arange(16)).astype(np.uint8)[..., None].repeat(3, axis=2) * 4
    path = tmp_path / "x.jpg"
    Image.fromarray(smooth).save(path, quality=95)
    write_lmdb(tmp_path / "db", [(b"0", caffe_datum(encoded=path.read_bytes(), label=1))])
    layer, top = lmdb_layer(tmp_path, "batch_size: 1")
    layer.forward([], top)
    assert top[0].shape == (1, 3, 16, 16)
    assert np.abs(top[0].data[0] - smooth.transpose(2, 0, 1)).max() < 8  # lossy, but this image


def test_the_same_batches_as_the_idx_file_it_was_made_from(tmp_path):
    images = numbered_records(tmp_path, count=7, shape=(4, 5))
    convert(open_records(str(images)), tmp_path / "db")
    transform = "scale: 0.5 mean_value: 1 crop_size: 3"
    for phase in (pb.TRAIN, pb.TEST):
        from_idx = make(tmp_path, f'transform_param {{ {transform} }} data_param {{ source: "{images.name}" '
                                  "batch_size: 3 }", phase=phase)
        from_db = lmdb_layer(tmp_path, "batch_size: 3", transform, phase=phase)
        if phase == pb.TEST:  # centre crops: the same pixels
            for (a, la), (b, lb) in zip(batches(*from_idx, 5), batches(*from_db, 5)):
                assert np.array_equal(a, b) and la == lb
        else:
            assert [lab for _, lab in batches(*from_idx, 5)] == [lab for _, lab in batches(*from_db, 5)]


def random_db(folder: Path, rng: np.random.Generator, count: int = 30, shape=(2, 5, 5)) -> np.ndarray:
    images = rng.integers(0, 256, (count, *shape)).astype(np.uint8)
    write_lmdb(folder / "db", [(b"%08d" % i, caffe_datum(x, i)) for i, x in enumerate(images)])
    return images


def test_random_crops_and_flips_are_windows_of_each_record_and_depend_on_the_seed(tmp_path, rng):
    images = random_db(tmp_path, rng).astype(np.float64)
    transform = "crop_size: 3 mirror: true mean_value: 1"
    (out, labels), = batches(*lmdb_layer(tmp_path, "batch_size: 30", transform), 1)
    found = set()
    for n, label in enumerate(labels):
        matches = [k for k, w in enumerate(windows(images[label] - 1, 3, True)) if np.array_equal(out[n], w)]
        assert matches, f"record {n} is no window of its image"
        found.add(matches[0])
    assert len(found) > 5 and any(k % 2 for k in found) and any(k % 2 == 0 for k in found)
    again = batches(*lmdb_layer(tmp_path, "batch_size: 30", transform), 1)[0][0]
    other = batches(*lmdb_layer(tmp_path, "batch_size: 30", transform, seed=7), 1)[0][0]
    assert np.array_equal(out, again) and not np.array_equal(out, other)
    (centre, _), = batches(*lmdb_layer(tmp_path, "batch_size: 30", "crop_size: 3", phase=pb.TEST), 1)
    assert np.array_equal(centre, images[:, :, 1:4, 1:4])


def test_seek_resumes_exactly_with_crops_and_flips(tmp_path, rng):
    random_db(tmp_path, rng, count=11)
    transform = "crop_size: 4 mirror: true"
    whole = batches(*lmdb_layer(tmp_path, "batch_size: 4", transform), 6)
    layer, top = lmdb_layer(tmp_path, "batch_size: 4", transform, seed=99)
    batches(layer, top, 1)
    layer.ctx.seed = 1701  # as a restore sets it, then seeks
    layer.seek(8, 0)
    for (a, la), (b, lb) in zip(whole[2:], batches(layer, top, 4)):
        assert np.array_equal(a, b) and la == lb
    assert layer.cursor() == (2, 2)


def test_train_and_test_layers_on_the_same_lmdb(tmp_path, rng):
    random_db(tmp_path, rng, count=6)
    train = lmdb_layer(tmp_path, "batch_size: 4", "mirror: true crop_size: 4")
    test = lmdb_layer(tmp_path, "batch_size: 5", phase=pb.TEST)
    assert train[0].stream.database is test[0].stream.database  # one open environment per process
    assert read_labels(*train, 1) == [[0, 1, 2, 3]]
    assert read_labels(*test, 2) == [[0, 1, 2, 3, 4], [5, 0, 1, 2, 3]]
    assert read_labels(*train, 1) == [[4, 5, 0, 1]]


def test_mean_file_from_the_mean_tool(tmp_path, rng):
    from protonet.data.tools import mean

    images = random_db(tmp_path, rng, count=5, shape=(3, 4, 4)).astype(np.float64)
    _, average = mean(open_records(str(tmp_path / "db")), tmp_path / "mean.binaryproto")
    assert np.allclose(average, images.mean(axis=0))
    (out, _), = batches(*lmdb_layer(tmp_path, "batch_size: 5", 'mean_file: "mean.binaryproto" scale: 0.5'), 1)
    assert np.allclose(out, (images - images.mean(axis=0)) * 0.5, atol=1e-4)
    write_mean(tmp_path / "m2.binaryproto", np.zeros((3, 5, 5)))
    with pytest.raises(DataError, match="does not fit records of shape"):
        lmdb_layer(tmp_path, "batch_size: 5", 'mean_file: "m2.binaryproto"')


def new_prefetch_thread(layer, top, before: list[threading.Thread]) -> threading.Thread:
    layer.forward([], top)
    thread, = [t for t in prefetch_threads() if t not in before]
    return thread


def test_the_prefetch_thread_ends_with_the_layer_and_after_an_error(tmp_path):
    write_lmdb(tmp_path / "good" / "db", numbered(10))
    before = prefetch_threads()
    layer, top = lmdb_layer(tmp_path / "good", "batch_size: 2 prefetch: 4")
    thread = new_prefetch_thread(layer, top, before)
    assert thread.is_alive() and thread.daemon
    del layer, top
    for _ in range(100):  # gc.collect() does nothing while another thread is collecting
        gc.collect()
        if not thread.is_alive():
            break
        time.sleep(0.01)
    assert not thread.is_alive()
    write_lmdb(tmp_path / "db", [*numbered(9), (b"00000009", caffe_datum(np.zeros((1, 3, 3), np.uint8)))])
    layer, top = lmdb_layer(tmp_path, "batch_size: 2 prefetch: 1")
    thread = new_prefetch_thread(layer, top, before)  # one batch ahead: it waits to hand over the third
    assert read_labels(layer, top, 3) == [[2, 3], [4, 5], [6, 7]]
    with pytest.raises(DataError, match=r"db: record '00000009' is 1x3x3 uint8, but the first record is 1x2x3 uint8"):
        layer.forward([], top)
    assert not thread.is_alive()  # the error ended it
    layer.seek(0, 0)
    assert read_labels(layer, top, 1) == [[0, 1]]  # and a seek starts it again


def test_leveldb_through_plyvel(tmp_path):
    write_leveldb(tmp_path / "db", numbered(5))
    layer, top = make(tmp_path, 'data_param { source: "db" backend: LEVELDB batch_size: 3 }')
    assert read_labels(layer, top, 2) == [[0, 1, 2], [3, 4, 0]]


# -- bad input ---------------------------------------------------------------------------------


def test_missing_database(tmp_path):
    with pytest.raises(DataError, match=r"data source 'db' not found \(looked for .*db\)"):
        lmdb_layer(tmp_path)


@pytest.mark.parametrize("value, why", [
    (b"\xff\xff\xff", "it does not parse"),
    (b"hello world", "it does not parse"),
    (field(5, 3), "its shape 0x0x0 is not positive"),  # a label alone
    (field(1, 1) + field(2, 2) + field(3, 2) + field(4, b"\0\0"), "it holds 2 bytes for a 1x2x2 image"),
    (field(4, b"\0") + field(7, 1), "cannot decode the encoded image of record 'k1'"),
])
def test_values_that_are_not_datums(tmp_path, value, why):
    write_lmdb(tmp_path / "db", [(b"k1", value)])
    with pytest.raises(DataError, match=rf"db: .*{why}"):
        lmdb_layer(tmp_path)


def test_an_encoded_image_that_does_not_decode_names_its_key(tmp_path, rng):
    good = png(rng.integers(0, 256, (4, 4, 3)).astype(np.uint8))
    write_lmdb(tmp_path / "db", [(b"a", caffe_datum(encoded=good)), (b"b", caffe_datum(encoded=good[:40]))])
    layer, top = lmdb_layer(tmp_path, "batch_size: 2")
    with pytest.raises(DataError, match=r"db: cannot decode the encoded image of record 'b'"):
        layer.forward([], top)


def test_a_leveldb_without_plyvel_says_how_to_convert(tmp_path, monkeypatch):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "CURRENT").write_text("MANIFEST-000001\n")
    monkeypatch.setitem(sys.modules, "plyvel", None)
    with pytest.raises(ConfigError, match=r"needs the plyvel package.*protonet\[leveldb\].*protonet data convert"):
        make(tmp_path, 'data_param { source: "db" batch_size: 2 }')


def test_an_lmdb_without_the_lmdb_package_names_the_extra(tmp_path, monkeypatch):
    write_lmdb(tmp_path / "db", numbered(2))
    monkeypatch.setitem(sys.modules, "lmdb", None)
    with pytest.raises(ConfigError, match=r"needs the lmdb package.*pip install 'protonet\[lmdb\]'"):
        lmdb_layer(tmp_path)


def test_other_database_errors(tmp_path):
    (tmp_path / "db").mkdir()
    with pytest.raises(DataError, match="neither an LMDB .* nor a LevelDB"):
        lmdb_layer(tmp_path)
    write_lmdb(tmp_path / "empty" / "db", [])
    with pytest.raises(DataError, match="the LMDB holds no records"):
        lmdb_layer(tmp_path / "empty")
    write_lmdb(tmp_path / "full" / "db", numbered(2))
    with pytest.raises(ConfigError, match="shuffle cannot reorder a database"):
        lmdb_layer(tmp_path / "full", "batch_size: 2 shuffle: true")
    with pytest.raises(ConfigError, match="both force_color and force_gray"):
        lmdb_layer(tmp_path / "full", "batch_size: 2", "force_color: true force_gray: true")
