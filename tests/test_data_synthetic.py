"""Synthetic problems: shapes, classes, determinism by seed, one problem per seed across phases, the
Data layer's synthetic_param, and the errors for fields that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.config import parse
from protonet.data.synthetic import KINDS, generate
from protonet.errors import ConfigError
from protonet.net import Net
from protonet.proto import pb

CASES = [("linear", 4, 2), ("moons", 2, 2), ("circles", 2, 2), ("xor", 2, 2), ("blobs", 3, 4), ("spiral", 2, 3)]


def test_every_kind_is_covered():
    assert sorted(kind for kind, _, _ in CASES) == sorted(KINDS)


@pytest.mark.parametrize("kind, dims, classes", CASES)
def test_shapes_classes_and_determinism(kind, dims, classes):
    x, y = generate(kind, num=600, noise=0.1, seed=5, dims=dims, classes=classes)
    assert x.shape == (600, dims) and y.shape == (600,) and np.isfinite(x).all()
    if kind != "linear":
        assert y.dtype.kind == "i" and set(np.unique(y)) == set(range(classes))
        assert np.bincount(y).min() > 600 / classes * 0.75  # classes drawn uniformly
    again = generate(kind, num=600, noise=0.1, seed=5, dims=dims, classes=classes)
    np.testing.assert_array_equal(x, again[0])
    np.testing.assert_array_equal(y, again[1])
    other = generate(kind, num=600, noise=0.1, seed=6, dims=dims, classes=classes)
    assert not np.array_equal(x, other[0])
    test = generate(kind, num=600, noise=0.1, seed=5, dims=dims, classes=classes, phase=pb.TEST)
    assert not np.array_equal(x, test[0])  # the TEST phase draws other points


@pytest.mark.parametrize("kind, class_of", [
    ("xor", lambda p: (p[:, 0] > 0) != (p[:, 1] > 0)),
    ("circles", lambda p: np.hypot(p[:, 0], p[:, 1]) < 0.75),
])
def test_noise_free_points_lie_where_their_class_says(kind, class_of):
    x, y = generate(kind, num=500, noise=0.0, seed=1)
    np.testing.assert_array_equal(class_of(x), y == 1)


def test_noise_free_moons_are_two_unit_half_circles_mirrored_through_the_origin():
    x, y = generate("moons", num=500, noise=0.0, seed=1)
    np.testing.assert_allclose(np.hypot(x[y == 0, 0] + 0.5, x[y == 0, 1] + 0.25), 1)
    np.testing.assert_allclose(np.hypot(x[y == 1, 0] - 0.5, x[y == 1, 1] - 0.25), 1)
    assert (x[y == 0, 1] >= -0.25 - 1e-12).all() and (x[y == 1, 1] <= 0.25 + 1e-12).all()


def test_linear_is_one_problem_in_both_phases():
    """The true w and b come from the seed alone: least squares on TRAIN and on TEST records agree."""
    fits = []
    for phase in (pb.TRAIN, pb.TEST):
        x, y = generate("linear", num=2000, noise=0.01, seed=3, dims=3, phase=phase)
        fits.append(np.linalg.lstsq(np.hstack([x, np.ones((len(x), 1))]), y, rcond=None)[0])
    np.testing.assert_allclose(fits[0], fits[1], atol=2e-3)
    residual = y - np.hstack([x, np.ones((len(x), 1))]) @ fits[1]
    assert residual.std() == pytest.approx(0.01, rel=0.1)  # noise: the standard deviation of y's noise


def test_blob_centres_are_shared_across_phases_and_noise_is_their_spread():
    means = []
    for phase in (pb.TRAIN, pb.TEST):
        x, y = generate("blobs", num=3000, noise=0.2, seed=8, dims=2, classes=3, phase=phase)
        means.append(np.array([x[y == k].mean(axis=0) for k in range(3)]))
        assert x[y == 0].std(axis=0) == pytest.approx([0.2, 0.2], rel=0.15)
    np.testing.assert_allclose(means[0], means[1], atol=0.03)


NET = """
name: "synthetic"
layer {{ name: "data" type: "Data" top: "data" top: "label"
         data_param {{ batch_size: 8 {source} }} synthetic_param {{ {param} }} }}
"""


def net(param: str, phase: str = "TRAIN", source: str = "") -> Net:
    return Net(parse(NET.format(param=param, source=source), pb.NetParameter()), phase=phase)


def test_the_data_layer_reads_the_records_of_its_phase():
    train = net('kind: "spiral" num: 20 classes: 3 seed: 2')
    out = train.forward()
    x, y = generate("spiral", num=20, classes=3, seed=2)
    assert out["data"].shape == (8, 2, 1, 1) and train.layers[0].num_records == 20
    np.testing.assert_allclose(out["data"].reshape(8, 2), x[:8], rtol=1e-6)
    np.testing.assert_array_equal(out["label"], y[:8])
    test = net('kind: "spiral" num: 20 classes: 3 seed: 2', phase="TEST").forward()
    np.testing.assert_allclose(test["data"].reshape(8, 2), generate("spiral", num=20, classes=3, seed=2,
                                                                    phase=pb.TEST)[0][:8], rtol=1e-6)


def test_the_defaults_are_a_thousand_moons():
    layer = net("").layers[0]
    assert layer.num_records == 1000 and layer.records.path == "synthetic:moons"


@pytest.mark.parametrize("param, source, expected", [
    ('kind: "moon"', "", "unknown synthetic_param.kind 'moon'; did you mean 'moons'?"),
    ('kind: "moons" dims: 3', "", "synthetic_param.dims is 3, but 'moons' is 2-D"),
    ('kind: "xor" classes: 3', "", "synthetic_param.classes is 3, but 'xor' does not take it"),
    ('kind: "blobs" classes: 1', "", "synthetic_param.classes must be at least 2, found 1"),
    ('kind: "linear" num: 0', "", "synthetic_param.num must be positive, found 0"),
    ('kind: "linear" noise: -1', "", "synthetic_param.noise must be >= 0, found -1"),
    ('kind: "moons"', 'source: "x.npz"', "has both data_param.source and synthetic_param"),
])
def test_fields_that_do_not_fit_are_config_errors_naming_the_layer(param, source, expected):
    with pytest.raises(ConfigError) as info:
        net(param, source=source)
    assert "layer 'data'" in str(info.value) and expected in str(info.value)


def test_yaml_spells_it_as_the_course_configs_do():
    param = parse("layer: [{name: d, type: Data, top: [data, label], data_param: {batch_size: 4},\n"
                  "         synthetic_param: {kind: circles, num: 10, noise: 0.05, seed: 9}}]",
                  pb.NetParameter(), syntax="yaml")
    assert param.layer[0].synthetic_param.kind == "circles" and param.layer[0].synthetic_param.seed == 9
