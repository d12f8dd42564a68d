"""Data layer: Caffe's record order with wrap-around, shuffling and resuming, transforms, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from protonet.blob import Blob
from protonet.data.idx import write_idx
from protonet.errors import ConfigError, DataError
from protonet.layers.base import LayerContext
from protonet.layers.data import Data
from protonet.net import Net
from protonet.proto import pb
from protonet.weights import array_to_blobproto


def numbered_records(folder: Path, count: int = 10, shape: tuple[int, ...] = (2, 3)) -> Path:
    """IDX images whose every pixel holds the record's index, and labels equal to the index."""
    images = np.repeat(np.arange(count, dtype=np.uint8), int(np.prod(shape))).reshape(count, *shape)
    write_idx(folder / "train-images-idx3-ubyte", images)
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(count, dtype=np.uint8))
    return folder / "train-images-idx3-ubyte"


def make(folder: Path, params: str, *, tops: int = 2, phase: int = pb.TRAIN, seed: int | None = 1701,
         dtype: type = np.float64) -> tuple[Data, list[Blob]]:
    param = text_format.Parse(f'name: "data" type: "Data" {params}', pb.LayerParameter())
    ctx = LayerContext(phase=phase, dtype=np.dtype(dtype), rng=np.random.default_rng(seed), base_dir=folder,
                       seed=seed)
    layer = Data(param, ctx)
    top = [Blob((), ctx.dtype) for _ in range(tops)]
    layer.setup([], top)
    layer.reshape([], top)
    return layer, top


def read_labels(layer: Data, top: list[Blob], batches: int) -> list[list[int]]:
    out = []
    for _ in range(batches):
        layer.forward([], top)
        out.append(top[1].data.astype(int).tolist())
    return out


def test_file_order_with_wrap_around_across_epochs(tmp_path):
    numbered_records(tmp_path)
    layer, top = make(tmp_path, 'data_param { source: "train-images-idx3-ubyte" batch_size: 4 }')
    assert top[0].shape == (4, 1, 2, 3) and top[1].shape == (4,)
    assert read_labels(layer, top, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]
    assert layer.cursor() == (6, 1)
    assert np.array_equal(top[0].data[:, 0, 1, 2], [2, 3, 4, 5])  # the images travel with their labels


def test_batch_larger_than_the_dataset(tmp_path):
    numbered_records(tmp_path, count=3)
    layer, top = make(tmp_path, 'data_param { source: "train-images-idx3-ubyte" batch_size: 7 }')
    assert read_labels(layer, top, 2) == [[0, 1, 2, 0, 1, 2, 0], [1, 2, 0, 1, 2, 0, 1]]
    assert layer.cursor() == (2, 4) and layer.num_records == 3


SHUFFLED = 'data_param { source: "train-images-idx3-ubyte" batch_size: 4 shuffle: true }'


def test_shuffle_is_a_new_permutation_each_epoch_and_deterministic(tmp_path):
    numbered_records(tmp_path)
    first = sum(read_labels(*make(tmp_path, SHUFFLED), 5), [])
    again = sum(read_labels(*make(tmp_path, SHUFFLED), 5), [])
    other = sum(read_labels(*make(tmp_path, SHUFFLED, seed=7), 5), [])
    assert first == again
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:20]) == list(range(10))
    assert first[:10] != first[10:20] and first[:10] != list(range(10))
    assert other != first


def test_shuffle_without_a_seed_is_still_reproducible(tmp_path):
    numbered_records(tmp_path)
    first, again = (read_labels(*make(tmp_path, SHUFFLED, seed=None), 3) for _ in range(2))
    assert first == again


IN_ORDER = 'data_param { source: "train-images-idx3-ubyte" batch_size: 3 }'


@pytest.mark.parametrize("params", [SHUFFLED, IN_ORDER])
def test_seek_resumes_exactly(tmp_path, params):
    numbered_records(tmp_path)
    layer, top = make(tmp_path, params)
    before = read_labels(layer, top, 3)
    saved = layer.cursor()
    after = read_labels(layer, top, 5)
    resumed, resumed_top = make(tmp_path, params)
    resumed.seek(*saved)
    assert read_labels(resumed, resumed_top, 5) == after
    assert before != after[:3]


def test_seek_out_of_range(tmp_path):
    numbered_records(tmp_path)
    layer, _ = make(tmp_path, 'data_param { source: "train-images-idx3-ubyte" batch_size: 2 }')
    with pytest.raises(DataError, match="cannot resume at record 10 of epoch 0: the source holds 10 records"):
        layer.seek(10, 0)


def random_images(folder: Path, rng: np.random.Generator, shape=(6, 3, 5, 4)) -> np.ndarray:
    images = rng.integers(0, 256, shape).astype(np.uint8)
    np.savez(folder / "d.npz", data=images, labels=np.arange(shape[0]))
    return images


def forward_data(folder: Path, transform: str, *, phase: int = pb.TRAIN, batch: int = 6,
                 dtype: type = np.float64) -> np.ndarray:
    params = f'transform_param {{ {transform} }} data_param {{ source: "d.npz" batch_size: {batch} }}'
    layer, top = make(folder, params, phase=phase, dtype=dtype)
    layer.forward([], top)
    return top[0].data.copy()


def test_scale_and_mean_values(tmp_path, rng):
    x = random_images(tmp_path, rng).astype(np.float64)
    assert np.allclose(forward_data(tmp_path, "scale: 0.5"), x * 0.5)
    assert np.allclose(forward_data(tmp_path, "mean_value: 10 scale: 2"), (x - 10) * 2)
    expected = (x - np.array([1.0, 2.0, 3.0])[:, None, None]) * 0.25
    assert np.allclose(forward_data(tmp_path, "mean_value: [1, 2, 3] scale: 0.25"), expected)


def test_float32_stays_float32(tmp_path, rng):
    x = random_images(tmp_path, rng)
    out = forward_data(tmp_path, "scale: 0.00390625 mean_value: 0.5", dtype=np.float32)
    assert out.dtype == np.float32
    assert np.array_equal(out, (x.astype(np.float32) - np.float32(0.5)) * np.float32(0.00390625))


def write_mean(path: Path, mean: np.ndarray) -> None:
    path.write_bytes(array_to_blobproto(mean[None]).SerializeToString())


def test_mean_file_with_centre_crop_in_test(tmp_path, rng):
    x = random_images(tmp_path, rng).astype(np.float64)
    mean = rng.random((3, 5, 4)) * 100
    write_mean(tmp_path / "mean.binaryproto", mean)
    out = forward_data(tmp_path, 'mean_file: "mean.binaryproto" crop_size: 3 scale: 0.1', phase=pb.TEST)
    top, left = (5 - 3) // 2, (4 - 3) // 2
    assert out.shape == (6, 3, 3, 3)
    assert np.allclose(out, (x[:, :, top:top + 3, left:left + 3] - mean[:, top:top + 3, left:left + 3]) * 0.1)


def windows(image: np.ndarray, size: int, mirror: bool) -> list[np.ndarray]:
    """Every size x size window of a (C, H, W) image, also flipped left-right when `mirror`."""
    out = []
    for top in range(image.shape[1] - size + 1):
        for left in range(image.shape[2] - size + 1):
            window = image[:, top:top + size, left:left + size]
            out.extend([window, window[:, :, ::-1]] if mirror else [window])
    return out


def test_random_crop_in_train_takes_a_window_of_each_record(tmp_path, rng):
    x = random_images(tmp_path, rng, shape=(40, 2, 5, 5)).astype(np.float64)
    out = forward_data(tmp_path, "crop_size: 3 mean_value: 1", batch=40)
    offsets = set()
    for n in range(40):
        matches = [k for k, w in enumerate(windows(x[n] - 1, 3, False)) if np.array_equal(out[n], w)]
        assert matches, f"record {n} is no window of its image"
        offsets.add(matches[0])
    assert len(offsets) > 3  # the windows vary from record to record


@pytest.mark.parametrize("phase", [pb.TRAIN, pb.TEST])
def test_mirror_flips_about_half_the_records_in_any_phase(tmp_path, rng, phase):
    x = random_images(tmp_path, rng, shape=(60, 2, 3, 4)).astype(np.float64)
    out = forward_data(tmp_path, "mirror: true", phase=phase, batch=60)
    flipped = [np.array_equal(out[n], x[n, :, :, ::-1]) for n in range(60)]
    assert all(f or np.array_equal(out[n], x[n]) for n, f in enumerate(flipped))
    assert 10 < sum(flipped) < 50


def test_crop_and_mirror_with_a_mean_file(tmp_path, rng):
    x = random_images(tmp_path, rng, shape=(30, 1, 4, 4)).astype(np.float64)
    mean = rng.random((1, 4, 4))
    write_mean(tmp_path / "mean.binaryproto", mean)
    out = forward_data(tmp_path, 'mean_file: "mean.binaryproto" crop_size: 2 mirror: true', batch=30)
    for n in range(30):
        assert any(np.allclose(out[n], w) for w in windows(x[n] - mean, 2, True)), n


def test_legacy_data_param_transform_fields(tmp_path, rng):
    x = random_images(tmp_path, rng)
    layer, top = make(tmp_path, 'transform_param { scale: 3 } '
                                'data_param { source: "d.npz" batch_size: 6 scale: 0.5 }')
    layer.forward([], top)
    assert np.allclose(top[0].data, x * 0.5)


@pytest.mark.parametrize("transform, error, message", [
    ("crop_size: 6", ConfigError, "crop_size 6 exceeds the records' 5x4 images"),
    ("mean_value: [1, 2]", ConfigError, "2 mean_value entries for records of 3 channels"),
    ('mean_value: 1 mean_file: "m.binaryproto"', ConfigError, "both mean_file and mean_value"),
    ('mean_file: "absent.binaryproto"', DataError, "data source 'absent.binaryproto' not found"),
    ('mean_file: "m.binaryproto"', DataError, "mean of shape \\[1, 3, 4, 4\\] does not fit records"),
])
def test_transform_errors(tmp_path, rng, transform, error, message):
    random_images(tmp_path, rng)
    write_mean(tmp_path / "m.binaryproto", np.zeros((3, 4, 4)))
    with pytest.raises(error, match=message):
        forward_data(tmp_path, transform)


def test_missing_source_names_the_path_and_the_command(tmp_path):
    with pytest.raises(DataError) as info:
        make(tmp_path, 'data_param { source: "examples/mnist/mnist_train_lmdb" batch_size: 2 }')
    message = str(info.value)
    assert "examples/mnist/mnist_train_lmdb" in message and str(tmp_path) in message
    assert "protonet data get fashion-mnist" in message


def test_unknown_alias_suggests_a_dataset(tmp_path):
    with pytest.raises(DataError, match="did you mean 'fashion-mnist'"):
        make(tmp_path, 'data_param { source: "fashion_mnist:train" batch_size: 2 }')


def test_labels_path_and_label_source(tmp_path):
    numbered_records(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").rename(tmp_path / "pixels")
    with pytest.raises(DataError, match="cannot tell where the labels"):
        make(tmp_path, 'data_param { source: "pixels" batch_size: 2 }')
    layer, top = make(tmp_path, 'data_param { source: "pixels" batch_size: 2 }', tops=1)
    assert top[0].shape == (2, 1, 2, 3)
    layer, top = make(tmp_path, 'data_param { source: "pixels" label_source: "train-labels-idx1-ubyte" '
                                'batch_size: 2 }')
    assert read_labels(layer, top, 1) == [[0, 1]]


def test_npz_without_labels_for_a_label_top(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError, match="has no labels"):
        make(tmp_path, 'data_param { source: "d.npz" batch_size: 2 }')


@pytest.mark.parametrize("params, message", [
    ('data_param { source: "d.npz" }', "batch_size must be positive"),
    ("data_param { batch_size: 2 }", "source is empty"),
])
def test_config_errors(tmp_path, params, message):
    with pytest.raises(ConfigError, match=message):
        make(tmp_path, params)


def test_in_a_net_relative_to_the_net_file(tmp_path, monkeypatch):
    numbered_records(tmp_path)
    (tmp_path / "net.prototxt").write_text(
        'layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN } '
        'data_param { source: "train-images-idx3-ubyte" batch_size: 4 } }')
    monkeypatch.chdir(tmp_path.parent)
    net = Net(tmp_path / "net.prototxt", phase="TRAIN", dtype=np.float32)
    assert net.forward()["label"].tolist() == [0, 1, 2, 3]
    assert net.blobs["data"].data.dtype == np.float32


def test_real_mnist_first_records(mnist_dir):
    layer, top = make(mnist_dir, 'data_param { source: "train-images-idx3-ubyte.gz" batch_size: 5 } '
                                 'transform_param { scale: 0.00390625 }')
    assert layer.num_records == 60000 and top[0].shape == (5, 1, 28, 28)
    assert read_labels(layer, top, 1) == [[5, 0, 4, 1, 9]]
    assert top[0].data.min() >= 0 and top[0].data.max() <= 255 / 256 and top[0].data.max() > 0.9


def test_rand_skip_starts_at_a_random_record_below_it(tmp_path):
    numbered_records(tmp_path)
    starts = set()
    for seed in range(12):
        params = 'data_param { source: "train-images-idx3-ubyte" batch_size: 2 rand_skip: 4 }'
        layer, top = make(tmp_path, params, seed=seed)
        start, epoch = layer.cursor()
        assert epoch == 0 and 0 <= start < 4
        assert read_labels(layer, top, 1) == [[start, start + 1]]
        starts.add(start)
    assert len(starts) > 1
