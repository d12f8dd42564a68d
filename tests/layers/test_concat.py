"""Concat: forward against hand-built arrays, axis 0 and 1 and legacy concat_dim, gradients, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward_axis_1(rng):
    a, b = rng.normal(size=(2, 1, 3)), rng.normal(size=(2, 2, 3))
    _, top = run_layer(make_layer('type: "Concat"'), [a, b])
    assert top[0].shape == (2, 3, 3)
    for n in range(2):
        np.testing.assert_array_equal(top[0].data[n], [a[n, 0], b[n, 0], b[n, 1]])


@pytest.mark.parametrize("config", ['type: "Concat" concat_param { axis: 0 }',
                                    'type: "Concat" concat_param { concat_dim: 0 }'])
def test_forward_axis_0(rng, config):
    a, b = rng.normal(size=(1, 3)), rng.normal(size=(2, 3))
    _, top = run_layer(make_layer(config), [a, b])
    np.testing.assert_array_equal(top[0].data, [a[0], b[0], b[1]])


def test_negative_axis(rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 1))
    _, top = run_layer(make_layer('type: "Concat" concat_param { axis: -1 }'), [a, b])
    np.testing.assert_array_equal(top[0].data[:, 3], b[:, 0])


@pytest.mark.parametrize(("axis", "shapes"), [(0, [(1, 3, 2), (2, 3, 2), (1, 3, 2)]),
                                              (1, [(2, 1, 2), (2, 3, 2), (2, 2, 2)]),
                                              (2, [(2, 2, 1), (2, 2, 3)])])
def test_gradient(rng, axis, shapes):
    check_gradient(f'type: "Concat" concat_param {{ axis: {axis} }}', [rng.normal(size=s) for s in shapes])


def test_gradient_to_some_bottoms_only(rng):
    inputs = [rng.normal(size=(2, k, 2)) for k in (1, 2, 3)]
    check_gradient('type: "Concat"', inputs, check_bottoms=[0, 2])


def test_single_bottom_is_a_copy(rng):
    x = rng.normal(size=(2, 3))
    _, top = run_layer(make_layer('type: "Concat"'), [x])
    np.testing.assert_array_equal(top[0].data, x)


def test_mismatched_shapes_are_refused(rng):
    with pytest.raises(ConfigError, match="must agree"):
        run_layer(make_layer('type: "Concat"'), [np.ones((2, 3, 4)), np.ones((2, 3, 5))])


def test_axis_and_concat_dim_together_are_refused():
    with pytest.raises(ConfigError, match="both axis and concat_dim"):
        run_layer(make_layer('type: "Concat" concat_param { axis: 1 concat_dim: 1 }'), [np.ones((2, 2))] * 2)
