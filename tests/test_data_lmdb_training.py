"""Training on LMDBs written as Caffe writes them: Caffe's own LeNet example unchanged, a bit-exact resume
with random crops and flips drawn in the prefetch thread, and a clean stop on SIGINT."""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from protonet import Solver
from protonet.data.idx import read_idx

from .conftest import shared_path
from .test_crash_helpers import run_cli, spawn_cli, weights_of, write_run
from .test_db_helpers import caffe_datum, write_lmdb
from .test_resume import assert_same
from .test_solver_helpers import weights

pytest.importorskip("lmdb")


def mnist_lmdb(folder: Path, images: Path, labels: Path, count: int) -> None:
    """The first `count` MNIST records as convert_mnist_data writes them: keys '%08d', raw 1x28x28 Datums."""
    pixels, values = read_idx(images)[:count], read_idx(labels)[:count]
    write_lmdb(folder, [(b"%08d" % i, caffe_datum(x[None], int(y))) for i, (x, y) in enumerate(zip(pixels, values))])


@pytest.mark.slow
def test_caffe_lenet_example_trains_unchanged_from_its_lmdbs(mnist_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    examples = shared_path("corpus", "BVLC__caffe", "examples", "mnist")
    caffe = tmp_path / "caffe"
    (caffe / "examples" / "mnist").mkdir(parents=True)
    for name in ("lenet_solver.prototxt", "lenet_train_test.prototxt"):
        shutil.copy(examples / name, caffe / "examples" / "mnist" / name)
    mnist_lmdb(caffe / "examples/mnist/mnist_train_lmdb", mnist_dir / "train-images-idx3-ubyte.gz",
               mnist_dir / "train-labels-idx1-ubyte.gz", 3000)
    mnist_lmdb(caffe / "examples/mnist/mnist_test_lmdb", mnist_dir / "t10k-images-idx3-ubyte.gz",
               mnist_dir / "t10k-labels-idx1-ubyte.gz", 500)
    monkeypatch.chdir(caffe)  # Caffe's paths are relative to its root
    solver = Solver("examples/mnist/lenet_solver.prototxt",
                    ["max_iter=150", "test_interval=150", "test_iter=5", "snapshot=0", "display=0"])
    solver.solve()
    assert solver.test_scores[0]["accuracy"] > 0.85
    assert solver.state().data_cursor[0].position == 150 * 64 % 3000


RESUME_NET = """
name: "resume"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { crop_size: 4 mirror: true scale: 0.00390625 mean_value: 128 }
        data_param { source: "db" backend: LMDB batch_size: 4 prefetch: 2 } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { crop_size: 4 scale: 0.00390625 } data_param { source: "db" backend: LMDB batch_size: 5 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
"""
RESUME_SOLVER = ('base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" max_iter: 20 test_iter: 2 test_interval: 3 '
                 "random_seed: 5")


def resume_run(folder: Path, rng: np.random.Generator) -> Path:
    """An LMDB of 13 random 3x6x6 records (labels 0-2) and a solver training on it."""
    images = rng.integers(0, 256, (13, 3, 6, 6)).astype(np.uint8)
    write_lmdb(folder / "db", [(b"%08d" % i, caffe_datum(x, i % 3)) for i, x in enumerate(images)])
    return write_run(folder, RESUME_NET, RESUME_SOLVER)


def test_resume_is_bit_exact_with_crops_and_flips_from_the_prefetch_thread(tmp_path: Path,
                                                                            rng: np.random.Generator) -> None:
    solver_file = resume_run(tmp_path, rng)
    first = Solver(solver_file)
    first.step(5)
    state_file = first.snapshot()
    first.step(5)
    second = Solver(solver_file, [f"snapshot_prefix={tmp_path}/b", "random_seed=99"])  # the seed comes from the state
    second.restore(state_file)
    second.step(5)
    assert_same(weights(first), weights(second))
    assert first.test_scores == second.test_scores
    assert [(c.layer, c.position, c.epoch) for c in second.state().data_cursor] == [
        ("data", 40 % 13, 40 // 13), ("test0/data", 4 * 2 * 5 % 13, 4 * 2 * 5 // 13)]


def test_sigint_stops_cleanly_and_the_run_resumes_bit_for_bit(tmp_path: Path, rng: np.random.Generator) -> None:
    solver_file = resume_run(tmp_path, rng)
    proc = spawn_cli(solver_file, "--set", "max_iter=100000", "--set", "display=1")
    log = solver_file.parent / "cli.log"
    deadline = time.monotonic() + 60
    while "Iteration 20," not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    output = log.read_text()
    assert "Traceback" not in output and "Exception" not in output
    stopped = int(re.search(r"Stopping at iteration (\d+), as requested", output).group(1))
    snap = tmp_path / "snap"
    end = stopped + 7
    resumed = run_cli(solver_file, "--snapshot", str(snap / f"s_iter_{stopped}.solverstate"),
                      "--set", f"max_iter={end}")
    assert resumed.returncode == 0, resumed.stderr
    whole = run_cli(solver_file, "--set", f"max_iter={end}", "--set", f"snapshot_prefix={tmp_path}/whole/s")
    assert whole.returncode == 0, whole.stderr
    assert weights_of(snap / f"s_iter_{end}.caffemodel") == weights_of(tmp_path / "whole" / f"s_iter_{end}.caffemodel")
