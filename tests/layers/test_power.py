"""Power: forward against (shift + scale x)^power, gradients for several settings (in place too)."""

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer

SETTINGS = [(2.0, 0.5, 1.0), (0.5, 1.0, 3.0), (1.0, 2.0, -1.0), (3.0, -1.5, 0.2), (-1.0, 1.0, 4.0),
            (0.0, 1.0, 2.0), (2.0, 0.0, 1.5)]


def config(power, scale, shift):
    return f'type: "Power" power_param {{ power: {power} scale: {scale} shift: {shift} }}'


@pytest.mark.parametrize(("power", "scale", "shift"), SETTINGS)
def test_forward(rng, power, scale, shift):
    x = rng.uniform(-1, 1, (2, 3))
    _, top = run_layer(make_layer(config(power, scale, shift)), [x])
    expected = [[(shift + scale * v) ** power for v in row] for row in x]
    np.testing.assert_allclose(top[0].data, expected)


@pytest.mark.parametrize(("power", "scale", "shift"), SETTINGS)
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, power, scale, shift, in_place):
    check_gradient(config(power, scale, shift), [rng.uniform(-1, 1, (2, 3, 2))], in_place=in_place)


def test_power_zero_has_zero_gradient_even_at_a_zero_base():
    layer = make_layer(config(0.0, 1.0, 0.0))
    bottom, top = run_layer(layer, [np.array([0.0, 2.0])])
    np.testing.assert_array_equal(top[0].data, [1.0, 1.0])
    top[0].diff = np.ones(2)
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, [0.0, 0.0])
