"""Embed: table lookup forward, parameter gradients (repeated indices accumulate), index errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

FILLERS = 'weight_filler { type: "gaussian" std: 1 } bias_filler { type: "uniform" min: -1 max: 1 }'


def config(bias=True):
    flag = str(bias).lower()
    return f'type: "Embed" embed_param {{ num_output: 3 input_dim: 5 bias_term: {flag} {FILLERS} }}'


@pytest.mark.parametrize("bias", [True, False])
def test_forward(bias):
    x = np.array([[0.0, 4.0, 2.0], [2.0, 2.0, 1.0]])
    layer = make_layer(config(bias))
    _, top = run_layer(layer, [x])
    assert top[0].shape == (2, 3, 3)
    w = layer.blobs[0].data
    assert w.shape == (5, 3)
    b = layer.blobs[1].data if bias else np.zeros(3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(top[0].data[i, j], w[int(x[i, j])] + b)


@pytest.mark.parametrize("bias", [True, False])
def test_parameter_gradients(bias):
    x = np.array([[1.0, 3.0], [3.0, 0.0], [1.0, 1.0]])  # repeated indices; index 2 and 4 unused
    check_gradient(config(bias), [x], check_bottoms=[])


def test_unused_rows_get_no_gradient():
    layer = make_layer(config())
    bottom, top = run_layer(layer, [np.array([1.0, 1.0, 3.0])])
    top[0].diff = np.ones((3, 3))
    layer.backward(top, [False], bottom)
    np.testing.assert_array_equal(layer.blobs[0].diff.sum(axis=1), [0.0, 6.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(layer.blobs[1].diff, [3.0, 3.0, 3.0])


@pytest.mark.parametrize("bad", [5.0, -1.0, 1.5])
def test_bad_indices_are_data_errors(bad):
    with pytest.raises(DataError, match="not an integer in"):
        run_layer(make_layer(config()), [np.array([0.0, bad])])


def test_no_gradient_to_the_indices():
    layer = make_layer(config())
    bottom, top = run_layer(layer, [np.array([0.0, 1.0])])
    assert not layer.allow_force_backward(0)
    with pytest.raises(ConfigError, match="integer indices"):
        layer.backward(top, [True], bottom)


def test_missing_sizes_are_refused():
    with pytest.raises(ConfigError, match="input_dim"):
        run_layer(make_layer('type: "Embed" embed_param { num_output: 3 }'), [np.zeros(2)])
