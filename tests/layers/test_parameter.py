"""Parameter: outputs its learnable blob; the blob's gradient accumulates dy."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

CONFIG = 'type: "Parameter" parameter_param { shape { dim: 2 dim: 3 } }'


def test_forward_outputs_the_blob():
    layer = make_layer(CONFIG)
    bottom, top = run_layer(layer, [])
    assert layer.blobs[0].shape == (2, 3)
    np.testing.assert_array_equal(top[0].data, 0.0)
    layer.blobs[0].data = np.arange(6.0).reshape(2, 3)
    layer.forward(bottom, top)
    np.testing.assert_array_equal(top[0].data, np.arange(6.0).reshape(2, 3))


def test_gradient():
    check_gradient(CONFIG, [])


def test_gradient_accumulates():
    layer = make_layer(CONFIG)
    bottom, top = run_layer(layer, [])
    top[0].diff = np.ones((2, 3))
    layer.backward(top, [], bottom)
    layer.backward(top, [], bottom)
    np.testing.assert_array_equal(layer.blobs[0].diff, 2.0)


def test_bad_shape():
    with pytest.raises(ConfigError, match="zero or negative"):
        run_layer(make_layer('type: "Parameter" parameter_param { shape { dim: 0 } }'), [])
