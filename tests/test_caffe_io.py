"""protonet.caffe.io: proto/datum conversions, images, resizing, oversampling and the Transformer."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.caffe import io
from protonet.caffe.proto import caffe_pb2
from protonet.errors import DataError


def test_blobproto_legacy_and_new_shapes():
    legacy = caffe_pb2.BlobProto(num=1, channels=1, height=2, width=3, data=range(6), diff=[1.0] * 6)
    assert io.blobproto_to_array(legacy).shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(io.blobproto_to_array(legacy, return_diff=True), np.ones((1, 1, 2, 3)))
    new = caffe_pb2.BlobProto(data=range(6))
    new.shape.dim.extend([2, 3])
    array = io.blobproto_to_array(new)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, np.arange(6).reshape(2, 3))


def test_blobproto_without_a_shape_holds_a_scalar_only():
    assert io.blobproto_to_array(caffe_pb2.BlobProto(data=[123])) == 123
    with pytest.raises(ValueError):
        io.blobproto_to_array(caffe_pb2.BlobProto(data=np.zeros(100)))


def test_array_to_blobproto_round_trip(rng):
    data = rng.standard_normal((2, 3, 4)).astype(np.float32)
    blob = io.array_to_blobproto(data, diff=2 * data)
    assert list(blob.shape.dim) == [2, 3, 4] and not blob.HasField("num")
    np.testing.assert_array_equal(io.blobproto_to_array(blob), data)
    np.testing.assert_array_equal(io.blobproto_to_array(blob, return_diff=True), 2 * data)
    parsed = caffe_pb2.BlobProto.FromString(blob.SerializeToString())
    np.testing.assert_array_equal(io.blobproto_to_array(parsed), data)


def test_blobprotovector_round_trip(rng):
    arrays = [rng.standard_normal((2, 3)).astype(np.float32), np.arange(4.0)]
    back = io.blobprotovector_str_to_arraylist(io.arraylist_to_blobprotovector_str(arrays))
    for a, b in zip(arrays, back, strict=True):
        np.testing.assert_array_equal(a, b)


def test_datum_of_uint8_is_bytes_and_of_floats_is_float_data():
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    datum = io.array_to_datum(pixels, label=7)
    assert datum.data == pixels.tobytes() and not datum.float_data and datum.label == 7
    assert (datum.channels, datum.height, datum.width) == (2, 3, 4)
    back = io.datum_to_array(caffe_pb2.Datum.FromString(datum.SerializeToString()))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, pixels)
    floats = io.array_to_datum(pixels.astype(np.float32) / 10)
    assert not floats.data and len(floats.float_data) == 24
    np.testing.assert_allclose(io.datum_to_array(floats), pixels / 10, rtol=1e-6)
    assert not floats.HasField("label")  # no label given: none set, a smaller record
    assert len(floats.SerializeToString()) < len(io.array_to_datum(pixels / 10, label=1).SerializeToString())
    with pytest.raises(ValueError, match="Incorrect array shape"):
        io.array_to_datum(np.zeros((2, 2)))


def test_transformer_preprocess_equals_the_steps_by_hand(rng):
    image = rng.random((4, 5, 3)).astype(np.float32)
    mean = np.array([10.0, 20.0, 30.0])
    t = io.Transformer({"data": (1, 3, 4, 5)})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255)
    t.set_mean("data", mean)
    t.set_input_scale("data", 0.5)
    out = t.preprocess("data", image)
    by_hand = (image.transpose(2, 0, 1)[[2, 1, 0]] * 255 - mean[:, None, None]) * 0.5
    assert out.dtype == np.float32 and out.shape == (3, 4, 5)
    np.testing.assert_allclose(out, by_hand, rtol=1e-5)
    np.testing.assert_allclose(t.deprocess("data", out[None]), image, rtol=1e-5, atol=1e-6)
    assert image.max() <= 1  # the caller's image is not scaled in place


def test_transformer_resizes_to_the_input_and_takes_an_elementwise_mean(rng):
    t = io.Transformer({"data": (2, 1, 3, 3)})
    t.set_transpose("data", (2, 0, 1))
    mean = rng.random((1, 3, 3))
    t.set_mean("data", mean)
    image = np.full((6, 6, 1), 0.5, np.float32)
    np.testing.assert_allclose(t.preprocess("data", image), 0.5 - mean, rtol=1e-6)
    t.set_mean("data", np.full((1, 6, 6), 0.25))  # another size: resized to the input's
    np.testing.assert_allclose(t.preprocess("data", image), 0.25)


@pytest.mark.parametrize("call, args, message", [
    ("set_transpose", ((2, 0),), "Transpose order"), ("set_channel_swap", ((1, 0),), "Channel swap"),
    ("set_mean", (np.zeros(2),), "Mean channels"), ("set_mean", (np.zeros((1, 1, 1, 1)),), "Mean shape invalid"),
    ("preprocess", (np.zeros((2, 2, 3)),), None)])
def test_transformer_refuses_settings_that_do_not_fit(call, args, message):
    t = io.Transformer({"data": (1, 3, 2, 2)})
    if message is None:
        with pytest.raises(ValueError, match="label is not one of the net inputs"):
            t.preprocess("label", *args)
        return
    with pytest.raises(ValueError, match=message):
        getattr(t, call)("data", *args)


def test_resize_image_bilinear_and_nearest_by_hand():
    im = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)[:, :, None]
    up = io.resize_image(im, (4, 4))[:, :, 0]
    # output centres map to input coordinates -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
    weights = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(up, 2 * weights[:, None] + weights[None, :])
    near = io.resize_image(im, (4, 4), interp_order=0)[:, :, 0]
    np.testing.assert_array_equal(near, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    big = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    np.testing.assert_allclose(io.resize_image(big, (2, 2))[:, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    same = np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(io.resize_image(same, (3, 5)), same)
    assert io.resize_image(same, (6, 2)).shape == (6, 2, 7)


def test_oversample_takes_corners_centre_and_mirrors(rng):
    images = [rng.random((6, 7, 2)).astype(np.float32) for _ in range(2)]
    crops = io.oversample(images, (4, 4))
    assert crops.shape == (20, 4, 4, 2)
    im = images[1]
    expected = [im[:4, :4], im[:4, 3:], im[2:, :4], im[2:, 3:], im[1:5, 1:5]]
    for k, crop in enumerate(expected):
        np.testing.assert_array_equal(crops[10 + k], crop)
        np.testing.assert_array_equal(crops[15 + k], crop[:, ::-1])


def test_load_image_gives_rgb_floats_in_0_1(tmp_path):
    from PIL import Image

    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 255, 51, 0, 9
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    colour = io.load_image(str(tmp_path / "rgba.png"))
    assert colour.dtype == np.float32 and colour.shape == (2, 3, 3)
    np.testing.assert_allclose(colour[0, 0], [1.0, 0.2, 0.0], rtol=1e-6)
    grey = io.load_image(str(tmp_path / "rgba.png"), color=False)
    assert grey.shape == (2, 3, 1)
    np.testing.assert_allclose(grey[0, 0, 0], 0.2125 + 0.7154 * 0.2, rtol=1e-5)
    Image.fromarray(np.full((2, 2), 102, np.uint8), "L").save(tmp_path / "grey.png")
    np.testing.assert_allclose(io.load_image(str(tmp_path / "grey.png")), 0.4, rtol=1e-6)
    assert io.load_image(str(tmp_path / "grey.png"), color=False).shape == (2, 2, 1)


def test_load_image_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="cannot read the image"):
        io.load_image(str(tmp_path / "missing.png"))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot decode the image"):
        io.load_image(str(tmp_path / "bad.png"))
