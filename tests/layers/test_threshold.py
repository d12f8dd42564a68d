"""Threshold: forward step, and backward refused only when a gradient is asked for."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import make_layer, run_layer


@pytest.mark.parametrize("threshold", [0.0, 0.5, -1.0])
def test_forward(rng, threshold):
    x = rng.normal(size=(3, 4))
    x[0, 0] = threshold  # equal is not above
    _, top = run_layer(make_layer(f'type: "Threshold" threshold_param {{ threshold: {threshold} }}'), [x])
    np.testing.assert_array_equal(top[0].data, [[1.0 if v > threshold else 0.0 for v in row] for row in x])


def test_in_place_float32():
    layer = make_layer('type: "Threshold"', dtype=np.float32)
    _, top = run_layer(layer, [np.array([-1.0, 0.0, 2.0])], in_place=True)
    assert top[0].data.dtype == np.float32
    np.testing.assert_array_equal(top[0].data, [0.0, 0.0, 1.0])


def test_backward_refused_only_when_asked():
    layer = make_layer('type: "Threshold"')
    assert not layer.has_backward
    bottom, top = run_layer(layer, [np.ones(3)])
    layer.backward(top, [False], bottom)
    with pytest.raises(ConfigError, match="cannot propagate gradients"):
        layer.backward(top, [True], bottom)
