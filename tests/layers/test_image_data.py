"""ImageData: PNGs decoded in BGR, list order, shuffling, resuming, resizing, transforms, errors, and a net
that learns from images."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from protonet import Net, config
from protonet.errors import ConfigError, DataError
from protonet.evaluate import full_pass_iterations
from protonet.proto import pb
from tests.layers.test_memory_data import batches, build

Image = pytest.importorskip("PIL.Image")


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Save (H, W, 3) RGB or (H, W) grey uint8 pixels as a PNG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def numbered_images(folder: Path, count: int = 5, size=(3, 4), root: str = "") -> Path:
    """Images k = 0 .. count-1 with R = 10 + k, G = 100 + k, B = 200 + k everywhere, labelled k, and
    their list file (paths under `root`)."""
    lines = []
    for k in range(count):
        write_png(folder / root / f"img {k}.png", np.broadcast_to([10 + k, 100 + k, 200 + k], (*size, 3)))
        lines.append(f"img {k}.png {k}")  # a path with a space: the label is the last field
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder / "list.txt"


def image_data(params: str = "", batch: int = 3, transform: str = "") -> str:
    return (f'type: "ImageData" top: "data" top: "label" transform_param {{ {transform} }} '
            f'image_data_param {{ source: "list.txt" batch_size: {batch} {params} }}')


def test_pixels_in_bgr_order_with_their_labels(tmp_path):
    numbered_images(tmp_path, root="pics")
    layer, top = build(image_data('root_folder: "pics/"'), folder=tmp_path, dtype=np.float32)
    assert top[0].shape == (3, 3, 3, 4) and top[1].shape == (3,)
    layer.forward([], top)
    assert top[0].data.dtype == np.float32
    for k in range(3):
        np.testing.assert_array_equal(top[0].data[k, :, 0, 0], [200 + k, 100 + k, 10 + k])  # B, G, R
        assert np.all(top[0].data[k] == top[0].data[k, :, :1, :1])
    np.testing.assert_array_equal(top[1].data, [0, 1, 2])


def test_list_order_with_wrap_around(tmp_path):
    numbered_images(tmp_path)
    layer, top = build(image_data(), folder=tmp_path)
    assert batches(layer, top, 3) == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]
    assert layer.cursor() == (4, 1) and layer.num_records == 5 and layer.batch_size == 3


def test_shuffle_is_a_new_permutation_each_epoch_and_deterministic(tmp_path):
    numbered_images(tmp_path)
    first, again, other = (sum(batches(*build(image_data("shuffle: true", batch=5), folder=tmp_path,
                                               seed=seed), 3), []) for seed in (1701, 1701, 7))
    assert first == again and other != first
    epochs = [first[k:k + 5] for k in range(0, 15, 5)]
    assert all(sorted(epoch) == list(range(5)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1


@pytest.mark.parametrize("params", ["", "shuffle: true"])
def test_seek_resumes_exactly(tmp_path, params):
    numbered_images(tmp_path)
    layer, top = build(image_data(params, batch=2), folder=tmp_path)
    batches(layer, top, 3)
    saved = layer.cursor()
    after = batches(layer, top, 4)
    resumed, resumed_top = build(image_data(params, batch=2), folder=tmp_path)
    resumed.seek(*saved)
    assert batches(resumed, resumed_top, 4) == after


def test_rand_skip_starts_below_it(tmp_path):
    numbered_images(tmp_path)
    starts = {build(image_data("rand_skip: 4"), folder=tmp_path, seed=seed)[0].cursor() for seed in range(12)}
    assert {position for position, _ in starts} == {0, 1, 2, 3} and {epoch for _, epoch in starts} == {0}


def test_grey_images(tmp_path):
    grey = np.arange(12).reshape(3, 4) * 20
    write_png(tmp_path / "grey.png", grey)
    colour = np.stack([np.full((3, 4), 200), np.full((3, 4), 50), np.full((3, 4), 10)], axis=-1)
    write_png(tmp_path / "colour.png", colour)
    (tmp_path / "list.txt").write_text("grey.png 0\ncolour.png 1\n")
    layer, top = build(image_data("is_color: false", batch=2), folder=tmp_path)
    layer.forward([], top)
    assert top[0].shape == (2, 1, 3, 4)
    np.testing.assert_array_equal(top[0].data[0, 0], grey)
    np.testing.assert_allclose(top[0].data[1, 0], 0.299 * 200 + 0.587 * 50 + 0.114 * 10, atol=1)
    layer, top = build(image_data("", batch=2), folder=tmp_path)  # grey read as colour: 3 equal channels
    layer.forward([], top)
    np.testing.assert_array_equal(top[0].data[0], np.broadcast_to(grey, (3, 3, 4)))


def test_resize_gives_every_image_one_size(tmp_path):
    write_png(tmp_path / "a.png", np.broadcast_to([1, 2, 3], (5, 7, 3)))
    write_png(tmp_path / "b.png", np.broadcast_to([4, 5, 6], (3, 2, 3)))
    (tmp_path / "list.txt").write_text("a.png 0\nb.png 1\n")
    layer, top = build(image_data("new_height: 4 new_width: 6", batch=2), folder=tmp_path)
    layer.forward([], top)
    assert top[0].shape == (2, 3, 4, 6)
    np.testing.assert_array_equal(top[0].data[:, :, 2, 3], [[3, 2, 1], [6, 5, 4]])  # flat colours stay flat
    with pytest.raises(DataError, match=r"list.txt:2: image 'b.png' is 3x2, but the first one is 5x7; "
                                        r"set image_data_param new_height and new_width"):
        layer, top = build(image_data("", batch=2), folder=tmp_path)
        layer.forward([], top)


def test_transform_with_a_centre_crop_in_test(tmp_path):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (4, 5, 3))
    write_png(tmp_path / "a.png", pixels)
    (tmp_path / "list.txt").write_text("a.png 7\n")
    transform = "crop_size: 2 mean_value: [1, 2, 3] scale: 0.5"
    layer, top = build(image_data(batch=1, transform=transform), folder=tmp_path, phase=pb.TEST)
    layer.forward([], top)
    bgr = pixels[:, :, ::-1].transpose(2, 0, 1).astype(float)
    expected = (bgr[:, 1:3, 1:3] - np.array([1.0, 2, 3])[:, None, None]) * 0.5  # offsets (4-2)//2, (5-2)//2
    np.testing.assert_array_equal(top[0].data[0], expected)
    assert top[1].data[0] == 7


def test_missing_images_name_the_file_and_the_line(tmp_path):
    numbered_images(tmp_path, count=2)
    (tmp_path / "list.txt").write_text("nope.png 0\n")
    with pytest.raises(DataError, match=r"list.txt:1: image 'nope.png' not found \(looked for .*nope.png"):
        build(image_data(), folder=tmp_path)
    (tmp_path / "list.txt").write_text("img 0.png 0\n\nimg 1.png 1\ngone.png 2\n")
    layer, top = build(image_data(), folder=tmp_path)
    with pytest.raises(DataError, match=r"list.txt:4: image 'gone.png' not found"):
        layer.forward([], top)


def test_unreadable_image_and_bad_lines(tmp_path):
    numbered_images(tmp_path, count=1)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "list.txt").write_text("bad.png 0\n")
    with pytest.raises(DataError, match=r"list.txt:1: cannot decode image .*bad.png"):
        build(image_data(), folder=tmp_path)
    for text, line in [("img 0.png 0\nimg0.png\n", 2), ("img 0.png zero\n", 1)]:
        (tmp_path / "list.txt").write_text(text)
        with pytest.raises(DataError, match=rf"list.txt:{line}: expected 'path label' with an integer label"):
            build(image_data(), folder=tmp_path)


@pytest.mark.parametrize("params, message", [
    (image_data("new_height: 4"), "new_height 4 and new_width 0 must be set together"),
    (image_data("scale: 0.5"), r"image_data_param.scale is deprecated.*transform_param \{ scale: ... \}"),
    (image_data(batch=0), "batch_size must be positive"),
])
def test_config_errors(tmp_path, params, message):
    numbered_images(tmp_path)
    with pytest.raises(ConfigError, match=message):
        build(params, folder=tmp_path)


def test_without_pillow_a_clear_message(tmp_path, monkeypatch):
    numbered_images(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ConfigError, match=r"needs the Pillow package.*pip install protonet\[images\]"):
        build(image_data(), folder=tmp_path)


NET = """
layer { name: "data" type: "ImageData" top: "data" top: "label" transform_param { scale: 0.00390625 }
        image_data_param { source: "list.txt" batch_size: 6 shuffle: true } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" include { phase: TEST } }
"""


def test_a_net_learns_from_png_images(tmp_path):
    """Reddish images are class 0, bluish class 1, each pixel noisy; plain SGD on the net's gradients."""
    rng = np.random.default_rng(11)
    lines = []
    for k in range(20):
        label = k % 2
        base = np.array([180, 60, 60]) if label == 0 else np.array([60, 60, 180])
        write_png(tmp_path / "images" / f"{k}.png", np.clip(base + rng.normal(0, 40, (6, 6, 3)), 0, 255))
        lines.append(f"images/{k}.png {label}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    net = Net(config.parse(NET, pb.NetParameter()), phase="TRAIN", seed=2, base_dir=tmp_path)
    losses = []
    for _ in range(40):
        losses.append(net.forward_backward())
        for param in net.learnable:
            param.blob.data -= 0.05 * param.blob.diff
        net.clear_param_diffs()
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:3])
    test = Net(config.parse(NET, pb.NetParameter()), phase="TEST", base_dir=tmp_path)
    test.share_with(net)
    assert full_pass_iterations(test) == math.ceil(20 / 6)
    assert np.mean([test.forward()["acc"] for _ in range(full_pass_iterations(test))]) == 1.0
