"""protonet.caffe.Classifier and Detector against the same steps done by hand with caffe.io and Net."""

from __future__ import annotations

import numpy as np
import pytest

import protonet.caffe as caffe
from protonet.caffe import io

from .test_caffe_net import seeded_model

DEPLOY = """
name: "tiny"
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 4 dim: 3 dim: 4 dim: 4 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
"""


@pytest.fixture
def model(tmp_path):
    return tuple(str(path) for path in seeded_model(tmp_path, "deploy", DEPLOY, 2))


def by_hand(model, crops, mean, swap):
    """Transpose, channel swap, raw scale 255, mean: then the net, one crop at a time."""
    net = caffe.Net(model[0], caffe.TEST, weights=model[1])
    probs = []
    for crop in crops:
        x = crop.transpose(2, 0, 1)[list(swap)] * 255 - mean[:, None, None]
        net.blobs["data"].data[...] = x
        probs.append(net.forward()["prob"][0].copy())
    return np.array(probs)


def test_classifier_centre_crop_and_oversample(model, rng):
    images = [rng.random((7, 9, 3)).astype(np.float32) for _ in range(3)]
    mean, swap = np.array([100.0, 110.0, 120.0]), (2, 1, 0)
    classifier = caffe.Classifier(*model, image_dims=(6, 6), mean=mean, raw_scale=255, channel_swap=swap)
    resized = [io.resize_image(im, (6, 6)) for im in images]
    centre = classifier.predict(images, oversample=False)
    assert centre.shape == (3, 5)
    np.testing.assert_allclose(centre, by_hand(model, [im[1:5, 1:5] for im in resized], mean, swap), rtol=1e-5)
    ten = classifier.predict(images)
    crops = by_hand(model, io.oversample(resized, (4, 4)), mean, swap)
    np.testing.assert_allclose(ten, crops.reshape(3, 10, 5).mean(1), rtol=1e-5)
    np.testing.assert_allclose(ten.sum(1), 1, rtol=1e-5)


def test_detector_warps_each_window_to_the_input(model, rng, tmp_path):
    from PIL import Image

    pixels = (rng.random((10, 12, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    detector = caffe.Detector(*model, raw_scale=255)
    windows = [np.array([0, 0, 8, 8]), np.array([2, 3, 10, 12])]
    found = detector.detect_windows([(str(tmp_path / "image.png"), windows)])
    assert [d["filename"] for d in found] == [str(tmp_path / "image.png")] * 2
    image = io.load_image(str(tmp_path / "image.png"))
    crops = [io.resize_image(image[w[0]:w[2], w[1]:w[3]], (4, 4)) for w in windows]
    expected = by_hand(model, crops, np.zeros(3), (0, 1, 2))
    np.testing.assert_allclose([d["prediction"] for d in found], expected, rtol=1e-5)
    padded = caffe.Detector(*model, raw_scale=255, mean=np.full(3, 50.0), context_pad=1)
    crop = padded.crop(image, np.array([0, 0, 3, 3]))
    assert crop.shape == (4, 4, 3)
    np.testing.assert_allclose(crop[0, 0], 50 / 255, rtol=1e-6)  # outside the image: the mean
    with pytest.raises(NotImplementedError, match="detect_windows"):
        padded.detect_selective_search(["x.png"])
