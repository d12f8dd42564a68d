"""Im2col: windows unfolded into channels against loops, col2im gradient, errors."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


def im2col(params: str) -> str:
    return f'type: "Im2col" convolution_param {{ {params} }}'


def reference(x: np.ndarray, kernel, stride, pad, dilation) -> np.ndarray:
    """y[n, c*kh*kw + i*kw + j, p, q] = x[n, c, p*sh - ph + i*dh, q*sw - pw + j*dw], 0 outside x."""
    (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = x.shape, kernel, stride, pad, dilation
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    y = np.zeros((n, c * kh * kw, oh, ow))
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for p in range(oh):
                    for q in range(ow):
                        r, s = p * sh - ph + i * dh, q * sw - pw + j * dw
                        if 0 <= r < h and 0 <= s < w:
                            y[:, ch * kh * kw + i * kw + j, p, q] = x[:, ch, r, s]
    return y


# (convolution_param, input shape, kernel, stride, pad, dilation)
SETTINGS = [
    ("kernel_size: 2", (2, 3, 4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),
    ("kernel_size: 3 stride: 2 pad: 1", (1, 2, 5, 6), (3, 3), (2, 2), (1, 1), (1, 1)),
    ("kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 0", (1, 2, 4, 5), (2, 3), (1, 2),
     (1, 0), (1, 1)),
    ("kernel_size: 2 dilation: 2 pad: 1", (1, 1, 5, 5), (2, 2), (1, 1), (1, 1), (2, 2)),
]


@pytest.mark.parametrize("params, shape, kernel, stride, pad, dilation", SETTINGS)
def test_forward_matches_loops(params, shape, kernel, stride, pad, dilation, rng):
    x = rng.standard_normal(shape)
    _, top = run_layer(make_layer(im2col(params)), [x])
    np.testing.assert_array_equal(top[0].data, reference(x, kernel, stride, pad, dilation))


@pytest.mark.parametrize("params, shape, kernel, stride, pad, dilation", SETTINGS)
def test_gradient(params, shape, kernel, stride, pad, dilation, rng):
    check_gradient(im2col(params), [rng.standard_normal(shape)])


def test_float32_stays_float32(rng):
    _, top = run_layer(make_layer(im2col("kernel_size: 2"), dtype=np.float32),
                       [rng.standard_normal((1, 2, 3, 3)).astype(np.float32)])
    assert top[0].data.dtype == np.float32 and top[0].shape == (1, 8, 2, 2)


@pytest.mark.parametrize("params, shape, message", [
    ("kernel_size: 5", (1, 1, 3, 3), r"input 3x3 gives an empty output \(-1x-1\)"),
    ("stride: 1", (1, 1, 3, 3), "kernel_size must be given once or once per spatial axis"),
    ("kernel_size: 2", (1, 3, 3), r"only 2-D im2col over \(N, C, H, W\)"),
])
def test_errors(params, shape, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(im2col(params)), [np.zeros(shape)])
