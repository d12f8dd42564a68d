"""The speed paths of the convolution kernels give the plain paths' results: the data gradient as a
convolution with flipped weights (`Conv2D.input_grad`), and layers run batch part by part."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.gradcheck import check_gradient, make_layer, run_layer
from protonet.ops import conv as conv_ops
from protonet.ops.conv import Conv2D, ConvGeometry

FILLERS = 'weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 }'

# (geometry, input shape, output channels): "same" convolutions take the flipped-weights path
GEOMETRIES = [
    (ConvGeometry((3, 3), pad=(1, 1)), (2, 3, 5, 4), 4),
    (ConvGeometry((5, 5), pad=(2, 2), group=2), (2, 4, 6, 6), 6),
    (ConvGeometry((3, 2), pad=(1, 1)), (1, 2, 4, 5), 3),  # output one column wider than the input
    (ConvGeometry((3, 3)), (2, 2, 6, 6), 3),  # no padding: input 36 > 1.25 x output 16, col2im path
    (ConvGeometry((3, 3), (2, 2), (1, 1)), (1, 2, 5, 5), 2),  # strided: col2im path
]


@pytest.mark.parametrize("geo, shape, outputs", GEOMETRIES)
def test_input_grad_equals_col2im(geo, shape, outputs, rng):
    op = Conv2D(geo)
    w = rng.standard_normal((outputs, shape[1] // geo.group, *geo.kernel))
    dy = rng.standard_normal((shape[0], outputs, *geo.output_size(*shape[2:])))
    expected, found = np.empty(shape), np.full(shape, 7.0)
    op.data_grad(op.rows(dy), w, expected)
    op.input_grad(dy, op.rows(dy), w, found)
    np.testing.assert_allclose(found, expected, atol=1e-12)


@pytest.mark.parametrize("params, shape", [
    ("num_output: 3 kernel_size: 3 pad: 1", (2, 2, 4, 5)),
    ("num_output: 4 kernel_size: 3 pad: 1 group: 2", (1, 4, 4, 4)),
])
def test_gradient_through_the_flipped_weights_path(params, shape, rng):
    config = f'type: "Convolution" convolution_param {{ {params} {FILLERS} }}'
    check_gradient(config, [rng.standard_normal(shape)])


@pytest.mark.parametrize("kind", ["Convolution", "Deconvolution"])
@pytest.mark.parametrize("params", ["num_output: 3 kernel_size: 3 pad: 1",
                                    "num_output: 2 kernel_size: 2 stride: 2"])
def test_a_batch_in_parts_gives_the_whole_batch_results(kind, params, rng, monkeypatch):
    config = f'type: "{kind}" convolution_param {{ {params} {FILLERS} }}'
    x = rng.standard_normal((5, 2, 6, 6))
    dy = None
    results = []
    for col_bytes in (conv_ops.COL_BYTES, 1):  # 1 byte: every image is a part of its own
        monkeypatch.setattr(conv_ops, "COL_BYTES", col_bytes)
        layer = make_layer(config)
        bottom, top = run_layer(layer, [x])
        assert len(layer.ops[0].batch_chunks(top[0].data if kind == "Deconvolution" else x)) == (
            1 if col_bytes > 1 else 5)
        dy = rng.standard_normal(top[0].shape) if dy is None else dy
        top[0].diff = dy
        layer.backward(top, [True], bottom)
        results.append((top[0].data.copy(), bottom[0].diff.copy(), *(b.diff.copy() for b in layer.blobs)))
    for whole, parts in zip(*results):
        np.testing.assert_allclose(parts, whole, atol=1e-12)


def test_parts_are_few_and_cover_the_batch(monkeypatch):
    monkeypatch.setattr(conv_ops, "COL_BYTES", 3 * 8 * 2 * 9 * 16)  # three images' col of float64
    op = Conv2D(ConvGeometry((3, 3), pad=(1, 1)))
    parts = op.batch_chunks(np.zeros((10, 2, 4, 4)))
    assert [p.stop - p.start for p in parts] == [3, 3, 3, 1]
    assert parts[0].start == 0 and parts[-1].stop == 10
