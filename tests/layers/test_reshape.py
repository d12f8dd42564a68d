"""Reshape: Caffe's shape rules (0 copies, -1 infers, axis, num_axes), values in order, gradients, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def config(dims, extra=""):
    shape = " ".join(f"dim: {d}" for d in dims)
    return f'type: "Reshape" reshape_param {{ shape {{ {shape} }} {extra} }}'


@pytest.mark.parametrize(("dims", "extra", "shape"), [
    ((0, -1), "", (2, 60)),
    ((0, 0, -1, 5), "", (2, 3, 4, 5)),
    ((-1,), "", (120,)),
    ((6, 20), "", (6, 20)),
    ((0, 3, 0, 5), "", (2, 3, 4, 5)),
    ((1, 1), "axis: 1 num_axes: 0", (2, 1, 1, 3, 4, 5)),
    ((-1,), "axis: 1 num_axes: 2", (2, 12, 5)),
    ((2, -1), "axis: -3", (2, 3, 2, 10)),
    ((1,), "axis: -1 num_axes: 0", (2, 3, 4, 5, 1)),
    ((0, -1), "axis: 1", (2, 3, 20)),
])
def test_shapes_and_order(rng, dims, extra, shape):
    x = rng.normal(size=(2, 3, 4, 5))
    _, top = run_layer(make_layer(config(dims, extra)), [x])
    assert top[0].shape == shape
    np.testing.assert_array_equal(top[0].data.ravel(), x.ravel())


@pytest.mark.parametrize(("dims", "extra"), [((0, -1), ""), ((-1, 0), "axis: 1"), ((3, 2, -1), "")])
def test_gradient(rng, dims, extra):
    check_gradient(config(dims, extra), [rng.normal(size=(2, 3, 2))])


@pytest.mark.parametrize(("dims", "extra", "message"), [
    ((-1, -1), "", "at most one -1"),
    ((7, -1), "", "cannot infer"),
    ((5, 5), "", "cannot reshape"),
    ((0, 0, 0, 0), "", "copies axis 3"),
    ((1,), "axis: 4", "do not fit"),
    ((1,), "axis: 1 num_axes: 3", "do not fit"),
])
def test_errors(dims, extra, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(config(dims, extra)), [np.ones((2, 3, 4))])
