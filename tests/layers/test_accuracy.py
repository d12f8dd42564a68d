import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import make_layer, run_layer


def naive_hits(scores, labels, top_k, axis=1, ignore=None):
    """Per item (label, correct): correct when fewer than top_k other classes score >= the label's score."""
    moved = np.moveaxis(scores, axis, -1)
    out = []
    for row, label in zip(moved.reshape(-1, moved.shape[-1]), labels.ravel(), strict=True):
        if ignore is not None and label == ignore:
            continue
        label = int(label)
        rivals = sum(1 for k, v in enumerate(row) if k != label and v >= row[label])
        out.append((label, rivals < top_k))
    return out


def accuracy(config, scores, labels, num_tops=1):
    _, top = run_layer(make_layer(f'type: "Accuracy" {config}', phase=1), [scores, labels], num_tops)
    return top


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_top_k(rng, top_k):
    x, labels = rng.normal(size=(20, 5)), rng.integers(0, 5, 20).astype(float)
    hits = naive_hits(x, labels, top_k)
    top = accuracy(f"accuracy_param {{ top_k: {top_k} }}", x, labels)
    assert float(top[0].data) == pytest.approx(sum(c for _, c in hits) / 20)


def test_ties_count_against_the_label():
    # Caffe: every other class scoring >= the label's score is "better"; constant scores are never right
    x = np.zeros((3, 4))
    assert float(accuracy("", x, np.array([0.0, 1, 3]))[0].data) == 0.0
    x = np.array([[1.0, 1.0, 0.0]])
    assert float(accuracy("", x, np.array([0.0]))[0].data) == 0.0
    assert float(accuracy("accuracy_param { top_k: 2 }", x, np.array([0.0]))[0].data) == 1.0


def test_ignore_label_and_spatial_axis(rng):
    x = rng.normal(size=(2, 4, 3))
    labels = np.array([[0.0, 3, 7], [2, 7, 1]])
    hits = naive_hits(x, labels, 1, ignore=7)
    top = accuracy("accuracy_param { ignore_label: 7 }", x, labels)
    assert float(top[0].data) == pytest.approx(sum(c for _, c in hits) / 4)


def test_axis(rng):
    x = rng.normal(size=(3, 2, 4))
    labels = rng.integers(0, 4, size=(3, 2)).astype(float)
    hits = naive_hits(x, labels, 2, axis=2)
    top = accuracy("accuracy_param { axis: 2 top_k: 2 }", x, labels)
    assert float(top[0].data) == pytest.approx(sum(c for _, c in hits) / 6)


def test_per_class_second_top(rng):
    x = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, 30).astype(float)  # class 3 never appears
    labels[:2] = -1
    hits = naive_hits(x, labels, 1, ignore=-1)
    top = accuracy("accuracy_param { ignore_label: -1 }", x, labels, num_tops=2)
    for k in range(4):
        mine = [c for label, c in hits if label == k]
        assert top[1].data[k] == pytest.approx(sum(mine) / len(mine) if mine else 0.0)
    assert top[1].shape == (4,)


def test_everything_ignored_gives_zero(rng):
    top = accuracy("accuracy_param { ignore_label: 0 }", rng.normal(size=(3, 2)), np.zeros(3))
    assert float(top[0].data) == 0.0


def test_label_out_of_range_is_a_data_error(rng):
    with pytest.raises(DataError, match=r"layer 'accuracy'.*label 5 is outside 0\.\.4 \(5 classes\)"):
        accuracy("", rng.normal(size=(3, 5)), np.array([0.0, 5, 1]))


def test_top_k_beyond_classes_is_a_config_error(rng):
    with pytest.raises(ConfigError, match="top_k 6 exceeds the 5 classes"):
        accuracy("accuracy_param { top_k: 6 }", rng.normal(size=(3, 5)), np.zeros(3))


def test_has_no_backward(rng):
    layer = make_layer('type: "Accuracy"')
    assert not layer.has_backward
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3)), np.zeros(2)])
    layer.backward(top, [False, False], bottom)
