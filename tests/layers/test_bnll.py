"""BNLL: softplus forward, stable at extremes, gradients (in place: the gradient comes from the top)."""

import math
import warnings

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward(rng):
    x = rng.normal(scale=3, size=(3, 4))
    _, top = run_layer(make_layer('type: "BNLL"'), [x])
    np.testing.assert_allclose(top[0].data, [[math.log(1 + math.exp(v)) for v in row] for row in x])


def test_extremes_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, top = run_layer(make_layer('type: "BNLL"', dtype=np.float32), [np.array([-30.0, 100.0, 1e6])])
    assert top[0].data.dtype == np.float32
    np.testing.assert_allclose(top[0].data, [math.exp(-30), 100.0, 1e6], rtol=1e-6)


@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, in_place):
    check_gradient('type: "BNLL"', [rng.normal(scale=3, size=(2, 3, 4))], in_place=in_place)


def test_gradient_at_extremes_is_sigmoid():
    layer = make_layer('type: "BNLL"')
    bottom, top = run_layer(layer, [np.array([-30.0, 0.0, 30.0])])
    top[0].diff = np.ones(3)
    layer.backward(top, [True], bottom)
    expected = [1 / (1 + math.exp(30)), 0.5, 1 / (1 + math.exp(-30))]
    np.testing.assert_allclose(bottom[0].diff, expected, rtol=1e-9)
