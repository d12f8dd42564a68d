import math

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight

LAYER = 'type: "MultinomialLogisticLoss"'


@pytest.fixture
def data(rng):
    p = rng.uniform(0.1, 1, size=(4, 5))
    p /= p.sum(axis=1, keepdims=True)
    return p, np.array([1.0, 0, 4, 2])


def test_forward(data):
    p, labels = data
    _, top = run_layer(make_layer(LAYER), [p, labels])
    expected = -sum(math.log(p[n, int(labels[n])]) for n in range(4)) / 4
    assert float(top[0].data) == pytest.approx(expected, rel=1e-12)


def test_probability_is_clipped_at_1e_minus_20(data):
    p, labels = data
    p[0, 1] = 0.0
    _, top = run_layer(make_layer(LAYER), [p, labels])
    expected = -(math.log(1e-20) + sum(math.log(p[n, int(labels[n])]) for n in range(1, 4))) / 4
    assert float(top[0].data) == pytest.approx(expected, rel=1e-12)


def test_gradient(data):
    check_gradient(LAYER, list(data), check_bottoms=[0])


def test_gradient_with_spatial_axes(rng):
    p = rng.uniform(0.2, 1, size=(2, 3, 2, 1))
    check_gradient(LAYER, [p, np.array([[5.0], [2.0]])], check_bottoms=[0])


def test_label_out_of_range_is_a_data_error(data):
    p, _ = data
    message = r"layer 'multinomiallogisticloss'.*label -1 is outside 0\.\.4 \(5 classes\)"
    with pytest.raises(DataError, match=message):
        run_layer(make_layer(LAYER), [p, np.array([1.0, -1, 0, 0])])


def test_one_label_per_item(data):
    p, _ = data
    with pytest.raises(ConfigError, match="8 labels for 4 items"):
        run_layer(make_layer(LAYER), [p, np.zeros((4, 2))])


def test_loss_weight_scales_loss_and_gradients(tmp_path, data):
    check_loss_weight(tmp_path, LAYER, list(data), 1.5)
