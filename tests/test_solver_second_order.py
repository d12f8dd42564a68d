"""Newton and LBFGS: hand-computed steps, the least-squares and logistic-regression optima computed here in
plain numpy, the strong-Wolfe line search, the replayed batch, refusals and bit-exact resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from protonet.errors import ConfigError, NumericalError
from protonet.solvers.line_search import cubic_minimum, strong_wolfe

from .test_resume import FIELDS, assert_same, randomised_net, snapshot_and_restore
from .test_solver_helpers import make_solver, weights

N = 12
NET = """
name: "regression"
layer { name: "in" type: "Input" top: "feat" top: "t"
        input_param { shape { dim: N dim: D } shape { dim: N dim: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "feat" top: "y"
        param { lr_mult: 1 } param { lr_mult: BIAS_LR }
        inner_product_param { num_output: 1 weight_filler { type: "gaussian" std: 0.5 }
                              bias_filler { type: "constant" value: 0.3 } } }
layer { name: "loss" type: "LOSS" bottom: "y" bottom: "t" top: "loss" }
"""


def data(dims: int = 3, logistic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, dims))
    signal = x @ np.arange(1.0, dims + 1) - 0.5
    if logistic:  # labels with noise enough that the classes overlap: a finite optimum
        return x, (signal + rng.normal(scale=2.0, size=N) > 0).astype(float)[:, None]
    return x, (signal + 0.1 * rng.normal(size=N))[:, None]


def solver(fields: str, logistic: bool = False, dims: int = 3, bias_lr: float = 1, **kwargs: object):
    x, t = data(dims, logistic)
    loss = "SigmoidCrossEntropyLoss" if logistic else "EuclideanLoss"
    net = (NET.replace("LOSS", loss).replace("BIAS_LR", str(bias_lr)).replace("N", str(N))
           .replace("D", str(dims)))
    s = make_solver(net, fields, **kwargs)
    s.net.blobs["feat"].data = x.astype(s.net.blobs["feat"].data.dtype)
    s.net.blobs["t"].data = t.astype(s.net.blobs["t"].data.dtype)
    return s, x, t


def theta(s) -> np.ndarray:
    """[w..., b] of the net."""
    w, b = weights(s)
    return np.concatenate([w.ravel(), b.ravel()])


def design(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def logistic_terms(th: np.ndarray, x: np.ndarray, t: np.ndarray, wd: float
                   ) -> tuple[float, np.ndarray, np.ndarray]:
    """f = mean binary cross-entropy + wd/2 |theta|^2, its gradient and Hessian, written out."""
    a = design(x)
    z = a @ th
    p = 1 / (1 + np.exp(-z))
    y = t.ravel()
    f = np.mean(np.logaddexp(0, z) - y * z) + wd / 2 * th @ th
    g = a.T @ (p - y) / len(y) + wd * th
    h = a.T @ (a * (p * (1 - p))[:, None]) / len(y) + wd * np.eye(len(th))
    return f, g, h


def logistic_optimum(x: np.ndarray, t: np.ndarray, wd: float) -> np.ndarray:
    th = np.zeros(x.shape[1] + 1)
    for _ in range(50):
        _, g, h = logistic_terms(th, x, t, wd)
        th -= np.linalg.solve(h, g)
    assert np.abs(logistic_terms(th, x, t, wd)[1]).max() < 1e-13
    return th


# -- Newton -------------------------------------------------------------------------------------

def test_one_newton_step_solves_linear_regression_exactly() -> None:
    s, x, t = solver('type: "Newton" base_lr: 1')
    s.step(1)
    expected = np.linalg.lstsq(design(x), t.ravel(), rcond=None)[0]
    np.testing.assert_allclose(theta(s), expected, rtol=1e-9, atol=1e-10)


def test_one_newton_step_solves_ridge_regression_with_weight_decay() -> None:
    wd = 0.3
    s, x, t = solver(f'type: "Newton" base_lr: 1 weight_decay: {wd}')
    s.step(1)
    a = design(x)
    wd = float(np.float32(wd))
    expected = np.linalg.solve(a.T @ a / N + wd * np.eye(4), a.T @ t.ravel() / N)
    np.testing.assert_allclose(theta(s), expected, rtol=1e-9, atol=1e-10)


def test_newton_leaves_a_frozen_bias_alone() -> None:
    s, x, t = solver('type: "Newton" base_lr: 1', bias_lr=0)
    s.step(1)
    expected = np.linalg.lstsq(x, t.ravel() - float(np.float32(0.3)), rcond=None)[0]
    np.testing.assert_allclose(theta(s), [*expected, float(np.float32(0.3))], rtol=1e-9, atol=1e-10)


def test_newton_steps_by_hand_with_damping_weight_decay_and_a_rate() -> None:
    wd, damping, lr = 0.01, 0.5, 0.8
    s, x, t = solver(f'type: "Newton" base_lr: {lr} weight_decay: {wd} newton_damping: {damping}',
                     logistic=True)
    th = theta(s)
    wd, damping, lr = (float(np.float32(v)) for v in (wd, damping, lr))
    for step in range(3):
        _, g, h = logistic_terms(th, x, t, wd)
        th = th - lr * np.linalg.solve(h + damping * np.eye(4), g)
        s.step(1)
        np.testing.assert_allclose(theta(s), th, rtol=1e-7, atol=1e-8, err_msg=f"after step {step + 1}")


def test_newton_reaches_the_logistic_regression_optimum() -> None:
    s, x, t = solver('type: "Newton" base_lr: 1 weight_decay: 0.01', logistic=True)
    s.step(8)
    np.testing.assert_allclose(theta(s), logistic_optimum(x, t, float(np.float32(0.01))), rtol=1e-7,
                               atol=1e-8)


def test_newton_refuses_a_large_net_and_names_the_count() -> None:
    with pytest.raises(ConfigError, match=r"3,001 learnable values, over Newton's limit of 2,000") as info:
        solver('type: "Newton" base_lr: 1', dims=3000)
    assert "LBFGS" in str(info.value)


def test_a_singular_hessian_asks_for_damping() -> None:
    s, x, t = solver('type: "Newton" base_lr: 1')
    s.net.blobs["feat"].data[:, 1] = s.net.blobs["feat"].data[:, 0]  # two equal features: H is singular
    with pytest.raises(NumericalError, match="Hessian is singular") as info:
        s.step(1)
    assert "newton_damping" in str(info.value)
    damped, _, _ = solver('type: "Newton" base_lr: 1 newton_damping: 1e-6')
    damped.net.blobs["feat"].data[:, 1] = damped.net.blobs["feat"].data[:, 0]
    damped.step(1)
    assert np.isfinite(theta(damped)).all()


# -- LBFGS ----------------------------------------------------------------------------------------

def lbfgs_reference(th: np.ndarray, fg, steps: int, lr: float, history: int) -> list[np.ndarray]:
    """torch's L-BFGS update for `steps` iterations where the line search's first trial meets the strong
    Wolfe conditions (asserted: then the search stops there)."""
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    out, d, t, g_prev, h0 = [], None, None, None, 1.0
    for k in range(steps):
        f, g = fg(th)
        if k == 0:
            d = -g
        else:
            y, s = g - g_prev, d * t
            if y @ s > 1e-10:
                s_list, y_list = (s_list + [s])[-history:], (y_list + [y])[-history:]
                h0 = (y @ s) / (y @ y)
            q, alphas = -g, []
            for s_i, y_i in reversed(list(zip(s_list, y_list, strict=True))):
                alphas.insert(0, (s_i @ q) / (y_i @ s_i))
                q = q - alphas[0] * y_i
            d = h0 * q
            for (s_i, y_i), a in zip(zip(s_list, y_list, strict=True), alphas, strict=True):
                d = d + (a - (y_i @ d) / (y_i @ s_i)) * s_i
        g_prev = g
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if k == 0 else lr
        f_new, g_new = fg(th + t * d)
        assert f_new <= f + 1e-4 * t * (g @ d), f"step {k + 1}: the first trial fails sufficient decrease"
        assert abs(g_new @ d) <= 0.9 * abs(g @ d), f"step {k + 1}: the first trial fails the curvature test"
        th = th + t * d
        out.append(th)
    return out


def test_lbfgs_steps_by_hand_with_weight_decay() -> None:
    wd, history = 0.05, 2
    s, x, t = solver(f'type: "LBFGS" base_lr: 1 weight_decay: {wd} lbfgs_history_size: {history}',
                     logistic=True)
    wd = float(np.float32(wd))
    expected = lbfgs_reference(theta(s), lambda th: logistic_terms(th, x, t, wd)[:2], 4, 1.0, history)
    for step, th in enumerate(expected):
        s.step(1)
        np.testing.assert_allclose(theta(s), th, rtol=1e-12, atol=1e-14, err_msg=f"after step {step + 1}")
    assert int(s.rule.record[1]) == history  # the ring is full: the oldest pair was dropped


def test_lbfgs_reaches_the_logistic_regression_optimum() -> None:
    s, x, t = solver('type: "LBFGS" base_lr: 1 weight_decay: 0.01 lbfgs_tolerance_change: 1e-15',
                     logistic=True)
    s.step(25)
    np.testing.assert_allclose(theta(s), logistic_optimum(x, t, float(np.float32(0.01))), rtol=1e-6,
                               atol=1e-7)


def test_lbfgs_stops_moving_at_an_optimum() -> None:
    s, x, t = solver('type: "LBFGS" base_lr: 1')
    s.step(30)  # torch's tolerances: it stops once g.d > -1e-9 (or max|g| <= 1e-7)
    at_optimum = theta(s)
    np.testing.assert_allclose(at_optimum, np.linalg.lstsq(design(x), t.ravel(), rcond=None)[0], rtol=1e-5)
    s.step(2)
    np.testing.assert_array_equal(theta(s), at_optimum)


def test_lbfgs_refuses_clipping() -> None:
    with pytest.raises(ConfigError, match="clip_gradients cannot be used with LBFGS"):
        solver('type: "LBFGS" base_lr: 1 clip_gradients: 10')


# -- the line search ------------------------------------------------------------------------------

def test_cubic_minimum_of_a_cubic_is_exact() -> None:
    def f(z: float) -> float:
        return z**3 - 3 * z  # minimum at 1

    def df(z: float) -> float:
        return 3 * z**2 - 3

    assert cubic_minimum(0.0, f(0), df(0), 2.0, f(2), df(2)) == pytest.approx(1.0, rel=1e-12)
    assert cubic_minimum(2.0, f(2), df(2), 0.0, f(0), df(0)) == pytest.approx(1.0, rel=1e-12)
    assert cubic_minimum(0.0, f(0), df(0), 2.0, f(2), df(2), bounds=(1.5, 3.0)) == 1.5


@pytest.mark.parametrize("t0", [1e-4, 1.0, 40.0])  # extrapolation, accepted at once, zoom in a bracket
def test_strong_wolfe_meets_both_conditions(t0: float) -> None:
    def phi(t: float) -> tuple[float, np.ndarray]:
        z = 3.0 + t * d[0]  # f(z) = z^4 / 4 - 2 z^2 + z, from z = 3 along d = -1
        return z**4 / 4 - 2 * z**2 + z, np.array([z**3 - 4 * z + 1])

    d = np.array([-1.0])
    f0, g0 = phi(0.0)
    gtd = float(g0 @ d)
    f, g, t, evaluations = strong_wolfe(phi, t0, d, f0, g0, gtd)
    f_t, g_t = phi(t)
    assert f == f_t and np.array_equal(g, g_t) and isinstance(t, float)
    assert f <= f0 + 1e-4 * t * gtd
    assert abs(float(g @ d)) <= 0.9 * abs(gtd)
    assert 1 <= evaluations <= 25


# -- the iteration's batch, resume, the command line ---------------------------------------------

RESUMABLE = {"Newton": "newton_damping: 5 base_lr: 0.5", "LBFGS": "lbfgs_history_size: 3 base_lr: 0.5"}


@pytest.mark.parametrize("rule", list(RESUMABLE))
def test_evaluations_replay_the_iterations_batch(rule: str) -> None:
    """Dropout, noise and the data cursor end as after one pass: the same as SGD's."""
    ours = make_solver(randomised_net(), f'type: "{rule}" {RESUMABLE[rule]}', dtype=np.float32)
    sgd = make_solver(randomised_net(), "", dtype=np.float32)
    for step in range(3):
        ours.step(1)
        sgd.step(1)
        assert ours.net.ctx.rng.bit_generator.state == sgd.net.ctx.rng.bit_generator.state
        assert ours.net.layers[0].cursor() == sgd.net.layers[0].cursor() != (0, 0)
        if step == 0:
            assert ours.losses[-1] == sgd.losses[-1]  # the same weights and batch at iteration 0
    assert weights(ours)[0].tolist() != weights(sgd)[0].tolist()


@pytest.mark.parametrize("rule", list(RESUMABLE))
def test_restore_continues_bit_for_bit(rule: str, tmp_path: Path) -> None:
    fields = f'type: "{rule}" {RESUMABLE[rule]} {FIELDS.replace("clip_gradients: 5", "")}'
    first, second = snapshot_and_restore(fields, tmp_path, 4, 3)
    second.step(3)
    assert_same(weights(first), weights(second))
    assert_same(first.rule.state_arrays(), second.rule.state_arrays())
    assert first.test_scores == second.test_scores and math.isfinite(first.smoothed_loss)


def test_strong_wolfe_extrapolates_at_most_tenfold() -> None:
    """phi(t) = (t - 5)^2 / 2: the curvature test wants t >= 0.5 and each cubic step (exact: 5) is clamped
    to ten times the last, so the trials from 1e-4 are 1e-3, 1e-2, 0.1 and 1, which passes."""
    trials: list[float] = []

    def phi(t: float) -> tuple[float, np.ndarray]:
        trials.append(t)
        return (t - 5) ** 2 / 2, np.array([t - 5])

    f, g, t, evaluations = strong_wolfe(phi, 1e-4, np.array([1.0]), 12.5, np.array([-5.0]), -5.0)
    assert trials == pytest.approx([1e-4, 1e-3, 1e-2, 0.1, 1.0], rel=1e-12)
    assert (t, f, g[0], evaluations) == (trials[-1], 8.0, -4.0, 5)
