"""ELU: forward against the formula, gradients for several alphas, in place too."""

import math

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward(rng):
    x = rng.normal(size=(3, 4))
    _, top = run_layer(make_layer('type: "ELU" elu_param { alpha: 0.7 }'), [x])
    expected = [[v if v > 0 else 0.7 * (math.exp(v) - 1) for v in row] for row in x]
    np.testing.assert_allclose(top[0].data, expected)


def test_large_negative_input_saturates_at_minus_alpha():
    _, top = run_layer(make_layer('type: "ELU"', dtype=np.float32), [np.array([-1000.0, 1000.0])])
    assert top[0].data.dtype == np.float32
    np.testing.assert_allclose(top[0].data, [-1.0, 1000.0])


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, alpha, in_place):
    x = rng.choice([-1.0, 1.0], (2, 3, 4)) * rng.uniform(0.05, 2.0, (2, 3, 4))
    check_gradient(f'type: "ELU" elu_param {{ alpha: {alpha} }}', [x], in_place=in_place)
