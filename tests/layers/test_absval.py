"""AbsVal: forward, gradient away from 0, in place too."""

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward():
    _, top = run_layer(make_layer('type: "AbsVal"'), [np.array([[-2.5, 0.0, 3.0]])])
    np.testing.assert_array_equal(top[0].data, [[2.5, 0.0, 3.0]])


@pytest.mark.parametrize("in_place", [False, True])
def test_gradient(rng, in_place):
    x = rng.choice([-1.0, 1.0], (2, 3, 4)) * rng.uniform(0.1, 2.0, (2, 3, 4))
    check_gradient('type: "AbsVal"', [x], in_place=in_place)
