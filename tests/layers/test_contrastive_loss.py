import math

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight


def naive_contrastive(a, b, y, margin, legacy):
    total = 0.0
    for n in range(a.shape[0]):
        d2 = sum((p - q) ** 2 for p, q in zip(a[n].ravel(), b[n].ravel(), strict=True))
        if y[n]:
            total += d2
        elif legacy:
            total += max(margin - d2, 0.0)
        else:
            total += max(margin - math.sqrt(d2), 0.0) ** 2
    return total / (2 * a.shape[0])


@pytest.fixture
def pairs(rng):
    a = rng.uniform(-0.5, 0.5, size=(6, 3))
    b = rng.uniform(-0.5, 0.5, size=(6, 3))
    y = np.array([1.0, 0, 0, 1, 0, 0])
    return a, b, y


def config(margin=1.0, legacy=False):
    return (f'type: "ContrastiveLoss" contrastive_loss_param {{ margin: {margin} '
            f'legacy_version: {str(legacy).lower()} }}')


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("margin", [0.75, 1.5])  # exact in the proto's float32
def test_forward(pairs, legacy, margin):
    a, b, y = pairs
    _, top = run_layer(make_layer(config(margin, legacy)), [a, b, y])
    assert float(top[0].data) == pytest.approx(naive_contrastive(a, b, y, margin, legacy), rel=1e-12)


def test_forward_with_4d_features(pairs):
    a, b, y = pairs
    a4, b4 = a.reshape(6, 3, 1, 1), b.reshape(6, 3, 1, 1)
    _, top = run_layer(make_layer(config()), [a4, b4, y.reshape(6, 1, 1, 1)])
    assert float(top[0].data) == pytest.approx(naive_contrastive(a, b, y, 1.0, False), rel=1e-12)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("margin", [0.75, 1.5])  # exact in the proto's float32
def test_gradient(pairs, legacy, margin):
    a, b, y = pairs
    distances = np.linalg.norm(a - b, axis=1)
    kink = distances**2 if legacy else distances
    assert np.abs(kink - margin).min() > 0.02  # no pair sits on the hinge
    # Caffe's dissimilar gradient divides by d + 1e-4, a relative error of about 1e-4 / d
    check_gradient(config(margin, legacy), [a, b, y], check_bottoms=[0, 1])


def test_similarity_must_be_0_or_1(pairs):
    a, b, y = pairs
    y[2] = 2
    with pytest.raises(DataError, match=r"layer 'contrastiveloss'.*label 2 is outside 0\.\.1"):
        run_layer(make_layer(config()), [a, b, y])


def test_no_gradient_to_similarity(pairs):
    layer = make_layer(config())
    bottom, top = run_layer(layer, list(pairs))
    assert not layer.allow_force_backward(2) and layer.allow_force_backward(1)
    with pytest.raises(ConfigError, match="similarity"):
        layer.backward(top, [True, True, True], bottom)


def test_pair_shapes_must_match(pairs):
    a, b, y = pairs
    with pytest.raises(ConfigError, match="differ in shape"):
        run_layer(make_layer(config()), [a, b[:, :2], y])


def test_loss_weight_scales_loss_and_gradients(tmp_path, pairs):
    check_loss_weight(tmp_path, config(), list(pairs), 2.0, grad_bottoms=(0, 1))
