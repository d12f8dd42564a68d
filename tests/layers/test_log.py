"""Log: forward against log_base(shift + scale x), gradients, bad bases."""

import math

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

SETTINGS = [(-1.0, 1.0, 0.0), (10.0, 1.0, 0.0), (2.0, 0.5, 1.0), (-1.0, -2.0, 3.0), (0.5, 1.5, 2.0)]


def config(base, scale, shift):
    return f'type: "Log" log_param {{ base: {base} scale: {scale} shift: {shift} }}'


def positive_argument(rng, scale, shift, shape):
    """x such that shift + scale x lies in [0.2, 3]."""
    return (rng.uniform(0.2, 3.0, shape) - shift) / scale


@pytest.mark.parametrize(("base", "scale", "shift"), SETTINGS)
def test_forward(rng, base, scale, shift):
    x = positive_argument(rng, scale, shift, (2, 3))
    _, top = run_layer(make_layer(config(base, scale, shift)), [x])
    b = math.e if base == -1 else base
    expected = [[math.log(shift + scale * v, b) for v in row] for row in x]
    np.testing.assert_allclose(top[0].data, expected)


@pytest.mark.parametrize(("base", "scale", "shift"), SETTINGS)
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, base, scale, shift, in_place):
    check_gradient(config(base, scale, shift), [positive_argument(rng, scale, shift, (2, 3, 2))],
                   in_place=in_place)


@pytest.mark.parametrize(("base", "message"), [(1.0, "base 1"), (-3.0, "base must be positive")])
def test_bad_base(base, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(config(base, 1.0, 0.0)), [np.ones(2)])
