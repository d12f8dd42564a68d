"""PReLU: forward per channel against a loop, gradients (shared or per channel, in place or not)."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

PER_CHANNEL = 'type: "PReLU" prelu_param { filler { type: "uniform" min: -0.5 max: 0.8 } }'
SHARED = 'type: "PReLU" prelu_param { channel_shared: true filler { type: "uniform" min: 0.1 max: 0.5 } }'


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 1.0, shape)


def test_forward_per_channel_matches_a_loop(rng):
    x = rng.normal(size=(2, 3, 2, 2))
    layer = make_layer(PER_CHANNEL)
    _, top = run_layer(layer, [x])
    a = layer.blobs[0].data
    assert a.shape == (3,)
    expected = np.empty_like(x)
    for c in range(3):
        xc = x[:, c]
        expected[:, c] = np.where(xc > 0, xc, a[c] * xc)
    np.testing.assert_allclose(top[0].data, expected)


def test_default_slope_is_a_quarter_and_shared_has_one(rng):
    x = np.array([[-2.0, 4.0], [1.0, -8.0]])
    layer = make_layer('type: "PReLU"')
    _, top = run_layer(layer, [x])
    np.testing.assert_allclose(top[0].data, [[-0.5, 4.0], [1.0, -2.0]])
    shared = make_layer('type: "PReLU" prelu_param { channel_shared: true }')
    run_layer(shared, [x])
    assert shared.blobs[0].shape == (1,)


@pytest.mark.parametrize("config", [PER_CHANNEL, SHARED])
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, config, in_place):
    check_gradient(config, [away_from_zero(rng, (2, 3, 2, 2))], in_place=in_place)


def test_gradient_two_axes(rng):
    check_gradient(PER_CHANNEL, [away_from_zero(rng, (4, 3))])


def test_one_axis_input_is_refused():
    with pytest.raises(ConfigError, match="2 or more input axes"):
        run_layer(make_layer('type: "PReLU"'), [np.ones(4)])
