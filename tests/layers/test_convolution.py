"""Convolution: forward against plain loops, gradient checks over Caffe's settings, and user errors."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.ops.conv import ConvGeometry
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
