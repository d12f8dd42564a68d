"""Clip: forward against min/max, gradients away from the bounds, bad bounds."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward(rng):
    x = rng.normal(scale=2, size=(3, 4))
    _, top = run_layer(make_layer('type: "Clip" clip_param { min: -1 max: 0.5 }'), [x])
    np.testing.assert_array_equal(top[0].data, [[min(max(v, -1.0), 0.5) for v in row] for row in x])


def test_gradient_is_one_inside_including_the_bounds():
    layer = make_layer('type: "Clip" clip_param { min: -1 max: 1 }')
    bottom, top = run_layer(layer, [np.array([-2.0, -1.0, 0.3, 1.0, 5.0])])
    top[0].diff = np.full(5, 3.0)
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, [0.0, 3.0, 3.0, 3.0, 0.0])


@pytest.mark.parametrize(("low", "high"), [(-1.0, 0.5), (0.0, 6.0), (-0.2, 0.2)])
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, low, high, in_place):
    x = rng.uniform(-2, 7, (2, 3, 4))
    near = (np.abs(x - low) < 0.05) | (np.abs(x - high) < 0.05)
    x[near] += 0.1
    check_gradient(f'type: "Clip" clip_param {{ min: {low} max: {high} }}', [x], in_place=in_place)


def test_min_above_max_is_refused():
    with pytest.raises(ConfigError, match="above"):
        run_layer(make_layer('type: "Clip" clip_param { min: 2 max: 1 }'), [np.ones(2)])
