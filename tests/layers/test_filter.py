"""Filter: the items whose selector is non-zero, gradients scattered back, shapes in a net, errors."""

from __future__ import annotations

import numpy as np
import pytest

from protonet import Net, config
from protonet.blob import Blob
from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.proto import pb

FILTER = 'type: "Filter"'


@pytest.mark.parametrize("selector_shape", [(5,), (5, 1, 1, 1)])
def test_forward_keeps_the_selected_items_in_order(selector_shape, rng):
    data, labels = rng.standard_normal((5, 2, 3)), np.arange(5.0)
    selector = np.array([1, 0, 2.5, 0, -1]).reshape(selector_shape)
    _, top = run_layer(make_layer(FILTER), [data, labels, selector], num_tops=2)
    np.testing.assert_array_equal(top[0].data, np.stack([data[0], data[2], data[4]]))
    np.testing.assert_array_equal(top[1].data, [0, 2, 4])


def test_nothing_selected_gives_empty_tops(rng):
    _, top = run_layer(make_layer(FILTER), [rng.standard_normal((3, 2)), np.zeros(3)])
    assert top[0].shape == (0, 2)


def test_tops_keep_every_item_until_the_first_forward():
    layer = make_layer(FILTER)
    bottom, top = [Blob((4, 2)), Blob((4,))], [Blob()]
    layer.setup(bottom, top)
    layer.reshape(bottom, top)  # at net set-up the selector holds no data yet (zeros)
    assert top[0].shape == (4, 2)
    bottom[1].data[...] = [0, 1, 1, 0]
    layer.forward(bottom, top)
    layer.reshape(bottom, top)
    assert top[0].shape == (2, 2)


@pytest.mark.parametrize("selector", [[1, 0, 1, 1, 0], [0, 0, 0, 1, 0], [1, 1, 1, 1, 1]])
def test_gradient(selector, rng):
    inputs = [rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 4)), np.array(selector, float)]
    check_gradient(FILTER, inputs, num_tops=2, check_bottoms=[0, 1])


def test_backward_scatters_and_zeroes_the_rest(rng):
    layer = make_layer(FILTER)
    bottom, top = run_layer(layer, [rng.standard_normal((4, 2)), np.array([0.0, 3, 0, 1])])
    top[0].diff = np.array([[1.0, 2], [3, 4]])
    bottom[0].diff = np.full((4, 2), 7.0)  # overwritten, not accumulated
    layer.backward(top, [True, False], bottom)
    np.testing.assert_array_equal(bottom[0].diff, [[0, 0], [1, 2], [0, 0], [3, 4]])
    with pytest.raises(ConfigError, match="cannot propagate gradients to its selector"):
        layer.backward(top, [True, True], bottom)


def test_in_a_net_the_batch_follows_the_selector(rng):
    text = """
    layer { name: "in" type: "Input" top: "x" top: "keep"
            input_param { shape { dim: 4 dim: 3 } shape { dim: 4 } } }
    layer { name: "filter" type: "Filter" bottom: "x" bottom: "keep" top: "kept" }
    layer { name: "ip" type: "InnerProduct" bottom: "kept" top: "y" inner_product_param { num_output: 2 } }
    """
    net = Net(config.parse(text, pb.NetParameter()))
    x = rng.standard_normal((4, 3))
    assert net.forward(x=x, keep=np.array([1, 0, 0, 1]))["y"].shape == (2, 2)
    assert net.forward(x=x, keep=np.array([1, 1, 1, 0]))["y"].shape == (3, 2)


@pytest.mark.parametrize("shapes, tops, message", [
    ([(3, 2), (3,)], 2, "2 bottoms .* need 1 tops, found 2"),
    ([(3, 2), (3, 2)], 1, r"selector \(last bottom\) must be \(N,\) or \(N, 1, ...\), got \[3, 2\]"),
    ([(4, 2), (3,)], 1, "bottom 0 has 4 items along axis 0, the selector 3"),
])
def test_errors(shapes, tops, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(FILTER), [np.ones(s) for s in shapes], num_tops=tops)
