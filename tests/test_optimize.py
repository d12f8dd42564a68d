"""protonet.optimize: the rewritten inference net computes what the original computes (rtol 1e-5), on
small nets built to hit each rule and its exceptions, and on the corpus's ResNet-50 and MobileNet."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from protonet import Net, config
from protonet.cli import cli
from protonet.optimize import optimized
from protonet.proto import pb
from tests.conftest import shared_path

SMALL = """name: "small"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 9 dim: 9 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "relu1" }
layer { name: "split" type: "Split" bottom: "relu1" top: "a" top: "b" }
layer { name: "conv2" type: "Convolution" bottom: "a" top: "conv2"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false group: 2 } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "bn2" }
layer { name: "scale2" type: "Scale" bottom: "bn2" top: "scale2" }
layer { name: "sum" type: "Eltwise" bottom: "scale2" bottom: "b" top: "sum" }
layer { name: "conv3" type: "Convolution" bottom: "sum" top: "conv3"
  convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "bn3" type: "BatchNorm" bottom: "conv3" top: "bn3" }
layer { name: "both" type: "Eltwise" bottom: "conv3" bottom: "bn3" top: "both" }
layer { name: "ip1" type: "InnerProduct" bottom: "both" top: "ip1" inner_product_param { num_output: 6 } }
layer { name: "bn4" type: "BatchNorm" bottom: "ip1" top: "ip1" }
layer { name: "drop" type: "Dropout" bottom: "ip1" top: "drop" }
layer { name: "ip2" type: "InnerProduct" bottom: "drop" top: "ip2" inner_product_param { num_output: 3 } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""


def randomise(net: Net, rng: np.random.Generator) -> None:
    """He-scaled weights, small biases, and BatchNorm statistics far from the identity (factor 2)."""
    for name, blobs in net.params.items():
        kind = net.layer_dict[name].type
        if kind == "BatchNorm":
            channels = blobs[0].shape[0]
            blobs[0].data = rng.normal(0, 1, channels).astype(np.float32)
            blobs[1].data = rng.uniform(1, 4, channels).astype(np.float32)
            blobs[2].data = np.array([2.0], np.float32)
        elif kind == "Scale":
            blobs[0].data = rng.uniform(0.5, 1.5, blobs[0].shape).astype(np.float32)
        else:
            blobs[0].data = rng.normal(0, np.sqrt(2 / np.prod(blobs[0].shape[1:])), blobs[0].shape).astype(np.float32)
        for blob in blobs[1:] if kind != "BatchNorm" else []:
            blob.data = rng.normal(0, 0.1, blob.shape).astype(np.float32)


def both(param: pb.NetParameter, seed: int = 0) -> tuple[Net, Net, pb.NetParameter, Counter]:
    """The net with random weights, and its optimised form with the rewritten weights."""
    original = Net(param, phase="TEST")
    randomise(original, np.random.default_rng(seed))
    rewritten, optimised, done = optimized(original, param)
    return original, optimised, rewritten, done


def same_outputs(original: Net, optimised: Net, x: np.ndarray, blobs: tuple[str, ...] = ()) -> None:
    expected, got = original.forward(data=x), optimised.forward(data=x)
    assert list(got) == list(expected)  # the outputs keep their names
    for name in (*expected, *blobs):
        a, b = original.blobs[name].data, optimised.blobs[name].data
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_each_rule_and_where_it_must_not_apply() -> None:
    param = config.parse(SMALL, pb.NetParameter())
    original, optimised, rewritten, done = both(param)
    assert done == Counter({"folded BatchNorm": 3, "folded Scale": 2, "removed Split": 1, "removed Dropout": 1,
                            "made ReLU in place": 1})
    layers = {lp.name: lp for lp in rewritten.layer}
    assert [lp.name for lp in rewritten.layer] == ["data", "conv1", "relu1", "conv2", "sum", "conv3", "bn3",
                                                   "both", "ip1", "ip2", "prob"]
    assert list(layers["conv1"].top) == ["conv1"] and list(layers["relu1"].top) == ["conv1"]
    assert list(layers["conv2"].top) == ["scale2"] and layers["conv2"].convolution_param.bias_term
    assert list(layers["sum"].bottom) == ["scale2", "conv1"] and list(layers["ip2"].bottom) == ["ip1"]
    assert list(layers["both"].bottom) == ["conv3", "bn3"]  # conv3 has two readers: bn3 stays
    x = np.random.default_rng(1).normal(0, 1, (2, 3, 9, 9)).astype(np.float32)
    same_outputs(original, optimised, x, ("ip2", "sum", "both"))
    assert list(param.layer[3].top) == ["conv1"] and len(param.layer) == 18  # the input net is unchanged


def test_batch_statistics_and_two_input_scales_are_left_alone() -> None:
    text = SMALL.replace('layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }',
                         'layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" '
                         'batch_norm_param { use_global_stats: false } }')
    _, _, rewritten, done = both(config.parse(text, pb.NetParameter()))
    assert "bn1" in [lp.name for lp in rewritten.layer] and done["folded BatchNorm"] == 2
    assert "scale1" in [lp.name for lp in rewritten.layer]  # its bottom is bn1's output now


def corpus_net(*parts: str, shape: tuple[int, ...], until: str | None = None) -> pb.NetParameter:
    """A corpus deploy net with its input reshaped, cut after layer `until` when given."""
    param = config.load_net(shared_path("corpus", *parts))
    param.layer[0].input_param.shape[0].dim[:] = shape
    if until:
        keep = [lp.name for lp in param.layer].index(until) + 1
        del param.layer[keep:]
    return param


def test_mobilenet_folds_every_batchnorm_and_keeps_its_outputs() -> None:
    param = corpus_net("shicai__MobileNet-Caffe", "mobilenet_deploy.prototxt", shape=(1, 3, 64, 64))
    original, optimised, rewritten, done = both(param)
    assert done == Counter({"folded BatchNorm": 27, "folded Scale": 27})
    assert {lp.type for lp in rewritten.layer} & {"BatchNorm", "Scale"} == set()
    x = np.random.default_rng(2).normal(0, 50, (1, 3, 64, 64)).astype(np.float32)
    same_outputs(original, optimised, x, ("fc7", "conv6/dw"))


@pytest.mark.slow
def test_resnet50_folds_every_batchnorm_and_keeps_its_outputs() -> None:
    """ResNet-50 up to res5c (its 7x7 pool5 needs a 224x224 input), at 32x32."""
    param = corpus_net("KaimingHe__deep-residual-networks", "prototxt", "ResNet-50-deploy.prototxt",
                       shape=(1, 3, 32, 32), until="res5c_relu")
    original, optimised, rewritten, done = both(param)
    assert done == Counter({"folded BatchNorm": 53, "folded Scale": 53})
    assert len(rewritten.layer) == len(param.layer) - 106
    x = np.random.default_rng(3).normal(0, 50, (1, 3, 32, 32)).astype(np.float32)
    same_outputs(original, optimised, x, ("res2c", "res4f"))


BN_TRAIN_VAL = """name: "bn"
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 2 dim: 1 dim: 6 dim: 6 } shape { dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "drop" type: "Dropout" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def test_import_and_deploy_optimize_write_an_equal_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    model = tmp_path / "train_val.prototxt"
    model.write_text(BN_TRAIN_VAL)
    net = Net(model, phase="TRAIN", seed=4)
    net.forward()  # moving statistics in BatchNorm's blobs
    net.save(tmp_path / "w.caffemodel")
    runner = CliRunner()
    for args in (["zoo", "import", "--model", str(model), "--weights", str(tmp_path / "w.caffemodel"), "--name"],
                 ["deploy", "--no-evaluate", "--model", str(model), "--weights", str(tmp_path / "w.caffemodel"),
                  "--name"]):
        for name, extra in (("plain", []), ("fast", ["--optimize"])):
            result = runner.invoke(cli, [*args, name, *extra, *(["--force"] if args[1] == "import" else [])])
            assert result.exit_code == 0, result.output
        meta = yaml.safe_load((tmp_path / "zoo" / "fast" / "model.yaml").read_text())
        assert meta["optimized"] == {"folded BatchNorm": 1, "removed Dropout": 1}
        x = np.random.default_rng(5).normal(0, 1, (3, 1, 6, 6)).astype(np.float32)
        outputs = []
        for name in ("plain", "fast"):
            entry = Net(tmp_path / "zoo" / name / "deploy.yaml", phase="TEST",
                        weights=tmp_path / "zoo" / name / f"{name}.caffemodel")
            entry.blobs["data"].reshape(*x.shape)
            entry.reshape()
            outputs.append(entry.forward(data=x)["prob"])
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-7)
        types = [lp.type for lp in config.load_net(tmp_path / "zoo" / "fast" / "deploy.yaml").layer]
        assert types == ["Input", "Convolution", "ReLU", "InnerProduct", "Softmax"]
