"""The six update rules, regularisation, multipliers, clipping and iter_size, step by step against
formulas written out here (a linear net whose loss gradient is known exactly: see test_solver_helpers)."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.proto import pb

from .test_solver_helpers import B0, GRAD_B, GRAD_W, W0, feed_net, linear_net, make_solver, weights

RULE_FIELDS = {
    "SGD": "momentum: 0.9",
    "Nesterov": "momentum: 0.9",
    "AdaGrad": "delta: 1e-6",
    "RMSProp": "rms_decay: 0.9 delta: 1e-6",
    "AdaDelta": "momentum: 0.95 delta: 1e-6 base_lr: 1.0",
    "Adam": "momentum: 0.9 momentum2: 0.999 delta: 1e-8 base_lr: 0.01",
}


def reference(p: pb.SolverParameter, steps: int, lr_mult: tuple = (1, 1), decay_mult: tuple = (1, 1),
              scale: float = 1.0) -> list[list[np.ndarray]]:
    """Parameters after each step, by Caffe's formulas; `scale` multiplies the raw gradient (clipping)."""
    params = [np.full((1, 3), W0), np.array([B0])]
    h1 = [np.zeros_like(x) for x in params]
    h2 = [np.zeros_like(x) for x in params]
    mu, delta, out = p.momentum, p.delta, []
    for t in range(steps):
        for k, raw in enumerate((GRAD_W, GRAD_B)):
            w = params[k]
            reg = w if p.regularization_type == "L2" else np.sign(w)
            g = scale * raw + p.weight_decay * decay_mult[k] * reg
            lr = p.base_lr * lr_mult[k]
            if p.type == "SGD":
                h1[k] = lr * g + mu * h1[k]
                step = h1[k]
            elif p.type == "Nesterov":
                new = lr * g + mu * h1[k]
                step = (1 + mu) * new - mu * h1[k]
                h1[k] = new
            elif p.type == "AdaGrad":
                h1[k] = h1[k] + g * g
                step = lr * g / (np.sqrt(h1[k]) + delta)
            elif p.type == "RMSProp":
                h1[k] = p.rms_decay * h1[k] + (1 - p.rms_decay) * g * g
                step = lr * g / (np.sqrt(h1[k]) + delta)
            elif p.type == "AdaDelta":
                h1[k] = mu * h1[k] + (1 - mu) * g * g
                u = g * np.sqrt((h2[k] + delta) / (h1[k] + delta))
                h2[k] = mu * h2[k] + (1 - mu) * u * u
                step = lr * u
            else:
                b1, b2 = p.momentum, p.momentum2
                h1[k] = b1 * h1[k] + (1 - b1) * g
                h2[k] = b2 * h2[k] + (1 - b2) * g * g
                correction = np.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
                step = lr * correction * h1[k] / (np.sqrt(h2[k]) + delta)
            params[k] = w - step
        out.append([x.copy() for x in params])
    return out


def run(solver, steps: int) -> list[list[np.ndarray]]:
    got = []
    for _ in range(steps):
        solver.step(1)
        got.append(weights(solver))
    return got


def assert_steps(got: list, expected: list, rtol: float) -> None:
    for step, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-3, err_msg=f"after step {step + 1}")


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_each_rule_for_three_steps(rule: str) -> None:
    solver = make_solver(linear_net(), f'type: "{rule}" weight_decay: 0.01 {RULE_FIELDS[rule]}')
    assert_steps(run(solver, 3), reference(solver.param, 3), rtol=1e-12)


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_float32_stays_float32(rule: str) -> None:
    fields = f'type: "{rule}" weight_decay: 0.01 {RULE_FIELDS[rule]}'
    solver = make_solver(linear_net(), fields, dtype=np.float32)
    got = run(solver, 3)
    assert all(a.dtype == np.float32 for a in got[-1])
    assert all(h.dtype == np.float32 for h in solver.rule.state_arrays())
    assert_steps(got, reference(solver.param, 3), rtol=2e-5)


@pytest.mark.parametrize("regularization", ["L1", "L2"])
def test_weight_decay_with_decay_and_lr_multipliers(regularization: str) -> None:
    net = linear_net(lr_mult=(1, 2), decay_mult=(3, 0))
    solver = make_solver(net, f'weight_decay: 0.05 regularization_type: "{regularization}" momentum: 0.5')
    expected = reference(solver.param, 4, lr_mult=(1, 2), decay_mult=(3, 0))
    assert_steps(run(solver, 4), expected, rtol=1e-12)
    # The weights change sign along the way, so L1's sign(W) takes both values.
    assert (np.sign(expected[0][0]) != np.sign(expected[-1][0])).any()


def test_lr_mult_zero_freezes_a_param_but_not_the_other() -> None:
    solver = make_solver(linear_net(lr_mult=(0, 1), decay_mult=(1, 1)), "weight_decay: 0.1 momentum: 0.9")
    solver.step(3)
    np.testing.assert_array_equal(solver.net.learnable[0].blob.data, np.full((1, 3), W0))
    assert solver.net.learnable[1].blob.data[0] != B0


def test_clipping_scales_the_global_norm_before_regularisation() -> None:
    solver = make_solver(linear_net(), "clip_gradients: 1.0 weight_decay: 0.1")
    scale = 1.0 / np.sqrt((GRAD_W**2).sum() + (GRAD_B**2).sum())
    assert_steps(run(solver, 2), reference(solver.param, 2, scale=scale), rtol=1e-12)


def test_no_clipping_below_the_threshold() -> None:
    solver = make_solver(linear_net(), "clip_gradients: 100 momentum: 0.9")
    assert_steps(run(solver, 2), reference(solver.param, 2), rtol=1e-12)


def test_iter_size_two_equals_a_batch_twice_as_large() -> None:
    fields = "momentum: 0.9 weight_decay: 0.01"  # not clip_gradients: Caffe clips the iter_size sum
    small = make_solver(feed_net(batch=2), f"iter_size: 2 {fields}")
    large = make_solver(feed_net(batch=4), fields)
    for _ in range(3):
        small.step(1)
        large.step(1)
        assert small.smoothed_loss == pytest.approx(large.smoothed_loss, rel=1e-6)
    for a, b in zip(weights(small), weights(large), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_history_layout_is_caffes() -> None:
    solver = make_solver(linear_net(), 'type: "Adam" momentum: 0.9 base_lr: 0.01')
    solver.step(2)
    state = solver.state()
    assert len(state.history) == 4  # m of W, m of b, then v of W, v of b
    m_w = np.array(state.history[0].double_data).reshape(state.history[0].shape.dim)
    v_b = np.array(state.history[3].double_data)
    np.testing.assert_array_equal(m_w, solver.rule.history[0][0])
    np.testing.assert_array_equal(v_b, solver.rule.history[1][1])
    sgd = make_solver(linear_net(), "momentum: 0.9")
    sgd.step(1)
    assert len(sgd.state().history) == 2
    base_lr = float(np.float32(0.1))
    np.testing.assert_allclose(sgd.state().history[0].double_data, base_lr * GRAD_W.ravel(), rtol=1e-15)


def test_lr_follows_the_policy_during_training() -> None:
    solver = make_solver(linear_net(), 'lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 3')
    rates = []
    for _ in range(4):
        rates.append(solver.lr)
        solver.step(1)
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.025], rel=1e-6)
    assert solver.current_step == 2
