"""Reduction: each operation over the tail axes against loops, coeff, gradients."""

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer

OPS = {"SUM": lambda v: sum(v), "ASUM": lambda v: sum(abs(a) for a in v),
       "SUMSQ": lambda v: sum(a * a for a in v), "MEAN": lambda v: sum(v) / len(v)}


def config(op, axis, coeff):
    return f'type: "Reduction" reduction_param {{ operation: {op} axis: {axis} coeff: {coeff} }}'


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(("axis", "coeff"), [(0, 1.0), (1, -2.0), (2, 0.5), (-1, 1.0)])
def test_forward(rng, op, axis, coeff):
    x = rng.normal(size=(2, 3, 4))
    _, top = run_layer(make_layer(config(op, axis, coeff)), [x])
    lead = x.shape[:axis % 3]
    assert top[0].shape == lead
    rows = x.reshape(int(np.prod(lead)), -1)
    np.testing.assert_allclose(top[0].data.ravel(), [coeff * OPS[op](list(r)) for r in rows])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(("axis", "coeff"), [(0, 1.0), (1, -2.0), (2, 0.5)])
def test_gradient(rng, op, axis, coeff):
    x = rng.choice([-1.0, 1.0], (2, 3, 2)) * rng.uniform(0.1, 1.0, (2, 3, 2))
    check_gradient(config(op, axis, coeff), [x])


def test_default_is_sum_of_everything(rng):
    x = rng.normal(size=(2, 3))
    _, top = run_layer(make_layer('type: "Reduction"'), [x])
    assert top[0].shape == ()
    np.testing.assert_allclose(top[0].data, sum(x.ravel()))
