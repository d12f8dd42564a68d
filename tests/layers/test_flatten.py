"""Flatten: top shapes for axis/end_axis, values in order, gradients, in place refused, in a net."""

import numpy as np
import pytest
from google.protobuf import text_format

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.net import Net
from protonet.proto import pb


@pytest.mark.parametrize(("params", "shape"), [("", (2, 60)), ("axis: 0", (120,)), ("axis: 2", (2, 3, 20)),
                                               ("axis: 1 end_axis: 2", (2, 12, 5)),
                                               ("axis: -3 end_axis: -2", (2, 12, 5))])
def test_shape_and_order(rng, params, shape):
    x = rng.normal(size=(2, 3, 4, 5))
    _, top = run_layer(make_layer(f'type: "Flatten" flatten_param {{ {params} }}'), [x])
    assert top[0].shape == shape
    np.testing.assert_array_equal(top[0].data.ravel(), x.ravel())


@pytest.mark.parametrize("params", ["", "axis: 2", "axis: 0 end_axis: 1"])
def test_gradient(rng, params):
    check_gradient(f'type: "Flatten" flatten_param {{ {params} }}', [rng.normal(size=(2, 3, 2, 2))])


def test_in_place_is_refused():
    with pytest.raises(ConfigError, match="in place"):
        run_layer(make_layer('type: "Flatten"'), [np.ones((2, 3))], in_place=True)


def test_end_before_start_is_refused():
    with pytest.raises(ConfigError, match="end_axis"):
        run_layer(make_layer('type: "Flatten" flatten_param { axis: 2 end_axis: 1 }'), [np.ones((2, 3, 4))])


def test_an_in_place_layer_after_it_does_not_change_its_bottom(rng):
    net = Net(text_format.Parse("""
        force_backward: true
        layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 2 } } }
        layer { name: "flat" type: "Flatten" bottom: "x" top: "f" }
        layer { name: "relu" type: "ReLU" bottom: "f" top: "f" }
    """, pb.NetParameter()), dtype=np.float64)
    x = rng.normal(size=(2, 3, 2))
    out = net.forward(x=x)
    np.testing.assert_array_equal(net.blobs["x"].data, x)
    np.testing.assert_array_equal(out["f"], np.maximum(x, 0).reshape(2, 6))
    grads = net.backward(f=np.ones((2, 6)))
    np.testing.assert_array_equal(grads["x"], (x > 0).astype(float))
