"""GD and the torch.optim Adam flavours (NAdam, Adamax, AdamW, RAdam) and QHAdam, step by step against the
documented pseudo-code written out here in numpy, with weight decay and multipliers; their defaults,
their checks, float32, bit-exact resume and the command line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from protonet.errors import ConfigError
from protonet.proto import pb

from .test_cli import run_cli
from .test_resume import FIELDS, assert_same, snapshot_and_restore
from .test_solver_helpers import B0, GRAD_B, GRAD_W, W0, linear_net, make_solver, weights
from .test_solver_rules import assert_steps, run

RULE_FIELDS = {
    "GD": "",
    "NAdam": "momentum: 0.9 momentum2: 0.999 delta: 1e-8 base_lr: 0.01",
    "Adamax": "momentum: 0.9 momentum2: 0.99 delta: 1e-8 base_lr: 0.01",
    "AdamW": "momentum: 0.9 momentum2: 0.999 delta: 1e-8 base_lr: 0.01",
    "RAdam": "momentum: 0.9 momentum2: 0.9 delta: 1e-8 base_lr: 0.01",
    "QHAdam": "momentum: 0.995 momentum2: 0.999 nu1: 0.7 nu2: 0.9 delta: 1e-8 base_lr: 0.01",
}
STEPS = 8  # RAdam: rho_t passes 5 at t = 6 with beta2 = 0.9, so both of its branches run


def field(p: pb.SolverParameter, name: str, default: float | None = None) -> float:
    return getattr(p, name) if p.HasField(name) or default is None else default


def reference(p: pb.SolverParameter, steps: int, lr_mult: tuple = (1, 1), decay_mult: tuple = (1, 1)
              ) -> tuple[list[list[np.ndarray]], set[str]]:
    """Parameters after each step by each rule's documented update; also which RAdam branches ran."""
    params = [np.full((1, 3), W0), np.array([B0])]
    m = [np.zeros_like(x) for x in params]
    v = [np.zeros_like(x) for x in params]
    b1 = field(p, "momentum", 0.995 if p.type == "QHAdam" else 0.9)
    b2, eps = p.momentum2, p.delta
    wd = field(p, "weight_decay", 0.01 if p.type == "AdamW" else None)
    mus = [b1 * (1 - 0.5 * 0.96 ** (i * p.momentum_decay)) for i in range(steps + 2)]
    out, branches = [], set()
    for t in range(1, steps + 1):
        for k, raw in enumerate((GRAD_W, GRAD_B)):
            w, lr, decay = params[k], p.base_lr * lr_mult[k], wd * decay_mult[k]
            if p.type == "AdamW":
                w, g = w - lr * decay * w, raw
            else:
                g = raw + decay * w
            if p.type == "Adamax":
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = np.maximum(b2 * v[k], np.abs(g) + eps)
            elif p.type != "GD":
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g * g
            if p.type == "GD":
                step = lr * g
            elif p.type == "NAdam":
                product, product_next = math.prod(mus[1:t + 1]), math.prod(mus[1:t + 2])
                denom = np.sqrt(v[k] / (1 - b2**t)) + eps
                step = lr * ((1 - mus[t]) / (1 - product) * g + mus[t + 1] / (1 - product_next) * m[k]) / denom
            elif p.type == "Adamax":
                step = lr / (1 - b1**t) * m[k] / v[k]
            elif p.type == "AdamW":
                step = lr / (1 - b1**t) * m[k] / (np.sqrt(v[k]) / np.sqrt(1 - b2**t) + eps)
            elif p.type == "RAdam":
                rho_inf = 2 / (1 - b2) - 1
                rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
                m_hat = m[k] / (1 - b1**t)
                if rho > 5:
                    r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
                    step = lr * m_hat * r * np.sqrt(1 - b2**t) / (np.sqrt(v[k]) + eps)
                else:
                    step = lr * m_hat
                branches.add("rectified" if rho > 5 else "momentum")
            else:
                m_hat, v_hat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
                step = lr * (((1 - p.nu1) * g + p.nu1 * m_hat)
                             / (np.sqrt((1 - p.nu2) * g * g + p.nu2 * v_hat) + eps))
            params[k] = w - step
        out.append([x.copy() for x in params])
    return out, branches


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_each_rule_step_by_step_with_weight_decay_and_multipliers(rule: str) -> None:
    net = linear_net(lr_mult=(1, 2), decay_mult=(1, 0.5))
    solver = make_solver(net, f'type: "{rule}" weight_decay: 0.02 {RULE_FIELDS[rule]}')
    expected, branches = reference(solver.param, STEPS, lr_mult=(1, 2), decay_mult=(1, 0.5))
    assert_steps(run(solver, STEPS), expected, rtol=1e-12)
    if rule == "RAdam":
        assert branches == {"momentum", "rectified"}


@pytest.mark.parametrize("rule", ["NAdam", "Adamax", "AdamW", "RAdam", "QHAdam"])
def test_unset_fields_take_torchs_and_the_papers_defaults(rule: str) -> None:
    solver = make_solver(linear_net(), f'type: "{rule}" base_lr: 0.01')
    expected, _ = reference(solver.param, 3)
    assert_steps(run(solver, 3), expected, rtol=1e-12)
    if rule == "AdamW":  # weight_decay 0.01 by default: the weights shrink beyond Adam's step
        assert solver.rule.value("weight_decay") == 0.01
    assert solver.rule.value("momentum") == (0.995 if rule == "QHAdam" else 0.9)


def test_adamw_decays_the_weights_not_the_gradient() -> None:
    """With a zero gradient AdamW still shrinks w by lr * wd per step; Adam's moments stay zero."""
    solver = make_solver(linear_net(), 'type: "AdamW" weight_decay: 0.5 base_lr: 0.1 momentum: 0.9')
    solver.net.blobs["x"].data = np.zeros((2, 3))
    solver.net.layers[-1].blobs[1].data[...] = 0  # the bias gets gradient N = 2 regardless; watch W
    solver.step(2)
    np.testing.assert_allclose(weights(solver)[0], W0 * (1 - 0.1 * 0.5) ** 2, rtol=1e-6)
    np.testing.assert_array_equal(solver.rule.history[0][0], 0)


def test_qhadam_with_both_nus_one_is_torchs_adam() -> None:
    qh = make_solver(linear_net(), 'type: "QHAdam" nu1: 1 nu2: 1 momentum: 0.9 base_lr: 0.01 weight_decay: 0')
    adam = make_solver(linear_net(), 'type: "AdamW" momentum: 0.9 base_lr: 0.01 weight_decay: 0')
    for a, b in zip(run(qh, 3)[-1], run(adam, 3)[-1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_float32_stays_float32(rule: str) -> None:
    solver = make_solver(linear_net(), f'type: "{rule}" weight_decay: 0.02 {RULE_FIELDS[rule]}',
                         dtype=np.float32)
    got = run(solver, 3)
    assert all(a.dtype == np.float32 for a in got[-1])
    assert all(h.dtype == np.float32 for h in solver.rule.state_arrays())
    assert_steps(got, reference(solver.param, 3)[0], rtol=3e-5)


@pytest.mark.parametrize(("fields", "message"), [
    ('type: "NAdam" momentum: 1', r"momentum \(a beta of NAdam\) must lie in \[0, 1\), found 1"),
    ('type: "RAdam" momentum2: 1.5', r"momentum2 \(a beta of RAdam\) must lie in \[0, 1\)"),
    ('type: "QHAdam" nu1: 1.2', r"nu1 must lie in \[0, 1\], found 1.2"),
    ('type: "GD" momentum: 0.9', "momentum cannot be used with GD"),
    ('type: "Newton" newton_damping: -1', "newton_damping must be >= 0"),
    ('type: "LBFGS" lbfgs_history_size: 0', "lbfgs_history_size must be >= 1"),
    ('type: "Nadam"', "unknown solver type 'Nadam'.*did you mean 'NAdam'"),
])
def test_bad_fields_are_refused(fields: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_solver(linear_net(), fields)


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_restore_continues_bit_for_bit(rule: str, tmp_path: Path) -> None:
    first, second = snapshot_and_restore(f'type: "{rule}" {RULE_FIELDS[rule]} {FIELDS}', tmp_path, 4, 4)
    second.step(4)
    assert_same(weights(first), weights(second))
    assert_same(first.rule.state_arrays(), second.rule.state_arrays())
    assert len(second.state().history) == 2 * len(second.net.learnable) * (rule != "GD")


SOLVER = """
type: TYPE
base_lr: 1
max_iter: 3
lr_policy: fixed
random_seed: 1
snapshot_prefix: "PREFIX"
net_param:
  name: regression
  layer:
    - {name: data, type: DummyData, top: [x, t],
       dummy_data_param: {shape: [{dim: [8, 2]}, {dim: [8, 1]}],
                          data_filler: [{type: gaussian, std: 1}, {type: gaussian, std: 1}]}}
    - {name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 1}}
    - {name: loss, type: EuclideanLoss, bottom: [y, t], top: loss}
"""


@pytest.mark.parametrize("rule", ["Newton", "LBFGS", "NAdam"])
def test_protonet_train_runs_the_new_types(rule: str, tmp_path: Path) -> None:
    solver = tmp_path / "solver.yaml"
    solver.write_text(SOLVER.replace("TYPE", rule).replace("PREFIX", str(tmp_path / "run")))
    result = run_cli("train", "--solver", str(solver), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run_iter_3.solverstate").is_file()


def test_protonet_train_suggests_the_spelling_of_a_type(tmp_path: Path) -> None:
    solver = tmp_path / "solver.yaml"
    solver.write_text(SOLVER.replace("TYPE", "LBFSG").replace("PREFIX", str(tmp_path / "run")))
    result = run_cli("train", "--solver", str(solver), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown solver type 'LBFSG'" in result.stderr and "did you mean 'LBFGS'" in result.stderr
