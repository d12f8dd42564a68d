"""Tile: forward against np.concatenate of copies, gradients on several axes."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.gradcheck import check_gradient, make_layer, run_layer


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_forward(rng, axis):
    x = rng.normal(size=(2, 3, 2))
    _, top = run_layer(make_layer(f'type: "Tile" tile_param {{ axis: {axis} tiles: 3 }}'), [x])
    np.testing.assert_array_equal(top[0].data, np.concatenate([x, x, x], axis=axis))


@pytest.mark.parametrize(("axis", "tiles"), [(0, 2), (1, 3), (-1, 2), (1, 1)])
def test_gradient(rng, axis, tiles):
    check_gradient(f'type: "Tile" tile_param {{ axis: {axis} tiles: {tiles} }}', [rng.normal(size=(2, 3, 2))])


def test_tiles_must_be_positive():
    with pytest.raises(ConfigError, match="tiles"):
        run_layer(make_layer('type: "Tile" tile_param { tiles: 0 }'), [np.ones((2, 2))])
