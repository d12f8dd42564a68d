"""Silence: no tops, backward writes zeros where asked, and it swallows a net output."""

import numpy as np
from google.protobuf import text_format

from protonet.gradcheck import make_layer, run_layer
from protonet.net import Net
from protonet.proto import pb


def test_backward_writes_zeros_where_asked(rng):
    layer = make_layer('type: "Silence"')
    bottom, top = run_layer(layer, [rng.normal(size=(2, 3)), rng.normal(size=(4,))], num_tops=0)
    assert top == []
    bottom[0].diff = np.ones((2, 3))
    bottom[1].diff = np.ones(4)
    layer.backward(top, [True, False], bottom)
    np.testing.assert_array_equal(bottom[0].diff, 0.0)
    np.testing.assert_array_equal(bottom[1].diff, 1.0)


def test_silenced_blob_is_not_an_output():
    net = Net(text_format.Parse("""
        layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 } } }
        layer { name: "quiet" type: "Silence" bottom: "y" }
    """, pb.NetParameter()))
    assert net.outputs == ["x"]
