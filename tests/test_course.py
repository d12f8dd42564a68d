"""configs/course: every lesson trains, and each shows what its first line says it shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protonet import Net, Solver
from protonet.config import load_solver
from protonet.errors import DataError
from protonet.gradcheck import check_net
from protonet.solvers import RULES

COURSE = Path(__file__).resolve().parents[1] / "configs" / "course"
SOLVERS = sorted(COURSE.glob("*/solver*.yaml"))
NETS = sorted(COURSE.glob("*/net.yaml"))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the lessons' relative snapshot prefixes land in the test's folder


def train(solver_file: Path, *overrides: str) -> Solver:
    try:
        solver = Solver(solver_file, overrides=list(overrides))
    except DataError as exc:
        pytest.skip(f"the lesson's data is not available: {exc}")
    solver.solve()
    return solver


def features(solver: Solver) -> tuple[np.ndarray, np.ndarray]:
    """The train net's records as (N, D) float64 features and (N,) targets."""
    records = solver.net.layers[0].records
    return records.images.reshape(records.num, -1).astype(np.float64), records.labels.astype(np.float64)


def test_the_course_has_a_folder_per_lesson_each_with_a_net_and_a_stated_solver():
    lessons = sorted(p.name for p in COURSE.iterdir() if p.is_dir())
    assert lessons == ["01_linear_regression", "02_logistic_regression", "03_linear_vs_mlp", "04_activations",
                       "05_fashion_mnist", "06_optimizers", "07_symmetry"]
    readme = (COURSE / "README.md").read_text()
    for solver in SOLVERS:
        first = solver.read_text().splitlines()[0]
        assert first.startswith("# ") and len(first) > 30, solver
        assert f"{solver.parent.name}/{solver.name}" in readme, solver


@pytest.mark.parametrize("solver_file", SOLVERS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_lesson_trains(solver_file: Path):
    solver = train(solver_file, "max_iter=3", "test_interval=2", "test_iter=1")
    assert solver.iter == 3 and np.isfinite(solver.smoothed_loss)
    assert Path(solver.prefix + "_metrics.jsonl").is_file()


@pytest.mark.parametrize("net_file", NETS, ids=lambda p: p.parent.name)
def test_gradcheck_passes_on_every_lesson_net(net_file: Path):
    try:
        net = Net(net_file, phase="TRAIN", dtype=np.float64, seed=1)
    except DataError as exc:
        pytest.skip(f"the lesson's data is not available: {exc}")
    rows = check_net(net, samples=5 if net_file.parent.name == "05_fashion_mnist" else 20)
    assert rows and len(rows) == len(net.learnable)
    assert max(row.max_error for row in rows) < 1e-4, [(r.layer, r.index, r.max_error) for r in rows]


@pytest.mark.parametrize(("solver_file", "iterations"), [("solver.yaml", 100), ("solver_newton.yaml", 1)])
def test_gradient_descent_and_one_newton_step_reach_the_normal_equation_solution(solver_file: str, iterations: int):
    solver = train(COURSE / "01_linear_regression" / solver_file)
    assert solver.iter == iterations
    x, y = features(solver)
    design = np.hstack([x, np.ones((len(x), 1))])
    exact = np.linalg.lstsq(design, y, rcond=None)[0]  # argmin |design.theta - y|^2: the normal equation
    fit = solver.net.params["fit"]
    learned = np.append(fit[0].data.ravel(), fit[1].data)
    assert np.abs(exact - np.zeros(4)).max() > 0.5  # far from the start (w = 0, b = 0)
    np.testing.assert_allclose(learned, exact, atol=1e-4)


@pytest.mark.parametrize("overrides, atol", [
    (["max_iter=500"], 2e-3),  # gradient descent, the lesson's own solver
    (["type=Newton", "max_iter=20"], 1e-5),  # 20: the last test runs at a multiple of test_interval
    # L-BFGS stops once the float32 loss no longer changes (lbfgs_tolerance_change): near the
    # minimum, a change of 3e-8 in the loss is a step of about 1e-4 in the weights.
    (["type=LBFGS", "max_iter=40"], 5e-4),
], ids=["gd", "newton", "lbfgs"])
def test_logistic_regression_reaches_the_cross_entropy_minimum(overrides: list[str], atol: float):
    solver = train(COURSE / "02_logistic_regression" / "solver.yaml", *overrides)
    x, y = features(solver)
    design = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(3)
    for _ in range(25):  # Newton's method (IRLS) in float64, independent of protonet
        p = 1 / (1 + np.exp(-design @ theta))
        hessian = design.T @ (design * (p * (1 - p))[:, None])
        theta -= np.linalg.solve(hessian, design.T @ (p - y))
    logit = solver.net.params["logit"]
    learned = np.append(logit[0].data.ravel(), logit[1].data)
    np.testing.assert_allclose(learned, theta, atol=atol)
    assert solver.test_scores[0]["accuracy"] > 0.85


def test_two_linear_layers_fail_on_xor_and_the_mlp_succeeds():
    scores = train(COURSE / "03_linear_vs_mlp" / "solver.yaml").test_scores[0]
    assert scores["accuracy_linear"] < 0.6
    assert scores["accuracy_mlp"] > 0.95


def test_every_activation_learns_the_spiral():
    scores = train(COURSE / "04_activations" / "solver.yaml", "max_iter=1500").test_scores[0]
    for activation in ("sigmoid", "tanh", "relu", "bnll"):
        assert scores[f"accuracy_{activation}"] > 0.9, activation


def test_the_optimizer_lesson_has_a_solver_for_every_update_rule():
    types = {load_solver(path).type for path in (COURSE / "06_optimizers").glob("solver_*.yaml")}
    assert load_solver(COURSE / "01_linear_regression" / "solver_newton.yaml").type == "Newton"
    missing = sorted(set(RULES) - types - {"Newton"})  # Newton's lesson is linear regression: the MLP is too big
    assert not missing, (f"no lesson for {missing}: add configs/course/06_optimizers/solver_<name>.yaml "
                         "(type: <rule>) on the shared net.yaml")


@pytest.mark.parametrize("rule", ["sgd", "momentum", "adam", "nadam", "adamw"])
def test_optimizers_learn_the_spiral(rule: str):
    scores = train(COURSE / "06_optimizers" / f"solver_{rule}.yaml", "max_iter=600").test_scores[0]
    assert scores["accuracy"] > (0.7 if rule == "sgd" else 0.9)


def test_constant_init_keeps_hidden_units_identical_and_random_init_does_not():
    solver = train(COURSE / "07_symmetry" / "solver.yaml", "max_iter=500")
    constant = solver.net.params["constant_hidden"][0].data  # (16, 2): one row per hidden unit
    random = solver.net.params["random_hidden"][0].data
    assert np.abs(constant - 0.3).max() > 0.1  # it did learn something ...
    np.testing.assert_array_equal(constant, np.broadcast_to(constant[0], constant.shape))  # ... all alike
    output = solver.net.params["constant_output"][0].data  # (2, 16): every unit weighs the same per class
    np.testing.assert_array_equal(output, np.broadcast_to(output[:, :1], output.shape))
    gaps = np.abs(random[:, None, :] - random[None, :, :]).max(axis=2)
    assert gaps[~np.eye(len(random), dtype=bool)].min() > 1e-3  # every pair of random units differs
    scores = solver.test_scores[0]
    assert scores["accuracy_random"] > 0.97 and scores["accuracy_constant"] < 0.92
