"""Eltwise: SUM with coeffs, PROD (both gradients), MAX with Caffe's tie rule, gradients, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def test_sum_with_coeffs(rng):
    a, b, c = (rng.normal(size=(2, 3)) for _ in range(3))
    layer = make_layer('type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 2 }')
    _, top = run_layer(layer, [a, b, c])
    np.testing.assert_allclose(top[0].data, a - 0.5 * b + 2 * c)


def test_prod_and_max(rng):
    a, b, c = (rng.normal(size=(2, 3)) for _ in range(3))
    _, prod = run_layer(make_layer('type: "Eltwise" eltwise_param { operation: PROD }'), [a, b, c])
    _, high = run_layer(make_layer('type: "Eltwise" eltwise_param { operation: MAX }'), [a, b, c])
    np.testing.assert_allclose(prod[0].data, a * b * c)
    expected = [[max(a[i, j], b[i, j], c[i, j]) for j in range(3)] for i in range(2)]
    np.testing.assert_array_equal(high[0].data, expected)


def test_max_ties_go_to_bottom_1_then_stay():
    layer = make_layer('type: "Eltwise" eltwise_param { operation: MAX }')
    bottom, top = run_layer(layer, [np.array([2.0, 1.0]), np.array([2.0, 3.0]), np.array([2.0, 3.0])])
    top[0].diff = np.array([10.0, 20.0])
    layer.backward(top, [True, True, True], bottom)
    np.testing.assert_array_equal([b.diff for b in bottom], [[0.0, 0.0], [10.0, 20.0], [0.0, 0.0]])


def separated(rng, count, shape):
    """Inputs whose values differ by at least 0.1 at every position (no MAX ties), none near 0 (PROD)."""
    grid = rng.permuted(np.tile(np.arange(count, dtype=float), (int(np.prod(shape)), 1)), axis=1)
    values = (grid * 0.3 + 0.2) * rng.choice([-1.0, 1.0], grid.shape)
    return [values[:, k].reshape(shape) for k in range(count)]


@pytest.mark.parametrize("params", ["operation: SUM", "operation: SUM coeff: 0.5 coeff: -2 coeff: 3",
                                    "operation: PROD", "operation: PROD stable_prod_grad: false",
                                    "operation: MAX"])
def test_gradient_three_bottoms(rng, params):
    check_gradient(f'type: "Eltwise" eltwise_param {{ {params} }}', separated(rng, 3, (2, 3, 2)))


@pytest.mark.parametrize("op", ["SUM", "PROD", "MAX"])
def test_gradient_two_bottoms_one_checked(rng, op):
    check_gradient(f'type: "Eltwise" eltwise_param {{ operation: {op} }}', separated(rng, 2, (3, 4)),
                   check_bottoms=[1])


@pytest.mark.parametrize(("params", "inputs", "message"), [
    ("operation: PROD coeff: 1 coeff: 1", [np.ones(2)] * 2, "only for operation SUM"),
    ("coeff: 1", [np.ones(2)] * 2, "1 coeff values for 2 bottoms"),
    ("", [np.ones(2), np.ones(3)], "one shape"),
])
def test_errors(params, inputs, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(f'type: "Eltwise" eltwise_param {{ {params} }}'), inputs)


def test_in_place_is_refused():
    with pytest.raises(ConfigError, match="in place"):
        run_layer(make_layer('type: "Eltwise"'), [np.ones(2), np.ones(2)], in_place=True)
