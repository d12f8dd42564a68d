"""BatchReindex: items picked by index, gradients summed over repeats, errors."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

REINDEX = 'type: "BatchReindex"'


def test_forward_picks_items_by_index(rng):
    x = rng.standard_normal((4, 2, 3))
    index = [3, 0, 3, 1, 1, 2]
    _, top = run_layer(make_layer(REINDEX), [x, np.array(index, float)])
    assert top[0].shape == (6, 2, 3)
    for i, k in enumerate(index):
        np.testing.assert_array_equal(top[0].data[i], x[k])


@pytest.mark.parametrize("index", [[3, 0, 3, 1, 1, 2], [2, 2, 2], [0, 1, 2, 3], [1]])
def test_gradient(index, rng):
    check_gradient(REINDEX, [rng.standard_normal((4, 3, 2)), np.array(index, float)], check_bottoms=[0])


def test_backward_sums_repeats_and_zeroes_unpicked_items():
    layer = make_layer(REINDEX)
    bottom, top = run_layer(layer, [np.zeros((3, 2)), np.array([0.0, 0, 2])])
    top[0].diff = np.array([[1.0, 2], [10, 20], [5, 6]])
    bottom[0].diff = np.full((3, 2), 9.0)  # overwritten, not accumulated
    layer.backward(top, [True, False], bottom)
    np.testing.assert_array_equal(bottom[0].diff, [[11, 22], [0, 0], [5, 6]])
    with pytest.raises(ConfigError, match="cannot propagate gradients to its indices"):
        layer.backward(top, [True, True], bottom)


@pytest.mark.parametrize("index, error, message", [
    ([0, 3], DataError, r"index 3 is not an integer in \[0, 3\)"),
    ([-1], DataError, r"index -1 is not an integer in \[0, 3\)"),
    ([0.5], DataError, r"index 0.5 is not an integer"),
    ([[0, 1]], ConfigError, r"indices \(bottom 1\) must have one axis \(M,\), got \[1, 2\]"),
])
def test_errors(index, error, message):
    with pytest.raises(error, match=message):
        run_layer(make_layer(REINDEX), [np.zeros((3, 2)), np.array(index, float)])
