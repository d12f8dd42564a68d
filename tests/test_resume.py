"""Snapshot then restore continues exactly as the uninterrupted run: the same weights, bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from protonet import Solver
from protonet.layers.registry import layer_types
from protonet.solvers.snapshot import read_state

from .test_solver_helpers import feed_net, make_solver, solver_from, solver_param, weights

RULES = {
    "SGD": "momentum: 0.9",
    "Nesterov": "momentum: 0.9",
    "AdaGrad": "",
    "RMSProp": "rms_decay: 0.9",
    "AdaDelta": "momentum: 0.9 base_lr: 1.0",
    "Adam": "momentum: 0.9 base_lr: 0.01",
}
# Everything that carries state from one iteration to the next.
FIELDS = ('lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 5 iter_size: 2 weight_decay: 0.001 '
          "clip_gradients: 5 average_loss: 3 display: 1 test_iter: 2 test_interval: 3")

DROPOUT = ('layer { name: "drop" type: "Dropout" bottom: "ip1" top: "ip1" '
           'dropout_param { dropout_ratio: 0.5 } }')
DUMMY_NET = """
name: "dummy"
layer { name: "data" type: "DummyData" top: "data" top: "label"
        dummy_data_param { shape { dim: 3 dim: 3 } shape { dim: 3 } data_filler { type: "gaussian" std: 1 }
                           data_filler { type: "constant" value: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def randomised_net() -> str:
    """The feed net with noise from the net's generator, and Dropout when that layer exists."""
    return feed_net(batch=2, noise=0.3, extra=DROPOUT if "Dropout" in layer_types() else "")


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def snapshot_and_restore(fields: str, tmp_path: Path, before: int, after: int) -> tuple[Solver, Solver]:
    """`first` runs `before` iterations, snapshots and runs `after` more; `second`, made with another seed
    (everything random must come from the state, not from the seed), is restored from that snapshot and
    left for the caller to step."""
    first = make_solver(randomised_net(), f'{fields} snapshot_prefix: "{tmp_path}/a"', dtype=np.float32)
    first.step(before)
    state_file = first.snapshot()
    first.step(after)
    second = make_solver(randomised_net(), f'{fields} snapshot_prefix: "{tmp_path}/b" random_seed: 99',
                         dtype=np.float32)
    second.restore(state_file)
    return first, second


@pytest.mark.parametrize("rule", list(RULES))
def test_restore_continues_bit_for_bit(rule: str, tmp_path: Path) -> None:
    first, second = snapshot_and_restore(f'type: "{rule}" {RULES[rule]} {FIELDS}', tmp_path, 4, 4)
    assert second.iter == 4
    assert second.seed == first.seed == 5
    assert [n.ctx.seed for n in second.test_nets] == [n.ctx.seed for n in first.test_nets]
    second.step(4)
    assert_same(weights(first), weights(second))
    assert_same(first.rule.state_arrays(), second.rule.state_arrays())
    assert (first.current_step, list(first.losses)) == (second.current_step, list(second.losses))
    assert first.test_scores == second.test_scores


def test_a_resumed_solve_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    def param(max_iter: int, prefix: str):
        p = solver_param(randomised_net(), f'{FIELDS} momentum: 0.9 snapshot: 3 snapshot_prefix: "{prefix}"')
        p.max_iter = max_iter
        return p

    whole = solver_from(param(8, f"{tmp_path}/whole"))
    whole.solve()
    part = solver_from(param(5, f"{tmp_path}/part"))
    part.solve()
    resumed = solver_from(param(8, f"{tmp_path}/part"))
    resumed.restore(tmp_path / "part_iter_5.solverstate")
    resumed.solve()
    assert_same(weights(whole), weights(resumed))
    names = ("whole", "part")
    models = [(tmp_path / f"{name}_iter_8.caffemodel").read_bytes() for name in names]
    assert models[0] == models[1]
    states = [read_state(tmp_path / f"{name}_iter_8.solverstate") for name in names]
    assert [s.learned_net for s in states] == [f"{tmp_path}/{name}_iter_8.caffemodel" for name in names]
    for s in states:
        s.ClearField("learned_net")
    assert states[0] == states[1]

    def events(name: str) -> list[dict]:
        lines = (tmp_path / f"{name}_metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    assert events("whole") == events("part")
    assert [e["iter"] for e in events("part") if e["phase"] == "test"] == [0, 3, 6]


def test_the_state_holds_cursors_generators_and_the_loss_window(tmp_path: Path) -> None:
    solver = make_solver(randomised_net(), f'{FIELDS} snapshot_prefix: "{tmp_path}/s"')
    solver.step(3)
    state = solver.state()
    cursors = {c.layer: (c.position, c.epoch) for c in state.data_cursor}
    # 3 iterations x iter_size 2 x batch 2 = 12 rows (one epoch); a test of 2 batches of 2 rows.
    assert cursors == {"data": (0, 1), "test0/data": (4, 0)}
    assert len(json.loads(state.random_state)["nets"]) == 2
    assert list(state.recent_loss) == pytest.approx(list(solver.losses))
    assert state.current_step == solver.current_step == 1


def test_restore_finds_the_weights_beside_a_moved_state(tmp_path: Path) -> None:
    solver = make_solver(randomised_net(), f'momentum: 0.9 snapshot_prefix: "{tmp_path}/run/x"')
    solver.step(2)
    solver.snapshot()
    shutil.move(tmp_path / "run", tmp_path / "moved")
    again = make_solver(randomised_net(), "momentum: 0.9 random_seed: 3")
    again.restore(tmp_path / "moved" / "x_iter_2.solverstate")
    assert_same(weights(solver), weights(again))
    assert_same(solver.rule.state_arrays(), again.rule.state_arrays())


@pytest.mark.skipif("DummyData" not in layer_types(), reason="the DummyData layer is not there yet")
def test_dummy_data_randomness_resumes_exactly(tmp_path: Path) -> None:
    first = make_solver(DUMMY_NET, f'momentum: 0.9 snapshot_prefix: "{tmp_path}/d"', dtype=np.float32)
    first.step(3)
    state_file = first.snapshot()
    first.step(3)
    second = make_solver(DUMMY_NET, "momentum: 0.9 random_seed: 11", dtype=np.float32)
    second.restore(state_file)
    second.step(3)
    assert_same(weights(first), weights(second))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1701, 2])
def test_lenet_on_mnist_with_shuffling_resumes_bit_for_bit(seed: int, mnist_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROTONET_DATA", str(mnist_dir.parent))
    root = Path(__file__).resolve().parents[1]
    net = (root / "configs" / "lenet" / "train_val.prototxt").read_text()
    net = net.replace("fashion-mnist:", "mnist:").replace("batch_size: 64", "batch_size: 64 shuffle: true")
    (tmp_path / "net.prototxt").write_text(net)
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt" base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 '
        "power: 0.75 max_iter: 10 test_iter: 2 test_interval: 5 random_seed: 1701\n")
    first = Solver(tmp_path / "solver.prototxt", [f"snapshot_prefix={tmp_path}/a"])
    first.step(5)
    state_file = first.snapshot()
    first.step(5)
    second = Solver(tmp_path / "solver.prototxt", [f"snapshot_prefix={tmp_path}/b", f"random_seed={seed}"])
    second.restore(state_file)
    second.step(5)
    assert_same(weights(first), weights(second))
    assert [(c.layer, c.position, c.epoch) for c in second.state().data_cursor] == [
        ("mnist", 640, 0), ("test0/mnist", 400, 0)]
