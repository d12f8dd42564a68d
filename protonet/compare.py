"""Train several solvers, or variants of one, and gather their curves for one figure (`protonet compare`).

Each solver file runs once per variant (a comma-separated list of solver overrides such as
"type=Adam,base_lr=0.01"; none by default), after the overrides common to all, with its run files
under `runs_dir` (`<k>-<solver stem>_metrics.jsonl`, and the snapshots the solver asks for).
A run is labelled by its solver file (`solver_adam.yaml` -> "adam"; a file named `solver` by its
folder) and its variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from .curves import Curves, read_run
from .solvers import Solver
from .solvers.snapshot import run_files


@dataclass
class Trial:
    """One run of a comparison: its label, the solver as trained, and its curves."""

    label: str
    solver: Solver
    curves: Curves


def compare(solvers: Sequence[str | Path], runs_dir: str | Path, *, variants: Sequence[str] = ("",),
            overrides: Sequence[str] = ()) -> list[Trial]:
    """Train every solver under every variant in turn (see the module doc); returns the trials in that order."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    trials = []
    for k, (path, variant) in enumerate(product(solvers, variants)):
        prefix = str(runs_dir / f"{k}-{Path(path).stem}")
        changes = [item.strip() for item in variant.split(",") if item.strip()]
        solver = Solver(path, overrides=[*overrides, *changes, f"snapshot_prefix={prefix}"])
        solver.solve()
        label = trial_label(path, variant, several_solvers=len(solvers) > 1)
        trials.append(Trial(label, solver, read_run(Path(run_files(prefix)["metrics"]), label)))
    return trials


def trial_label(path: str | Path, variant: str, *, several_solvers: bool) -> str:
    """The solver's name (from its file) when several solvers are compared or there is no variant, then
    the variant."""
    path = Path(path)
    name = path.parent.name if path.stem == "solver" else path.stem.removeprefix("solver_")
    return " ".join(part for part in (name if several_solvers or not variant else "", variant) if part)
