"""Slice: forward against index slices, slice_point or equal parts, axis 0 and 1, gradients, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_forward_slice_points_axis_1(rng):
    x = rng.normal(size=(2, 6, 2))
    _, top = run_layer(make_layer('type: "Slice" slice_param { slice_point: 1 slice_point: 4 }'), [x], 3)
    assert [t.shape for t in top] == [(2, 1, 2), (2, 3, 2), (2, 2, 2)]
    np.testing.assert_array_equal(top[0].data[:, 0], x[:, 0])
    np.testing.assert_array_equal(top[1].data[:, 2], x[:, 3])
    np.testing.assert_array_equal(top[2].data[:, 1], x[:, 5])


@pytest.mark.parametrize("config", ['type: "Slice" slice_param { axis: 0 }',
                                    'type: "Slice" slice_param { slice_dim: 0 }'])
def test_forward_equal_parts_axis_0(rng, config):
    x = rng.normal(size=(4, 3))
    _, top = run_layer(make_layer(config), [x], 2)
    np.testing.assert_array_equal(top[0].data, [x[0], x[1]])
    np.testing.assert_array_equal(top[1].data, [x[2], x[3]])


@pytest.mark.parametrize(("params", "tops"), [("axis: 0", 2), ("axis: 1 slice_point: 2", 2),
                                              ("axis: 1 slice_point: 1 slice_point: 3", 3), ("axis: -1", 3)])
def test_gradient(rng, params, tops):
    check_gradient(f'type: "Slice" slice_param {{ {params} }}', [rng.normal(size=(2, 4, 3))], num_tops=tops)


@pytest.mark.parametrize(("params", "tops", "message"), [
    ("slice_point: 2", 3, "slice_point values for 3 tops"),
    ("slice_point: 3 slice_point: 1", 3, "increase strictly"),
    ("slice_point: 4", 2, "increase strictly"),
    ("", 3, "evenly"),
])
def test_bad_slices(params, tops, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(f'type: "Slice" slice_param {{ {params} }}'), [np.ones((2, 4))], tops)
