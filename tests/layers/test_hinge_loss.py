import numpy as np
import pytest

from protonet.errors import DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight


def naive_hinge(x, labels, power):
    n, k = x.shape
    total = 0.0
    for i in range(n):
        for j in range(k):
            d = 1.0 if j == labels[i] else -1.0
            total += max(0.0, 1 - d * x[i, j]) ** power
    return total / n


@pytest.fixture
def data(rng):
    # keep the scores away from the hinge's kink at margin 0
    x = rng.uniform(-2, 2, size=(4, 5))
    x[np.abs(np.abs(x) - 1) < 0.05] += 0.2
    return x, np.array([0.0, 3, 4, 1])


@pytest.mark.parametrize(("norm", "power"), [("L1", 1), ("L2", 2)])
def test_forward(data, norm, power):
    x, labels = data
    _, top = run_layer(make_layer(f'type: "HingeLoss" hinge_loss_param {{ norm: {norm} }}'), [x, labels])
    assert float(top[0].data) == pytest.approx(naive_hinge(x, labels.astype(int), power), rel=1e-12)


def test_default_norm_is_l1(data):
    x, labels = data
    _, top = run_layer(make_layer('type: "HingeLoss"'), [x, labels])
    assert float(top[0].data) == pytest.approx(naive_hinge(x, labels.astype(int), 1), rel=1e-12)


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_gradient(data, norm):
    check_gradient(f'type: "HingeLoss" hinge_loss_param {{ norm: {norm} }}', list(data), check_bottoms=[0])


def test_gradient_with_spatial_scores(rng):
    x = rng.uniform(-2, 2, size=(2, 3, 2))
    x[np.abs(np.abs(x) - 1) < 0.05] += 0.2
    check_gradient('type: "HingeLoss" hinge_loss_param { norm: L2 }', [x, np.array([5.0, 2])],
                   check_bottoms=[0])


def test_label_out_of_range_is_a_data_error(data):
    x, _ = data
    with pytest.raises(DataError, match=r"layer 'hingeloss'.*label 5 is outside 0\.\.4 \(5 classes\)"):
        run_layer(make_layer('type: "HingeLoss"'), [x, np.array([0.0, 5, 1, 1])])


def test_loss_weight_scales_loss_and_gradients(tmp_path, data):
    check_loss_weight(tmp_path, 'type: "HingeLoss" hinge_loss_param { norm: L2 }', list(data), 0.5)
