"""protonet.caffe.NetSpec: prototxt written from Python with Caffe's net_spec rules and names."""

from __future__ import annotations

import numpy as np
import pytest

import protonet.caffe as caffe
from protonet.caffe import layers as L
from protonet.caffe import params as P

from .conftest import shared_path


def lenet(lmdb: str, batch_size: int):
    """Caffe's 01-learning-lenet notebook, verbatim."""
    n = caffe.NetSpec()
    n.data, n.label = L.Data(batch_size=batch_size, backend=P.Data.LMDB, source=lmdb,
                             transform_param=dict(scale=1. / 255), ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type='xavier'))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.conv2 = L.Convolution(n.pool1, kernel_size=5, num_output=50, weight_filler=dict(type='xavier'))
    n.pool2 = L.Pooling(n.conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.fc1 = L.InnerProduct(n.pool2, num_output=500, weight_filler=dict(type='xavier'))
    n.relu1 = L.ReLU(n.fc1, in_place=True)
    n.score = L.InnerProduct(n.relu1, num_output=10, weight_filler=dict(type='xavier'))
    n.loss = L.SoftmaxWithLoss(n.score, n.label)
    return n.to_proto()


def conv_layer(name: str, bottom: str, num_output: int) -> str:
    return f'''layer {{
  name: "{name}"
  type: "Convolution"
  bottom: "{bottom}"
  top: "{name}"
  convolution_param {{
    num_output: {num_output}
    kernel_size: 5
    weight_filler {{
      type: "xavier"
    }}
  }}
}}
'''


def pool_layer(name: str, bottom: str) -> str:
    return f'''layer {{
  name: "{name}"
  type: "Pooling"
  bottom: "{bottom}"
  top: "{name}"
  pooling_param {{
    pool: MAX
    kernel_size: 2
    stride: 2
  }}
}}
'''


def ip_layer(name: str, bottom: str, num_output: int) -> str:
    return f'''layer {{
  name: "{name}"
  type: "InnerProduct"
  bottom: "{bottom}"
  top: "{name}"
  inner_product_param {{
    num_output: {num_output}
    weight_filler {{
      type: "xavier"
    }}
  }}
}}
'''


# What Caffe's net_spec prints for the notebook's lenet('mnist/mnist_train_lmdb', 64): text format of the
# same NetParameter (field order by number; the float32 1/255 as this protobuf prints floats)
LENET_TEXT = '''layer {
  name: "data"
  type: "Data"
  top: "data"
  top: "label"
  transform_param {
    scale: 0.00392156886
  }
  data_param {
    source: "mnist/mnist_train_lmdb"
    batch_size: 64
    backend: LMDB
  }
}
''' + conv_layer("conv1", "data", 20) + pool_layer("pool1", "conv1") + conv_layer("conv2", "pool1", 50) + \
    pool_layer("pool2", "conv2") + ip_layer("fc1", "pool2", 500) + '''layer {
  name: "relu1"
  type: "ReLU"
  bottom: "fc1"
  top: "fc1"
}
''' + ip_layer("score", "fc1", 10) + '''layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "score"
  bottom: "label"
  top: "loss"
}
'''


def test_lenet_prints_as_caffe_net_spec_does():
    assert str(lenet("mnist/mnist_train_lmdb", 64)) == LENET_TEXT


def test_caffes_own_net_spec_output_in_the_corpus():
    """examples/hdf5_classification/nonlinear_auto_train.prototxt was written by Caffe's net_spec (the
    02-brewing-logreg notebook's nonlinear_net): the same Python writes the same bytes."""
    expected = shared_path("corpus", "BVLC__caffe", "examples", "hdf5_classification",
                           "nonlinear_auto_train.prototxt").read_text()
    n = caffe.NetSpec()
    n.data, n.label = L.HDF5Data(batch_size=10, source="examples/hdf5_classification/data/train.txt", ntop=2)
    n.ip1 = L.InnerProduct(n.data, num_output=40, weight_filler=dict(type='xavier'))
    n.relu1 = L.ReLU(n.ip1, in_place=True)
    n.ip2 = L.InnerProduct(n.ip1, num_output=2, weight_filler=dict(type='xavier'))
    n.accuracy = L.Accuracy(n.ip2, n.label)
    n.loss = L.SoftmaxWithLoss(n.ip2, n.label)
    assert str(n.to_proto()) == expected


def test_unnamed_layers_get_caffes_automatic_names():
    data, label = L.DummyData(shape=[dict(dim=[2, 1, 8, 8]), dict(dim=[2])], ntop=2)
    conv = L.Convolution(data, kernel_size=3, num_output=4)
    relu = L.ReLU(conv, in_place=True)
    pool = L.Pooling(relu, kernel_size=2, stride=2, pool=P.Pooling.AVE)
    loss = L.SoftmaxWithLoss(L.InnerProduct(pool, num_output=3), label)
    net = loss.to_proto()
    assert [(layer.name, list(layer.bottom), list(layer.top)) for layer in net.layer] == [
        ("DummyData1", [], ["DummyData1", "DummyData2"]),
        ("Convolution1", ["DummyData1"], ["Convolution1"]),
        ("ReLU1", ["Convolution1"], ["Convolution1"]),
        ("Pooling1", ["Convolution1"], ["Pooling1"]),
        ("InnerProduct1", ["Pooling1"], ["InnerProduct1"]),
        ("SoftmaxWithLoss1", ["InnerProduct1", "DummyData2"], ["SoftmaxWithLoss1"])]
    assert net.layer[3].pooling_param.pool == caffe.proto.caffe_pb2.PoolingParameter.AVE
    assert caffe.to_proto(loss) == net


def test_param_dicts_repeated_fields_and_layer_fields():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.conv = L.Convolution(n.data, kernel_size=3, num_output=8, pad=1, group=1,
                           param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)],
                           weight_filler=dict(type='gaussian', std=0.01), bias_filler=dict(type='constant'),
                           include=dict(phase=caffe.TEST), loss_weight=0.5, propagate_down=[True])
    layer = n.to_proto().layer[1]
    assert [(p.lr_mult, p.decay_mult) for p in layer.param] == [(1, 1), (2, 0)]
    assert list(layer.convolution_param.kernel_size) == [3] and list(layer.convolution_param.pad) == [1]
    assert layer.convolution_param.group == 1 and layer.convolution_param.weight_filler.std == pytest.approx(0.01)
    assert [r.phase for r in layer.include] == [caffe.TEST]
    assert list(layer.loss_weight) == [0.5] and list(layer.propagate_down) == [True]
    assert list(n.to_proto().layer[0].input_param.shape[0].dim) == [1, 3, 8, 8]


def test_layers_without_tops_and_item_access():
    n = caffe.NetSpec()
    n.data, n.data2 = L.DummyData(shape=dict(dim=3), ntop=2)
    n["silence_data"] = L.Silence(n.data, ntop=0)
    n.silence_data2 = L.Silence(n["data2"], ntop=0)
    assert n.keys() == ["data", "data2", "silence_data", "silence_data2"] and len(n.vals()) == 4
    net = n.to_proto()
    assert [(layer.name, list(layer.top)) for layer in net.layer] == [
        ("data", ["data", "data2"]), ("silence_data", []), ("silence_data2", [])]
    del n["silence_data2"]
    assert len(n.to_proto().layer) == 2
    with pytest.raises(AttributeError):
        n.missing  # noqa: B018


def test_an_input_that_is_not_a_top_is_a_type_error():
    data = L.DummyData(ntop=2)
    with pytest.raises(TypeError, match=r"^Silence input 0 is not a Top \(type is <class 'tuple'>\)$"):
        L.Silence(data, ntop=0)
    L.Silence(*data, ntop=0)


def test_enum_params_and_unknown_ones():
    assert (P.Pooling.MAX, P.Pooling.AVE, P.Data.LMDB, P.Eltwise.SUM) == (0, 1, 1, 1)
    with pytest.raises(AttributeError, match="no message NopeParameter"):
        P.Nope.X  # noqa: B018


def test_a_net_spec_net_builds_and_runs(tmp_path):
    n = caffe.NetSpec()
    n.data, n.label = L.DummyData(shape=[dict(dim=[5, 1, 28, 28]), dict(dim=[5])],
                                  transform_param=dict(scale=1. / 255), ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type='xavier'))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.ip1 = L.InnerProduct(n.pool1, num_output=10, weight_filler=dict(type='xavier'))
    n.relu1 = L.ReLU(n.ip1, in_place=True)
    n.loss = L.SoftmaxWithLoss(n.relu1, n.label)
    path = tmp_path / "net.prototxt"
    path.write_text(str(n.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)
    assert len(net.layers) == 6
    assert np.isclose(net.forward()["loss"], np.log(10), rtol=1e-4)  # zero data: uniform scores
