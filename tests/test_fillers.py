"""Fillers follow Caffe's formulas (filler.hpp)."""

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.fillers import fill
from protonet.proto import pb


def filled(shape, **kwargs):
    x = np.zeros(shape, np.float64)
    fill(x, pb.FillerParameter(**kwargs), np.random.default_rng(0))
    return x


def test_constant_and_uniform():
    assert np.all(filled((3, 4), type="constant", value=2.5) == 2.5)
    x = filled((200, 50), type="uniform", min=-2, max=3)
    assert x.min() >= -2 and x.max() <= 3 and abs(x.mean() - 0.5) < 0.05


def test_gaussian_and_sparse():
    x = filled((200, 100), type="gaussian", mean=1, std=2)
    assert abs(x.mean() - 1) < 0.05 and abs(x.std() - 2) < 0.05
    sparse = filled((100, 400), type="gaussian", sparse=10)
    assert abs((sparse != 0).mean() - 10 / 100) < 0.01


@pytest.mark.parametrize(("norm", "n"), [("FAN_IN", 3 * 5 * 5), ("FAN_OUT", 400 * 5 * 5),
                                         ("AVERAGE", (3 * 25 + 400 * 25) / 2)])
def test_xavier_and_msra_scales(norm, n):
    """n = fan_in = count / shape[0], fan_out = count / shape[1], or their mean."""
    x = filled((400, 3, 5, 5), type="xavier", variance_norm=pb.FillerParameter.VarianceNorm.Value(norm))
    a = np.sqrt(3 / n)
    assert x.max() <= a and x.min() >= -a and x.max() > 0.99 * a
    m = filled((400, 3, 5, 5), type="msra", variance_norm=pb.FillerParameter.VarianceNorm.Value(norm))
    assert m.std() == pytest.approx(np.sqrt(2 / n), rel=0.02)


def test_positive_unitball_rows_sum_to_one():
    x = filled((6, 2, 3), type="positive_unitball")
    np.testing.assert_allclose(x.reshape(6, -1).sum(axis=1), 1)
    assert (x >= 0).all()


def test_bilinear_kernel():
    x = filled((2, 1, 4, 4), type="bilinear")
    f, c = 2, 3 / 4  # f = ceil(4 / 2), c = (4 - 1) / (2 f)
    expected = np.array([[(1 - abs(i / f - c)) * (1 - abs(j / f - c)) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(x[1, 0], expected)


def test_unknown_filler_and_misplaced_sparse():
    with pytest.raises(ConfigError, match="unknown filler type 'xavir'.*did you mean 'xavier'"):
        filled((2, 2), type="xavir")
    with pytest.raises(ConfigError, match="sparse"):
        filled((2, 2), type="xavier", sparse=1)
