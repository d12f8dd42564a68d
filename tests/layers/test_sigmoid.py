"""Sigmoid: forward against 1 / (1 + exp(-x)), no overflow, gradients."""

import math
import warnings

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward(rng):
    x = rng.normal(scale=3, size=(2, 5))
    _, top = run_layer(make_layer('type: "Sigmoid"'), [x])
    np.testing.assert_allclose(top[0].data, [[1 / (1 + math.exp(-v)) for v in row] for row in x])


def test_extreme_inputs_stay_finite_in_float32():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, top = run_layer(make_layer('type: "Sigmoid"', dtype=np.float32), [np.array([-1e4, 0.0, 1e4])])
    assert top[0].data.dtype == np.float32
    np.testing.assert_allclose(top[0].data, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, in_place):
    check_gradient('type: "Sigmoid"', [rng.normal(scale=2, size=(3, 2, 3))], in_place=in_place)
