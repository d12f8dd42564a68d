"""Dropout: inverted scaling in TRAIN, identity in TEST, the same seed repeats the mask, gradients."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.proto import pb


def config(ratio):
    return f'type: "Dropout" dropout_param {{ dropout_ratio: {ratio} }}'


@pytest.mark.parametrize("ratio", [0.5, 0.2, 0.8])
def test_train_keeps_scaled_values_at_the_right_rate(rng, ratio):
    x = rng.uniform(1, 2, (100, 100))
    _, top = run_layer(make_layer(config(ratio)), [x])
    y = top[0].data
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - ratio))
    assert abs(kept.mean() - (1 - ratio)) < 0.02  # 10 000 draws: std of the mean is below 0.005


def test_same_seed_same_mask_other_seed_other_mask(rng):
    x = rng.uniform(1, 2, (4, 50))
    first = run_layer(make_layer(config(0.5), seed=7), [x])[1][0].data
    again = run_layer(make_layer(config(0.5), seed=7), [x])[1][0].data
    other = run_layer(make_layer(config(0.5), seed=8), [x])[1][0].data
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_test_phase_is_identity_both_ways(rng):
    x = rng.normal(size=(3, 4))
    layer = make_layer(config(0.5), phase=pb.TEST)
    bottom, top = run_layer(layer, [x])
    np.testing.assert_array_equal(top[0].data, x)
    top[0].diff = x * 2
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, x * 2)


def test_ratio_zero_is_identity_in_train(rng):
    x = rng.normal(size=(3, 4))
    _, top = run_layer(make_layer(config(0.0)), [x])
    np.testing.assert_array_equal(top[0].data, x)


def test_float32_stays_float32(rng):
    _, top = run_layer(make_layer(config(0.5), dtype=np.float32), [rng.normal(size=(3, 4))])
    assert top[0].data.dtype == np.float32


@pytest.mark.parametrize("ratio", [0.5, 0.3])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("phase", [pb.TRAIN, pb.TEST])
def test_gradient(rng, ratio, in_place, phase):
    check_gradient(config(ratio), [rng.normal(size=(2, 3, 4))], in_place=in_place, phase=phase)


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_bad_ratio(ratio):
    with pytest.raises(ConfigError, match="dropout_ratio"):
        run_layer(make_layer(config(ratio)), [np.ones(2)])
