import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.proto import pb

EPS = 1e-5


def per_channel_stats(x):
    """Mean and biased variance of each channel (axis 1) over all other axes, with explicit loops."""
    channels = x.shape[1] if x.ndim > 1 else 1
    values = [[] for _ in range(channels)]
    for index, v in np.ndenumerate(x):
        values[index[1] if x.ndim > 1 else 0].append(v)
    mean = np.array([sum(vs) / len(vs) for vs in values])
    var = np.array([sum((v - m) ** 2 for v in vs) / len(vs) for vs, m in zip(values, mean, strict=True)])
    return mean, var, len(values[0])


def expand(stat, x):
    return stat.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim > 1 else stat


@pytest.mark.parametrize("shape", [(3, 2, 2, 2), (4, 3), (5,)])
def test_train_forward_uses_batch_statistics_and_updates_the_sums(rng, shape):
    x = rng.normal(2, 3, size=shape)
    layer = make_layer('type: "BatchNorm" batch_norm_param { moving_average_fraction: 0.5 }')
    bottom, top = run_layer(layer, [x])
    mean, var, m = per_channel_stats(x)
    np.testing.assert_allclose(top[0].data, (x - expand(mean, x)) / np.sqrt(expand(var, x) + EPS), rtol=1e-9)
    np.testing.assert_allclose(layer.blobs[0].data, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.blobs[1].data, var * m / (m - 1), rtol=1e-12)
    assert layer.blobs[2].data.tolist() == [1.0]

    x2 = rng.normal(size=shape)
    bottom[0].data = x2
    layer.forward(bottom, top)
    mean2, var2, _ = per_channel_stats(x2)
    np.testing.assert_allclose(layer.blobs[0].data, 0.5 * mean + mean2, rtol=1e-12)
    np.testing.assert_allclose(layer.blobs[1].data, (0.5 * var + var2) * m / (m - 1), rtol=1e-12)
    assert layer.blobs[2].data.tolist() == [1.5]


def load_stats(layer, mean_sum, var_sum, factor):
    """Make `layer` set up with the given stored sums (as a caffemodel would), for check_gradient too."""
    setup = layer.setup

    def setup_with_stats(bottom, top):
        setup(bottom, top)
        layer.blobs[0].data, layer.blobs[1].data, layer.blobs[2].data = mean_sum, var_sum, [factor]

    layer.setup = setup_with_stats
    return layer


@pytest.mark.parametrize("config", ['type: "BatchNorm"', 'type: "BatchNorm" batch_norm_param { eps: 0.125 }'])
def test_test_phase_uses_stored_sums_divided_by_the_factor(rng, config):
    x = rng.normal(size=(2, 3, 2))
    mean_sum, var_sum = np.array([1.0, -2.0, 0.5]), np.array([4.0, 1.0, 9.0])
    layer = load_stats(make_layer(config, phase=pb.TEST), mean_sum, var_sum, 2.0)
    _, top = run_layer(layer, [x])
    eps = layer.param.batch_norm_param.eps
    expected = (x - (mean_sum / 2)[:, None]) / np.sqrt((var_sum / 2)[:, None] + eps)
    np.testing.assert_allclose(top[0].data, expected, rtol=1e-6)
    np.testing.assert_array_equal(layer.blobs[0].data, mean_sum)  # not updated


def test_zero_factor_means_zero_statistics(rng):
    x = rng.normal(size=(2, 3))
    layer = load_stats(make_layer('type: "BatchNorm"', phase=pb.TEST), np.ones(3), np.ones(3), 0.0)
    _, top = run_layer(layer, [x])
    np.testing.assert_allclose(top[0].data, x / np.sqrt(EPS), rtol=1e-6)


def test_use_global_stats_overrides_the_phase(rng):
    x = rng.normal(size=(4, 2))
    stored = load_stats(make_layer('type: "BatchNorm" batch_norm_param { use_global_stats: true }'),
                        np.zeros(2), np.ones(2), 1.0)
    _, top = run_layer(stored, [x])
    np.testing.assert_allclose(top[0].data, x / np.sqrt(1 + EPS), rtol=1e-6)
    batch = make_layer('type: "BatchNorm" batch_norm_param { use_global_stats: false }', phase=pb.TEST)
    _, top = run_layer(batch, [x])
    np.testing.assert_allclose(top[0].data.mean(axis=0), 0, atol=1e-12)
    assert batch.blobs[2].data.tolist() == [1.0]


@pytest.mark.parametrize("shape", [(3, 2, 2, 2), (4, 3), (6,)])
def test_gradient_through_batch_statistics(rng, shape):
    check_gradient('type: "BatchNorm"', [rng.normal(1, 2, size=shape)], check_params=False)


def test_gradient_with_eps_and_in_place(rng):
    x = rng.normal(size=(2, 3, 3))
    check_gradient('type: "BatchNorm" batch_norm_param { eps: 0.5 }', [x], check_params=False)
    check_gradient('type: "BatchNorm"', [x], check_params=False, in_place=True)


@pytest.mark.parametrize("in_place", [False, True])
def test_gradient_with_global_stats(rng, in_place):
    layer = load_stats(make_layer('type: "BatchNorm" batch_norm_param { use_global_stats: true }'),
                       np.array([0.5, -1.0]), np.array([2.0, 0.5]), 0.5)
    check_gradient(layer, [rng.normal(size=(3, 2, 2))], check_params=False, in_place=in_place)


def test_backward_leaves_the_statistics_alone(rng):
    layer = make_layer('type: "BatchNorm"')
    bottom, top = run_layer(layer, [rng.normal(size=(3, 2))])
    top[0].diff = rng.normal(size=(3, 2))
    layer.backward(top, [True], bottom)
    assert all(not blob.diff.any() for blob in layer.blobs)


def test_float32_stays_float32(rng):
    layer = make_layer('type: "BatchNorm"', dtype=np.float32)
    bottom, top = run_layer(layer, [rng.normal(size=(3, 2, 2))])
    top[0].diff = 1
    layer.backward(top, [True], bottom)
    assert top[0].data.dtype == bottom[0].diff.dtype == layer.blobs[0].data.dtype == np.float32


def test_channel_change_is_an_error(rng):
    layer = make_layer('type: "BatchNorm"')
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3))])
    bottom[0].reshape((2, 4))
    with pytest.raises(ConfigError, match="4 channels, the layer was set up for 3"):
        layer.reshape(bottom, top)
