import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight

LAYER = 'type: "EuclideanLoss"'


def test_forward_is_half_the_mean_squared_distance(rng):
    a, b = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 6))
    _, top = run_layer(make_layer(LAYER), [a, b])
    expected = sum(((a[n].ravel() - b[n]) ** 2).sum() for n in range(4)) / (2 * 4)
    assert float(top[0].data) == pytest.approx(expected, rel=1e-12)


def test_gradient_to_both_inputs(rng):
    check_gradient(LAYER, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])
    check_gradient(LAYER, [rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 6))])


def test_float32_stays_float32(rng):
    layer = make_layer(LAYER, dtype=np.float32)
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    top[0].diff = 1
    layer.backward(top, [True, True], bottom)
    assert top[0].data.dtype == np.float32 and bottom[1].diff.dtype == np.float32


def test_size_mismatch_is_an_error(rng):
    with pytest.raises(ConfigError, match="differ in size"):
        run_layer(make_layer(LAYER), [rng.normal(size=(2, 3)), rng.normal(size=(2, 4))])


def test_loss_weight_scales_loss_and_gradients(tmp_path, rng):
    check_loss_weight(tmp_path, LAYER, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))], 0.25,
                      grad_bottoms=(0, 1))
