"""Exp: forward against base^(shift + scale x), gradients, bad bases."""

import math

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

SETTINGS = [(-1.0, 1.0, 0.0), (2.0, 1.0, 0.0), (-1.0, 0.5, 1.0), (3.0, -2.0, 0.5), (0.5, 1.5, -1.0)]


def config(base, scale, shift):
    return f'type: "Exp" exp_param {{ base: {base} scale: {scale} shift: {shift} }}'


@pytest.mark.parametrize(("base", "scale", "shift"), SETTINGS)
def test_forward(rng, base, scale, shift):
    x = rng.uniform(-1, 1, (2, 3))
    _, top = run_layer(make_layer(config(base, scale, shift)), [x])
    b = math.e if base == -1 else base
    np.testing.assert_allclose(top[0].data, [[b ** (shift + scale * v) for v in row] for row in x])


@pytest.mark.parametrize(("base", "scale", "shift"), SETTINGS)
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, base, scale, shift, in_place):
    check_gradient(config(base, scale, shift), [rng.uniform(-1, 1, (2, 3, 2))], in_place=in_place)


@pytest.mark.parametrize("base", [0.0, -2.0])
def test_bad_base(base):
    with pytest.raises(ConfigError, match="base must be positive"):
        run_layer(make_layer(config(base, 1.0, 0.0)), [np.ones(2)])
