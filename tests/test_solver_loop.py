"""The training loop: test nets, display and logging, metrics, snapshot names and schedule, seeds,
resolved configs, fine-tuning, net states and the progress bar."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from protonet import Net, Solver
from protonet.config import load_net, load_solver
from protonet.proto import pb

from .test_solver_helpers import (
    feed_net,
    feed_table,
    linear_net,
    make_solver,
    registered_feed,
    solver_param,
    weights,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative snapshot prefixes land in the test's folder


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="protonet")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "protonet"]


def test_test_nets_share_weights_and_report_the_mean_over_test_iter(logs: pytest.LogCaptureFixture) -> None:
    solver = make_solver(feed_net(), "test_iter: 2 test_interval: 3 momentum: 0.9")
    solver.step(2)
    train, test = solver.net, solver.test_nets[0]
    assert all(a is b for a, b in zip(train.params["ip1"], test.params["ip1"], strict=True))
    scores = solver.test_all()[0]
    # The test at iteration 0 read rows 0-3 of the feed's table; this one reads rows 4-5 then 6-7.
    w1, b1, w2, b2 = (blob.data for name in ("ip1", "ip2") for blob in train.params[name])
    x = feed_table()[4:8]
    labels = np.arange(4, 8) % 2
    scores_ref = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    p = np.exp(scores_ref - scores_ref.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert scores["acc"] == pytest.approx(np.mean(scores_ref.argmax(1) == labels))
    assert scores["loss"] == pytest.approx(-np.log(p[np.arange(4), labels]).mean(), rel=1e-9)
    assert "    Test net output #1: acc = " + f"{scores['acc']:.6g}" in lines(logs)


def test_caffe_style_log_lines(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    solver = make_solver(linear_net(), 'lr_policy: "inv" base_lr: 0.01 gamma: 1e-4 power: 0.75 display: 100 '
                         f'max_iter: 101 snapshot_prefix: "{tmp_path}/lin"')
    solver.solve()
    text = lines(logs)
    assert "Iteration 100, lr = 0.00992565" in text
    assert "Iteration 0, lr = 0.01" in text
    assert any(t.startswith("Iteration 100, loss = ") for t in text)
    assert any(t.startswith("    Train net output #0: y = ") and t.endswith(" loss)") for t in text)
    assert f"Snapshotting to binary proto file {tmp_path}/lin_iter_101.caffemodel" in text
    assert text[-1] == "Optimization Done."


def test_metrics_file_has_one_object_per_event(tmp_path: Path) -> None:
    solver = make_solver(feed_net(), f'display: 2 test_iter: 1 test_interval: 3 max_iter: 4 '
                         f'snapshot_prefix: "{tmp_path}/m"')
    solver.solve()
    events = [json.loads(line) for line in (tmp_path / "m_metrics.jsonl").read_text().splitlines()]
    assert [(e["iter"], e["phase"]) for e in events] == [
        (0, "test"), (0, "train"), (2, "train"), (3, "test"), (4, "train")]
    for e in events:
        assert {"iter", "phase", "loss", "lr", "outputs", "seconds"} <= set(e)
    assert set(events[0]["outputs"]) == {"loss", "acc"} and events[0]["net"] == 0
    assert events[1]["outputs"]["loss"] == pytest.approx(events[1]["loss"])


def test_clipping_is_logged(logs: pytest.LogCaptureFixture) -> None:
    make_solver(linear_net(), "clip_gradients: 1").step(1)
    expected = "Gradient clipping: scaling down gradients (L2 norm 5.67891 > 1) by scale factor 0.17609"
    assert expected in lines(logs)


def test_snapshot_schedule_and_final_snapshot(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    def run(name: str, fields: str) -> list[str]:
        make_solver(linear_net(), f'snapshot: 2 snapshot_prefix: "{tmp_path}/{name}" {fields}').solve()
        return sorted(p.name for p in tmp_path.glob(f"{name}_iter_*"))

    def names(name: str, iters: tuple[int, ...]) -> list[str]:
        return [f"{name}_iter_{i}.{ext}" for i in iters for ext in ("caffemodel", "solverstate")]

    assert run("a", "max_iter: 5") == names("a", (2, 4, 5))
    assert run("b", "max_iter: 5 snapshot_after_train: false") == names("b", (2, 4))
    logs.clear()
    assert len(run("c", "max_iter: 4")) == 4
    assert sum(t.startswith("Snapshotting to binary") for t in lines(logs)) == 2  # 4 is not written twice


def write_files(folder: Path, solver: str) -> Path:
    (folder / "net.prototxt").write_text(linear_net())
    path = folder / "solver.prototxt"
    path.write_text('net: "net.prototxt" base_lr: 0.1 lr_policy: "fixed" max_iter: 2 ' + solver)
    return path


def test_snapshot_prefix_defaults_as_caffe(tmp_path: Path) -> None:
    assert Solver(write_files(tmp_path, "")).prefix == str(tmp_path / "solver")
    assert Solver(write_files(tmp_path, 'snapshot_prefix: "out/"')).prefix == str(Path("out") / "solver")
    (tmp_path / "existing").mkdir()
    prefix = Solver(write_files(tmp_path, 'snapshot_prefix: "existing"')).prefix
    assert prefix == str(Path("existing", "solver"))
    assert Solver(write_files(tmp_path, 'snapshot_prefix: "runs/x"')).prefix == "runs/x"


def test_the_resolved_solver_and_net_are_written(tmp_path: Path) -> None:
    path = write_files(tmp_path, 'random_seed: -1 snapshot_prefix: "out/r"')
    solver = Solver(path, ["base_lr=0.5"])
    solver.net.blobs["x"].data = np.ones((2, 3))
    solver.solve()
    out = tmp_path / "out"
    saved = load_solver(out / "r_solver.prototxt")
    assert saved.base_lr == 0.5 and saved.random_seed == solver.seed >= 0
    assert not saved.HasField("net") and saved.net_param == load_net(tmp_path / "net.prototxt")
    assert load_net(out / "r_net.prototxt") == load_net(tmp_path / "net.prototxt")
    again = Solver(out / "r_solver.prototxt")
    fresh = Solver(path, [f"random_seed={solver.seed}"])
    assert all(np.array_equal(a, b) for a, b in zip(weights(again), weights(fresh), strict=True))


def test_stepping_as_a_library_writes_no_run_files(tmp_path: Path) -> None:
    """No snapshot_prefix: the prefix is the solver file's stem, yet step() alone writes nothing there."""
    path = write_files(tmp_path, "display: 1")
    before = sorted(p.name for p in tmp_path.iterdir())
    solver = Solver(path)
    solver.step(3)
    assert solver.iter == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    recorded = Solver(path, record=True)
    recorded.step(1)
    assert {"solver_solver.prototxt", "solver_net.prototxt", "solver_metrics.jsonl"} <= {
        p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / "solver.lock").exists()


def test_seeds(tmp_path: Path) -> None:
    a = make_solver(feed_net(), "test_iter: 1 test_iter: 1 test_interval: 5 random_seed: 42")
    b = make_solver(feed_net(), "test_iter: 1 test_interval: 5 random_seed: 42")
    c = make_solver(feed_net(), "random_seed: 43")
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))
    assert not np.array_equal(weights(a)[0], weights(c)[0])
    seeds = [net.ctx.seed for net in (a.net, *a.test_nets)]
    assert seeds[0] == 42 and len(set(seeds)) == 3
    with registered_feed():
        alone = Net(solver_param(feed_net()).net_param, phase="TRAIN", seed=42, dtype=np.float64)
    assert all(np.array_equal(p.blob.data, w) for p, w in zip(alone.learnable, weights(a), strict=True))


def test_fine_tuning_copies_by_name_except_reinit(tmp_path: Path) -> None:
    trained = make_solver(feed_net(), f'momentum: 0.9 snapshot_prefix: "{tmp_path}/t"')
    trained.step(3)
    trained.snapshot()
    model = tmp_path / "t_iter_3.caffemodel"
    tuned = make_solver(feed_net(), "random_seed: 8", weights=model, dtype=np.float32)
    assert all(np.allclose(a, b) for a, b in zip(weights(tuned), weights(trained), strict=True))
    partly = make_solver(feed_net(), "random_seed: 8", weights=[model], reinit=["ip2"])
    fresh = make_solver(feed_net(), "random_seed: 8")
    assert np.array_equal(weights(partly)[0], weights(trained)[0])
    assert np.array_equal(weights(partly)[2], weights(fresh)[2])
    from_solver = make_solver(feed_net(), f'weights: "{model}"')
    assert np.array_equal(weights(from_solver)[0], weights(trained)[0])


def test_train_and_test_states_pick_layers(tmp_path: Path) -> None:
    extra = 'layer { name: "deep" type: "ReLU" bottom: "ip1" top: "deep" include { stage: "deep" } }'
    net = feed_net(extra=extra)
    plain = make_solver(net, "test_iter: 1 test_interval: 5")
    assert "deep" not in plain.net.layer_dict and "deep" not in plain.test_nets[0].layer_dict
    staged = make_solver(net, 'test_iter: 1 test_interval: 5 train_state { stage: "deep" } '
                              'test_state { stage: "deep" }')
    assert "deep" in staged.net.layer_dict and "deep" in staged.test_nets[0].layer_dict
    assert staged.test_nets[0].phase == pb.TEST


def test_solve_is_resume_aware(tmp_path: Path) -> None:
    solver = make_solver(linear_net(), f'max_iter: 6 momentum: 0.9 snapshot_prefix: "{tmp_path}/r"')
    solver.step(4)
    state = solver.snapshot()
    again = make_solver(linear_net(), f'max_iter: 6 momentum: 0.9 snapshot_prefix: "{tmp_path}/r2"')
    again.restore(state)
    again.solve()  # the two iterations left, not six
    solver.step(2)
    assert again.iter == solver.iter == 6
    assert all(np.array_equal(a, b) for a, b in zip(weights(again), weights(solver), strict=True))


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture) -> None:
    make_solver(linear_net(), "max_iter: 5", progress=True).solve()
    err = capsys.readouterr().err
    assert "5/5" in err and "it/s" in err and "loss=" in err and "lr=" in err


def test_a_yaml_solver_and_hdf5_snapshots(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    (tmp_path / "net.prototxt").write_text(linear_net())
    path = tmp_path / "solver.yaml"
    path.write_text("net: net.prototxt\nbase_lr: 0.1\nlr_policy: fixed\nmax_iter: 1\ntype: Nesterov\n"
                    "momentum: 0.9\nsnapshot_format: HDF5\n")
    solver = Solver(path)
    assert solver.param.type == "Nesterov" and solver.prefix == str(tmp_path / "solver")
    assert any("HDF5 is not supported" in t for t in lines(logs))
