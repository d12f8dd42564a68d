"""Deconvolution: forward against a plain scatter, Caffe's output size and weight shape, gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.ops.conv import ConvGeometry
from tests.test_ops_conv import naive_scatter

FILLERS = 'weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 }'


def deconv(params: str, fillers: str = FILLERS) -> str:
    return f'type: "Deconvolution" convolution_param {{ {params} {fillers} }}'


# (convolution_param, input shape, geometry, output height and width)
SETTINGS = [
    ("num_output: 3 kernel_size: 3", (2, 2, 3, 3), ConvGeometry((3, 3)), (5, 5)),
    ("num_output: 2 kernel_size: 4 stride: 2 pad: 1", (2, 3, 3, 2), ConvGeometry((4, 4), (2, 2), (1, 1)),
     (6, 4)),
    ("num_output: 4 kernel_size: 3 stride: 2 group: 2", (1, 4, 2, 3), ConvGeometry((3, 3), (2, 2), group=2),
     (5, 7)),
    ("num_output: 2 kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 1 dilation: 2", (1, 2, 3, 3),
     ConvGeometry((2, 3), (2, 1), dilation=(2, 2)), (7, 7)),
]


@pytest.mark.parametrize("params, shape, geo, out_hw", SETTINGS)
def test_forward_is_the_transposed_convolution(params, shape, geo, out_hw, rng):
    layer = make_layer(deconv(params))
    x = rng.standard_normal(shape)
    _, top = run_layer(layer, [x])
    p = layer.param.convolution_param
    weights, bias = layer.blobs[0].data, layer.blobs[1].data
    assert weights.shape == (shape[1], p.num_output // geo.group, *geo.kernel)  # (C_in, out/group, kh, kw)
    assert top[0].shape == (shape[0], p.num_output, *out_hw)
    # each input value x[n, c, p, q] spreads w[c, o, i, j] * x to output row p*s - pad + i*d (and likewise)
    expected = naive_scatter(x, weights, top[0].shape, geo) + bias[:, None, None]
    np.testing.assert_allclose(top[0].data, expected, atol=1e-12)


@pytest.mark.parametrize("params, shape, geo, out_hw", SETTINGS)
def test_gradient(params, shape, geo, out_hw, rng):
    check_gradient(deconv(params), [rng.standard_normal(shape)])


def test_gradient_without_bias(rng):
    layer = make_layer(deconv("num_output: 2 kernel_size: 2 stride: 2 bias_term: false"))
    check_gradient(layer, [rng.standard_normal((2, 2, 2, 3))])
    assert len(layer.blobs) == 1


def test_float32_stays_float32(rng):
    layer = make_layer(deconv("num_output: 2 kernel_size: 2 stride: 2"), dtype=np.float32)
    _, top = run_layer(layer, [rng.standard_normal((1, 3, 4, 4))])
    assert top[0].data.dtype == np.float32 and top[0].shape == (1, 2, 8, 8)


def test_group_must_divide_the_channels():
    with pytest.raises(ConfigError, match="group 2 must divide"):
        run_layer(make_layer(deconv("num_output: 3 kernel_size: 2 group: 2", "")), [np.zeros((1, 4, 3, 3))])
