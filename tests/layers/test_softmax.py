"""Softmax: forward against exp / sum along several axes, gradients (in place too)."""

import math

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward_channels_of_nchw(rng):
    x = rng.normal(scale=3, size=(2, 4, 2, 3))
    _, top = run_layer(make_layer('type: "Softmax"'), [x])
    for n in range(2):
        for h in range(2):
            for w in range(3):
                e = [math.exp(x[n, c, h, w]) for c in range(4)]
                np.testing.assert_allclose(top[0].data[n, :, h, w], [v / sum(e) for v in e])


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_sums_to_one_along_the_axis(rng, axis):
    x = rng.normal(scale=3, size=(2, 3, 4))
    _, top = run_layer(make_layer(f'type: "Softmax" softmax_param {{ axis: {axis} }}'), [x])
    np.testing.assert_allclose(top[0].data.sum(axis=axis), 1.0)


def test_large_values_float32():
    x = np.array([[1000.0, 1000.0, -1000.0]])
    _, top = run_layer(make_layer('type: "Softmax"', dtype=np.float32), [x])
    assert top[0].data.dtype == np.float32
    np.testing.assert_allclose(top[0].data, [[0.5, 0.5, 0.0]])


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, axis, in_place):
    check_gradient(f'type: "Softmax" softmax_param {{ axis: {axis} }}', [rng.normal(size=(2, 3, 4))],
                   in_place=in_place)
