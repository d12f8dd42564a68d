"""Training curves of a run, read from protonet's metrics file or from a Caffe (or protonet) training log.

A run is named by its metrics file (`<prefix>_metrics.jsonl`, one JSON object per display or test
event; see protonet.solvers.monitor), its snapshot prefix, a folder holding metrics files, or a
training log. Logs are read as Caffe's tools/extra/parse_log.py reads them: `Iteration N` sets the
iteration, `Train net output #i: NAME = V` and `Test net output #i: NAME = V` give the outputs and
`lr = V` the learning rate; `Testing net (#k)` tells the test nets apart. protonet logs the same
lines, so `protonet train ... 2> train.log` makes a log this reads too.

Either way a run becomes `Curves`: (phase, name) -> (iterations, values), where phase is "train",
"test" (or "test#k" for test net k > 0) and name a net output (scalars only) or "lr".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError
from .io import read_regular

METRICS_SUFFIX = "_metrics.jsonl"
ITERATION = re.compile(r"Iteration (\d+)")
OUTPUT = re.compile(r"(Train|Test) net output #\d+: (\S+) = (\S+)")
RATE = re.compile(r"\blr = (\S+)")
TESTING = re.compile(r"Testing net \(#(\d+)\)")
HINT = "give a run's _metrics.jsonl, its snapshot prefix, a folder of runs, or a Caffe training log"


@dataclass
class Curves:
    """The curves of one run: (phase, name) -> ([iteration, ...], [value, ...])."""

    label: str
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)

    def add(self, phase: str, name: str, iteration: int, value: float) -> None:
        iterations, values = self.series.setdefault((phase, name), ([], []))
        iterations.append(iteration)
        values.append(value)


def read_runs(names: list[str]) -> list[Curves]:
    """The curves of every run `names` point at (a folder may hold several), in the order given."""
    runs = []
    for name in names:
        runs += [read_run(path) for path in _locate(name)]
    return runs


def _locate(name: str) -> list[Path]:
    path = Path(name)
    if path.is_dir():
        found = sorted(path.glob(f"*{METRICS_SUFFIX}"))
        if not found:
            raise DataError(f"no *{METRICS_SUFFIX} files in this folder", file=name, hint=HINT)
        return found
    if path.is_file():
        return [path]
    prefixed = Path(name + METRICS_SUFFIX)
    if prefixed.is_file():
        return [prefixed]
    raise DataError("no such run (not a file, a folder, nor a snapshot prefix)", file=name, hint=HINT)


def read_run(path: Path, label: str | None = None) -> Curves:
    """The curves in one metrics file (`.jsonl`) or training log (anything else), labelled by its name."""
    try:
        text = read_regular(path).decode("utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if path.name.endswith(".jsonl"):
        name = path.name.removesuffix(METRICS_SUFFIX).removesuffix(".jsonl")
        curves = parse_metrics(text, label or name, str(path))
    else:
        curves = parse_log(text, label or path.stem)
    if not curves.series:
        raise DataError("holds no training curves", file=str(path), hint=HINT)
    return curves


def parse_metrics(text: str, label: str, file: str = "<metrics>") -> Curves:
    """Curves from the JSON lines of a metrics file: each event's outputs, and the train events' lr."""
    curves = Curves(label)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            iteration, phase = int(event["iter"]), str(event["phase"])
            outputs = dict(event.get("outputs", {}))
        except (ValueError, KeyError, TypeError):
            raise DataError("is not a metrics event (a JSON object with iter, phase and outputs)", file=file,
                            line=number, hint=HINT) from None
        if phase == "test" and event.get("net", 0):
            phase = f"test#{event['net']}"
        for name, value in outputs.items():
            if isinstance(value, (int, float)):
                curves.add(phase, name, iteration, float(value))
        if phase == "train" and isinstance(event.get("lr"), (int, float)):
            curves.add(phase, "lr", iteration, float(event["lr"]))
    return curves


def parse_log(text: str, label: str) -> Curves:
    """Curves from a Caffe-format training log (see the module doc); lines before the first
    `Iteration N` are skipped, as parse_log.py skips them."""
    curves = Curves(label)
    iteration, test_net = None, 0
    for line in text.splitlines():
        if found := ITERATION.search(line):
            iteration = int(found[1])
        if iteration is None:
            continue
        if found := TESTING.search(line):
            test_net = int(found[1])
        if (found := OUTPUT.search(line)) and (value := _number(found[3])) is not None:
            phase = "train" if found[1] == "Train" else "test" if test_net == 0 else f"test#{test_net}"
            curves.add(phase, found[2], iteration, value)
        elif (found := RATE.search(line)) and (value := _number(found[1])) is not None:
            curves.add("train", "lr", iteration, value)
    return curves


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
