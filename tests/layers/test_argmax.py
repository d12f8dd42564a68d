"""ArgMax: indices/values against sorted() per item or along an axis, ties to the larger index."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import make_layer, run_layer


def top_k(values, k):
    """(index, value) pairs of the k largest, as Caffe orders pairs: by value, then by larger index."""
    return sorted(((v, i) for i, v in enumerate(values)), reverse=True)[:k]


@pytest.mark.parametrize(("k", "out_max_val"), [(1, False), (3, False), (2, True)])
def test_per_item(rng, k, out_max_val):
    x = rng.normal(size=(3, 2, 2, 2))
    flag = str(out_max_val).lower()
    _, top = run_layer(make_layer(f'type: "ArgMax" argmax_param {{ top_k: {k} out_max_val: {flag} }}'), [x])
    assert top[0].shape == (3, 2 if out_max_val else 1, k, 1)
    for n in range(3):
        best = top_k(x[n].ravel(), k)
        np.testing.assert_array_equal(top[0].data[n, 0, :, 0], [i for _, i in best])
        if out_max_val:
            np.testing.assert_array_equal(top[0].data[n, 1, :, 0], [v for v, _ in best])


@pytest.mark.parametrize("out_max_val", [False, True])
def test_along_an_axis(rng, out_max_val):
    x = rng.normal(size=(2, 5, 3))
    flag = str(out_max_val).lower()
    layer = make_layer(f'type: "ArgMax" argmax_param {{ axis: 1 top_k: 2 out_max_val: {flag} }}')
    _, top = run_layer(layer, [x])
    assert top[0].shape == (2, 2, 3)
    for n in range(2):
        for w in range(3):
            best = top_k(x[n, :, w], 2)
            np.testing.assert_array_equal(top[0].data[n, :, w], [v if out_max_val else i for v, i in best])


def test_two_axis_input_and_ties_go_to_the_larger_index():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    _, top = run_layer(make_layer('type: "ArgMax" argmax_param { top_k: 2 }'), [x])
    assert top[0].shape == (2, 1, 2)
    np.testing.assert_array_equal(top[0].data[:, 0], [[2, 1], [3, 2]])


def test_no_backward_and_bad_top_k():
    assert not make_layer('type: "ArgMax"').has_backward
    with pytest.raises(ConfigError, match="top_k 5"):
        run_layer(make_layer('type: "ArgMax" argmax_param { top_k: 5 axis: 1 }'), [np.ones((2, 4))])
