"""MemoryData: arrays from Python cycled in batches, transform, resume, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from protonet.blob import Blob
from protonet.errors import ConfigError, DataError
from protonet.layers.base import Layer, LayerContext
from protonet.layers.registry import layer_class
from protonet.proto import pb


def build(params: str, *, tops: int = 2, folder: Path | None = None, phase: int = pb.TRAIN,
          seed: int | None = 1701, dtype: type = np.float64) -> tuple[Layer, list[Blob]]:
    """A data layer set up from `params` (a LayerParameter's text), with its top blobs (shared by the
    data-layer tests)."""
    param = text_format.Parse(params, pb.LayerParameter())
    param.name = param.name or "data"
    ctx = LayerContext(phase=phase, dtype=np.dtype(dtype), rng=np.random.default_rng(seed),
                       base_dir=folder or Path.cwd(), seed=seed)
    layer = layer_class(param.type)(param, ctx)
    top = [Blob((), ctx.dtype) for _ in range(tops)]
    layer.setup([], top)
    layer.reshape([], top)
    return layer, top


def batches(layer: Layer, top: list[Blob], count: int, index: int = 1) -> list[list[int]]:
    """Top `index` (the labels, by default) of the next `count` forwards, as lists of ints."""
    out = []
    for _ in range(count):
        layer.forward([], top)
        out.append(top[index].data.reshape(len(top[index].data), -1)[:, 0].astype(int).tolist())
    return out


MEMORY = 'type: "MemoryData" memory_data_param { batch_size: 2 channels: 1 height: 2 width: 3 }'


def numbered(count: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Records whose every pixel holds the record's index, and labels 10 + index."""
    return np.repeat(np.arange(count, dtype=float), 6).reshape(count, 1, 2, 3), np.arange(count) + 10


def test_cycles_through_the_arrays_in_batches():
    layer, top = build(MEMORY)
    layer.set_arrays(*numbered())
    assert top[0].shape == (2, 1, 2, 3) and top[1].shape == (2,)
    assert batches(layer, top, 4) == [[10, 11], [12, 13], [14, 15], [10, 11]]
    assert batches(layer, top, 1, index=0) == [[2, 3]]  # the data travel with their labels
    assert layer.cursor() == (4, 1) and layer.num_records == 6 and layer.batch_size == 2


def test_set_arrays_starts_again_at_record_zero():
    layer, top = build(MEMORY)
    layer.set_arrays(*numbered())
    batches(layer, top, 2)
    data, labels = numbered(4)
    layer.set_arrays(data, labels + 100)
    assert batches(layer, top, 3) == [[110, 111], [112, 113], [110, 111]]


def test_transform_param_applies_and_float32_stays_float32():
    layer, top = build(f"{MEMORY} transform_param {{ mean_value: 1 scale: 0.5 }}", dtype=np.float32)
    data, labels = numbered()
    layer.set_arrays(data.astype(np.uint8), labels)
    layer.forward([], top)
    assert top[0].data.dtype == np.float32
    np.testing.assert_array_equal(top[0].data, (data[:2] - 1) * 0.5)


def test_seek_resumes_and_a_seek_before_the_arrays_waits_for_them():
    layer, top = build(MEMORY)
    layer.set_arrays(*numbered())
    batches(layer, top, 4)
    saved = layer.cursor()
    after = batches(layer, top, 3)
    resumed, resumed_top = build(MEMORY)
    assert resumed.num_records == 0
    resumed.seek(*saved)  # a solver restore comes before the arrays
    assert resumed.cursor() == saved
    resumed.set_arrays(*numbered())
    assert batches(resumed, resumed_top, 3) == after
    with pytest.raises(DataError, match="cannot resume at record 6 of epoch 0: the source holds 6 records"):
        resumed.seek(6, 0)


@pytest.mark.parametrize("data, labels, message", [
    (np.zeros((5, 1, 2, 3)), np.zeros(5), "5 records given, expected a positive multiple of the batch size"),
    (np.zeros((4, 1, 3, 2)), np.zeros(4), r"shape \[4, 1, 3, 2\], expected numbers of shape \(N, 1, 2, 3\)"),
    (np.zeros((4, 1, 2, 3)), np.zeros(3), "expected 4 numbers"),
    (np.array(["a"] * 24).reshape(4, 1, 2, 3), np.zeros(4), "expected numbers"),
])
def test_bad_arrays(data, labels, message):
    layer, _ = build(MEMORY)
    with pytest.raises(DataError, match=message):
        layer.set_arrays(data, labels)


def test_forward_before_set_arrays():
    layer, top = build(MEMORY)
    with pytest.raises(DataError, match=r"has no data yet; call set_arrays\(data, labels\)"):
        layer.forward([], top)


def test_config_errors():
    with pytest.raises(ConfigError, match="needs positive batch_size, channels, height and width.*width 0"):
        build('type: "MemoryData" memory_data_param { batch_size: 2 channels: 1 height: 2 }')
