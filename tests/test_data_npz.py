"""NPZ sources: shapes, optional labels, and refusal of pickles and corrupt archives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protonet.data.npz import read_npz
from protonet.data.sources import open_source
from protonet.errors import DataError


def test_round_trip_with_labels(tmp_path, rng):
    data = rng.integers(0, 256, (5, 3, 4, 4)).astype(np.uint8)
    labels = np.arange(5, dtype=np.int64)
    np.savez(tmp_path / "d.npz", data=data, labels=labels)
    got, got_labels = read_npz(tmp_path / "d.npz")
    assert np.array_equal(got, data) and got.dtype == np.uint8
    assert np.array_equal(got_labels, labels)


def test_three_axes_gain_a_channel_and_labels_are_optional(tmp_path, rng):
    data = rng.random((6, 4, 5)).astype(np.float32)
    np.savez_compressed(tmp_path / "d.npz", data=data)
    records = open_source("d.npz", base_dir=tmp_path, with_labels=False)
    assert records.images.shape == (6, 1, 4, 5) and records.labels is None
    assert np.array_equal(records.images[:, 0], data)


def test_missing_data_array(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match="has no array 'data' .found: images"):
        read_npz(tmp_path / "d.npz")


def test_pickled_objects_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="not a readable .npz"):
        read_npz(tmp_path / "d.npz")


def test_truncated_archive(tmp_path, rng):
    np.savez(tmp_path / "d.npz", data=rng.random((4, 2, 2)))
    raw = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as info:
        read_npz(tmp_path / "d.npz")
    assert str(tmp_path / "d.npz") in str(info.value)


def test_single_npy_is_refused(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((2, 2, 2)))
    Path(tmp_path / "d.npy").rename(tmp_path / "d.npz")
    with pytest.raises(DataError, match="single .npy array"):
        read_npz(tmp_path / "d.npz")


@pytest.mark.parametrize("data, labels, message", [
    (np.zeros((2, 2)), None, "images are float64 of shape \\[2, 2\\]"),
    (np.zeros((0, 2, 2)), None, "with N > 0"),
    (np.array([["a"]] * 2), None, "expected numbers"),
    (np.zeros((3, 2, 2)), np.zeros(2), "labels are float64 of shape \\[2\\], expected .* shape \\[3\\]"),
    (np.zeros((3, 2, 2)), np.zeros((3, 1)), "labels are"),
])
def test_bad_shapes(tmp_path, data, labels, message):
    arrays = {"data": data} if labels is None else {"data": data, "labels": labels}
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        open_source(str(tmp_path / "d.npz"), base_dir=tmp_path)
