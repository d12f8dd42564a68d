"""Crop: forward against explicit slices for offset settings, gradients, bottom 1 gets 0, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

BIG, SMALL = (2, 3, 5, 6), (1, 2, 3, 4)


@pytest.mark.parametrize(("params", "region"), [
    ("", (slice(None), slice(None), slice(0, 3), slice(0, 4))),
    ("offset: 1", (slice(None), slice(None), slice(1, 4), slice(1, 5))),
    ("offset: 2 offset: 1", (slice(None), slice(None), slice(2, 5), slice(1, 5))),
    ("axis: 1 offset: 1", (slice(None), slice(1, 3), slice(1, 4), slice(1, 5))),
    ("axis: 1 offset: 0 offset: 2 offset: 2", (slice(None), slice(0, 2), slice(2, 5), slice(2, 6))),
    ("axis: -1 offset: 2", (slice(None), slice(None), slice(None), slice(2, 6))),
])
def test_forward(rng, params, region):
    x = rng.normal(size=BIG)
    _, top = run_layer(make_layer(f'type: "Crop" crop_param {{ {params} }}'), [x, np.zeros(SMALL)])
    np.testing.assert_array_equal(top[0].data, x[region])


@pytest.mark.parametrize("params", ["", "offset: 1", "offset: 2 offset: 1", "axis: 1 offset: 1", "axis: 0"])
def test_gradient(rng, params):
    inputs = [rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(1, 2, 2, 3))]
    check_gradient(f'type: "Crop" crop_param {{ {params} }}', inputs, check_bottoms=[0])


def test_backward_zeroes_outside_and_gives_bottom_1_nothing(rng):
    layer = make_layer('type: "Crop" crop_param { offset: 1 }')
    bottom, top = run_layer(layer, [rng.normal(size=(1, 1, 3, 3)), rng.normal(size=(1, 1, 1, 1))])
    bottom[1].diff = np.full((1, 1, 1, 1), 9.0)
    top[0].diff = np.full((1, 1, 1, 1), 5.0)
    layer.backward(top, [True, True], bottom)
    expected = np.zeros((3, 3))
    expected[1, 1] = 5.0
    np.testing.assert_array_equal(bottom[0].diff[0, 0], expected)
    np.testing.assert_array_equal(bottom[1].diff, 0.0)
    assert not layer.allow_force_backward(1)


@pytest.mark.parametrize(("params", "message"), [("offset: 3", "overruns"), ("axis: 4", "out of range"),
                                                 ("offset: 1 offset: 1 offset: 1", "3 offsets")])
def test_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(f'type: "Crop" crop_param {{ {params} }}'), [np.ones(BIG), np.ones(SMALL)])
