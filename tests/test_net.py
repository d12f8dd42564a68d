"""Net construction with Caffe's rules, the pycaffe-like surface, and bad-input messages."""

import re

import numpy as np
import pytest

from protonet import Net, config
from protonet.blob import Blob, is_channels_last
from protonet.errors import ConfigError, WeightsError
from protonet.net_rules import filter_net, insert_splits, state_meets_rule
from protonet.proto import pb

MLP = """
name: "mlp"
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 4 dim: 6 } shape { dim: 4 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "acc" include { phase: TEST } }
"""


def net_from(text: str, **kwargs) -> Net:
    return Net(config.parse(text, pb.NetParameter()), **kwargs)


def test_surface_and_training_outputs():
    net = net_from(MLP, phase="TRAIN", seed=3)
    assert net.inputs == ["data", "label"]
    assert net.outputs == ["loss"]
    assert list(net.params) == ["ip1", "ip2"]
    assert [b.shape for b in net.params["ip1"]] == [(5, 6), (5,)]
    assert net.blobs["ip2"].shape == (4, 3)
    out = net.forward(data=np.ones((4, 6)), label=np.array([0, 1, 2, 0]))
    assert set(out) == {"loss"} and out["loss"].dtype == np.float32
    diffs = net.backward()
    assert set(diffs) == {"data", "label"}
    assert np.abs(net.params["ip1"][0].diff).sum() > 0


def test_phase_filter_keeps_accuracy_in_test_only():
    assert "acc" not in net_from(MLP, phase="TRAIN").layer_dict
    assert "acc" in net_from(MLP, phase="TEST").layer_dict


def test_state_rules():
    state = pb.NetState(phase=pb.TRAIN, level=2, stage=["a", "b"])
    assert state_meets_rule(state, pb.NetStateRule(phase=pb.TRAIN, min_level=1, max_level=2, stage=["a"]))
    assert not state_meets_rule(state, pb.NetStateRule(max_level=1))
    assert not state_meets_rule(state, pb.NetStateRule(stage=["c"]))
    assert not state_meets_rule(state, pb.NetStateRule(not_stage=["b"]))
    net = config.parse("""layer { name: "x" type: "Input" top: "x" exclude { stage: "deploy" } }
                          layer { name: "y" type: "Input" top: "y" include { stage: "deploy" } }""",
                       pb.NetParameter())
    assert [layer.name for layer in filter_net(net, pb.NetState(stage=["deploy"])).layer] == ["y"]
    assert [layer.name for layer in filter_net(net, pb.NetState()).layer] == ["x"]


def test_splits_are_inserted_with_caffes_names():
    net = insert_splits(filter_net(config.parse(MLP, pb.NetParameter()), pb.NetState(phase=pb.TEST)))
    names = [layer.name for layer in net.layer]
    assert "label_data_1_split" in names and "ip2_ip2_0_split" in names
    loss = next(layer for layer in net.layer if layer.name == "loss")
    assert list(loss.bottom) == ["ip2_ip2_0_split_0", "label_data_1_split_0"]


def test_split_sums_gradients_of_fan_out():
    text = """
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
    layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" inner_product_param { num_output: 1 } }
    layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" inner_product_param { num_output: 1 } }
    force_backward: true
    """
    net = net_from(text, dtype=np.float64)
    net.params["a"][0].data = [[1.0, 2.0, 3.0]]
    net.params["b"][0].data = [[10.0, 20.0, 30.0]]
    net.forward(x=np.zeros((2, 3)))
    grads = net.backward(a=np.ones((2, 1)), b=np.ones((2, 1)))
    np.testing.assert_allclose(grads["x"], [[11, 22, 33], [11, 22, 33]])


def test_loss_weight_scales_loss_and_gradient():
    base = net_from(MLP, phase="TRAIN", seed=5, dtype=np.float64)
    doubled = net_from(MLP.replace('top: "loss" }', 'top: "loss" loss_weight: 2 }'), phase="TRAIN", seed=5,
                       dtype=np.float64)
    inputs = dict(data=np.random.default_rng(0).normal(size=(4, 6)), label=np.array([0, 1, 2, 0]))
    base.forward(**inputs)
    doubled.forward(**inputs)
    base.backward()
    doubled.backward()
    assert doubled.loss == pytest.approx(2 * base.loss)
    np.testing.assert_allclose(doubled.params["ip1"][0].diff, 2 * base.params["ip1"][0].diff)


def test_backward_planning_and_propagate_down():
    net = net_from(MLP, phase="TRAIN")
    needs = dict(zip([layer.name for layer in net.layers], net.layer_needs_backward))
    assert needs["ip1"] and needs["loss"] and not needs["data"]
    frozen = net_from(MLP.replace('top: "ip1"\n', 'top: "ip1" param { lr_mult: 0 } param { lr_mult: 0 }\n'),
                      phase="TRAIN")
    needs = dict(zip([layer.name for layer in frozen.layers], frozen.layer_needs_backward))
    assert not needs["ip1"] and needs["ip2"]
    stopped = net_from(MLP.replace('bottom: "ip1" top: "ip2"', 'bottom: "ip1" top: "ip2" propagate_down: false'),
                       phase="TRAIN")
    i = [layer.name for layer in stopped.layers].index("ip2")
    assert stopped.bottom_needs_backward[i] == [False]


POOLED = """
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 1 dim: 4 dim: 4 } shape { dim: 2 } } }
layer { name: "scale" type: "Convolution" bottom: "data" top: "scaled"
        convolution_param { num_output: 1 kernel_size: 1 weight_filler { type: "constant" value: 1 } } }
layer { name: "pool" type: "Pooling" bottom: "scaled" top: "pool" pooling_param { kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
LOSS
"""


@pytest.mark.parametrize("loss, force, needed", [
    ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }', "", True),
    ("", "", False),  # an inference net: pooling need not keep its argmax
    ("", "force_backward: true", True),
])
def test_layers_know_whether_their_bottom_gradients_are_needed(loss, force, needed):
    net = net_from(force + POOLED.replace("LOSS", loss))
    pool = net.layer_dict["pool"]
    assert pool.bottom_grads_needed == needed
    assert not net.layer_dict["data"].bottom_grads_needed
    net.forward(data=np.arange(32.0).reshape(2, 1, 4, 4))
    assert (pool.op.argmax is not None) == needed
    np.testing.assert_array_equal(net.blobs["pool"].data[0, 0], [[5, 7], [13, 15]])


def test_a_cleared_diff_reads_as_zeros_or_is_handed_out_to_be_overwritten():
    blob = Blob((2, 3))
    blob.diff[...] = 5
    blob.clear_diff()
    handed = blob.cleared_diff()
    assert handed is blob.diff and blob.cleared_diff() is None  # handed out once; then it is in use
    blob.clear_diff()
    np.testing.assert_array_equal(blob.diff, 0)  # read first: zeroed, and no longer to be overwritten
    assert blob.cleared_diff() is None


def test_param_gradients_accumulate_between_clears():
    net = net_from(MLP, phase="TRAIN")
    net.blobs["data"].data = np.linspace(-1, 1, 24).reshape(4, 6)
    net.blobs["label"].data = [0, 1, 2, 1]
    net.clear_param_diffs()
    net.forward_backward()
    once = [lp.blob.diff.copy() for lp in net.learnable]
    net.forward_backward()
    for lp, grad in zip(net.learnable, once, strict=True):
        np.testing.assert_allclose(lp.blob.diff, 2 * grad, rtol=1e-6)
    net.clear_param_diffs()
    net.forward_backward()
    for lp, grad in zip(net.learnable, once, strict=True):
        np.testing.assert_array_equal(lp.blob.diff, grad)


CONVNET = """
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 3 dim: 2 dim: 9 dim: 9 } shape { dim: 3 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { kernel_size: 3 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 5 kernel_size: 2 weight_filler { type: "xavier" } } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: AVE kernel_size: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool2" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def test_activations_between_conv_pool_and_relu_layers_are_channels_last_with_the_same_results(rng):
    nets = [net_from(CONVNET, phase="TRAIN", seed=5, channels_last=cl) for cl in (False, True)]
    laid_out = {name for name, blob in nets[1].blobs.items() if blob.channels_last and is_channels_last(blob.data)}
    assert laid_out == {"conv1", "pool1", "conv2"}  # not the input, nor pool2 (the inner product reads it)
    assert all(blob.data.flags.c_contiguous for blob in nets[0].blobs.values())
    x = rng.standard_normal((3, 2, 9, 9))
    for net in nets:
        net.blobs["data"].data = x
        net.blobs["label"].data = [0, 2, 1]
        net.clear_param_diffs()
        net.forward_backward()
    for name, blob in nets[0].blobs.items():
        np.testing.assert_allclose(nets[1].blobs[name].data, blob.data, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(nets[1].blobs[name].diff, blob.diff, rtol=1e-5, atol=1e-6, err_msg=name)
    for mine, theirs in zip(nets[1].learnable, nets[0].learnable, strict=True):
        np.testing.assert_allclose(mine.blob.diff, theirs.blob.diff, rtol=1e-5, atol=1e-6)


def test_shared_parameters_are_one_blob():
    text = """
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
    layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" } param { name: "b" }
            inner_product_param { num_output: 2 weight_filler { type: "gaussian" } } }
    layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" } param { name: "b" }
            inner_product_param { num_output: 2 } }
    """
    net = net_from(text)
    assert net.params["a"][0] is net.params["b"][0]
    assert len(net.learnable) == 2
    with pytest.raises(ConfigError, match="shared param 'w' has shape"):
        net_from(text.replace("num_output: 2 }", "num_output: 3 }"))


def test_legacy_input_fields_become_an_input_layer():
    net = net_from('input: "data" input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4 '
                   'layer { name: "relu" type: "ReLU" bottom: "data" top: "out" }')
    assert net.inputs == ["data"] and net.blobs["out"].shape == (1, 3, 4, 4)


def test_reshape_propagates_a_new_batch_size():
    net = net_from(MLP)
    net.blobs["data"].reshape(7, 6)
    net.blobs["label"].reshape(7)
    net.reshape()
    assert net.blobs["ip2"].shape == (7, 3)


def test_save_and_copy_from_round_trip(tmp_path):
    a = net_from(MLP, seed=1)
    b = net_from(MLP, seed=2)
    for ext in ("caffemodel", "npz"):
        a.save(tmp_path / f"w.{ext}")
        assert b.copy_from(tmp_path / f"w.{ext}") == ["ip1", "ip2"]
        for name in a.params:
            for x, y in zip(a.params[name], b.params[name]):
                np.testing.assert_array_equal(x.data, y.data)
    saved = pb.NetParameter.FromString((tmp_path / "w.caffemodel").read_bytes())
    assert [layer.name for layer in saved.layer if layer.blobs] == ["ip1", "ip2"]
    assert list(saved.layer[1].blobs[0].shape.dim) == [5, 6]


@pytest.mark.parametrize(("text", "message"), [
    ('layer { name: "r" type: "ReLU" bottom: "nope" top: "r" }', "layer 'r': unknown bottom blob 'nope'"),
    ('layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 1 } } }'
     'layer { name: "b" type: "Input" top: "x" input_param { shape { dim: 1 } } }',
     "layer 'b': top blob 'x' is produced by more than one layer"),
    ('layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 0 dim: 2 } } }',
     "layer 'a': input shape [0, 2] has a zero or negative dimension"),
    ('layer { name: "a" type: "Convolutionn" top: "x" }',
     "layer 'a': unknown layer type 'Convolutionn'; did you mean 'Convolution'"),
    ('layer { name: "a" type: "PriorBox" top: "x" }', "comes from the Caffe fork SSD (weiliu89/caffe)"),
    ('layer { name: "a" type: "Python" top: "x" }', "--allow-python-layers"),
])
def test_bad_nets_give_one_line_errors(text, message):
    with pytest.raises(ConfigError) as info:
        net_from(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_shape_mismatch_between_layers():
    net = net_from(MLP)
    net.blobs["data"].reshape(4, 7)
    with pytest.raises(ConfigError, match="layer 'ip1': input has 7 features per item .* the weights expect 6"):
        net.reshape()


def test_weights_for_another_net_name_layer_and_shapes(tmp_path):
    net_from(MLP).save(tmp_path / "w.caffemodel")
    other = net_from(MLP.replace("num_output: 5", "num_output: 8"))
    with pytest.raises(WeightsError) as info:
        other.copy_from(tmp_path / "w.caffemodel")
    assert "layer 'ip1': cannot copy param 0: shape mismatch, the file has [5, 6], the net needs [8, 6]" in str(
        info.value)
    assert "--reinit ip1" in str(info.value)


def test_truncated_caffemodel_is_a_weights_error(tmp_path):
    net = net_from(MLP)
    net.save(tmp_path / "w.caffemodel")
    data = (tmp_path / "w.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="cut.caffemodel"):
        net.copy_from(tmp_path / "cut.caffemodel")


def relu_chain(count: int, name: str = "r{i}") -> str:
    head = 'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } } }\n'
    return head + "".join(f'layer {{ name: "{name.format(i=i)}" type: "ReLU" bottom: "x" top: "x" }}\n'
                          for i in range(count))


def test_building_a_net_scans_the_layer_package_at_most_once(monkeypatch):
    """Type look-ups go to the registry's dict: the layer modules are found once per process, not per layer."""
    import pkgutil

    net_from(relu_chain(1))  # the registry is filled
    scans = []
    original = pkgutil.iter_modules
    monkeypatch.setattr(pkgutil, "iter_modules", lambda *a, **k: scans.append(1) or original(*a, **k))
    assert len(net_from(relu_chain(2000)).layers) == 2001
    assert scans == []


def test_duplicate_layer_names_get_one_note_each(caplog):
    with caplog.at_level("WARNING", logger="protonet"):
        net = net_from(relu_chain(5, name="r{i}") + relu_chain(3, name="same").split("\n", 1)[1])
    assert len(net.layers) == 9
    notes = [r.getMessage() for r in caplog.records if "more than one layer is named" in r.getMessage()]
    assert notes == ["Note: more than one layer is named 'same'; weights by name go to the last"]


@pytest.mark.parametrize(("name", "text", "line"), [
    ("net.prototxt", 'name: "fc"\nlayer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 } } }\n'
                     'layer {\n  name: "fc"\n  type: "ReLU"\n  bottom: "dta"\n  top: "fc"\n}\n', 4),
    ("net.yaml", "name: fc\nlayer:\n  - {name: in, type: Input, top: data, input_param: {shape: {dim: [1]}}}\n"
                 "  - name: fc\n    type: ReLU\n    bottom: dta\n    top: fc\n", 4),
])
def test_an_unknown_bottom_names_the_file_and_the_layers_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Net(path)
    assert str(info.value).startswith(f"{path}:{line}: layer 'fc': unknown bottom blob 'dta' (bottom 0)")
    assert "did you mean 'data'?" in str(info.value)


def test_a_layer_setup_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 } } }\n'
                    'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" }\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:2: layer 'fc': inner_product_param.num_output"):
        Net(path)
