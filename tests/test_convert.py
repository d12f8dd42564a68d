"""`protonet convert`: configs, weights (.caffemodel/.npz/.caffemodel.h5), blobs and solver states."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from protonet.convert import convert_file, load_config
from protonet.errors import ProtonetError, WeightsError
from protonet.proto import pb
from protonet.weights import read_weights

from .conftest import shared_path


def _npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert a[key].shape == b[key].shape, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture
def weights(rng) -> dict[str, np.ndarray]:
    """Named arrays `layer/i` in both float widths, with a '/' inside one layer name (as GoogLeNet has)."""
    return {
        "conv1/0": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "conv1/1": rng.standard_normal(4).astype(np.float32),
        "inception/3x3/0": rng.standard_normal((2, 4, 1, 1)),
        "fc/0": rng.standard_normal((5, 8)),
        "fc/1": np.array([1e-30, -0.0, np.pi, 3.4e38, 1 / 3], np.float64),
    }


# ------------------------------------------------------------------ configs


@pytest.mark.parametrize("parts", [
    ("BVLC__caffe", "examples", "mnist", "lenet_train_test.prototxt"),
    ("BVLC__caffe", "examples", "mnist", "lenet_solver.prototxt"),
    ("KaimingHe__deep-residual-networks", "prototxt", "ResNet-50-deploy.prototxt"),
    ("BVLC__caffe@rc-v1format", "examples", "mnist", "lenet_train_test.prototxt"),
])
def test_prototxt_to_yaml_and_back_is_the_same_message(tmp_path, parts):
    source = str(shared_path("corpus", *parts))
    original = load_config(source)
    assert "wrote" in convert_file(source, str(tmp_path / "net.yaml"))
    convert_file(str(tmp_path / "net.yaml"), str(tmp_path / "back.prototxt"))
    assert load_config(str(tmp_path / "net.yaml")) == original
    assert load_config(str(tmp_path / "back.prototxt")) == original


def test_small_net_and_solver_round_trip_without_the_corpus(tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text('name: "tiny" layer { name: "in" type: "Input" top: "x"'
                   ' input_param { shape { dim: 2 dim: 3 } } }'
                   ' layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"'
                   ' inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.01 } } }')
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "net.prototxt" base_lr: 0.01 momentum: 0.9 lr_policy: "step" stepsize: 7 '
                      'max_iter: 10 type: "Adam"')
    for path, kind in ((net, "NetParameter"), (solver, "SolverParameter")):
        yaml_path = tmp_path / f"{path.stem}.yml"
        assert convert_file(str(path), str(yaml_path)) == f"wrote {yaml_path} ({kind})"
        convert_file(str(yaml_path), str(tmp_path / f"{path.stem}.back.prototxt"))
        assert load_config(str(tmp_path / f"{path.stem}.back.prototxt")) == load_config(str(path))


# ------------------------------------------------------------------ weights


def test_npz_to_caffemodel_to_npz_is_exact(tmp_path, weights):
    source = _npz(tmp_path / "w.npz", weights)
    message = convert_file(str(source), str(tmp_path / "w.caffemodel"))
    assert message.endswith("(3 layers, 165 parameters)")
    convert_file(str(tmp_path / "w.caffemodel"), str(tmp_path / "back.npz"))
    _assert_same_arrays(_load(tmp_path / "back.npz"), weights)

    net = pb.NetParameter()
    net.ParseFromString((tmp_path / "w.caffemodel").read_bytes())
    assert net.name == "w"
    assert [layer.name for layer in net.layer] == ["conv1", "inception/3x3", "fc"]
    conv_w = net.layer[0].blobs[0]
    assert list(conv_w.shape.dim) == [4, 3, 3, 3] and not conv_w.double_data
    np.testing.assert_array_equal(np.array(conv_w.data, np.float32).reshape(4, 3, 3, 3), weights["conv1/0"])
    fc_b = net.layer[2].blobs[1]
    assert not fc_b.data
    np.testing.assert_array_equal(np.array(fc_b.double_data), weights["fc/1"])


@pytest.mark.parametrize("parts", [
    ("ethereon__caffe-tensorflow", "examples", "mnist", "lenet_iter_10000.caffemodel"),  # V2 layout
    ("everpeace__caffe", "examples", "mnist", "lenet_iter_10000.caffemodel"),  # V1 layout
])
def test_corpus_caffemodel_to_npz_and_back(tmp_path, parts):
    source = shared_path("corpus", *parts)
    convert_file(str(source), str(tmp_path / "w.npz"))
    convert_file(str(tmp_path / "w.npz"), str(tmp_path / "w.caffemodel"))
    original = read_weights(source)
    back = read_weights(tmp_path / "w.caffemodel")
    assert list(back) == list(original) == ["conv1", "conv2", "ip1", "ip2"]
    for name in original:
        for a, b in zip(original[name], back[name], strict=True):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)


def test_caffemodel_h5_layout_and_round_trips(tmp_path, weights):
    h5py = pytest.importorskip("h5py")
    _npz(tmp_path / "w.npz", weights)
    convert_file(str(tmp_path / "w.npz"), str(tmp_path / "w.caffemodel.h5"))
    with h5py.File(tmp_path / "w.caffemodel.h5", "r") as handle:
        assert list(handle) == ["data"]
        assert list(handle["data"]) == ["conv1", "inception", "fc"]
        assert list(handle["data/fc"]) == ["0", "1"]
        assert handle["data/conv1/0"].dtype == np.float32 and handle["data/fc/1"].dtype == np.float64
        np.testing.assert_array_equal(handle["data/inception/3x3/0"][()], weights["inception/3x3/0"])
    convert_file(str(tmp_path / "w.caffemodel.h5"), str(tmp_path / "back.npz"))
    _assert_same_arrays(_load(tmp_path / "back.npz"), weights)
    convert_file(str(tmp_path / "w.caffemodel.h5"), str(tmp_path / "w.caffemodel"))
    convert_file(str(tmp_path / "w.caffemodel"), str(tmp_path / "again.caffemodel.h5"))
    convert_file(str(tmp_path / "again.caffemodel.h5"), str(tmp_path / "again.npz"))
    _assert_same_arrays(_load(tmp_path / "again.npz"), weights)


def test_reads_hdf5_weights_as_caffe_writes_them(tmp_path, rng):
    """Caffe makes a group for every layer, empty for layers without parameters, in name order."""
    h5py = pytest.importorskip("h5py")
    w, b = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    with h5py.File(tmp_path / "net.caffemodel.h5", "w") as handle:
        handle.create_group("data/relu")
        handle["data/ip/1"] = b
        handle["data/ip/0"] = w
        handle["diff/ip/0"] = np.zeros_like(w)
    convert_file(str(tmp_path / "net.caffemodel.h5"), str(tmp_path / "net.npz"))
    _assert_same_arrays(_load(tmp_path / "net.npz"), {"ip/0": w, "ip/1": b})


@pytest.mark.parametrize("content, message", [
    (lambda h5: h5.create_group("weights"), "no 'data' group"),
    (lambda h5: h5.create_dataset("data/ip/w", data=np.ones(2)), "expected entries numbered 0..0"),
    (lambda h5: h5.create_dataset("data/ip/1", data=np.ones(2)), "expected entries numbered 0..0"),
    (lambda h5: h5.create_dataset("data/0", data=np.ones(2)), "datasets directly in group 'data'"),
])
def test_malformed_hdf5_weights(tmp_path, content, message):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.caffemodel.h5", "w") as handle:
        content(handle)
    with pytest.raises(WeightsError, match=message):
        convert_file(str(tmp_path / "bad.caffemodel.h5"), str(tmp_path / "out.npz"))


@pytest.mark.parametrize("target", ["w.caffemodel", "w.caffemodel.h5"])
def test_weights_must_be_numbers(tmp_path, target):
    if target.endswith(".h5"):
        pytest.importorskip("h5py")
    _npz(tmp_path / "w.npz", {"ip/0": np.array(["a", "b"])})
    with pytest.raises(WeightsError, match="'ip/0' holds <U1 values, expected numbers"):
        convert_file(str(tmp_path / "w.npz"), str(tmp_path / target))


def test_hdf5_datasets_must_be_numbers(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "w.caffemodel.h5", "w") as handle:
        handle["data/ip/0"] = np.array([b"a", b"b"])
    with pytest.raises(WeightsError, match=re.escape("'/data/ip/0' holds |S1 values, expected numbers")):
        convert_file(str(tmp_path / "w.caffemodel.h5"), str(tmp_path / "w.caffemodel"))


def test_hdf5_garbage_or_missing_file(tmp_path, rng):
    pytest.importorskip("h5py")
    (tmp_path / "junk.caffemodel.h5").write_bytes(rng.bytes(2000))
    with pytest.raises(WeightsError, match="not a valid HDF5 weights file"):
        convert_file(str(tmp_path / "junk.caffemodel.h5"), str(tmp_path / "out.npz"))
    with pytest.raises(WeightsError, match="not found"):
        convert_file(str(tmp_path / "none.caffemodel.h5"), str(tmp_path / "out.npz"))
    assert not (tmp_path / "out.npz").exists()


def test_hdf5_without_h5py_says_how_to_install_it(tmp_path, monkeypatch, weights):
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now raises ImportError
    _npz(tmp_path / "w.npz", weights)
    for source, target in (("w.npz", "w.caffemodel.h5"), ("w.caffemodel.h5", "w.npz")):
        with pytest.raises(ProtonetError, match=r"pip install protonet\[hdf5\]"):
            convert_file(str(tmp_path / source), str(tmp_path / target))


def test_truncated_caffemodel_is_a_weights_error_never_a_crash(tmp_path, weights):
    _npz(tmp_path / "w.npz", weights)
    convert_file(str(tmp_path / "w.npz"), str(tmp_path / "w.caffemodel"))
    data = (tmp_path / "w.caffemodel").read_bytes()
    errors = 0
    for cut in range(1, len(data), 7):
        (tmp_path / "cut.caffemodel").write_bytes(data[:cut])
        try:
            convert_file(str(tmp_path / "cut.caffemodel"), str(tmp_path / "cut.npz"))
        except WeightsError as exc:
            assert "cut.caffemodel" in str(exc) and "\n" not in str(exc)
            errors += 1
    assert errors > len(data) // 7 * 0.9  # cuts that land between two layers parse as fewer layers


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_a_weights_error(tmp_path, seed):
    junk = np.random.default_rng(seed).bytes(3000)
    for name in ("junk.caffemodel", "junk.npz", "junk.binaryproto", "junk.solverstate"):
        (tmp_path / name).write_bytes(junk)
    pairs = (("junk.caffemodel", "o.npz"), ("junk.npz", "o.caffemodel"), ("junk.binaryproto", "o.npy"),
             ("junk.solverstate", "o.npz"), ("junk.npz", "o.solverstate"))
    for source, target in pairs:
        with pytest.raises(WeightsError):
            convert_file(str(tmp_path / source), str(tmp_path / target))


# ------------------------------------------------------------------ blobs


def test_binaryproto_npy_round_trip(tmp_path, rng):
    mean = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "mean.npy", mean)
    convert_file(str(tmp_path / "mean.npy"), str(tmp_path / "mean.binaryproto"))
    blob = pb.BlobProto()
    blob.ParseFromString((tmp_path / "mean.binaryproto").read_bytes())
    assert list(blob.shape.dim) == [1, 3, 4, 5]
    assert convert_file(str(tmp_path / "mean.binaryproto"), str(tmp_path / "back.npy")).endswith(
        "(shape [1, 3, 4, 5], float32)")
    back = np.load(tmp_path / "back.npy")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, mean)


def test_corpus_binaryproto_to_npy_and_back(tmp_path):
    source = shared_path("corpus", "rai-project__go-caffe", "_fixtures", "imagenet_mean.binaryproto")
    convert_file(str(source), str(tmp_path / "mean.npy"))
    mean = np.load(tmp_path / "mean.npy")
    assert mean.shape == (1, 3, 256, 256) and mean.dtype == np.float32
    convert_file(str(tmp_path / "mean.npy"), str(tmp_path / "mean.binaryproto"))
    convert_file(str(tmp_path / "mean.binaryproto"), str(tmp_path / "again.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), mean)


def test_npy_of_strings_is_refused(tmp_path):
    np.save(tmp_path / "names.npy", np.array(["a", "b"]))
    with pytest.raises(WeightsError, match="'names.npy' holds <U1 values, expected numbers"):
        convert_file(str(tmp_path / "names.npy"), str(tmp_path / "names.binaryproto"))


# ------------------------------------------------------------------ solver states


def _full_state(rng) -> pb.SolverState:
    state = pb.SolverState(iter=1200, current_step=2, learned_net="snap/net_iter_1200.caffemodel",
                           random_state='{"nets":[{"bit_generator":"PCG64","state":{"state":1}}]}')
    state.history.add().CopyFrom(_blob(rng.standard_normal((2, 3)).astype(np.float32)))
    state.history.add().CopyFrom(_blob(rng.standard_normal(4)))
    state.data_cursor.add(layer="mnist", position=6400, epoch=1)
    state.data_cursor.add(layer="test0/mnist", position=0, epoch=3)
    state.recent_loss.extend([0.5, 0.25, 0.125])
    return state


def _blob(array: np.ndarray) -> pb.BlobProto:
    from protonet.weights import array_to_blobproto

    return array_to_blobproto(array)


def test_solverstate_npz_round_trip_is_the_same_message(tmp_path, rng):
    state = _full_state(rng)
    (tmp_path / "s.solverstate").write_bytes(state.SerializeToString())
    assert convert_file(str(tmp_path / "s.solverstate"), str(tmp_path / "s.npz")).endswith(
        "(iteration 1200, 2 history blobs)")
    arrays = _load(tmp_path / "s.npz")
    assert sorted(arrays) == sorted(["iter", "current_step", "learned_net", "random_state", "history/0",
                                     "history/1", "recent_loss", "data_cursor/layer", "data_cursor/position",
                                     "data_cursor/epoch"])
    assert arrays["iter"].shape == () and int(arrays["iter"]) == 1200
    assert str(arrays["learned_net"]) == "snap/net_iter_1200.caffemodel"
    assert arrays["history/0"].dtype == np.float32 and arrays["history/1"].dtype == np.float64
    assert arrays["data_cursor/layer"].tolist() == ["mnist", "test0/mnist"]
    convert_file(str(tmp_path / "s.npz"), str(tmp_path / "back.solverstate"))
    back = pb.SolverState()
    back.ParseFromString((tmp_path / "back.solverstate").read_bytes())
    assert back == state


def test_corpus_solverstate_to_npz_and_back(tmp_path):
    source = shared_path("corpus", "everpeace__caffe", "examples", "mnist", "lenet_iter_10000.solverstate")
    original = pb.SolverState()
    original.ParseFromString(source.read_bytes())
    convert_file(str(source), str(tmp_path / "s.npz"))
    convert_file(str(tmp_path / "s.npz"), str(tmp_path / "s.solverstate"))
    back = pb.SolverState()
    back.ParseFromString((tmp_path / "s.solverstate").read_bytes())
    assert (back.iter, back.current_step) == (10000, 0)
    assert back.learned_net == "examples/mnist/lenet_iter_10000.caffemodel"
    assert len(back.history) == len(original.history) == 8
    from protonet.weights import blobproto_to_array

    for a, b in zip(original.history, back.history, strict=True):
        np.testing.assert_array_equal(blobproto_to_array(a), blobproto_to_array(b))


@pytest.mark.parametrize("arrays, message", [
    ({"conv1/0": np.ones(3, np.float32)}, "'conv1/0' is not part of a solver state"),
    ({"history/0": np.ones(3, np.float32)}, "no 'iter' array"),
    ({"iter": np.array(3), "history/1": np.ones(2)}, "expected entries numbered 0..0"),
    ({"iter": np.array([3, 4])}, "'iter' should be a single integer"),
    ({"iter": np.array(3), "learned_net": np.array(7)}, "'learned_net' should be a single string"),
    ({"iter": np.array(2**40)}, "cannot build a solver state"),
    ({"iter": np.array(3), "data_cursor/layer": np.array(["a"])}, "go together"),
])
def test_bad_solverstate_npz(tmp_path, arrays, message):
    _npz(tmp_path / "s.npz", arrays)
    with pytest.raises(WeightsError, match=message):
        convert_file(str(tmp_path / "s.npz"), str(tmp_path / "s.solverstate"))
    assert not (tmp_path / "s.solverstate").exists()


def test_weights_are_not_a_solver_state(tmp_path, weights):
    _npz(tmp_path / "w.npz", weights)
    convert_file(str(tmp_path / "w.npz"), str(tmp_path / "w.caffemodel"))
    (tmp_path / "w.solverstate").write_bytes((tmp_path / "w.caffemodel").read_bytes())
    with pytest.raises(WeightsError, match="weights file, not a solver state"):
        convert_file(str(tmp_path / "w.solverstate"), str(tmp_path / "s.npz"))


# ------------------------------------------------------------------ dispatch


@pytest.mark.parametrize("source, target", [("a.caffemodel", "b.prototxt"), ("a.npy", "b.npz"),
                                            ("a", "b.yaml"), ("a.caffemodel", "b.caffemodel")])
def test_unsupported_pairs_name_what_is_supported(source, target):
    with pytest.raises(ProtonetError, match=r"no conversion from .*supported: .prototxt <-> .yaml"):
        convert_file(source, target)

