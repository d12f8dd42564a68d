import math

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer

from .loss_weight import check_loss_weight

LAYER = 'type: "SoftmaxWithLoss"'


def naive_nll(scores, labels, axis=1, ignore=None):
    """(summed -log softmax[label] over the items not ignored, their count), item by item."""
    moved = np.moveaxis(scores, axis, -1)
    items = moved.reshape(-1, moved.shape[-1])
    total, count = 0.0, 0
    for row, label in zip(items, labels.ravel(), strict=True):
        if ignore is not None and label == ignore:
            continue
        total -= math.log(math.exp(row[int(label)]) / sum(math.exp(v) for v in row))
        count += 1
    return total, count


@pytest.fixture
def spatial(rng):
    """Scores (N=2, C=4, H=3) and labels (2, 3), two of them ignored (-1)."""
    labels = np.array([[0.0, 3, -1], [2, -1, 1]])
    return rng.normal(size=(2, 4, 3)), labels


def test_forward_default_is_mean_over_items(rng):
    x, labels = rng.normal(size=(5, 3)), np.array([0.0, 2, 1, 1, 0])
    _, top = run_layer(make_layer(LAYER), [x, labels])
    total, count = naive_nll(x, labels)
    assert float(top[0].data) == pytest.approx(total / count, rel=1e-12)


@pytest.mark.parametrize(("mode", "divisor"), [("FULL", 6), ("VALID", 4), ("BATCH_SIZE", 2), ("NONE", 1)])
def test_ignore_label_with_each_normalization(spatial, mode, divisor):
    x, labels = spatial
    config = f"{LAYER} loss_param {{ ignore_label: -1 normalization: {mode} }}"
    layer = make_layer(config)
    bottom, top = run_layer(layer, [x, labels])
    total, count = naive_nll(x, labels, ignore=-1)
    assert count == 4
    assert float(top[0].data) == pytest.approx(total / divisor, rel=1e-12)
    top[0].diff = 1
    layer.backward(top, [True, False], bottom)
    assert not bottom[0].diff[0, :, 2].any() and not bottom[0].diff[1, :, 1].any()
    check_gradient(config, [x, labels], check_bottoms=[0])


def test_legacy_normalize_false_is_batch_size(spatial):
    x, labels = spatial
    _, top = run_layer(make_layer(f"{LAYER} loss_param {{ ignore_label: -1 normalize: false }}"), [x, labels])
    assert float(top[0].data) == pytest.approx(naive_nll(x, labels, ignore=-1)[0] / 2, rel=1e-12)


def test_axis(rng):
    x = rng.normal(size=(2, 3, 4))  # classes on the last axis
    labels = np.array([[0.0, 3, 1], [2, 2, 0]])
    config = f"{LAYER} softmax_param {{ axis: -1 }}"
    _, top = run_layer(make_layer(config), [x, labels])
    total, count = naive_nll(x, labels, axis=2)
    assert float(top[0].data) == pytest.approx(total / count, rel=1e-12)
    check_gradient(config, [x, labels], check_bottoms=[0])


def test_second_top_is_the_softmax_and_sends_no_gradient(spatial):
    x, labels = spatial
    layer = make_layer(f"{LAYER} loss_param {{ ignore_label: -1 }}")
    bottom, top = run_layer(layer, [x, labels], num_tops=2)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(top[1].data, expected, rtol=1e-12)
    top[0].diff = 1
    top[1].diff = np.ones_like(expected)
    layer.backward(top, [True, False], bottom)
    with_prob_diff = bottom[0].diff.copy()
    top[1].diff = 0
    layer.backward(top, [True, False], bottom)
    np.testing.assert_array_equal(with_prob_diff, bottom[0].diff)  # Caffe ignores top 1's diff


def test_extreme_scores_give_a_finite_loss():
    x = np.array([[1000.0, -1000.0]])
    _, top = run_layer(make_layer(LAYER, dtype=np.float32), [x, np.array([1.0])])
    assert np.isfinite(float(top[0].data)) and float(top[0].data) > 80


def test_label_out_of_range_is_a_data_error(spatial):
    x, labels = spatial
    labels[1, 2] = 4
    with pytest.raises(DataError, match=r"layer 'softmaxwithloss'.*label 4 is outside 0\.\.3 \(4 classes\)"):
        run_layer(make_layer(f"{LAYER} loss_param {{ ignore_label: -1 }}"), [x, labels])
    labels[1, 2] = -1
    # -1 is only skipped when it is the ignore_label
    with pytest.raises(DataError, match="label -1 is outside"):
        run_layer(make_layer(LAYER), [x, labels])


def test_non_integer_label_is_a_data_error(rng):
    with pytest.raises(DataError, match="label 0.5 is not an integer"):
        run_layer(make_layer(LAYER), [rng.normal(size=(2, 3)), np.array([0.5, 1])])


def test_label_count_must_match(rng):
    with pytest.raises(ConfigError, match="3 labels for 2 predictions"):
        run_layer(make_layer(LAYER), [rng.normal(size=(2, 3)), np.array([0.0, 1, 2])])


def test_no_gradient_to_labels(rng):
    layer = make_layer(LAYER)
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3)), np.array([0.0, 1])])
    with pytest.raises(ConfigError, match="cannot back-propagate to the labels"):
        layer.backward(top, [True, True], bottom)


def test_loss_weight_scales_loss_and_gradients(tmp_path, spatial):
    x, labels = spatial
    check_loss_weight(tmp_path, f"{LAYER} loss_param {{ ignore_label: -1 }}", [x, labels], 2.5)
