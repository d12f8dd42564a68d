"""Legacy upgrades (Caffe's upgrade_proto.cpp): V0 and V1 nets, old solvers, legacy caffemodels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from protonet.config import load_net, load_solver, parse, to_text
from protonet.errors import ConfigError
from protonet.net import Net
from protonet.proto import pb
from protonet.upgrade import upgrade_net, upgrade_solver
from protonet.upgrade_v1 import v1_layer_to_current

LEGACY = Path(__file__).parent / "data" / "legacy"
V1 = pb.V1LayerParameter


def layers_by_name(net: pb.NetParameter) -> dict[str, pb.LayerParameter]:
    return {layer.name: layer for layer in net.layer}


def net_from(text: str) -> pb.NetParameter:
    return parse(text, pb.NetParameter())


# ------------------------------------------------------------------ V1


def test_every_v1_type_gets_caffes_name() -> None:
    """The fixture names each layer after the type Caffe's UpgradeV1LayerType gives its enum."""
    raw = load_net_raw(LEGACY / "v1_every_type.prototxt")
    covered = {layer.type for layer in raw.layers}
    assert covered == set(V1.LayerType.values()) - {V1.NONE}  # a new enum value needs a fixture line
    net = upgrade_net(raw)
    assert not net.layers and len(net.layer) == len(covered)
    for layer in net.layer:
        assert layer.type == layer.name


def load_net_raw(path: Path) -> pb.NetParameter:
    return parse(path.read_text(), pb.NetParameter(), file=str(path))


def test_v1_renamed_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="protonet"):
        net = load_net(LEGACY / "v1_every_field.prototxt")
    notes = [r.getMessage() for r in caplog.records if "was upgraded" in r.getMessage()]
    assert len(notes) == 1 and "V1 'layers' to 'layer'" in notes[0] and "transform_param" in notes[0]
    assert [layer.name for layer in net.layer] == ["input", "source", "listed", "conv", "ip", "loss"]
    layers = layers_by_name(net)
    assert list(layers["input"].input_param.shape[0].dim) == [2, 3, 8, 8]

    source = layers["source"]  # data_param's transformation fields moved (UpgradeNetDataTransformation)
    assert source.type == "Data" and list(source.top) == ["images", "label"]
    assert source.data_param == pb.DataParameter(source="train_db", batch_size=4)
    assert source.transform_param == pb.TransformationParameter(scale=0.5, mean_file="mean.binaryproto",
                                                                crop_size=6, mirror=True)
    assert [r.phase for r in source.include] == [pb.TRAIN] and not source.exclude

    listed = layers["listed"]  # moved into the transform_param it already had
    assert listed.type == "ImageData" and not listed.image_data_param.HasField("crop_size")
    assert listed.transform_param == pb.TransformationParameter(scale=2, mean_value=[104], crop_size=7)
    assert [r.phase for r in listed.exclude] == [pb.TRAIN] and not listed.include

    conv = layers["conv"]
    assert conv.type == "Convolution"
    assert list(conv.param) == [
        pb.ParamSpec(name="w_shared", share_mode=pb.ParamSpec.PERMISSIVE, lr_mult=1, decay_mult=1),
        pb.ParamSpec(name="b_shared", share_mode=pb.ParamSpec.STRICT, lr_mult=2, decay_mult=0)]
    assert conv.convolution_param.num_output == 4 and list(conv.convolution_param.pad) == [1]
    assert conv.convolution_param.weight_filler.type == "xavier"

    ip = layers["ip"]  # a weight_decay without blobs_lr: lr_mult keeps its default
    assert len(ip.param) == 1 and ip.param[0].decay_mult == 0.5 and not ip.param[0].HasField("lr_mult")

    loss = layers["loss"]
    assert loss.type == "SoftmaxWithLoss" and list(loss.loss_weight) == [0.25]
    assert loss.loss_param == pb.LossParameter(ignore_label=2, normalize=False)


def test_every_v1_param_message_is_copied() -> None:
    """Each *_param of V1LayerParameter arrives unchanged in the current LayerParameter."""
    names = [f.name for f in V1.DESCRIPTOR.fields if f.message_type and f.name.endswith("_param")]
    assert len(names) == 30  # 28 layer parameters, transform_param, loss_param
    for name in names:
        v1 = V1(name="x", type=V1.SPLIT)
        getattr(v1, name).SetInParent()
        first = getattr(v1, name).DESCRIPTOR.fields[0]
        if not first.message_type and not first.is_repeated:  # a non-default value proves the copy
            value = {first.TYPE_BOOL: True, first.TYPE_STRING: "s", first.TYPE_ENUM: 1}.get(first.type, 3)
            setattr(getattr(v1, name), first.name, value)
        current = v1_layer_to_current(v1)
        assert current.HasField(name) and getattr(current, name) == getattr(v1, name), name


def test_v1_blobs_keep_their_legacy_shape() -> None:
    v1 = V1(name="ip", type=V1.INNER_PRODUCT, blobs=[pb.BlobProto(num=1, channels=1, height=2, width=3,
                                                                      data=[1, 2, 3, 4, 5, 6])])
    blob = v1_layer_to_current(v1).blobs[0]
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 1, 2, 3)
    assert list(blob.data) == [1, 2, 3, 4, 5, 6]


def test_upgrade_leaves_its_input_alone_and_is_idempotent() -> None:
    raw = load_net_raw(LEGACY / "v1_every_field.prototxt")
    before = raw.SerializeToString()
    once = upgrade_net(raw)
    assert raw.SerializeToString() == before
    assert upgrade_net(once) == once
    assert net_from(to_text(once)) == once  # the upgraded text reads back as itself


@pytest.mark.parametrize("name, words", [
    ("v1_unknown_type.prototxt", ["v1_unknown_type.prototxt:5", "layer 'act'", "unknown value 'PRELU'"]),
    ("v1_unknown_field.prototxt", ["v1_unknown_field.prototxt:8", "layer 'scale'",
                                   "unknown field 'scale_param'"]),
])
def test_unknown_v1_enum_or_field_is_named(name: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_net(LEGACY / name)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_v1_type_number_in_a_binary_file_is_named() -> None:
    """A fork's enum value (here 99) parses into unknown fields: it must not pass as 'no type'."""
    layer = V1(name="act").SerializeToString() + bytes([5 << 3, 99])  # field 5 (type), varint 99
    data = bytes([2 << 3 | 2, len(layer)]) + layer
    net = pb.NetParameter()
    net.ParseFromString(data)
    with pytest.raises(ConfigError, match="layer 'act': unknown V1 layer type number 99; .*Caffe fork"):
        upgrade_net(net, "model.caffemodel")


def test_v1_layer_without_type() -> None:
    with pytest.raises(ConfigError, match="layer 'x': V1 layer has no type"):
        upgrade_net(net_from('layers { name: "x" bottom: "a" top: "b" }'))


def test_mixed_layer_and_layers_is_refused() -> None:
    with pytest.raises(ConfigError, match="mixes 1 'layer' .* and 1 'layers'"):
        upgrade_net(net_from('layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }'))


# ------------------------------------------------------------------ V0


def test_v0_every_field() -> None:
    net = load_net(LEGACY / "v0_every_field.prototxt")
    layers = layers_by_name(net)
    assert "pad1" not in layers and "pad2" not in layers
    assert [layer.type for layer in net.layer] == [
        "Input", "Data", "ImageData", "WindowData", "HDF5Data", "Convolution", "ReLU", "Pooling", "LRN",
        "Dropout", "Concat", "InnerProduct", "InfogainLoss", "HDF5Output"]

    db = layers["db"]
    assert db.data_param == pb.DataParameter(source="train_db", batch_size=8, rand_skip=3)
    assert db.transform_param == pb.TransformationParameter(scale=0.25, mean_file="mean.binaryproto",
                                                            crop_size=12, mirror=True)
    assert layers["listed"].image_data_param == pb.ImageDataParameter(
        source="list.txt", batch_size=2, rand_skip=1, shuffle=True, new_height=20, new_width=24)
    assert layers["windows"].window_data_param == pb.WindowDataParameter(
        source="windows.txt", batch_size=4, fg_threshold=0.6, bg_threshold=0.4, fg_fraction=0.3,
        context_pad=16, crop_mode="square")
    assert layers["h5"].hdf5_data_param == pb.HDF5DataParameter(source="files.txt", batch_size=5)

    conv = layers["conv1"]  # the padding layer's pad and input are folded in
    assert list(conv.bottom) == ["data"]
    assert conv.convolution_param == pb.ConvolutionParameter(
        num_output=6, bias_term=False, pad=[2], kernel_size=[5], stride=[2], group=3,
        weight_filler=pb.FillerParameter(type="gaussian", std=0.01),
        bias_filler=pb.FillerParameter(type="constant", value=0.5))
    assert list(conv.param) == [pb.ParamSpec(lr_mult=1, decay_mult=1), pb.ParamSpec(lr_mult=2, decay_mult=0)]

    pool = layers["pool1"]
    assert list(pool.bottom) == ["conv1"]
    assert pool.pooling_param == pb.PoolingParameter(pool=pb.PoolingParameter.AVE, pad=1, kernel_size=3,
                                                     stride=2)
    assert layers["norm1"].lrn_param == pb.LRNParameter(local_size=3, alpha=0.001, beta=0.5, k=2)
    assert layers["drop1"].dropout_param == pb.DropoutParameter(dropout_ratio=0.3)
    assert layers["cat"].concat_param == pb.ConcatParameter(concat_dim=1)
    assert layers["fc"].inner_product_param == pb.InnerProductParameter(
        num_output=10, bias_term=True, weight_filler=pb.FillerParameter(type="xavier"))
    assert layers["gain"].infogain_loss_param == pb.InfogainLossParameter(source="infogain.binaryproto")
    assert layers["dump"].hdf5_output_param == pb.HDF5OutputParameter(file_name="out.h5")


def test_unknown_v0_type_is_named() -> None:
    with pytest.raises(ConfigError, match="layer 'conv': unknown V0 layer type 'convv'; did you mean 'conv'"):
        load_net(LEGACY / "v0_unknown_type.prototxt")


def test_v0_field_on_the_wrong_layer_type_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Caffe logs 'Unknown parameter ...' and goes on; so does protonet, naming the field."""
    text = 'layers { layer { name: "r" type: "relu" num_output: 3 } bottom: "a" top: "a" }'
    with caplog.at_level(logging.WARNING, logger="protonet"):
        net = upgrade_net(net_from(text))
    assert net.layer[0] == pb.LayerParameter(name="r", type="ReLU", bottom=["a"], top=["a"])
    messages = [r.getMessage() for r in caplog.records]
    assert any("V0 field 'num_output' does not apply to a 'relu' layer" in m for m in messages)


@pytest.mark.parametrize("consumer, match", [
    ('layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }', "feeds a 'relu' layer"),
    ('layers { layer { name: "c" type: "conv" } bottom: "p" bottom: "d" top: "c" }', "one bottom"),
])
def test_padding_feeding_anything_but_one_conv_or_pool(consumer: str, match: str) -> None:
    text = 'layers { layer { name: "p" type: "padding" pad: 1 } bottom: "d" top: "p" } ' + consumer
    with pytest.raises(ConfigError, match=match):
        upgrade_net(net_from(text))


def test_v0_net_equals_its_v1_twin(corpus: Path) -> None:
    """The V0 LeNet of Caffe v0.9 and the V1 LeNet of rc upgrade to the same layers and parameters."""
    v0 = load_net(corpus / "BVLC__caffe@v0.9-v0format/examples/lenet/lenet.prototxt")
    v1 = load_net(corpus / "BVLC__caffe@rc-v1format/examples/mnist/lenet.prototxt")
    assert [(layer.type, list(layer.top)) for layer in v0.layer] == [(layer.type, list(layer.top))
                                                                     for layer in v1.layer]
    for a, b in zip(v0.layer, v1.layer, strict=True):
        for name in ("convolution_param", "inner_product_param"):
            assert getattr(a, name).num_output == getattr(b, name).num_output
        assert list(a.convolution_param.kernel_size) == list(b.convolution_param.kernel_size)
        assert a.pooling_param == b.pooling_param


def test_v0_imagenet_padding_folded(corpus: Path) -> None:
    """Caffe v0.9's ImageNet net: 'pad2' (pad 2) before conv2, 'pad3'..'pad5' (pad 1) before conv3..5."""
    raw = load_net_raw(corpus / "BVLC__caffe@v0.9-v0format/examples/imagenet/imagenet_train.prototxt")
    net = upgrade_net(raw)
    layers = layers_by_name(net)
    assert len(net.layer) == len(raw.layers) - 4 and not any(layer.type == "" for layer in net.layer)
    expected = {"conv2": ("norm1", 2), "conv3": ("norm2", 1), "conv4": ("conv3", 1), "conv5": ("conv4", 1)}
    assert {n: (layers[n].bottom[0], layers[n].convolution_param.pad[0]) for n in expected} == expected
    assert layers["data"].transform_param.crop_size == 227 and layers["data"].transform_param.mirror


@pytest.mark.parametrize("rel", ["examples/mnist/lenet_train_test.prototxt",
                                 "examples/mnist/mnist_autoencoder.prototxt",
                                 "examples/siamese/mnist_siamese_train_test.prototxt",
                                 "examples/mnist/lenet.prototxt", "examples/cifar10/cifar10_full.prototxt",
                                 "models/bvlc_alexnet/deploy.prototxt",
                                 "models/bvlc_reference_caffenet/deploy.prototxt"])
def test_v1_file_upgrades_to_bvlcs_own_rewrite(corpus: Path, rel: str) -> None:
    """Caffe's 2014 V1 examples (tag rc) upgrade to exactly the V2 files BVLC later wrote by hand.

    The only difference allowed: BVLC named the Input layer "data" where the upgrade says "input".
    """
    old = load_net(corpus / "BVLC__caffe@rc-v1format" / rel)
    new = load_net(corpus / "BVLC__caffe" / rel)
    if old.layer[0].type == "Input":
        old.layer[0].name = new.layer[0].name
    assert list(old.layer) == list(new.layer)


LEGACY_DIRS = ["BVLC__caffe@v0.9-v0format", "BVLC__caffe@rc-v1format", "everpeace__caffe",
               "natanielruiz__net-archive", "rai-project__go-caffe"]


def test_every_legacy_corpus_net_upgrades(corpus: Path) -> None:
    """All 47 V0/V1 nets of the corpus upgrade: no 'layers' left, every type a current name."""
    from protonet.upgrade_v1 import V1_TYPE_NAMES

    count = 0
    for folder in LEGACY_DIRS:
        for path in sorted((corpus / folder).rglob("*.prototxt")):
            raw = load_net_raw_or_none(path)
            if raw is None or not raw.layers:
                continue
            net = upgrade_net(raw, str(path))
            count += 1
            assert not net.layers and len(net.layer) >= len(raw.layers) - 4, path
            legacy = [layer for layer in raw.layers if not layer.HasField("layer")]
            assert [layer.type for layer in net.layer if layer.type != "Input"][:len(legacy)] == [
                V1_TYPE_NAMES[V1.LayerType.Name(layer.type)] for layer in legacy], path
            blobs_lr = sum(len(layer.blobs_lr) + len(layer.layer.blobs_lr) for layer in raw.layers)
            lr_mults = sum(1 for layer in net.layer for p in layer.param if p.HasField("lr_mult"))
            assert lr_mults == blobs_lr, path
    assert count == 47  # SOURCES.md: 39 V1 + 8 V0 nets


def load_net_raw_or_none(path: Path) -> pb.NetParameter | None:
    try:
        return load_net_raw(path)
    except ConfigError:  # a solver
        return None


# ------------------------------------------------------------------ solvers


def test_old_solver_upgrades_type_and_embedded_net() -> None:
    solver = load_solver(LEGACY / "v1_solver.prototxt")
    assert solver.type == "Nesterov" and not solver.HasField("solver_type")
    net = solver.net_param
    assert not net.layers and [layer.type for layer in net.layer] == ["Input", "InnerProduct"]
    assert [p.lr_mult for p in net.layer[1].param] == [1, 2]


def test_embedded_test_nets_upgrade_too() -> None:
    solver = pb.SolverParameter(train_net_param=net_from('layers { name: "a" type: RELU }'),
                                test_net_param=[net_from('layers { name: "b" type: TANH }')] * 2)
    out = upgrade_solver(solver)
    assert out.train_net_param.layer[0].type == "ReLU"
    assert [n.layer[0].type for n in out.test_net_param] == ["TanH", "TanH"]


@pytest.mark.parametrize("enum, name", [("SGD", "SGD"), ("NESTEROV", "Nesterov"), ("ADAGRAD", "AdaGrad"),
                                        ("RMSPROP", "RMSProp"), ("ADADELTA", "AdaDelta"), ("ADAM", "Adam")])
def test_every_solver_type_enum(enum: str, name: str) -> None:
    solver = parse(f"solver_type: {enum}", pb.SolverParameter())
    assert upgrade_solver(solver).type == name


def test_solver_type_and_type_disagreeing() -> None:
    with pytest.raises(ConfigError, match="solver_type ADAM and type 'SGD' disagree"):
        upgrade_solver(parse('solver_type: ADAM type: "SGD"', pb.SolverParameter()))


def test_corpus_enum_solvers(corpus: Path) -> None:
    folder = corpus / "BVLC__caffe@rc-v1format/examples/mnist"
    assert load_solver(folder / "mnist_autoencoder_solver_nesterov.prototxt").type == "Nesterov"
    assert load_solver(folder / "mnist_autoencoder_solver_adagrad.prototxt").type == "AdaGrad"
    consolidated = load_solver(folder / "lenet_consolidated_solver.prototxt")
    assert not consolidated.net_param.layers and consolidated.net_param.layer[0].type == "Data"


# ------------------------------------------------------------------ legacy caffemodels


IP_NET_V1 = """name: "tiny" input: "data" input_dim: 2 input_dim: 3 input_dim: 1 input_dim: 1
layers { name: "ip" type: INNER_PRODUCT bottom: "data" top: "ip" inner_product_param { num_output: 2 } }"""
IP_NET_V0 = """name: "tiny" input: "data" input_dim: 2 input_dim: 3 input_dim: 1 input_dim: 1
layers { layer { name: "ip" type: "innerproduct" num_output: 2 } bottom: "data" top: "ip" }"""


def legacy_blob(values: np.ndarray, dims: tuple[int, int, int, int]) -> pb.BlobProto:
    num, channels, height, width = dims
    return pb.BlobProto(num=num, channels=channels, height=height, width=width, data=values.ravel().tolist())


@pytest.mark.parametrize("version", ["V0", "V1"])
def test_legacy_caffemodel_loads_into_its_upgraded_net(version: str, tmp_path: Path) -> None:
    """Legacy blobs are 4-D: InnerProduct weights [1,1,out,in], biases [1,1,1,out]."""
    weights = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    bias = np.array([0.5, -1.5], np.float32)
    blobs = [legacy_blob(weights, (1, 1, 2, 3)), legacy_blob(bias, (1, 1, 1, 2))]
    if version == "V1":
        model = pb.NetParameter(name="tiny", layers=[V1(name="ip", type=V1.INNER_PRODUCT, blobs=blobs)])
    else:
        v0 = pb.V0LayerParameter(name="ip", type="innerproduct", blobs=blobs)
        model = pb.NetParameter(name="tiny", layers=[V1(layer=v0)])
    path = tmp_path / "tiny.caffemodel"
    path.write_bytes(model.SerializeToString())
    net = Net(net_from(IP_NET_V1 if version == "V1" else IP_NET_V0), weights=path)
    assert net.params["ip"][0].shape == (2, 3) and net.params["ip"][1].shape == (2,)
    np.testing.assert_array_equal(net.params["ip"][0].data, weights)
    np.testing.assert_array_equal(net.params["ip"][1].data, bias)
    x = np.array([[1, 2, 3], [0, -1, 4]], np.float32)
    np.testing.assert_allclose(net.forward(data=x[:, :, None, None])["ip"], x @ weights.T + bias, rtol=1e-6)
