import math

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight

LAYER = 'type: "SigmoidCrossEntropyLoss"'


def naive_loss(x, t, skip=None):
    """Sum of -t log s - (1 - t) log(1 - s), s = 1 / (1 + e^-x), in plain floats."""
    total = 0.0
    for xi, ti in zip(x.ravel(), t.ravel(), strict=True):
        if skip is not None and ti == skip:
            continue
        s = 1 / (1 + math.exp(-xi))
        total -= ti * math.log(s) + (1 - ti) * math.log(1 - s)
    return total


@pytest.fixture
def data(rng):
    return rng.normal(size=(3, 4)) * 2, rng.uniform(size=(3, 4))


def test_default_normalization_is_batch_size(data):
    x, t = data
    _, top = run_layer(make_layer(LAYER), [x, t])
    assert float(top[0].data) == pytest.approx(naive_loss(x, t) / 3, rel=1e-10)


@pytest.mark.parametrize(("mode", "divisor"), [("FULL", 12), ("VALID", 12), ("BATCH_SIZE", 3), ("NONE", 1)])
def test_normalization_modes(data, mode, divisor):
    x, t = data
    _, top = run_layer(make_layer(f"{LAYER} loss_param {{ normalization: {mode} }}"), [x, t])
    assert float(top[0].data) == pytest.approx(naive_loss(x, t) / divisor, rel=1e-10)


def test_legacy_normalize_true_means_valid(data):
    x, t = data
    _, top = run_layer(make_layer(f"{LAYER} loss_param {{ normalize: true }}"), [x, t])
    assert float(top[0].data) == pytest.approx(naive_loss(x, t) / 12, rel=1e-10)


def test_stable_for_large_inputs():
    x = np.array([[800.0, -800.0]])
    t = np.array([[0.0, 1.0]])
    _, top = run_layer(make_layer(LAYER), [x, t])
    assert float(top[0].data) == pytest.approx(1600.0)


def test_ignore_label_skips_targets(data):
    x, t = data
    t[0, 1] = t[2, 3] = -1
    layer = make_layer(f"{LAYER} loss_param {{ ignore_label: -1 normalization: VALID }}")
    bottom, top = run_layer(layer, [x, t])
    assert float(top[0].data) == pytest.approx(naive_loss(x, t, skip=-1) / 10, rel=1e-10)
    top[0].diff = 1
    layer.backward(top, [True, False], bottom)
    assert bottom[0].diff[0, 1] == 0 and bottom[0].diff[2, 3] == 0


@pytest.mark.parametrize("param", ["", "loss_param { normalization: FULL }",
                                   "loss_param { ignore_label: -1 normalization: VALID }",
                                   "loss_param { ignore_label: -1 normalization: NONE }"])
def test_gradient(data, param):
    x, t = data
    t[1, 2] = -1 if "ignore" in param else t[1, 2]
    check_gradient(f"{LAYER} {param}", [x, t], check_bottoms=[0])


def test_target_outside_0_1_is_a_data_error(data):
    x, t = data
    t[1, 1] = 2.0
    with pytest.raises(DataError, match=r"layer 'sigmoidcrossentropyloss'.*target 2\.0 is outside \[0, 1\]"):
        run_layer(make_layer(LAYER), [x, t])


def test_no_gradient_to_targets(data):
    layer = make_layer(LAYER)
    bottom, top = run_layer(layer, list(data))
    with pytest.raises(ConfigError, match="cannot back-propagate to the targets"):
        layer.backward(top, [True, True], bottom)


def test_loss_weight_scales_loss_and_gradients(tmp_path, data):
    check_loss_weight(tmp_path, LAYER, list(data), 3.0)
