"""Curves from metrics files and Caffe logs, the figures `protonet plot` and `compare` write, and decision
boundaries."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from protonet import Solver
from protonet.boundary import boundaries
from protonet.cli import cli
from protonet.compare import trial_label
from protonet.curves import Curves, parse_log, read_runs
from protonet.errors import ConfigError, DataError
from protonet.plot import DPI, PANEL_SIZE, draw

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

COURSE = Path(__file__).resolve().parents[1] / "configs" / "course"
# Caffe's own log lines (glog prefixes), as tools/extra/parse_log.py reads them.
CAFFE_LOG = """\
I0101 10:00:00.000000  1234 caffe.cpp:218] Using GPUs 0
I0101 10:00:00.100000  1234 solver.cpp:330] Iteration 0, Testing net (#0)
I0101 10:00:01.000000  1234 solver.cpp:397]     Test net output #0: accuracy = 0.1
I0101 10:00:01.000000  1234 solver.cpp:397]     Test net output #1: loss = 2.30 (* 1 = 2.30 loss)
I0101 10:00:01.000000  1234 solver.cpp:330] Iteration 0, Testing net (#1)
I0101 10:00:01.100000  1234 solver.cpp:397]     Test net output #0: accuracy = 0.12
I0101 10:00:01.200000  1234 solver.cpp:218] Iteration 0 (0 iter/s, 1s/100 iters), loss = 2.31
I0101 10:00:01.200000  1234 solver.cpp:237]     Train net output #0: loss = 2.31 (* 1 = 2.31 loss)
I0101 10:00:01.200000  1234 sgd_solver.cpp:105] Iteration 0, lr = 0.01
I0101 10:00:02.000000  1234 solver.cpp:218] Iteration 100 (125 iter/s, 0.8s/100 iters), loss = 0.52
I0101 10:00:02.000000  1234 solver.cpp:237]     Train net output #0: loss = 0.5e0 (* 1 = 0.5 loss)
I0101 10:00:02.000000  1234 sgd_solver.cpp:105] Iteration 100, lr = 0.00992565
I0101 10:00:03.000000  1234 solver.cpp:330] Iteration 200, Testing net (#0)
I0101 10:00:03.500000  1234 solver.cpp:397]     Test net output #0: accuracy = 0.91
I0101 10:00:03.500000  1234 solver.cpp:397]     Test net output #1: loss = nan (* 1 = nan loss)
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run() -> Solver:
    """A short real run of the first lesson (metrics in runs/course/linear_regression/gd_metrics.jsonl)."""
    solver = Solver(COURSE / "01_linear_regression" / "solver.yaml", overrides=["max_iter=20"])
    solver.solve()
    return solver


def test_caffe_logs_are_read_as_parse_log_reads_them():
    curves = parse_log(CAFFE_LOG, "lenet").series
    assert curves["train", "loss"] == ([0, 100], [2.31, 0.5])
    assert curves["train", "lr"] == ([0, 100], [0.01, 0.00992565])
    assert curves["test", "accuracy"] == ([0, 200], [0.1, 0.91])
    assert curves["test", "loss"][0] == [0, 200] and np.isnan(curves["test", "loss"][1][1])
    assert curves["test#1", "accuracy"] == ([0], [0.12])
    assert set(curves) == {("train", "loss"), ("train", "lr"), ("test", "accuracy"), ("test", "loss"),
                           ("test#1", "accuracy")}


def test_lines_before_the_first_iteration_are_skipped():
    curves = parse_log("Train net output #0: loss = 1\nlr = 3\n" + CAFFE_LOG, "x").series
    assert curves["train", "loss"][1][0] == 2.31 and curves["train", "lr"][1][0] == 0.01


def test_metrics_files_give_the_outputs_and_rates_of_each_event(run: Solver):
    metrics = Path(run.prefix + "_metrics.jsonl")
    events = [json.loads(line) for line in metrics.read_text().splitlines()]
    for name in (str(metrics), run.prefix, str(metrics.parent)):  # the file, the prefix, the folder
        [curves] = read_runs([name])
        assert curves.label == "gd"
        assert curves.series["train", "loss"] == (
            [e["iter"] for e in events if e["phase"] == "train"],
            [e["outputs"]["loss"] for e in events if e["phase"] == "train"])
        rates = curves.series["train", "lr"][1]
        assert len(rates) == len(events) - 2 and rates == pytest.approx([run.param.base_lr] * len(rates))
        assert curves.series["test", "loss"][0] == [0, 20]


@pytest.mark.parametrize("text, expected", [
    ("", "holds no training curves"),
    ('{"iter": 1}\n', ":1: is not a metrics event"),
    ('{"iter": 0, "phase": "train", "outputs": {}}\nnot json\n', ":2: is not a metrics event"),
])
def test_unreadable_runs_are_data_errors(tmp_path: Path, text: str, expected: str):
    (tmp_path / "bad_metrics.jsonl").write_text(text)
    with pytest.raises(DataError, match=expected):
        read_runs([str(tmp_path / "bad_metrics.jsonl")])


def test_a_missing_run_is_a_data_error_with_a_hint():
    with pytest.raises(DataError, match="no such run .* give a run's _metrics.jsonl, its snapshot prefix"):
        read_runs(["nowhere/gd"])


def test_plot_writes_a_png_of_a_loss_and_a_learning_rate_panel(run: Solver):
    result = CliRunner().invoke(cli, ["plot", run.prefix, "--out", "curves.png"])
    assert result.exit_code == 0, result.output
    with Image.open("curves.png") as image:
        assert image.format == "PNG"
        assert image.size == (round(2 * PANEL_SIZE[0] * DPI), round(PANEL_SIZE[1] * DPI))
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # drawn on, not blank


def test_plot_writes_an_svg_of_each_run_from_logs_and_metrics(run: Solver, tmp_path: Path):
    (tmp_path / "caffe.log").write_text(CAFFE_LOG)
    result = CliRunner().invoke(cli, ["plot", run.prefix, "caffe.log", "--out", "both.svg", "--title", "two"])
    assert result.exit_code == 0, result.output
    root = ET.parse("both.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    paths = root.iter("{http://www.w3.org/2000/svg}path")
    assert sum(1 for _ in paths) > 20
    text = Path("both.svg").read_text()
    assert "<dc:date>" not in text  # the same figure gives the same file


def test_many_runs_get_their_own_colours_and_one_legend_beside_the_panels():
    runs = []
    for k in range(14):
        curves = Curves(f"rule{k:02d}")
        for it in range(0, 100, 10):
            curves.add("train", "loss", it, 1.0 / (1 + k + it))
            curves.add("test", "accuracy", it, it / 100)
        runs.append(curves)
    draw(runs, "many.svg")
    text = Path("many.svg").read_text()
    for k in range(14):
        assert text.count(f"<!-- rule{k:02d} -->") == 1  # named once, not once a panel
    strokes = {stroke for stroke in re.findall(r"stroke: (#[0-9a-f]{6})", text)}
    assert len(strokes) >= 14  # no colour shared by two runs


def test_plot_refuses_other_formats_and_names_the_extra_without_matplotlib(monkeypatch: pytest.MonkeyPatch,
                                                                           run: Solver):
    with pytest.raises(ConfigError, match="written as PNG or SVG"):
        draw(read_runs([run.prefix]), "curves.jpg")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    with pytest.raises(ConfigError, match=r"needs matplotlib.*pip install protonet\[plot\]"):
        draw(read_runs([run.prefix]), "curves.png")
    assert not Path("curves.png").exists()


def test_compare_trains_each_variant_and_draws_the_boundaries(tmp_path: Path):
    solver = str(COURSE / "03_linear_vs_mlp" / "solver.yaml")
    result = CliRunner().invoke(cli, ["compare", solver, "--set", "max_iter=300", "--set", "test_interval=100",
                                      "--variant", "base_lr=0.1", "--variant", "base_lr=0.001,momentum=0",
                                      "--boundary", "--runs", "runs", "--out", "compare.png"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("base_lr=0.1: loss ") and "at iteration 300" in lines[0]
    assert lines[1].startswith("base_lr=0.001,momentum=0: loss ")
    fast, slow = (float(line.split("accuracy_mlp = ")[1].split(",")[0]) for line in lines[:2])
    assert fast > 0.9 and slow < 0.8
    assert sorted(p.name for p in Path("runs").glob("*_metrics.jsonl")) == ["0-solver_metrics.jsonl",
                                                                             "1-solver_metrics.jsonl"]
    with Image.open("compare.png") as image:  # a row of 3 curve panels over a row of 4 boundaries
        assert image.size == (round(4 * PANEL_SIZE[0] * DPI), round(2 * PANEL_SIZE[1] * DPI))


def test_compare_labels_runs_by_their_solver_file_and_variant():
    assert trial_label("a/06_optimizers/solver_adam.yaml", "", several_solvers=True) == "adam"
    assert trial_label("a/07_symmetry/solver.yaml", "", several_solvers=False) == "07_symmetry"
    assert trial_label("a/solver_sgd.yaml", "base_lr=1", several_solvers=False) == "base_lr=1"
    assert trial_label("a/solver_sgd.yaml", "base_lr=1", several_solvers=True) == "sgd base_lr=1"


def test_the_boundary_of_logistic_regression_is_its_line():
    solver = Solver(COURSE / "02_logistic_regression" / "solver.yaml", overrides=["max_iter=50"])
    solver.solve()
    [boundary] = boundaries(solver.test_nets[0], resolution=40)
    w, b = solver.net.params["logit"][0].data.ravel(), float(solver.net.params["logit"][1].data[0])
    gx, gy = np.meshgrid(boundary.xs, boundary.ys)
    expected = (w[0] * gx + w[1] * gy + b > 0).astype(int)
    assert boundary.classes.shape == (40, 40) and 0.2 < boundary.classes.mean() < 0.8
    assert np.mean(boundary.classes == expected) > 0.995  # only float32 rounding on the line may differ
    points = boundary.points
    assert points.shape == (500, 2) and boundary.accuracy == pytest.approx(
        np.mean((points @ w + b > 0) == boundary.labels), abs=0.005)
    assert boundary.accuracy == pytest.approx(solver.test_all()[0]["accuracy"], abs=0.005)


def test_a_boundary_needs_two_dimensional_records():
    solver = Solver(COURSE / "01_linear_regression" / "solver.yaml", overrides=["max_iter=0"])
    with pytest.raises(ConfigError, match=r"needs 2-D inputs, but layer 'data' gives records of shape \[3, 1, 1\]"):
        boundaries(solver.test_nets[0])


def test_compare_refuses_a_bad_output_name_before_training(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("protonet.compare.compare", lambda *args, **kwargs: pytest.fail("it trained"))
    result = CliRunner().invoke(cli, ["compare", str(COURSE / "07_symmetry" / "solver.yaml"), "--out", "c.gif"])
    assert isinstance(result.exception, ConfigError) and "written as PNG or SVG" in str(result.exception)
