import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def naive_bias(x, b, axis):
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        y[idx] = x[idx] + b[idx[axis:axis + b.ndim]]
    return y


@pytest.mark.parametrize(("axis", "num_axes", "shape"),
                         [(1, 1, (3,)), (0, 2, (2, 3)), (1, -1, (3, 4)), (0, 0, ())])
def test_learned_bias_forward(rng, axis, num_axes, shape):
    x = rng.normal(size=(2, 3, 4))
    layer = make_layer(f'type: "Bias" bias_param {{ axis: {axis} num_axes: {num_axes} '
                       'filler { type: "gaussian" std: 1 } }')
    _, top = run_layer(layer, [x])
    assert layer.blobs[0].shape == shape
    np.testing.assert_allclose(top[0].data, naive_bias(x, layer.blobs[0].data, axis), rtol=1e-12)


def test_default_filler_is_zero(rng):
    layer = make_layer('type: "Bias"')
    x = rng.normal(size=(2, 3))
    _, top = run_layer(layer, [x])
    np.testing.assert_array_equal(top[0].data, x)


@pytest.mark.parametrize(("axis", "bias_shape"), [(1, (3,)), (0, (2, 3)), (-1, (4,)), (0, ())])
def test_bias_from_second_bottom(rng, axis, bias_shape):
    x, b = rng.normal(size=(2, 3, 4)), rng.normal(size=bias_shape)
    _, top = run_layer(make_layer(f'type: "Bias" bias_param {{ axis: {axis} }}'), [x, b])
    np.testing.assert_allclose(top[0].data, naive_bias(x, b, axis % 3 if bias_shape else 0), rtol=1e-12)


@pytest.mark.parametrize("param", ["", "axis: 0 num_axes: 2", "num_axes: -1", "num_axes: 0"])
def test_gradient_learned(rng, param):
    check_gradient(f'type: "Bias" bias_param {{ {param} filler {{ type: "gaussian" std: 1 }} }}',
                   [rng.normal(size=(2, 3, 2))])


@pytest.mark.parametrize(("axis", "bias_shape"), [(1, (3,)), (0, (2, 3, 2)), (2, (2,))])
def test_gradient_with_second_bottom(rng, axis, bias_shape):
    check_gradient(f'type: "Bias" bias_param {{ axis: {axis} }}',
                   [rng.normal(size=(2, 3, 2)), rng.normal(size=bias_shape)])


def test_gradient_in_place(rng):
    check_gradient('type: "Bias" bias_param { filler { type: "gaussian" std: 1 } }',
                   [rng.normal(size=(2, 3))], in_place=True)


def test_shape_mismatch_is_an_error(rng):
    with pytest.raises(ConfigError, match="does not match input"):
        run_layer(make_layer('type: "Bias"'), [rng.normal(size=(2, 3)), rng.normal(size=(2,))])
