"""DummyData: shapes (new and legacy), fillers per top, refill each forward from the seeded rng, errors."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import make_layer, run_layer

TWO_TOPS = """type: "DummyData" dummy_data_param {
    shape { dim: 2 dim: 3 } shape { dim: 4 }
    data_filler { type: "constant" value: 7 } data_filler { type: "gaussian" std: 1 } }"""


def test_shapes_and_fillers_per_top():
    _, top = run_layer(make_layer(TWO_TOPS), [], num_tops=2)
    assert [t.shape for t in top] == [(2, 3), (4,)]
    np.testing.assert_array_equal(top[0].data, 7.0)
    assert len(set(top[1].data.tolist())) == 4


def test_legacy_dims_one_for_all_and_default_zero():
    config = 'type: "DummyData" dummy_data_param { num: 2 channels: 3 channels: 1 height: 4 width: 5 }'
    _, top = run_layer(make_layer(config), [], num_tops=2)
    assert [t.shape for t in top] == [(2, 3, 4, 5), (2, 1, 4, 5)]
    assert all((t.data == 0).all() for t in top)


def test_refilled_every_forward_and_repeatable_with_a_seed():
    layer = make_layer(TWO_TOPS, seed=3)
    bottom, top = run_layer(layer, [], num_tops=2)
    first = top[1].data.copy()
    layer.forward(bottom, top)
    assert (top[1].data != first).all()
    np.testing.assert_array_equal(top[0].data, 7.0)
    again = run_layer(make_layer(TWO_TOPS, seed=3), [], num_tops=2)[1]
    np.testing.assert_array_equal(again[1].data, first)


def test_float32_stays_float32():
    _, top = run_layer(make_layer(TWO_TOPS, dtype=np.float32), [], num_tops=2)
    assert top[1].data.dtype == np.float32


@pytest.mark.parametrize(("params", "message"), [
    ("shape { dim: 2 } shape { dim: 3 }", "2 shape values for 3 tops"),
    ("shape { dim: 2 } num: 2", "both shape and"),
    ("shape { dim: 0 }", "zero or negative"),
    ("shape { dim: 2 } data_filler {} data_filler {}", "2 data_filler values"),
])
def test_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        run_layer(make_layer(f'type: "DummyData" dummy_data_param {{ {params} }}'), [], num_tops=3)
