"""Shared by the ONNX export tests: random weights for nets that ship none, and the comparison of an exported
graph run in onnxruntime with protonet's own forward."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.net import Net

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL = 1e-4
ATOL_PER_SCALE = 1e-5  # atol = this x the largest |value| of the output compared


def randomize(net: Net, rng: np.random.Generator) -> None:
    """Weights that keep activations in range through deep nets: He-normal filters, small biases, BatchNorm
    statistics around 0 (means) and 1 (variances, factor 1), Scale factors around 1, PReLU slopes in [0, 0.5)."""
    for layer in net.layers:
        for k, blob in enumerate(layer.blobs):
            if layer.type == "BatchNorm":
                values = [rng.normal(0, 0.1, blob.shape), rng.uniform(0.5, 1.5, blob.shape), np.ones(blob.shape)][k]
            elif layer.type == "Scale" and k == 0:
                values = rng.uniform(0.5, 1.5, blob.shape)
            elif layer.type == "PReLU":
                values = rng.uniform(0, 0.5, blob.shape)
            elif blob.data.ndim >= 2:
                values = rng.normal(0, np.sqrt(2 / max(np.prod(blob.shape[1:]), 1)), blob.shape)
            else:
                values = rng.normal(0, 0.1, blob.shape)
            blob.data = values.astype(np.float32)


def run_onnx(model, feeds: dict[str, np.ndarray], extra: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The model's outputs (and the values named in `extra`, made outputs too) for these inputs."""
    if extra:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        model.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                                  for name in extra)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def compare(net: Net, model, feeds: dict[str, np.ndarray], extra: tuple[str, ...] = ()) -> float:
    """Assert that onnxruntime gives protonet's outputs (and `extra` blobs) within RTOL and an atol of
    ATOL_PER_SCALE x each output's largest |value|; returns the largest |difference| / largest |value| seen."""
    want = dict(net.forward(**feeds))
    want.update((name, net.blobs[name].data.copy()) for name in extra)
    got = run_onnx(model, feeds, extra)
    assert set(got) == set(want)
    worst = 0.0
    for name, expected in want.items():
        scale = float(np.abs(expected).max()) or 1.0
        np.testing.assert_allclose(got[name], expected, rtol=RTOL, atol=ATOL_PER_SCALE * scale, err_msg=name)
        worst = max(worst, float(np.abs(got[name] - expected).max()) / scale)
    return worst


def random_inputs(net: Net, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.normal(0, 1, net.blobs[name].shape).astype(np.float32) for name in net.inputs}
