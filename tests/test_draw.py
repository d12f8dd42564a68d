"""`protonet draw`: DOT text (nodes, edges, labels, shapes, rankdir), rendered with or without Graphviz."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from protonet.draw import IN_PLACE_COLOR, draw_net, net_to_dot
from protonet.errors import ConfigError, ProtonetError
from protonet.proto import pb

from .conftest import shared_path

TINY = """
name: "tiny"
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "drop" type: "Dropout" bottom: "conv" top: "conv" dropout_param { dropout_ratio: 0.25 }
        include { phase: TRAIN } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip" inner_product_param { num_output: 3 } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
"""

EDGE = re.compile(r'^  "([^"]+)" -> "([^"]+)" \[label="([^"]*)"\];$', re.MULTILINE)
NODE = re.compile(r'^  "([^"]+)" \[label="([^"]*)", (.*)\];$', re.MULTILINE)


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.prototxt"
    path.write_text(TINY)
    return path


def _draw(model: Path, tmp_path: Path, **kwargs) -> str:
    message = draw_net(model, tmp_path / "net.dot", **kwargs)
    assert message.startswith(f"wrote {tmp_path / 'net.dot'}")
    return (tmp_path / "net.dot").read_text()


def test_dot_of_a_small_net_in_test_phase(tiny, tmp_path):
    dot = _draw(tiny, tmp_path)
    assert dot.startswith('digraph "tiny" {\n  rankdir=LR;\n') and dot.endswith("}\n")
    nodes = {name: (label, style) for name, label, style in NODE.findall(dot)}
    assert list(nodes) == ["layer0:data", "layer1:conv", "layer2:relu", "layer3:pool", "layer4:ip",
                           "layer5:prob", "output:prob"]
    assert nodes["layer1:conv"][0] == r"conv\n(Convolution)\noutputs 4\nkernel 3  stride 2  pad 1"
    assert nodes["layer3:pool"][0] == r"pool\n(Pooling)\nAVE\nkernel 2  stride 2  pad 0"
    assert nodes["layer4:ip"][0] == r"ip\n(InnerProduct)\noutputs 3"
    assert nodes["layer2:relu"][0] == r"relu\n(ReLU)" and IN_PLACE_COLOR in nodes["layer2:relu"][1]
    assert IN_PLACE_COLOR not in nodes["layer1:conv"][1] and "shape=box" in nodes["layer1:conv"][1]
    assert nodes["output:prob"] == ("prob", 'shape=ellipse, style=filled, fillcolor="#F0E68C"')
    # shapes worked out by hand: conv (8 + 2*1 - 3) // 2 + 1 = 4; average pooling ceil((4 - 2) / 2) + 1 = 2
    assert EDGE.findall(dot) == [
        ("layer0:data", "layer1:conv", r"x\n2x3x8x8"),
        ("layer1:conv", "layer2:relu", r"conv\n2x4x4x4"),
        ("layer2:relu", "layer3:pool", r"conv\n2x4x4x4"),  # the in-place layer sits on the blob's path
        ("layer3:pool", "layer4:ip", r"pool\n2x4x2x2"),
        ("layer4:ip", "layer5:prob", r"ip\n2x3"),
        ("layer5:prob", "output:prob", r"prob\n2x3"),
    ]


def test_train_phase_and_rankdir(tiny, tmp_path):
    dot = _draw(tiny, tmp_path, rankdir="TB", phase="train")
    assert "  rankdir=TB;\n" in dot and "rankdir=LR" not in dot
    nodes = dict((name, label) for name, label, _ in NODE.findall(dot))
    assert nodes["layer3:drop"] == r"drop\n(Dropout)\nratio 0.25"
    edges = [(src, dst) for src, dst, _ in EDGE.findall(dot)]
    assert ("layer2:relu", "layer3:drop") in edges and ("layer3:drop", "layer4:pool") in edges


def test_a_net_that_does_not_build_is_drawn_without_shapes(tmp_path):
    model = tmp_path / "data.prototxt"
    model.write_text('layer { name: "mnist" type: "Data" top: "data" top: "label" '
                     'data_param { source: "no_such_lmdb" batch_size: 4 } }\n'
                     'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
                     'inner_product_param { num_output: 10 } }\n'
                     'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" '
                     'top: "loss" }\n')
    message = draw_net(model, tmp_path / "net.dot")
    assert "without blob shapes" in message and "no_such_lmdb" in message and "\n" not in message
    dot = (tmp_path / "net.dot").read_text()
    assert dot.startswith('digraph "Net" {')
    assert EDGE.findall(dot) == [
        ("layer0:mnist", "layer1:ip", "data"), ("layer1:ip", "layer2:loss", "ip"),
        ("layer0:mnist", "layer2:loss", "label"), ("layer2:loss", "output:loss", "loss")]


def test_unknown_inputs_and_quoting():
    param = pb.NetParameter(name='say "hi"')
    layer = param.layer.add(name='a"b\\c', type="Pooling", bottom=["x"], top=["y"])
    layer.pooling_param.global_pooling = True
    dot = net_to_dot(param)
    assert dot.startswith('digraph "say \\"hi\\"" {')
    assert '"layer0:a\\"b\\\\c" [label="a\\"b\\\\c\\n(Pooling)\\nMAX global"' in dot
    assert '"input:x" [label="x", shape=ellipse' in dot and '"input:x" -> "layer0:a\\"b\\\\c"' in dot


def test_drawing_without_graphviz_writes_dot_and_says_how_to_render(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("protonet.draw.shutil.which", lambda name: None)
    target = tmp_path / "pictures" / "net.png"
    message = draw_net(tiny, target)
    text_path = tmp_path / "pictures" / "net.dot"
    assert f"dot -Tpng {text_path} -o {target}" in message and "not installed" in message
    assert not target.exists()
    assert text_path.read_text().startswith('digraph "tiny" {')


def test_graphviz_failure_is_a_protonet_error(tiny, tmp_path, monkeypatch):
    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' program")
    monkeypatch.setattr("protonet.draw.shutil.which", lambda name: false)
    with pytest.raises(ProtonetError, match="Graphviz's 'dot' failed"):
        draw_net(tiny, tmp_path / "net.svg")
    assert not (tmp_path / "net.svg").exists()


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<svg"), (".png", b"\x89PNG\r\n\x1a\n")])
def test_rendering_with_graphviz(tiny, tmp_path, suffix, magic):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    assert draw_net(tiny, tmp_path / f"net{suffix}") == f"wrote {tmp_path / f'net{suffix}'}"
    data = (tmp_path / f"net{suffix}").read_bytes()
    assert data.startswith(magic) if suffix == ".png" else magic in data and b"conv" in data


@pytest.mark.parametrize("kwargs, message", [({"rankdir": "UP"}, "unknown rankdir"),
                                             ({"phase": "VAL"}, "unknown phase")])
def test_bad_arguments(tiny, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        draw_net(tiny, tmp_path / "net.dot", **kwargs)


def test_unknown_output_format(tiny, tmp_path):
    with pytest.raises(ConfigError, match="unknown format '.txt'"):
        draw_net(tiny, tmp_path / "net.txt")


def test_corpus_lenet(tmp_path):
    deploy = shared_path("corpus", "BVLC__caffe", "examples", "mnist", "lenet.prototxt")
    dot = _draw(deploy, tmp_path)
    edges = EDGE.findall(dot)
    assert ("layer1:conv1", "layer2:pool1", r"conv1\n64x20x24x24") in edges
    assert ("layer6:relu1", "layer7:ip2", r"ip1\n64x500") in edges
    train = shared_path("corpus", "BVLC__caffe", "examples", "mnist", "lenet_train_test.prototxt")
    message = draw_net(train, tmp_path / "train.dot", phase="TRAIN")
    assert "without blob shapes" in message
    labels = [label for _, _, label in EDGE.findall((tmp_path / "train.dot").read_text())]
    assert labels == ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "ip1", "ip2", "label", "loss"]
