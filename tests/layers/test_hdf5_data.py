"""HDF5Data: Caffe's order across files, shuffling, resuming, errors, and a net that learns from it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from protonet import Net, config
from protonet.errors import ConfigError, DataError
from protonet.evaluate import full_pass_iterations
from protonet.proto import pb
from tests.layers.test_memory_data import batches, build
from tests.test_solver_helpers import make_solver, weights

h5py = pytest.importorskip("h5py")


def write_h5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as handle:
        for name, array in datasets.items():
            handle.create_dataset(name, data=array)
    return path


def numbered_files(folder: Path, sizes=(4, 3)) -> Path:
    """HDF5 files of the given row counts, numbered on across files: data rows (2, 3) full of the
    record's number, labels equal to it; and the list file naming them (one by a relative path)."""
    names, start = [], 0
    for k, size in enumerate(sizes):
        number = np.arange(start, start + size)
        data = np.repeat(number, 6).reshape(size, 2, 3).astype(np.float32)
        write_h5(folder / f"part{k}.h5", data=data, label=number.astype(np.float64))
        names.append(f"part{k}.h5")
        start += size
    (folder / "list.txt").write_text("\n".join(names) + "\n")
    return folder / "list.txt"


def hdf5(params: str = "", batch: int = 3) -> str:
    return (f'type: "HDF5Data" top: "data" top: "label" '
            f'hdf5_data_param {{ source: "list.txt" batch_size: {batch} {params} }}')


def test_rows_in_file_order_with_wrap_around(tmp_path):
    numbered_files(tmp_path)
    layer, top = build(hdf5(), folder=tmp_path)
    assert top[0].shape == (3, 2, 3) and top[1].shape == (3,)
    assert batches(layer, top, 4) == [[0, 1, 2], [3, 4, 5], [6, 0, 1], [2, 3, 4]]
    assert batches(layer, top, 1, index=0) == [[5, 6, 0]]  # the data rows travel with their labels
    assert layer.cursor() == (1, 2) and layer.num_records == 7 and layer.batch_size == 3


def test_float32_and_rows_of_any_rank(tmp_path):
    write_h5(tmp_path / "a.h5", x=np.arange(24).reshape(4, 2, 3), y=np.arange(4.0))
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'a.h5'}\n")  # an absolute path
    params = 'type: "HDF5Data" top: "y" top: "x" hdf5_data_param { source: "list.txt" batch_size: 2 }'
    layer, top = build(params, folder=tmp_path, dtype=np.float32)
    layer.forward([], top)
    assert top[0].data.dtype == np.float32 and top[0].shape == (2,) and top[1].shape == (2, 2, 3)
    np.testing.assert_array_equal(top[1].data, np.arange(12).reshape(2, 2, 3))


def test_shuffle_permutes_files_and_rows_per_epoch_deterministically(tmp_path):
    numbered_files(tmp_path, sizes=(4, 3, 5))
    read = [sum(batches(*build(hdf5("shuffle: true", batch=4), folder=tmp_path, seed=seed), 9), [])
            for seed in (1701, 1701, 7)]
    first, again, other = read
    assert first == again and other != first
    epochs = [first[k:k + 12] for k in range(0, 36, 12)]
    assert all(sorted(epoch) == list(range(12)) for epoch in epochs)
    assert epochs[0] != epochs[1] and epochs[0] != list(range(12))
    files = [set(range(0, 4)), set(range(4, 7)), set(range(7, 12))]
    file_orders = set()
    for epoch in epochs:  # as Caffe: a file's rows are read together, before the next file's
        start, order = 0, []
        while start < len(epoch):
            owner = next(k for k, f in enumerate(files) if epoch[start] in f)
            assert set(epoch[start:start + len(files[owner])]) == files[owner]
            start += len(files[owner])
            order.append(owner)
        file_orders.add(tuple(order))
    assert len(file_orders) > 1  # the files' order changes between epochs too


@pytest.mark.parametrize("params", ["", "shuffle: true"])
def test_seek_resumes_exactly(tmp_path, params):
    numbered_files(tmp_path)
    layer, top = build(hdf5(params), folder=tmp_path)
    batches(layer, top, 3)
    saved = layer.cursor()
    after = batches(layer, top, 5)
    resumed, resumed_top = build(hdf5(params), folder=tmp_path)
    resumed.seek(*saved)
    assert batches(resumed, resumed_top, 5) == after


def test_missing_file_names_it_and_the_list_line(tmp_path):
    numbered_files(tmp_path)
    (tmp_path / "list.txt").write_text("part0.h5\n\nnope.h5\n")
    with pytest.raises(DataError, match=r"list.txt:3: HDF5 file 'nope.h5' not found \(looked for .*nope.h5"):
        build(hdf5(), folder=tmp_path)


def test_missing_list(tmp_path):
    with pytest.raises(DataError, match="data source 'list.txt' not found"):
        build(hdf5(), folder=tmp_path)


@pytest.mark.parametrize("datasets, message", [
    ({"data": np.zeros((3, 2))}, r"has no dataset 'label' \(found: data\)"),
    ({"data": np.zeros((3, 2)), "label": np.zeros(2)}, "dataset 'label' has 2 rows, 'data' 3"),
    ({"data": np.zeros((3, 5)), "label": np.zeros(3)}, r"rows of shape \[5\], but the first file's have"),
    ({"data": np.array([b"a", b"b"]), "label": np.zeros(2)}, r"dataset 'data' is \|S1 of shape \[2\]"),
])
def test_bad_files(tmp_path, datasets, message):
    write_h5(tmp_path / "a.h5", data=np.zeros((2, 2)), label=np.zeros(2))
    write_h5(tmp_path / "b.h5", **datasets)
    (tmp_path / "list.txt").write_text("a.h5\nb.h5\n")
    with pytest.raises(DataError, match=message):
        build(hdf5(), folder=tmp_path)


def test_not_an_hdf5_file(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"not hdf5 at all")
    (tmp_path / "list.txt").write_text("a.h5\n")
    with pytest.raises(DataError, match=r"a.h5: not a readable HDF5 file"):
        build(hdf5(), folder=tmp_path)


@pytest.mark.parametrize("params, message", [
    (hdf5(batch=0), "batch_size must be positive"),
    ('type: "HDF5Data" top: "data" hdf5_data_param { batch_size: 2 }', "source is empty"),
    (hdf5() + " transform_param { scale: 2 }", "does not transform its data"),
])
def test_config_errors(tmp_path, params, message):
    numbered_files(tmp_path)
    with pytest.raises(ConfigError, match=message):
        build(params, folder=tmp_path)


def test_without_h5py_a_clear_message(tmp_path, monkeypatch):
    numbered_files(tmp_path)
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(ConfigError, match=r"need the h5py package.*pip install protonet\[hdf5\]"):
        build(hdf5(), folder=tmp_path)


NET = """
layer { name: "data" type: "HDF5Data" top: "data" top: "label"
        hdf5_data_param { source: "list.txt" batch_size: 8 shuffle: true } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" include { phase: TEST } }
"""


def test_a_net_learns_from_hdf5_files(tmp_path, rng):
    """Three well-separated clusters in 4-D, split over two files; plain SGD on the net's gradients."""
    centres = rng.standard_normal((3, 4)) * 3
    label = rng.integers(0, 3, 60)
    data = (centres[label] + rng.standard_normal((60, 4)) * 0.3).astype(np.float32)
    write_h5(tmp_path / "a.h5", data=data[:40], label=label[:40])
    write_h5(tmp_path / "b.h5", data=data[40:], label=label[40:])
    (tmp_path / "list.txt").write_text("a.h5\nb.h5\n")
    net = Net(config.parse(NET, pb.NetParameter()), phase="TRAIN", seed=5, base_dir=tmp_path)
    losses = []
    for _ in range(60):
        losses.append(net.forward_backward())
        for param in net.learnable:
            param.blob.data -= 0.1 * param.blob.diff
        net.clear_param_diffs()
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:5])
    test = Net(config.parse(NET, pb.NetParameter()), phase="TEST", base_dir=tmp_path)
    test.share_with(net)
    assert full_pass_iterations(test) == math.ceil(60 / 8)
    accuracy = np.mean([test.forward()["acc"] for _ in range(full_pass_iterations(test))])
    assert accuracy > 0.95


def test_a_restored_solver_reads_on_where_the_snapshot_was_taken(tmp_path, rng):
    """Through the solver's state: the cursor is saved with the snapshot and sought on restore."""
    write_h5(tmp_path / "a.h5", data=rng.standard_normal((7, 4)), label=rng.integers(0, 3, 7))
    write_h5(tmp_path / "b.h5", data=rng.standard_normal((6, 4)), label=rng.integers(0, 3, 6))
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'a.h5'}\n{tmp_path / 'b.h5'}\n")
    net = NET.replace('"list.txt"', f'"{tmp_path / "list.txt"}"').replace("batch_size: 8", "batch_size: 5")
    first = make_solver(net, f'snapshot_prefix: "{tmp_path}/a"')
    first.step(3)
    state_file = first.snapshot()
    first.step(4)
    second = make_solver(net, f'snapshot_prefix: "{tmp_path}/b"')
    second.restore(state_file)
    assert second.net.layer_dict["data"].cursor() == (2, 1)  # 15 records read of 13
    second.step(4)
    for a, b in zip(weights(first), weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
