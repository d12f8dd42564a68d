"""Commands that show what training does: gradcheck, plot, compare."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator

import click

from .group import PHASE, cli

OUT_HELP = "The figure: a .png or .svg file."


@cli.command()
@click.option("--model", required=True, help="Net definition (with its loss layers), or zoo:NAME.")
@click.option("--layer", "layers", multiple=True, metavar="LAYER", help="Check only this layer (repeatable).")
@click.option("--phase", type=PHASE, default="TRAIN", show_default=True)
@click.option("--samples", type=click.IntRange(min=1), default=20, show_default=True,
              help="Elements checked per parameter (all of smaller ones).")
@click.option("--step", type=float, default=1e-5, show_default=True,
              help="h of the central differences (h/10 is tried too).")
@click.option("--threshold", type=float, default=1e-4, show_default=True,
              help="Largest relative error that passes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the fillers, data and samples.")
def gradcheck(model: str, layers: tuple[str, ...], phase: str, samples: int, step: float, threshold: float,
              seed: int) -> None:
    """Compare back-propagated gradients with numerical ones (float64), per layer and parameter.

    The loss of one batch is differentiated by central differences, (L(w + h) - L(w - h)) / 2h,
    one weight at a time; the table gives the largest relative error |backprop - numeric| /
    max(|backprop|, |numeric|) of each parameter. Exits with 1 when one is over the threshold.
    """
    import numpy as np

    from ..gradcheck import check_net
    from ..net import Net
    from ..zoo import resolve_model

    net = Net(resolve_model(model), phase=phase, dtype=np.float64, seed=seed)
    rows = check_net(net, layers, step=step, samples=samples, seed=seed)
    click.echo(f"{'layer':<20} {'param':>5} {'shape':<16} {'checked':>7} {'max |grad|':>11} "
               f"{'max rel error':>13}")
    failed = 0
    for row in rows:
        bad = row.max_error > threshold
        failed += bad
        click.echo(f"{row.layer:<20} {row.index:>5} {str(list(row.shape)):<16} {row.checked:>7} "
                   f"{row.max_gradient:>11.3e} {row.max_error:>13.3e}{'  FAIL' if bad else ''}")
    if failed:
        click.echo(f"{failed} of {len(rows)} parameters over the threshold {threshold:g}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"all {len(rows)} parameters within {threshold:g}")


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", default="curves.png", show_default=True, help=OUT_HELP)
@click.option("--title", default="", help="A title over the figure.")
def plot(runs: tuple[str, ...], out: str, title: str) -> None:
    """Draw loss, accuracy and learning-rate curves of RUNS.

    A run is a metrics file (<prefix>_metrics.jsonl), a snapshot prefix, a folder of metrics files,
    or a training log of Caffe's (or protonet's) log lines.
    """
    from ..curves import read_runs
    from ..plot import draw

    click.echo(f"wrote {draw(read_runs(list(runs)), out, title=title)}")


@cli.command()
@click.argument("solvers", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a field of every solver, e.g. --set max_iter=500 (repeatable).")
@click.option("--variant", "variants", multiple=True, metavar="KEY=VALUE[,KEY=VALUE...]",
              help="Train each solver once more with these overrides, e.g. --variant type=Adam,base_lr=0.01 "
                   "(repeatable; default: each solver once as it is).")
@click.option("--boundary", is_flag=True, help="Also draw each run's decision boundaries (2-D problems).")
@click.option("--runs", "runs_dir", default=None, type=click.Path(file_okay=False),
              help="Keep the runs' files here [default: a temporary folder, removed afterwards].")
@click.option("--out", default="compare.png", show_default=True, help=OUT_HELP)
@click.option("--title", default="", help="A title over the figure.")
def compare(solvers: tuple[str, ...], overrides: tuple[str, ...], variants: tuple[str, ...], boundary: bool,
            runs_dir: str | None, out: str, title: str) -> None:
    """Train each solver (and variant), then draw all their curves on one figure."""
    from ..boundary import boundaries
    from ..compare import compare as run_trials
    from ..errors import ConfigError
    from ..plot import check_output, draw, matplotlib_figure

    matplotlib_figure()  # fail before training, not after
    check_output(out)
    with contextlib.ExitStack() as stack:
        if runs_dir is None:
            runs_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="protonet-compare-"))
        with _quiet():
            trials = run_trials(solvers, runs_dir, variants=variants or ("",), overrides=overrides)
        for trial in trials:
            scores = ", ".join(f"{name} = {value:.4g}" for net in trial.solver.test_scores
                               for name, value in net.items() if isinstance(value, float))
            click.echo(f"{trial.label}: loss {trial.solver.smoothed_loss:.4g} at iteration {trial.solver.iter}"
                       + (f"; test {scores}" if scores else ""))
        drawn = []
        for trial in trials if boundary else ():
            if not trial.solver.test_nets:
                raise ConfigError(f"{trial.label}: --boundary is drawn over a test net's records, and this "
                                  "solver has no test net", hint="add test_iter and test_interval to the solver")
            drawn += boundaries(trial.solver.test_nets[0], trial.label if len(trials) > 1 else "")
        click.echo(f"wrote {draw([trial.curves for trial in trials], out, boundaries=drawn, title=title)}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The runs' per-iteration log lines hidden (warnings still shown)."""
    logger = logging.getLogger("protonet")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
