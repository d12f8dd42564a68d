"""SPP: forward against Caffe's pyramid written out as loops, gradients, any input size, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def spp(height: int, method: str = "MAX") -> str:
    return f'type: "SPP" spp_param {{ pyramid_height: {height} pool: {method} }}'


def reference(x: np.ndarray, height: int, method: str) -> np.ndarray:
    """Caffe's SPP by loops: level l has b = 2^l bins per side, kernel = stride = ceil(S / b),
    pad = (kernel * b - S + 1) // 2; MAX over the window inside the input, AVE = sum / the window's
    area clipped to the padded input."""
    n, c, h, w = x.shape
    levels = []
    for level in range(height):
        bins = 2**level
        kh, kw = math.ceil(h / bins), math.ceil(w / bins)
        ph, pw = (kh * bins - h + 1) // 2, (kw * bins - w + 1) // 2
        out = np.empty((n, c, bins, bins))
        for p in range(bins):
            for q in range(bins):
                top, left = p * kh - ph, q * kw - pw
                bottom, right = min(top + kh, h + ph), min(left + kw, w + pw)
                window = x[:, :, max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
                if method == "MAX":
                    out[:, :, p, q] = window.max(axis=(2, 3))
                else:
                    out[:, :, p, q] = window.sum(axis=(2, 3)) / ((bottom - top) * (right - left))
        levels.append(out.reshape(n, -1))
    return levels[0].reshape(n, c, 1, 1) if height == 1 else np.concatenate(levels, axis=1)


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values 0.05 apart in random order: no ties, and a step of 1e-3 never swaps a maximum."""
    return rng.permutation(math.prod(shape)).reshape(shape) * 0.05


# (pyramid height, input shape): square, padded rows and columns, odd sizes, a single level
SETTINGS = [(3, (2, 3, 4, 4)), (2, (1, 2, 5, 7)), (3, (1, 2, 6, 7)), (3, (1, 1, 9, 9)), (1, (2, 3, 3, 5))]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("height, shape", SETTINGS)
def test_forward_matches_loops(method, height, shape, rng):
    x = rng.standard_normal(shape)
    _, top = run_layer(make_layer(spp(height, method)), [x])
    bins = sum(4**level for level in range(height))
    assert top[0].shape == ((shape[0], shape[1], 1, 1) if height == 1 else (shape[0], shape[1] * bins))
    np.testing.assert_allclose(top[0].data, reference(x, height, method), atol=1e-12)


def test_levels_by_hand(rng):
    """4x4 input, 3 levels: the global maximum, the maxima of the four 2x2 quadrants, every pixel."""
    x = rng.standard_normal((1, 1, 4, 4))
    _, top = run_layer(make_layer(spp(3)), [x])
    quadrants = x[0, 0].reshape(2, 2, 2, 2).max(axis=(1, 3)).ravel()
    np.testing.assert_array_equal(top[0].data[0], np.concatenate([[x.max()], quadrants, x.ravel()]))


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("height, shape", SETTINGS[1:])
def test_gradient(method, height, shape, rng):
    check_gradient(spp(height, method), [distinct(shape, rng)])


def test_any_input_size_gives_the_same_length(rng):
    layer = make_layer(spp(3, "AVE"), dtype=np.float32)
    bottom, top = run_layer(layer, [rng.standard_normal((2, 3, 6, 7)).astype(np.float32)])
    assert top[0].shape == (2, 63) and top[0].data.dtype == np.float32
    bottom[0].reshape((2, 3, 9, 12))
    bottom[0].data[...] = rng.standard_normal((2, 3, 9, 12))
    layer.reshape(bottom, top)
    layer.forward(bottom, top)
    assert top[0].shape == (2, 63)
    np.testing.assert_allclose(top[0].data, reference(bottom[0].data.astype(float), 3, "AVE"), rtol=1e-5)


@pytest.mark.parametrize("config, shape, message", [
    (spp(4), (1, 1, 13, 13), r"input 13x13 is too small for pyramid level 3 \(8x8 bins\)"),
    (spp(3), (1, 1, 8, 5), r"input 8x5 is too small for pyramid level 2 \(4x4 bins\)"),
    (spp(2**31 - 1), (1, 1, 4, 4), r"input 4x4 is too small for pyramid level 3 \(8x8 bins\)"),
    ('type: "SPP" spp_param { }', (1, 1, 4, 4), "pyramid_height must be at least 1"),
    (spp(2, "STOCHASTIC"), (1, 1, 4, 4), "STOCHASTIC is not implemented"),
    (spp(2), (2, 3, 4), r"takes \(N, C, H, W\) input"),
])
def test_errors(config, shape, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(config), [np.zeros(shape)])
