"""TanH: forward against (e^x - e^-x) / (e^x + e^-x), gradients."""

import math

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward(rng):
    x = rng.normal(scale=2, size=(3, 4))
    _, top = run_layer(make_layer('type: "TanH"'), [x])
    expected = [[(math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) for v in row] for row in x]
    np.testing.assert_allclose(top[0].data, expected)


@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, in_place):
    check_gradient('type: "TanH"', [rng.normal(size=(2, 3, 4))], in_place=in_place)
