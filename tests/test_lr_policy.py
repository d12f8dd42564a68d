"""Learning-rate policies against Caffe's formulas, written out here, at several iterations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.proto import pb
from protonet.solvers import POLICIES, learning_rate
from protonet.solvers.lr_policy import check_policy


def param(**fields: object) -> pb.SolverParameter:
    return pb.SolverParameter(base_lr=0.01, **fields)


def f32(x: float) -> float:
    """Solver fields are float32 on the wire: the formulas see these values."""
    return float(np.float32(x))


def test_inv_matches_the_caffe_mnist_log() -> None:
    p = param(lr_policy="inv", gamma=1e-4, power=0.75)
    assert f"{learning_rate(p, 100)[0]:.6g}" == "0.00992565"
    assert learning_rate(p, 10000)[0] == pytest.approx(0.0059460356, rel=1e-6)
    for it in (0, 1, 5000):
        assert learning_rate(p, it)[0] == pytest.approx(f32(0.01) * (1 + f32(1e-4) * it) ** -0.75, rel=1e-12)


def test_fixed() -> None:
    p = param(lr_policy="fixed")
    assert [learning_rate(p, it)[0] for it in (0, 7, 10**6)] == [f32(0.01)] * 3


def test_step_and_its_current_step() -> None:
    p = param(lr_policy="step", gamma=0.1, stepsize=10)
    for it, k in ((0, 0), (9, 0), (10, 1), (25, 2)):
        rate, step = learning_rate(p, it, 0)
        assert step == k
        assert rate == pytest.approx(f32(0.01) * f32(0.1) ** k, rel=1e-12)


def test_exp() -> None:
    p = param(lr_policy="exp", gamma=0.99)
    for it in (0, 1, 50):
        assert learning_rate(p, it)[0] == pytest.approx(f32(0.01) * f32(0.99) ** it, rel=1e-12)


def test_multistep_is_stateful_and_advances_one_step_per_iteration() -> None:
    p = param(lr_policy="multistep", gamma=0.5, stepvalue=[3, 5])
    step, rates = 0, []
    for it in range(7):
        rate, step = learning_rate(p, it, step)
        rates.append(rate / f32(0.01))
    assert rates == pytest.approx([1, 1, 1, 0.5, 0.5, 0.25, 0.25])
    # Starting late (as Caffe does) it catches up one stepvalue per call.
    rate, step = learning_rate(p, 100, 0)
    assert (step, rate) == (1, pytest.approx(f32(0.01) * 0.5))
    assert learning_rate(p, 101, step)[1] == 2


def test_poly() -> None:
    p = param(lr_policy="poly", power=2.0, max_iter=100)
    for it in (0, 50, 99, 100):
        assert learning_rate(p, it)[0] == pytest.approx(f32(0.01) * (1 - it / 100) ** 2, rel=1e-12)
    assert learning_rate(p, 150)[0] == 0.0


def test_sigmoid() -> None:
    p = param(lr_policy="sigmoid", gamma=0.1, stepsize=20)
    for it in (0, 20, 40):
        expected = f32(0.01) / (1 + math.exp(-f32(0.1) * (it - 20)))
        assert learning_rate(p, it)[0] == pytest.approx(expected, rel=1e-12)
    assert learning_rate(param(lr_policy="sigmoid", gamma=10, stepsize=1000), 0)[0] == pytest.approx(0.0)


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "lr_policy is not set"),
    ({"lr_policy": "stepp"}, "did you mean 'step'"),
    ({"lr_policy": "step", "gamma": 0.1}, "needs stepsize"),
    ({"lr_policy": "step", "gamma": 0.1, "stepsize": 0}, "stepsize must be > 0"),
    ({"lr_policy": "inv", "gamma": 0.1}, "needs power"),
    ({"lr_policy": "exp", "gamma": -1.0}, "gamma must be >= 0"),
    ({"lr_policy": "multistep", "gamma": 0.1}, "needs stepvalue"),
    ({"lr_policy": "multistep", "gamma": 0.1, "stepvalue": [5, 5]}, "stepvalue must increase"),
    ({"lr_policy": "poly", "power": 1.0}, "needs max_iter"),
])
def test_bad_policies_are_config_errors(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_policy(param(**fields), file="solver.prototxt")


def test_every_policy_is_checked_and_computed() -> None:
    full = param(gamma=0.5, power=1.0, stepsize=2, stepvalue=[1], max_iter=4)
    for policy in POLICIES:
        full.lr_policy = policy
        check_policy(full)
        assert 0 <= learning_rate(full, 1)[0] <= f32(0.01)
