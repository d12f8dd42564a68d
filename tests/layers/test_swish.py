"""Swish: forward against x / (1 + exp(-beta x)), gradients for several betas."""

import math

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
def test_forward(rng, beta):
    x = rng.normal(scale=2, size=(2, 4))
    _, top = run_layer(make_layer(f'type: "Swish" swish_param {{ beta: {beta} }}'), [x])
    np.testing.assert_allclose(top[0].data, [[v / (1 + math.exp(-beta * v)) for v in row] for row in x])


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, beta, in_place):
    check_gradient(f'type: "Swish" swish_param {{ beta: {beta} }}', [rng.normal(size=(2, 3, 2))],
                   in_place=in_place)
