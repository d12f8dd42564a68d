import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def naive_lrn(x, size, alpha, beta, k, across):
    """Caffe's LRN element by element: across channels, or within a size x size window (k replaced by 1)."""
    n_, c_, h_, w_ = x.shape
    pre = size // 2
    y = np.empty_like(x)
    for n, c, h, w in np.ndindex(x.shape):
        if across:
            window = [x[n, j, h, w] for j in range(max(0, c - pre), min(c_, c + pre + 1))]
            scale = k + alpha / size * sum(v * v for v in window)
        else:
            window = [x[n, c, i, j] for i in range(max(0, h - pre), min(h_, h + pre + 1))
                      for j in range(max(0, w - pre), min(w_, w + pre + 1))]
            scale = 1 + alpha / size**2 * sum(v * v for v in window)
        y[n, c, h, w] = x[n, c, h, w] * scale**-beta
    return y


def config(region, size=5, alpha=1.0, beta=0.75, k=1.0):
    return (f'type: "LRN" lrn_param {{ norm_region: {region} local_size: {size} alpha: {alpha} beta: {beta} '
            f'k: {k} }}')


# alpha, beta and k exactly representable in the proto's float32
SETTINGS = [(5, 1.0, 0.75, 1.0), (3, 0.5, 0.5, 2.0), (1, 2.0, 1.25, 1.5)]


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
@pytest.mark.parametrize(("size", "alpha", "beta", "k"), SETTINGS)
def test_forward(rng, region, size, alpha, beta, k):
    x = rng.normal(size=(2, 6, 3, 4))
    _, top = run_layer(make_layer(config(region, size, alpha, beta, k)), [x])
    expected = naive_lrn(x, size, alpha, beta, k, region == "ACROSS_CHANNELS")
    np.testing.assert_allclose(top[0].data, expected, rtol=1e-12)


def test_defaults_are_caffes(rng):
    x = rng.normal(size=(1, 7, 2, 2))
    _, top = run_layer(make_layer('type: "LRN"'), [x])
    np.testing.assert_allclose(top[0].data, naive_lrn(x, 5, 1.0, 0.75, 1.0, True), rtol=1e-12)


def test_window_wider_than_the_input(rng):
    x = rng.normal(size=(1, 2, 2, 2))
    _, top = run_layer(make_layer(config("WITHIN_CHANNEL", size=7, alpha=0.5)), [x])
    np.testing.assert_allclose(top[0].data, naive_lrn(x, 7, 0.5, 0.75, 1.0, False), rtol=1e-12)


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
@pytest.mark.parametrize(("size", "alpha", "beta", "k"), SETTINGS[:2])
def test_gradient(rng, region, size, alpha, beta, k):
    check_gradient(config(region, size, alpha, beta, k), [rng.normal(size=(2, 4, 3, 3))])


def test_float32_stays_float32(rng):
    layer = make_layer(config("WITHIN_CHANNEL"), dtype=np.float32)
    bottom, top = run_layer(layer, [rng.normal(size=(1, 2, 3, 3))])
    top[0].diff = 1
    layer.backward(top, [True], bottom)
    assert top[0].data.dtype == bottom[0].diff.dtype == np.float32


def test_even_local_size_is_an_error(rng):
    with pytest.raises(ConfigError, match="local_size must be odd, got 4"):
        run_layer(make_layer(config("ACROSS_CHANNELS", size=4)), [rng.normal(size=(1, 2, 2, 2))])


def test_needs_4_axes_and_a_separate_top(rng):
    with pytest.raises(ConfigError, match="4-axis input"):
        run_layer(make_layer('type: "LRN"'), [rng.normal(size=(2, 3))])
    with pytest.raises(ConfigError, match="cannot run in place"):
        run_layer(make_layer('type: "LRN"'), [rng.normal(size=(1, 2, 2, 2))], in_place=True)
