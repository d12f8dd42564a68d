"""protonet.caffe.Net: pycaffe's constructor forms, blobs and params, forward/backward by layer range."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import protonet
import protonet.caffe as caffe

MLP = """
name: "mlp"
force_backward: true
layer { name: "input" type: "Input" top: "data" top: "target"
        input_param { shape { dim: 4 dim: 3 dim: 1 dim: 2 } shape { dim: 4 dim: 2 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.5 }
                              bias_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 2 bias_term: false weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip2" bottom: "target" top: "loss" }
"""

LINEAR = """
name: "linear"
force_backward: true
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 3 dim: 4 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "gaussian" } bias_filler { type: "gaussian" } } }
"""


def seeded_model(folder, name: str, text: str, seed: int):
    """`text` as folder/NAME.prototxt and a caffemodel of the net's weights drawn with `seed`."""
    proto = folder / f"{name}.prototxt"
    proto.write_text(text)
    weights = folder / f"{name}.caffemodel"
    protonet.Net(proto, seed=seed).save(weights)
    return proto, weights


@pytest.fixture
def files(tmp_path):
    """The MLP's prototxt and a caffemodel of seeded weights for it."""
    return seeded_model(tmp_path, "mlp", MLP, 3)


def inputs(rng):
    return {"data": rng.standard_normal((4, 3, 1, 2)).astype(np.float32),
            "target": rng.standard_normal((4, 2)).astype(np.float32)}


def test_the_three_constructor_forms_load_the_same_weights(files):
    proto, weights = files
    nets = [caffe.Net(str(proto), str(weights), caffe.TEST), caffe.Net(str(proto), caffe.TEST, weights=str(weights)),
            caffe.Net(str(proto), phase=caffe.TEST, weights=str(weights))]
    reference = protonet.Net(proto, seed=3).params["ip1"][0].data
    for net in nets:
        np.testing.assert_array_equal(net.params["ip1"][0].data, reference)
    fresh = caffe.Net(str(proto), caffe.TRAIN)
    assert not np.array_equal(fresh.params["ip1"][0].data, reference)


@pytest.mark.parametrize("args, kwargs, message", [
    ((), {}, "no phase"), ((1, 2, 3), {}, "3 positional"), (("w.caffemodel",), {}, "phase must be"),
    ((7,), {}, "phase must be")])
def test_a_constructor_form_caffe_lacks_is_a_type_error(files, args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        caffe.Net(str(files[0]), *args, **kwargs)


def test_stages_and_level_filter_layers(tmp_path):
    proto = tmp_path / "staged.prototxt"
    proto.write_text(LINEAR + 'layer { name: "extra" type: "ReLU" bottom: "ip" top: "relu" '
                              'include { stage: "deploy" min_level: 1 } }')
    assert "extra" not in caffe.Net(str(proto), caffe.TEST)._layer_names
    assert "extra" not in caffe.Net(str(proto), caffe.TEST, stages=["deploy"])._layer_names
    assert "extra" in caffe.Net(str(proto), caffe.TEST, level=1, stages=["deploy"])._layer_names


def test_names_and_shapes_read_as_in_pycaffe(files):
    net = caffe.Net(str(files[0]), caffe.TEST)
    assert net.inputs == ["data", "target"] and net.outputs == ["loss"]
    assert net._layer_names == ["input", "ip1", "relu", "ip2", "loss"]
    assert list(net.layer_dict) == net._layer_names and net.layer_dict["ip1"] is net.layers[1]
    assert [layer.type for layer in net.layers] == ["Input", "InnerProduct", "ReLU", "InnerProduct",
                                                    "EuclideanLoss"]
    assert net.top_names["relu"] == ["ip1"] and net.bottom_names["loss"] == ["ip2", "target"]
    assert net.top_names["input"] == ["data", "target"] and net.bottom_names["input"] == []
    assert list(net.params) == ["ip1", "ip2"] and len(net.params["ip1"]) == 2 and len(net.params["ip2"]) == 1
    assert net.layers[1].blobs[0] is net.params["ip1"][0]
    assert net.blob_loss_weights == {"data": 0, "target": 0, "ip1": 0, "ip2": 0, "loss": 1}
    data = net.blobs["data"]
    assert (data.num, data.channels, data.height, data.width, data.count) == (4, 3, 1, 2, 24)
    target = net.blobs["target"]
    assert (target.num, target.channels, target.height, target.width) == (4, 2, 1, 1)
    assert net._blob_names == list(net.blobs) and net._blobs[0] is data


def test_forward_feeds_inputs_and_returns_the_outputs(files, rng):
    proto, weights = files
    net = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    x = inputs(rng)
    out = net.forward(**x)
    assert list(out) == ["loss"]
    w1, b1 = (b.data for b in net.params["ip1"])
    w2 = net.params["ip2"][0].data
    hidden = np.maximum(x["data"].reshape(4, -1) @ w1.T + b1, 0)
    expected = ((hidden @ w2.T - x["target"]) ** 2).sum() / 8  # Caffe's EuclideanLoss: sum / (2N)
    np.testing.assert_allclose(out["loss"], expected, rtol=1e-5)
    extra = net.forward(blobs=["ip1"])
    np.testing.assert_allclose(extra["ip1"], hidden, rtol=1e-5)
    assert set(extra) == {"loss", "ip1"}


def test_inputs_are_written_into_the_blobs_as_pycaffe_scripts_do(files, rng):
    proto, weights = files
    net = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    x = inputs(rng)
    net.blobs["data"].data[...] = x["data"]
    net.blobs["target"].data[...] = x["target"]
    np.testing.assert_array_equal(net.forward()["loss"], net.forward(**x)["loss"])


def test_forward_from_start_to_end(files, rng):
    proto, weights = files
    net = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    full = net.forward(**inputs(rng))["loss"].copy()
    ip2 = net.blobs["ip2"].data.copy()
    net.blobs["ip2"].data[...] = 0
    net.blobs["loss"].data[...] = 0
    partial = net.forward(end="relu")
    assert list(partial) == ["ip1"]
    assert not net.blobs["ip2"].data.any()  # layers after `end` did not run
    rest = net.forward(start="ip2")
    np.testing.assert_array_equal(net.blobs["ip2"].data, ip2)
    np.testing.assert_array_equal(rest["loss"], full)


def test_forward_refuses_what_pycaffe_refuses(files, rng):
    net = caffe.Net(str(files[0]), caffe.TEST)
    x = inputs(rng)
    with pytest.raises(ValueError, match="do not match the net inputs"):
        net.forward(data=x["data"])
    with pytest.raises(ValueError, match="not batch sized"):
        net.forward(data=x["data"][:2], target=x["target"])
    with pytest.raises(ValueError, match="no layer named 'ip3'; did you mean 'ip2' or 'ip1'"):
        net.forward(start="ip3")


def test_backward_gives_the_diffs_of_protonets_own_net(files, rng):
    proto, weights = files
    mine = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    theirs = protonet.Net(proto, weights, "TEST")
    x = inputs(rng)
    mine.forward(**x)
    diffs = mine.backward()
    theirs.forward(**x)
    reference = theirs.backward()
    assert set(diffs) == {"data", "target"}
    for name in ("data", "target"):
        np.testing.assert_allclose(diffs[name], reference[name], rtol=1e-6)
    for name in ("ip1", "ip2"):
        for k, blob in enumerate(mine.params[name]):
            np.testing.assert_allclose(blob.diff, theirs.params[name][k].diff, rtol=1e-6)
    assert np.abs(diffs["data"]).sum() > 0


def test_backward_of_given_output_diffs_matches_the_chain_rule(tmp_path, rng):
    proto = tmp_path / "linear.prototxt"
    proto.write_text(LINEAR)
    net = caffe.Net(str(proto), caffe.TEST)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    net.forward(data=x)
    grad = rng.standard_normal((3, 2)).astype(np.float32)
    weight, bias = net.params["ip"]
    diffs = net.backward(ip=grad)
    np.testing.assert_allclose(diffs["data"], grad @ weight.data, rtol=1e-5)
    np.testing.assert_allclose(weight.diff, grad.T @ x, rtol=1e-5)
    np.testing.assert_allclose(bias.diff, grad.sum(0), rtol=1e-5)
    with pytest.raises(ValueError, match="Top diff arguments"):
        net.backward(data=grad)


def test_backward_from_start_to_end(files, rng):
    proto, weights = files
    net = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    net.forward(**inputs(rng))
    full = net.backward(diffs=["ip2"])
    ip2_diff, data_diff = full["ip2"].copy(), full["data"].copy()
    net.blobs["data"].diff[...] = 0
    top = net.backward(end="loss")  # only the loss layer: its bottoms' diffs
    assert set(top) == {"ip2", "target"}
    np.testing.assert_array_equal(top["ip2"], ip2_diff)
    assert not net.blobs["data"].diff.any()
    rest = net.backward(start="ip2")
    np.testing.assert_allclose(rest["data"], data_diff, rtol=1e-6)


def test_reshape_propagates_a_new_batch_size(files, rng):
    net = caffe.Net(str(files[0]), caffe.TEST)
    net.blobs["data"].reshape(7, 3, 1, 2)
    net.blobs["target"].reshape(7, 2)
    net.reshape()
    assert net.blobs["ip2"].data.shape == (7, 2)
    out = net.forward(data=np.ones((7, 3, 1, 2)), target=np.zeros((7, 2)))
    assert np.isfinite(out["loss"])


def test_save_and_copy_from_round_trip(files, tmp_path):
    proto, weights = files
    net = caffe.Net(str(proto), caffe.TEST, weights=str(weights))
    net.params["ip2"][0].data[...] = 0.25
    path = tmp_path / "saved.caffemodel"
    net.save(str(path))
    other = caffe.Net(str(proto), caffe.TEST)
    other.copy_from(str(path))
    np.testing.assert_array_equal(other.params["ip2"][0].data, 0.25)
    np.testing.assert_array_equal(other.params["ip1"][1].data, net.params["ip1"][1].data)


def test_forward_all_runs_batches_and_drops_the_padding(tmp_path, rng):
    proto = tmp_path / "linear.prototxt"
    proto.write_text(LINEAR)
    net = caffe.Net(str(proto), caffe.TEST)
    x = rng.standard_normal((7, 4)).astype(np.float32)  # batches of 3: 3 + 3 + 1 padded
    out = net.forward_all(data=x)
    weight, bias = (b.data for b in net.params["ip"])
    np.testing.assert_allclose(out["ip"], x @ weight.T + bias, rtol=1e-5)
    outs, diffs = net.forward_backward_all(data=x, ip=np.ones((7, 2), np.float32))
    assert outs["ip"].shape == (7, 2)
    np.testing.assert_allclose(diffs["data"], np.ones((7, 2)) @ weight, rtol=1e-5)


def test_set_input_arrays_feeds_a_memory_data_layer(tmp_path):
    proto = tmp_path / "memory.prototxt"
    proto.write_text('layer { name: "mem" type: "MemoryData" top: "data" top: "label" '
                     'memory_data_param { batch_size: 2 channels: 1 height: 1 width: 3 } }')
    net = caffe.Net(str(proto), caffe.TEST)
    data = np.arange(12, dtype=np.float32).reshape(4, 1, 1, 3)
    net.set_input_arrays(data, np.arange(4, dtype=np.float32))
    net.forward()
    net.forward()
    np.testing.assert_array_equal(net.blobs["data"].data, data[2:])
    np.testing.assert_array_equal(net.blobs["label"].data, [2, 3])
    linear = tmp_path / "linear.prototxt"
    linear.write_text(LINEAR)
    with pytest.raises(ValueError, match="first layer is a MemoryData layer"):
        caffe.Net(str(linear), caffe.TEST).set_input_arrays(data, np.arange(4))


def test_set_random_seed_fixes_the_fillers(files):
    caffe.set_random_seed(11)
    first = caffe.Net(str(files[0]), caffe.TRAIN).params["ip1"][0].data.copy()
    caffe.set_random_seed(11)
    try:
        np.testing.assert_array_equal(caffe.Net(str(files[0]), caffe.TRAIN).params["ip1"][0].data, first)
    finally:
        caffe.runtime._state["seed"] = None


def test_gpu_calls_are_a_one_line_note_once(caplog, monkeypatch):
    monkeypatch.setitem(caffe.runtime._state, "noted", set())
    with caplog.at_level(logging.WARNING, logger="protonet"):
        caffe.set_mode_cpu()
        caffe.set_device(0)
        caffe.set_mode_gpu()
        caffe.set_mode_gpu()
        caffe.set_device(0)
    notes = [r.getMessage() for r in caplog.records]
    assert notes == ["Note: protonet runs on the CPU (numpy); caffe.set_device(0) is ignored",
                     "Note: protonet runs on the CPU (numpy); caffe.set_mode_gpu() is ignored"]
    assert caffe.check_mode_cpu() and not caffe.check_mode_gpu()


def test_python_layers_derive_from_caffe_layer(tmp_path, monkeypatch):
    (tmp_path / "double_layer.py").write_text(
        "import protonet.caffe as caffe\n"
        "class Double(caffe.Layer):\n"
        "    def reshape(self, bottom, top):\n"
        "        top[0].reshape(*bottom[0].data.shape)\n"
        "    def forward(self, bottom, top):\n"
        "        top[0].data[...] = 2 * bottom[0].data\n")
    proto = tmp_path / "python.prototxt"
    proto.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }\n'
                     'layer { name: "double" type: "Python" bottom: "x" top: "y" '
                     'python_param { module: "double_layer" layer: "Double" } }')
    monkeypatch.setattr(protonet.layers.python, "_allowed", False)
    with pytest.raises(protonet.ProtonetError, match="refused"):
        caffe.Net(str(proto), caffe.TEST)
    caffe.allow_python_layers()
    out = caffe.Net(str(proto), caffe.TEST).forward(x=np.ones((2, 3)))
    np.testing.assert_array_equal(out["y"], 2)
