"""Pooling: forward against Caffe's loops, the argmax top, gradient checks, stochastic pooling, errors."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.ops.pool import FLT_MIN, PoolGeometry
from protonet.proto import pb
from tests.test_ops_pool import naive_ave, naive_max, window_bounds


def pool(params: str) -> str:
    return f'type: "Pooling" pooling_param {{ {params} }}'


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values 0.05 apart in random order: no ties, and a step of 1e-3 never swaps a maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.05


# (pooling_param, input shape, geometry for the loops)
SETTINGS = [
    ("kernel_size: 2 stride: 2", (2, 2, 4, 4), PoolGeometry((2, 2), (2, 2))),
    ("kernel_size: 3 stride: 2", (1, 2, 6, 6), PoolGeometry((3, 3), (2, 2))),  # ceil: 3 windows, not 2
    ("kernel_size: 2 stride: 2", (1, 2, 5, 5), PoolGeometry((2, 2), (2, 2))),  # ceil: a clipped last window
    ("kernel_size: 3 stride: 2 pad: 1", (1, 2, 5, 4), PoolGeometry((3, 3), (2, 2), (1, 1))),
    ("kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0", (1, 2, 5, 4),
     PoolGeometry((3, 2), (2, 1), (1, 0))),
    ("kernel_size: 3 stride: 2 round_mode: FLOOR", (1, 2, 6, 6), PoolGeometry((3, 3), (2, 2), ceil=False)),
    ("kernel_size: 3 stride: 2 ceil_mode: false", (1, 2, 6, 6), PoolGeometry((3, 3), (2, 2), ceil=False)),
    ("global_pooling: true", (2, 3, 3, 4), PoolGeometry((3, 4))),
]


@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_max_forward_and_mask_match_loops(params, shape, geo, rng):
    x = rng.integers(0, 3, shape).astype(float)  # ties: Caffe keeps the first maximum
    _, top = run_layer(make_layer(pool(f"pool: MAX {params}")), [x], num_tops=2)
    expected, mask = naive_max(x, geo)
    np.testing.assert_array_equal(top[0].data, expected)
    np.testing.assert_array_equal(top[1].data, mask)


@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_ave_forward_matches_loops(params, shape, geo, rng):
    x = rng.standard_normal(shape)
    _, top = run_layer(make_layer(pool(f"pool: AVE {params}")), [x])
    np.testing.assert_allclose(top[0].data, naive_ave(x, geo), atol=1e-12)


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("params, shape, geo", SETTINGS)
def test_gradient(method, params, shape, geo, rng):
    check_gradient(pool(f"pool: {method} {params}"), [distinct(shape, rng)])


@pytest.mark.parametrize("layout", [(True, True), (False, True), (True, False)])  # channels-last (bottom, top)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("params, shape, geo", [s for s in SETTINGS if "global" not in s[0]])
def test_channels_last_blobs_give_the_same_results(method, params, shape, geo, layout, rng):
    layer = make_layer(pool(f"pool: {method} {params}"))
    assert layer.supports_channels_last()
    x = rng.integers(0, 3, shape).astype(float)  # ties: the first maximum must win in either layout
    _, top = run_layer(layer, [x], channels_last=layout)
    expected = naive_max(x, geo)[0] if method == "MAX" else naive_ave(x, geo)
    np.testing.assert_allclose(top[0].data, expected, atol=1e-12)
    check_gradient(pool(f"pool: {method} {params}"), [distinct(shape, rng)], channels_last=layout)


@pytest.mark.parametrize("params", ["pool: STOCHASTIC kernel_size: 2", "global_pooling: true"])
def test_layouts_other_than_caffes_are_not_offered_where_planes_are_read_flat(params):
    assert not make_layer(pool(params)).supports_channels_last()


def test_gradient_with_the_mask_top(rng):
    x = distinct((1, 2, 5, 5), rng)
    check_gradient(pool("pool: MAX kernel_size: 3 stride: 2 pad: 1"), [x], num_tops=2)


def test_max_backward_on_ties_feeds_the_first_maximum_only():
    layer = make_layer(pool("pool: MAX kernel_size: 2 stride: 2"))
    bottom, top = run_layer(layer, [np.zeros((1, 1, 4, 4))])  # a black image: every window is a tie
    top[0].diff = np.ones(top[0].shape)
    layer.backward(top, [True], bottom)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(bottom[0].diff[0, 0], expected)


def test_stochastic_test_phase_is_the_weighted_average(rng):
    x = rng.uniform(0, 1, (1, 2, 5, 5))
    geo = PoolGeometry((3, 3), (2, 2))
    _, top = run_layer(make_layer(pool("pool: STOCHASTIC kernel_size: 3 stride: 2"), phase=pb.TEST), [x])
    for p, q, hs, he, ws, we in window_bounds(geo, x.shape):
        window = x[:, :, hs:he, ws:we]
        np.testing.assert_allclose(top[0].data[:, :, p, q],
                                   (window ** 2).sum(axis=(2, 3)) / (FLT_MIN + window.sum(axis=(2, 3))))


def test_stochastic_training_picks_window_elements_and_checks_gradient(rng):
    x = distinct((1, 2, 5, 5), rng) + 0.05
    layer = make_layer(pool("pool: STOCHASTIC kernel_size: 2 stride: 2"))
    _, top = run_layer(layer, [x])
    for p, q, hs, he, ws, we in window_bounds(PoolGeometry((2, 2), (2, 2)), x.shape):
        for c in range(2):
            assert top[0].data[0, c, p, q] in x[0, c, hs:he, ws:we]
    check_gradient(pool("pool: STOCHASTIC kernel_size: 2 stride: 2"), [x])


def test_stochastic_has_no_test_phase_gradient(rng):
    layer = make_layer(pool("pool: STOCHASTIC kernel_size: 2"), phase=pb.TEST)
    bottom, top = run_layer(layer, [rng.uniform(0, 1, (1, 1, 3, 3))])
    with pytest.raises(ConfigError, match="no gradient in the TEST phase"):
        layer.backward(top, [True], bottom)


def test_float32_stays_float32(rng):
    for method in ("MAX", "AVE"):
        layer = make_layer(pool(f"pool: {method} kernel_size: 3 stride: 2 pad: 1"), dtype=np.float32)
        _, top = run_layer(layer, [rng.standard_normal((2, 2, 6, 6))])
        assert top[0].data.dtype == np.float32


@pytest.mark.parametrize("params, shape, message", [
    ("pool: MAX", (1, 1, 4, 4), "needs kernel_size"),
    ("kernel_size: 2 kernel_h: 2 kernel_w: 2", (1, 1, 4, 4), "give kernel_size, or both"),
    ("kernel_h: 2", (1, 1, 4, 4), "both kernel_h and kernel_w"),
    ("global_pooling: true kernel_size: 2", (1, 1, 4, 4), "takes the kernel from the input"),
    ("global_pooling: true stride: 2", (1, 1, 4, 4), "needs pad 0 and stride 1"),
    ("kernel_size: 2 pad: 2", (1, 1, 4, 4), "smaller than the kernel"),
    ("pool: STOCHASTIC kernel_size: 3 pad: 1", (1, 1, 4, 4), "no padding"),
    ("kernel_size: 2 stride: 0", (1, 1, 4, 4), "must be positive"),
    ("kernel_size: 2", (1, 4, 4), r"\(N, C, H, W\)"),
    ("kernel_size: 5", (1, 1, 4, 4), "smaller than"),
    ("kernel_size: 2 round_mode: FLOOR ceil_mode: true", (1, 1, 4, 4), "contradicts round_mode"),
])
def test_user_errors(params, shape, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(pool(params)), [np.zeros(shape)])


def test_only_max_has_a_mask_top():
    with pytest.raises(ConfigError, match="only MAX pooling has a second top"):
        run_layer(make_layer(pool("pool: AVE kernel_size: 2")), [np.zeros((1, 1, 4, 4))], num_tops=2)
