"""zoo import on real Caffe files from ../shared/corpus: V1 and V2 train_val nets (their TEST transform
becomes the entry's), legacy input declarations, and predict on image files against the corpus's own
deploy net run on arrays prepared here by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from protonet import Net
from protonet.cli import cli
from protonet.data.idx import read_idx
from protonet.data.transform import read_mean_file
from protonet.deploy import deploy_net
from protonet.errors import ConfigError, DataError, WeightsError
from protonet.weights import array_to_blobproto
from tests.conftest import shared_path

Image = pytest.importorskip("PIL.Image")

CIFAR = ("everpeace__caffe", "examples", "cifar10")
SQUEEZENET = ("forresti__SqueezeNet", "SqueezeNet_v1.1")
IMAGENET_MEAN = ("rai-project__go-caffe", "_fixtures", "imagenet_mean.binaryproto")
LENET = ("ethereon__caffe-tensorflow", "examples", "mnist")


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROTONET_ZOO", str(tmp_path / "zoo"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "zoo"


def corpus(*parts: str) -> Path:
    return shared_path("corpus", *parts)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def predicted(name: str, paths: list[Path]) -> np.ndarray:
    """`protonet predict --json` probabilities of each input, by class index."""
    output = run("predict", "--model", f"zoo:{name}", "--json", "--top-k", "1000", *map(str, paths))
    rows = [json.loads(line)["top"] for line in output.splitlines()]
    return np.array([[item["prob"] for item in sorted(row, key=lambda item: item["index"])] for row in rows])


def forward(deploy: Path, weights: Path, batch: np.ndarray, output: str = "prob") -> np.ndarray:
    net = Net(deploy, weights=weights, phase="TEST")
    net.blobs["data"].reshape(*batch.shape)
    net.reshape()
    return net.forward(data=batch.astype(np.float32))[output].reshape(len(batch), -1)


def bgr(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The image as Caffe reads it: (3, H, W) float, BGR, resized (bilinear) to size = (height, width)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB").resize(size[::-1], Image.BILINEAR), np.float32)
    return pixels[:, :, ::-1].transpose(2, 0, 1)


def colour_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for k, (height, width) in enumerate(sizes):
        smooth = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)
        paths.append(folder / f"image{k}.{'png' if k % 2 else 'jpg'}")
        Image.fromarray(smooth[:height, :width].astype(np.uint8)).save(paths[-1], quality=95)
    return paths


def test_a_v1_train_val_with_a_mean_file_predicts_as_its_deploy_net(zoo: Path, tmp_path: Path) -> None:
    """cifar10_quick (V1 'layers', enum types, legacy 4-D blobs): the TEST data layer's mean_file, a path
    relative to Caffe's root as in the file, is copied into the entry; the records' shape comes from it."""
    train_val = corpus(*CIFAR, "cifar10_quick_train_test.prototxt")
    weights = corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")
    mean = np.random.default_rng(1).uniform(100, 140, (1, 3, 32, 32)).astype(np.float32)
    (tmp_path / "examples" / "cifar10").mkdir(parents=True)
    (tmp_path / "examples/cifar10/mean.binaryproto").write_bytes(array_to_blobproto(mean).SerializeToString())
    run("zoo", "import", "--model", str(train_val), "--weights", str(weights), "--name", "cifar10-quick")

    entry = zoo / "cifar10-quick"
    meta = yaml.safe_load((entry / "model.yaml").read_text())
    assert meta["inputs"] == {"data": [1, 3, 32, 32]} and meta["transform"] == {"mean_file": "mean.binaryproto"}
    assert meta["train_val"] == "train_val.yaml" and (entry / "mean.binaryproto").is_file()
    images = colour_images(tmp_path, [(32, 32), (40, 36), (24, 32)])
    by_hand = np.stack([bgr(path, (32, 32)) for path in images]) - mean
    expected = forward(corpus(*CIFAR, "cifar10_quick.prototxt"), weights, by_hand)
    np.testing.assert_allclose(predicted("cifar10-quick", images), expected, rtol=1e-4, atol=1e-7)


def test_a_v2_train_val_with_crop_and_mean_values(zoo: Path, tmp_path: Path) -> None:
    """SqueezeNet v1.1's train_val: crop_size 227 and a mean_value per channel; the channels come from
    conv1's weights (the ImageNet LMDB is not here). --mean-file then puts the real ImageNet mean (256x256)
    over them: images are resized to 256x256 and centre-cropped to 227, as Caffe's records were."""
    train_val = corpus(*SQUEEZENET, "train_val.prototxt")
    weights = tmp_path / "squeezenet.caffemodel"
    Net(deploy_net(train_val, input_shape=(3, 227, 227)), phase="TEST", seed=5).save(weights)
    run("zoo", "import", "--model", str(train_val), "--weights", str(weights), "--name", "squeeze",
        "--labels", str(corpus("rai-project__go-caffe", "_fixtures", "synset_words.txt")))
    meta = yaml.safe_load((zoo / "squeeze" / "model.yaml").read_text())
    assert meta["inputs"] == {"data": [1, 3, 227, 227]}
    assert meta["transform"] == {"crop_size": 227, "mean_value": [104.0, 117.0, 123.0]} and "resize" not in meta
    images = colour_images(tmp_path, [(240, 300), (227, 227)])
    deploy = corpus(*SQUEEZENET, "deploy.prototxt")
    values = np.array([104, 117, 123], np.float32)[:, None, None]
    expected = forward(deploy, weights, np.stack([bgr(path, (227, 227)) for path in images]) - values)
    got = predicted("squeeze", images)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    top = run("predict", "--model", "zoo:squeeze", "--top-k", "1", str(images[0]))
    labels = corpus("rai-project__go-caffe", "_fixtures", "synset_words.txt").read_text().splitlines()
    assert top.startswith(f"{images[0]}: {labels[int(np.argmax(expected[0]))]} ")

    mean_file = corpus(*IMAGENET_MEAN)
    run("zoo", "import", "--model", str(train_val), "--weights", str(weights), "--name", "squeeze-mean",
        "--mean-file", str(mean_file))
    meta = yaml.safe_load((zoo / "squeeze-mean" / "model.yaml").read_text())
    assert meta["transform"] == {"crop_size": 227, "mean_file": "mean.binaryproto"} and meta["resize"] == [256, 256]
    mean = read_mean_file(str(mean_file), tmp_path).reshape(3, 256, 256)[:, 14:241, 14:241]
    by_hand = np.stack([bgr(path, (256, 256))[:, 14:241, 14:241] for path in images]) - mean
    np.testing.assert_allclose(predicted("squeeze-mean", images), forward(deploy, weights, by_hand),
                               rtol=1e-4, atol=1e-7)


def test_a_legacy_deploy_net_with_input_dim_and_real_weights(zoo: Path, tmp_path: Path) -> None:
    """cifar10_quick.prototxt declares its input with `input:` and four `input_dim:` lines."""
    weights = corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")
    run("zoo", "import", "--model", str(corpus(*CIFAR, "cifar10_quick.prototxt")), "--weights", str(weights),
        "--name", "quick", "--mean-value", "120", "--scale", "0.5")
    meta = yaml.safe_load((zoo / "quick" / "model.yaml").read_text())
    assert meta["train_val"] is None and meta["transform"] == {"scale": 0.5, "mean_value": 120.0}
    records = np.random.default_rng(3).integers(0, 256, (4, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "records.npy", records)
    expected = forward(corpus(*CIFAR, "cifar10_quick.prototxt"), weights, (records - 120) * 0.5)
    np.testing.assert_allclose(predicted("quick", [tmp_path / "records.npy"]), expected, rtol=1e-4, atol=1e-7)
    assert run("zoo", "verify", "quick") == "quick: OK\n"


def test_real_lenet_weights_classify_real_mnist_pictures(zoo: Path, tmp_path: Path) -> None:
    """The LeNet deploy net and weights of ethereon/caffe-tensorflow, with Caffe's MNIST scale of 1/256, on
    the first 100 t10k digits written as PNG files."""
    images = read_idx(shared_path("data", "mnist", "t10k-images-idx3-ubyte.gz"))[:100]
    labels = read_idx(shared_path("data", "mnist", "t10k-labels-idx1-ubyte.gz"))[:100]
    run("zoo", "import", "--model", str(corpus(*LENET, "lenet.prototxt")), "--name", "lenet-mnist",
        "--weights", str(corpus(*LENET, "lenet_iter_10000.caffemodel")), "--scale", "0.00390625")
    paths = []
    for k, pixels in enumerate(images):
        paths.append(tmp_path / f"digit{k}.png")
        Image.fromarray(pixels).save(paths[-1])
    probabilities = predicted("lenet-mnist", paths)
    assert np.mean(probabilities.argmax(1) == labels) >= 0.97
    expected = forward(corpus(*LENET, "lenet.prototxt"), corpus(*LENET, "lenet_iter_10000.caffemodel"),
                       images[:, None] / 256.0)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ bad input


def leftovers(zoo: Path) -> list[str]:
    return sorted(p.name for p in zoo.iterdir()) if zoo.exists() else []


def test_a_train_val_whose_mean_file_is_not_here(zoo: Path) -> None:
    with pytest.raises(DataError, match=r"the mean file 'examples/cifar10/mean.binaryproto' of the TEST data "
                                        r"layer is not here; .*--mean-file PATH"):
        run("zoo", "import", "--model", str(corpus(*CIFAR, "cifar10_quick_train_test.prototxt")),
            "--weights", str(corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")), "--name", "q",
            "--input-shape", "3,32,32")
    assert leftovers(zoo) == []


def test_a_train_val_whose_records_have_no_known_shape(zoo: Path, tmp_path: Path) -> None:
    train_val = tmp_path / "train_val.prototxt"
    train_val.write_text(corpus(*CIFAR, "cifar10_quick_train_test.prototxt").read_text()
                         .replace('mean_file: "examples/cifar10/mean.binaryproto"', "scale: 1"))
    with pytest.raises(ConfigError, match=r"cannot tell the shape of the records of data layer 'cifar' \(data "
                                          r"source 'examples/cifar10/cifar10_test_leveldb' not found.*--input-shape"):
        run("zoo", "import", "--model", str(train_val), "--name", "q",
            "--weights", str(corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")))
    run("zoo", "import", "--model", str(train_val), "--name", "q", "--input-shape", "3,32,32",
        "--weights", str(corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")))
    assert leftovers(zoo) == ["q"]


def test_weights_that_do_not_fit_the_net(zoo: Path) -> None:
    cifar = str(corpus(*CIFAR, "cifar10_quick.prototxt"))
    lenet = str(corpus(*LENET, "lenet_iter_10000.caffemodel"))
    with pytest.raises(WeightsError, match=r"layer 'conv1': cannot copy param 0: shape mismatch, the file has "
                                           r"\[20, 1, 5, 5\], the net needs \[32, 3, 5, 5\]; the weights were "
                                           r"trained for another net"):
        run("zoo", "import", "--model", cifar, "--weights", lenet, "--name", "mixed")
    np.save("x.npy", np.zeros((3, 32, 32), np.float32))
    with pytest.raises(WeightsError, match=r"shape mismatch.*trained for another net"):
        run("predict", "--model", cifar, "--weights", lenet, "x.npy")
    full = str(corpus(*CIFAR, "cifar10_full_iter_70000.caffemodel"))  # conv1-3 fit, ip1 differs, ip2 absent
    with pytest.raises(WeightsError, match=r"(shape mismatch|no parameters for layer)"):
        run("zoo", "import", "--model", cifar, "--weights", full, "--name", "mixed")
    assert leftovers(zoo) == []


def test_a_mean_that_does_not_fit_the_input_and_an_existing_name(zoo: Path, tmp_path: Path) -> None:
    grey_mean = tmp_path / "grey.binaryproto"
    grey_mean.write_bytes(array_to_blobproto(np.zeros((1, 1, 32, 32), np.float32)).SerializeToString())
    args = ["zoo", "import", "--model", str(corpus(*CIFAR, "cifar10_quick.prototxt")),
            "--weights", str(corpus(*CIFAR, "cifar10_quick_iter_5000.caffemodel")), "--name", "q"]
    with pytest.raises(DataError, match=r"mean of shape \[1, 32, 32\] does not fit inputs of shape \[3, 32, 32\]"):
        run(*args, "--mean-file", str(grey_mean))
    assert leftovers(zoo) == []
    run(*args)
    with pytest.raises(ConfigError, match="zoo entry 'q' exists already"):
        run(*args)
    run(*args, "--force", "--scale", "2")
    assert yaml.safe_load((zoo / "q" / "model.yaml").read_text())["transform"] == {"scale": 2.0}
    assert leftovers(zoo) == ["q"]
