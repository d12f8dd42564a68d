"""HDF5Output: every forward's rows in one whole file, written atomically; errors."""

from __future__ import annotations

import errno
import sys

import numpy as np
import pytest

import protonet.io
from protonet import Net, config
from protonet.errors import ConfigError, StorageError
from protonet.proto import pb

h5py = pytest.importorskip("h5py")


def net_writing(path, data_shape=(2, 3), label_shape=(2,)) -> Net:
    dims = " ".join(f"dim: {d}" for d in data_shape)
    label_dims = " ".join(f"dim: {d}" for d in label_shape)
    text = f"""
    layer {{ name: "in" type: "Input" top: "x" top: "y"
            input_param {{ shape {{ {dims} }} shape {{ {label_dims} }} }} }}
    layer {{ name: "out" type: "HDF5Output" bottom: "x" bottom: "y"
            hdf5_output_param {{ file_name: "{path}" }} }}
    """
    return Net(config.parse(text, pb.NetParameter()))


def read(path) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as handle:
        assert sorted(handle) == ["data", "label"]
        return handle["data"][()], handle["label"][()]


def test_every_forward_adds_its_rows_to_the_file(tmp_path, rng):
    path = tmp_path / "out.h5"
    net = net_writing(path)
    assert not path.exists()  # nothing is written (or truncated) before the first forward
    x1, x2 = rng.standard_normal((2, 2, 3)).astype(np.float32)
    net.forward(x=x1, y=np.array([0, 1]))
    data, label = read(path)
    np.testing.assert_array_equal(data, x1)
    net.forward(x=x2, y=np.array([2, 3]))
    data, label = read(path)
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, np.concatenate([x1, x2]))
    np.testing.assert_array_equal(label, [0, 1, 2, 3])
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "out.h5"
    net = net_writing(path)
    net.forward(x=np.ones((2, 3)), y=np.zeros(2))
    before = path.read_bytes()

    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(protonet.io.os, "replace", disk_full)
    with pytest.raises(StorageError, match="out.h5.*No space left on device"):
        net.forward(x=np.zeros((2, 3)), y=np.zeros(2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_rows_must_keep_their_shape(tmp_path):
    net = net_writing(tmp_path / "out.h5")
    net.forward(x=np.ones((2, 3)), y=np.zeros(2))
    with pytest.raises(ConfigError, match=r"the data bottom changed shape from \[2, 3\] to \[2, 4\]"):
        net.forward(x=np.ones((2, 4)), y=np.zeros(2))


def test_batch_sizes_must_agree(tmp_path):
    with pytest.raises(ConfigError, match="must have the same batch size"):
        net_writing(tmp_path / "out.h5", label_shape=(3,))


def test_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="file_name is empty"):
        net_writing("")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ConfigError, match=r"pip install protonet\[hdf5\]"):
        net_writing(tmp_path / "out.h5")
