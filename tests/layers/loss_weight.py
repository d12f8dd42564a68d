"""Shared check for loss layers: a loss_weight w given in a net scales the loss and every gradient by w.

The net writes w into top[0].diff before the loss layer's backward, so this runs the layer inside
protonet.net.Net from a tiny prototxt and compares with the bare layer run with top[0].diff = 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protonet.gradcheck import make_layer, run_layer
from protonet.net import Net


def check_loss_weight(tmp_path: Path, layer_text: str, inputs: list[np.ndarray], weight: float,
                      grad_bottoms: tuple[int, ...] = (0,)) -> None:
    """Assert Net loss == w * L and Net input diffs == w * dL/dx for the layer `layer_text` on `inputs`."""
    names = [f"in{i}" for i in range(len(inputs))]
    lines = ['name: "loss_weight_test"', "force_backward: true"]
    for name, x in zip(names, inputs, strict=True):
        dims = " ".join(f"dim: {d}" for d in x.shape)
        lines.append(f'layer {{ name: "{name}" type: "Input" top: "{name}" '
                     f'input_param {{ shape {{ {dims} }} }} }}')
    bottoms = " ".join(f'bottom: "{n}"' for n in names)
    lines.append(f'layer {{ name: "loss" {layer_text} {bottoms} top: "loss" loss_weight: {weight} }}')
    path = tmp_path / "net.prototxt"
    path.write_text("\n".join(lines) + "\n")
    net = Net(path, phase="TRAIN", dtype=np.float64)
    net.forward(**dict(zip(names, inputs, strict=True)))
    diffs = net.backward()

    layer = make_layer(layer_text)
    bottom, top = run_layer(layer, inputs)
    top[0].diff = 1.0
    layer.backward(top, [i in grad_bottoms for i in range(len(inputs))], bottom)
    np.testing.assert_allclose(net.loss, weight * float(top[0].data), rtol=1e-12)
    for i in grad_bottoms:
        np.testing.assert_allclose(diffs[names[i]], weight * bottom[i].diff, rtol=1e-12, atol=1e-15)
        assert np.abs(bottom[i].diff).max() > 0
