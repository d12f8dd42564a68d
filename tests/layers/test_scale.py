import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.net import Net

FILLERS = 'filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 }'


def naive_scale(x, s, axis, bias=None):
    """y[idx] = x[idx] * s[idx[axis:axis + s.ndim]] (+ b[...]), element by element."""
    y = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        key = idx[axis:axis + s.ndim]
        y[idx] = x[idx] * s[key] + (bias[key] if bias is not None else 0)
    return y


def test_default_scale_is_one_and_bias_zero(rng):
    x = rng.normal(size=(2, 3, 2))
    layer = make_layer('type: "Scale" scale_param { bias_term: true }')
    _, top = run_layer(layer, [x])
    np.testing.assert_array_equal(top[0].data, x)
    assert [b.shape for b in layer.blobs] == [(3,), (3,)]


@pytest.mark.parametrize(("axis", "num_axes", "shape"), [(1, 1, (3,)), (0, 2, (2, 3)), (-2, -1, (3, 4)),
                                                         (2, 0, ()), (1, 2, (3, 4))])
def test_learned_scale_shapes_and_forward(rng, axis, num_axes, shape):
    x = rng.normal(size=(2, 3, 4))
    layer = make_layer(f'type: "Scale" scale_param {{ axis: {axis} num_axes: {num_axes} bias_term: true '
                       f'{FILLERS} }}')
    _, top = run_layer(layer, [x])
    s, b = layer.blobs[0].data, layer.blobs[1].data
    assert s.shape == b.shape == shape
    start = 0 if not shape else axis % 3
    np.testing.assert_allclose(top[0].data, naive_scale(x, s, start, b), rtol=1e-12)


@pytest.mark.parametrize(("axis", "scale_shape"), [(1, (3,)), (0, (2, 3)), (1, (3, 4)), (0, ())])
def test_scale_from_second_bottom(rng, axis, scale_shape):
    x, s = rng.normal(size=(2, 3, 4)), rng.normal(size=scale_shape)
    layer = make_layer(f'type: "Scale" scale_param {{ axis: {axis} }}')
    _, top = run_layer(layer, [x, s])
    assert layer.blobs == []
    np.testing.assert_allclose(top[0].data, naive_scale(x, s, axis if scale_shape else 0), rtol=1e-12)


@pytest.mark.parametrize("param", [
    f"bias_term: true {FILLERS}",
    f"axis: 0 num_axes: 2 bias_term: true {FILLERS}",
    'num_axes: -1 filler { type: "uniform" min: -1 max: 1 }',
    f"num_axes: 0 bias_term: true {FILLERS}",
])
def test_gradient_learned(rng, param):
    check_gradient(f'type: "Scale" scale_param {{ {param} }}', [rng.normal(size=(2, 3, 2))])


@pytest.mark.parametrize(("param", "scale_shape"), [("", (3,)), ("axis: 0", (2, 3)),
                                                    (f"bias_term: true {FILLERS}", (3, 2)), ("axis: 2", (2,)),
                                                    ("", ())])
def test_gradient_with_second_bottom(rng, param, scale_shape):
    check_gradient(f'type: "Scale" scale_param {{ {param} }}',
                   [rng.normal(size=(2, 3, 2)), rng.normal(size=scale_shape)])


def test_gradient_in_place(rng):
    check_gradient(f'type: "Scale" scale_param {{ bias_term: true {FILLERS} }}', [rng.normal(size=(2, 3, 2))],
                   in_place=True)
    check_gradient('type: "Scale"', [rng.normal(size=(2, 3, 2)), rng.normal(size=(3,))], in_place=True)


def test_param_gradients_accumulate_and_bottom_gradients_overwrite(rng):
    layer = make_layer(f'type: "Scale" scale_param {{ bias_term: true {FILLERS} }}')
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3))])
    top[0].diff = rng.normal(size=(2, 3))
    layer.backward(top, [True], bottom)
    once = [b.diff.copy() for b in layer.blobs]
    layer.backward(top, [True], bottom)
    for blob, first in zip(layer.blobs, once, strict=True):
        np.testing.assert_allclose(blob.diff, 2 * first)
    layer = make_layer('type: "Scale"')
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3)), rng.normal(size=(3,))])
    top[0].diff = rng.normal(size=(2, 3))
    layer.backward(top, [True, True], bottom)
    first = bottom[1].diff.copy()
    layer.backward(top, [True, True], bottom)
    np.testing.assert_array_equal(bottom[1].diff, first)


def test_shape_errors(rng):
    with pytest.raises(ConfigError, match="extend past"):
        run_layer(make_layer('type: "Scale" scale_param { axis: 2 num_axes: 2 }'),
                  [rng.normal(size=(2, 3, 4))])
    with pytest.raises(ConfigError, match=r"operand of shape \[4\] does not match input \[2, 3, 4\] from"):
        run_layer(make_layer('type: "Scale"'), [rng.normal(size=(2, 3, 4)), rng.normal(size=(4,))])
    with pytest.raises(ConfigError, match="num_axes -2 is invalid"):
        run_layer(make_layer('type: "Scale" scale_param { num_axes: -2 }'), [rng.normal(size=(2, 3))])


def test_batch_norm_then_scale_in_place_in_a_net(tmp_path, rng):
    """The ResNet pattern: BatchNorm and Scale both in place on the same blob; checked against the formula."""
    (tmp_path / "net.prototxt").write_text("""
        force_backward: true
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 2 dim: 3 } } }
        layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }
        layer { name: "sc" type: "Scale" bottom: "data" top: "data" scale_param { bias_term: true } }
    """)
    net = Net(tmp_path / "net.prototxt", phase="TRAIN", dtype=np.float64)
    net.params["sc"][0].data = [2.0, -1.0]
    net.params["sc"][1].data = [0.5, 0.0]
    x = rng.normal(size=(4, 2, 3))
    out = net.forward(data=x)["data"]
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    normed = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(out, normed * np.array([2.0, -1.0])[:, None] + np.array([0.5, 0])[:, None])
    dy = rng.normal(size=x.shape)
    dx = net.backward(data=dy)["data"]
    np.testing.assert_allclose(net.params["sc"][0].diff, (dy * normed).sum(axis=(0, 2)))
    np.testing.assert_allclose(net.params["sc"][1].diff, dy.sum(axis=(0, 2)))
    g = dy * np.array([2.0, -1.0])[:, None]
    expected = (g - g.mean(axis=(0, 2), keepdims=True)
                - (g * normed).mean(axis=(0, 2), keepdims=True) * normed) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(dx, expected, rtol=1e-9, atol=1e-12)
