import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer

PARAMS = ["", "normalize_variance: false", "across_channels: true",
          "across_channels: true normalize_variance: false", "eps: 0.25"]


def naive_mvn(x, normalize_variance=True, across_channels=False, eps=1e-9):
    """Each (n, c) group (or each n) minus its mean, divided by its standard deviation + eps, in loops."""
    y = np.empty_like(x)
    groups = [(n,) for n in range(x.shape[0])] if across_channels else list(np.ndindex(x.shape[:2]))
    for g in groups:
        values = x[g].ravel()
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        y[g] = (x[g] - mean) / (std + eps) if normalize_variance else x[g] - mean
    return y


def options(param):
    return {"normalize_variance": "normalize_variance: false" not in param,
            "across_channels": "across_channels: true" in param, "eps": 0.25 if "eps" in param else 1e-9}


@pytest.mark.parametrize("param", PARAMS)
def test_forward(rng, param):
    x = rng.normal(2, 3, size=(2, 3, 2, 2))
    _, top = run_layer(make_layer(f'type: "MVN" mvn_param {{ {param} }}'), [x])
    np.testing.assert_allclose(top[0].data, naive_mvn(x, **options(param)), rtol=1e-10)


@pytest.mark.parametrize("param", PARAMS[:4])
def test_gradient(rng, param):
    check_gradient(f'type: "MVN" mvn_param {{ {param} }}', [rng.normal(size=(2, 3, 2, 2))])


def test_gradient_in_place(rng):
    check_gradient('type: "MVN"', [rng.normal(size=(2, 2, 3))], in_place=True)


def test_backward_is_caffes_formula_with_eps(rng):
    # Caffe's backward, (dy - mean(dy) - y mean(dy y)) / (std + eps), ignores eps's effect on d std / dx
    x, dy = rng.normal(size=(1, 1, 6)), rng.normal(size=(1, 1, 6))
    layer = make_layer('type: "MVN" mvn_param { eps: 0.25 }')
    bottom, top = run_layer(layer, [x])
    top[0].diff = dy
    layer.backward(top, [True], bottom)
    y = top[0].data
    expected = (dy - dy.mean() - y * (dy * y).mean()) / (x.std() + 0.25)
    np.testing.assert_allclose(bottom[0].diff, expected, rtol=1e-12)
