import math

import numpy as np
import pytest

from protonet.errors import ConfigError, DataError
from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.layers.base import LayerContext
from protonet.layers.infogain_loss import InfogainLoss
from protonet.proto import pb
from protonet.weights import array_to_blobproto

from .loss_weight import check_loss_weight

LAYER = 'type: "InfogainLoss"'


def naive_infogain(scores, labels, h, axis=1, ignore=None):
    """(sum over items of -sum_k H[label, k] log softmax_k, number of items counted), item by item."""
    moved = np.moveaxis(scores, axis, -1)
    items = moved.reshape(-1, moved.shape[-1])
    total, count = 0.0, 0
    for row, label in zip(items, labels.ravel(), strict=True):
        if ignore is not None and label == ignore:
            continue
        exps = [math.exp(v) for v in row]
        for k, e in enumerate(exps):
            total -= float(h[int(label), k]) * math.log(e / sum(exps))
        count += 1
    return total, count


@pytest.fixture
def data(rng):
    h = rng.uniform(0, 1, size=(4, 4)) + np.eye(4)
    return rng.normal(size=(3, 4)), np.array([0.0, 3, 2]), h


def write_matrix(path, h):
    blob = array_to_blobproto(h.reshape(1, 1, *h.shape).astype(np.float32))  # as Caffe writes them
    path.write_bytes(blob.SerializeToString())
    return path


def test_forward_with_matrix_bottom(data):
    x, labels, h = data
    _, top = run_layer(make_layer(LAYER), [x, labels, h])
    total, count = naive_infogain(x, labels, h)
    assert float(top[0].data) == pytest.approx(total / count, rel=1e-12)


def test_identity_matrix_is_softmax_with_loss(data):
    x, labels, _ = data
    _, info = run_layer(make_layer(LAYER), [x, labels, np.eye(4)])
    _, softmax = run_layer(make_layer('type: "SoftmaxWithLoss"'), [x, labels])
    assert float(info[0].data) == pytest.approx(float(softmax[0].data), rel=1e-12)


def test_matrix_from_binaryproto_source(tmp_path, data):
    x, labels, h = data
    path = write_matrix(tmp_path / "h.binaryproto", h)
    _, top = run_layer(make_layer(f'{LAYER} infogain_loss_param {{ source: "{path}" }}'), [x, labels])
    total, count = naive_infogain(x, labels, h.astype(np.float32))
    assert float(top[0].data) == pytest.approx(total / count, rel=1e-12)


def test_relative_source_is_found_from_the_net_directory(tmp_path, data):
    x, labels, h = data
    write_matrix(tmp_path / "h.binaryproto", h)
    param = pb.LayerParameter(name="info", type="InfogainLoss")
    param.infogain_loss_param.source = "h.binaryproto"
    layer = InfogainLoss(param, LayerContext(dtype=np.dtype(np.float64), base_dir=tmp_path))
    _, top = run_layer(layer, [x, labels])
    total, count = naive_infogain(x, labels, h.astype(np.float32))
    assert float(top[0].data) == pytest.approx(total / count, rel=1e-12)


def test_axis_and_ignore_label_with_normalizations(rng):
    x = rng.normal(size=(2, 3, 4))  # classes on axis 2
    labels = np.array([[0.0, 3, -1], [2, -1, 1]])
    h = rng.uniform(size=(4, 4))
    total, count = naive_infogain(x, labels, h, axis=2, ignore=-1)
    # outer = 2 * 3 items before the class axis, inner = 1 after it
    for mode, divisor in [("VALID", count), ("FULL", 6), ("BATCH_SIZE", 6), ("NONE", 1)]:
        config = (f"{LAYER} infogain_loss_param {{ axis: 2 }} "
                  f"loss_param {{ ignore_label: -1 normalization: {mode} }}")
        _, top = run_layer(make_layer(config), [x, labels, h])
        assert float(top[0].data) == pytest.approx(total / divisor, rel=1e-12), mode


def test_second_top_is_the_softmax(data):
    x, labels, h = data
    _, top = run_layer(make_layer(LAYER), [x, labels, h], num_tops=2)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(top[1].data, expected, rtol=1e-12)


@pytest.mark.parametrize("param", ["", "loss_param { normalization: NONE }",
                                   "loss_param { ignore_label: 1 normalization: BATCH_SIZE }"])
def test_gradient(data, param):
    x, labels, h = data
    labels[2] = 1
    check_gradient(f"{LAYER} {param}", [x, labels, h], check_bottoms=[0])


def test_gradient_spatial_axis_1(rng):
    x = rng.normal(size=(2, 3, 2, 2))
    labels = rng.integers(0, 3, size=(2, 1, 2, 2)).astype(float)
    h = rng.uniform(size=(3, 3))
    check_gradient(LAYER, [x, labels, h], check_bottoms=[0])


def test_gradient_from_source(tmp_path, data):
    x, labels, h = data
    path = write_matrix(tmp_path / "h.binaryproto", h)
    check_gradient(f'{LAYER} infogain_loss_param {{ source: "{path}" }}', [x, labels], check_bottoms=[0])


def test_label_out_of_range_is_a_data_error(data):
    x, _, h = data
    with pytest.raises(DataError, match=r"layer 'infogainloss'.*label 4 is outside 0\.\.3 \(4 classes\)"):
        run_layer(make_layer(LAYER), [x, np.array([0.0, 4, 1]), h])


def test_missing_source_is_a_config_error(data):
    x, labels, _ = data
    with pytest.raises(ConfigError, match="infogain matrix H is missing"):
        run_layer(make_layer(LAYER), [x, labels])


def test_unreadable_source_is_a_data_error(tmp_path, data):
    x, labels, _ = data
    with pytest.raises(DataError, match="not found"):
        missing = tmp_path / "none.binaryproto"
        run_layer(make_layer(f'{LAYER} infogain_loss_param {{ source: "{missing}" }}'), [x, labels])
    bad = tmp_path / "bad.binaryproto"
    bad.write_bytes(b"\xff\xff\xff")
    with pytest.raises(DataError, match="not a valid .binaryproto"):
        run_layer(make_layer(f'{LAYER} infogain_loss_param {{ source: "{bad}" }}'), [x, labels])


def test_matrix_size_must_match_classes(data):
    x, labels, _ = data
    with pytest.raises(ConfigError, match="4 classes need 4x4"):
        run_layer(make_layer(LAYER), [x, labels, np.eye(3)])


def test_no_gradient_to_matrix(data):
    layer = make_layer(LAYER)
    bottom, top = run_layer(layer, list(data))
    assert not layer.allow_force_backward(2)
    with pytest.raises(ConfigError, match="infogain matrix"):
        layer.backward(top, [True, False, True], bottom)


def test_loss_weight_scales_loss_and_gradients(tmp_path, data):
    x, labels, h = data
    path = write_matrix(tmp_path / "h.binaryproto", h)
    check_loss_weight(tmp_path, f'{LAYER} infogain_loss_param {{ source: "{path}" }}', [x, labels], 0.375)
