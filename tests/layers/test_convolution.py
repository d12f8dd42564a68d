"""Convolution: forward against plain loops, gradient checks over Caffe's settings, and user errors."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.net import Net
from protonet.ops.conv import ConvGeometry
from protonet.proto import pb
from tests.test_ops_conv import naive_conv

FILLERS = 'weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 }'


def conv(params: str, fillers: str = FILLERS) -> str:
    return f'type: "Convolution" convolution_param {{ {params} {fillers} }}'


# (convolution_param, input shape, geometry the loops should use)
SETTINGS = [
    ("num_output: 3 kernel_size: 3", (2, 2, 5, 5), ConvGeometry((3, 3))),
    ("num_output: 3 kernel_size: 3 pad: 1 stride: 2", (2, 2, 5, 6), ConvGeometry((3, 3), (2, 2), (1, 1))),
    ("num_output: 4 kernel_size: 3 group: 2 dilation: 2 pad: 1", (1, 4, 6, 6),
     ConvGeometry((3, 3), pad=(1, 1), dilation=(2, 2), group=2)),
    ("num_output: 2 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0", (2, 2, 5, 4),
     ConvGeometry((3, 2), (2, 1), (1, 0))),
    ("num_output: 3 kernel_size: [2, 3] stride: [1, 2] pad: [0, 1]", (1, 3, 4, 5),
     ConvGeometry((2, 3), (1, 2), (0, 1))),
    ("num_output: 3 kernel_size: 1", (2, 3, 3, 3), ConvGeometry((1, 1))),
]


@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_forward_matches_loops(params, shape, geo, rng):
    layer = make_layer(conv(params))
    x = rng.standard_normal(shape)
    _, top = run_layer(layer, [x])
    weights, bias = layer.blobs[0].data, layer.blobs[1].data
    assert weights.shape == (layer.param.convolution_param.num_output, shape[1] // geo.group, *geo.kernel)
    np.testing.assert_allclose(top[0].data, naive_conv(x, weights, bias, geo), atol=1e-12)


@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_gradient(params, shape, geo, rng):
    check_gradient(conv(params), [rng.standard_normal(shape)])


LAYOUTS = [(True, True), (False, True), (True, False)]  # channels-last (bottom, top)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_channels_last_blobs_give_the_same_results(params, shape, geo, layout, rng):
    layer = make_layer(conv(params))
    x = rng.standard_normal(shape)
    bottom, top = run_layer(layer, [x], channels_last=layout)
    assert [bottom[0].data.strides[1] == 8, top[0].data.strides[1] == 8] == list(layout)
    np.testing.assert_allclose(top[0].data, naive_conv(x, *(b.data for b in layer.blobs), geo), atol=1e-12)
    check_gradient(conv(params), [x], channels_last=layout)


def test_gradient_without_bias(rng):
    layer = make_layer(conv("num_output: 2 kernel_size: 2 stride: 2 bias_term: false"))
    check_gradient(layer, [rng.standard_normal((2, 2, 4, 5))])
    assert len(layer.blobs) == 1


def test_pairs_of_bottoms_and_tops_share_the_weights(rng):
    layer = make_layer(conv("num_output: 2 kernel_size: 3 pad: 1"))
    x1, x2 = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 4, 4))
    _, top = run_layer(layer, [x1, x2], num_tops=2)
    weights, bias = layer.blobs[0].data, layer.blobs[1].data
    for x, t in zip((x1, x2), top, strict=True):
        np.testing.assert_allclose(t.data, naive_conv(x, weights, bias, ConvGeometry((3, 3), pad=(1, 1))),
                                   atol=1e-12)
    check_gradient(conv("num_output: 2 kernel_size: 3 pad: 1"), [x1, x2], num_tops=2)


def test_fillers_and_float32(rng):
    layer = make_layer(conv("num_output: 4 kernel_size: 3", 'weight_filler { type: "xavier" } '
                            'bias_filler { type: "constant" value: 0.25 }'), dtype=np.float32)
    _, top = run_layer(layer, [rng.standard_normal((1, 2, 5, 5))])
    bound = np.sqrt(3 / (2 * 3 * 3))  # xavier: fan_in = C/group * kh * kw
    assert np.abs(layer.blobs[0].data).max() <= bound and layer.blobs[0].data.std() > 0
    np.testing.assert_array_equal(layer.blobs[1].data, 0.25)
    assert top[0].data.dtype == layer.blobs[0].data.dtype == np.float32


@pytest.mark.parametrize("params, shape, message", [
    ("num_output: 2 kernel_size: 3 axis: 2", (1, 2, 5, 5), "only 2-D convolution"),
    ("num_output: 2 kernel_size: 3", (1, 2, 5, 5, 5), "only 2-D convolution"),
    ("num_output: 2 kernel_size: 3", (2, 5, 5), "only 2-D convolution"),
    ("num_output: 3 kernel_size: 3 group: 2", (1, 4, 5, 5), "group 2 must divide"),
    ("num_output: 2", (1, 2, 5, 5), "kernel_size must be given"),
    ("num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3", (1, 2, 5, 5), "either kernel_size or kernel_h"),
    ("num_output: 2 kernel_h: 3", (1, 2, 5, 5), "must be positive"),
    ("num_output: 2 kernel_size: [3, 3, 3]", (1, 2, 5, 5), "once per spatial axis"),
    ("kernel_size: 3", (1, 2, 5, 5), "num_output"),
    ("num_output: 2 kernel_size: 7", (1, 2, 5, 5), "empty output"),
])
def test_user_errors(params, shape, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(conv(params, "")), [np.zeros(shape)])


def test_input_channels_must_not_change(rng):
    layer = make_layer(conv("num_output: 2 kernel_size: 3"))
    bottom, top = run_layer(layer, [rng.standard_normal((1, 2, 5, 5))])
    bottom[0].reshape((1, 3, 5, 5))
    with pytest.raises(ConfigError, match="does not fit the weights"):
        layer.reshape(bottom, top)


def test_bottoms_and_tops_pair_up(rng):
    with pytest.raises(ConfigError, match="2 bottoms but 1 tops"):
        run_layer(make_layer(conv("num_output: 2 kernel_size: 3")), [np.zeros((1, 2, 5, 5))] * 2, num_tops=1)


def test_in_a_net_the_weight_gradient_matches_the_loss(rng):
    model = text_format.Parse('''
        layer { name: "data" type: "Input" top: "data" top: "label"
                input_param { shape { dim: 4 dim: 2 dim: 10 dim: 10 } shape { dim: 4 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 3 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
        layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
                pooling_param { kernel_size: 3 stride: 2 } }
        layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
                inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
    ''', pb.NetParameter())
    net = Net(model, phase="TRAIN", dtype=np.float64, seed=5)
    inputs = {"data": rng.standard_normal((4, 2, 10, 10)), "label": np.array([0, 1, 2, 1])}
    assert net.blobs["pool"].shape == (4, 3, 5, 5)  # ceil((10 - 3) / 2) + 1
    net.forward(**inputs)
    net.clear_param_diffs()
    net.backward()
    weights = net.layers[[layer.name for layer in net.layers].index("conv")].blobs[0]
    analytic = weights.diff[1, 0, 2, 1]
    weights.data[1, 0, 2, 1] += 1e-5
    plus = net.forward(**inputs)["loss"].item()
    weights.data[1, 0, 2, 1] -= 2e-5
    minus = net.forward(**inputs)["loss"].item()
    assert analytic != 0 and np.isclose(analytic, (plus - minus) / 2e-5, rtol=1e-4)


def test_pretrained_lenet_classifies_mnist(corpus, mnist_dir):
    """Caffe's own trained LeNet (weights in Caffe's layout) through our Convolution and Pooling:
    99.14% on all of t10k (as the corpus notes measured), 98.65% on the first 2000 images used here."""
    from protonet.data.idx import read_idx

    folder = corpus / "ethereon__caffe-tensorflow" / "examples" / "mnist"
    net = Net(folder / "lenet.prototxt", weights=folder / "lenet_iter_10000.caffemodel")
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:2000, None].astype(np.float32) / 256
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:2000]
    predicted = np.concatenate([net.forward(data=images[i:i + 500])["prob"].argmax(axis=1)
                                for i in range(0, 2000, 500)])
    assert (predicted == labels).mean() >= 0.98
