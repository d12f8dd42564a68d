"""Commands that run a net: train, test, time, deploy."""

from __future__ import annotations

import logging
import sys

import click

from .group import PHASE, cli

EFFECT = click.Choice(["snapshot", "stop", "none"])


@cli.command()
@click.option("--solver", "solver_file", required=True, help="Solver file (.prototxt or .yaml).")
@click.option("--weights", default=None, help="Initialise from these weights (fine-tuning), or zoo:NAME.")
@click.option("--reinit", multiple=True, metavar="LAYER",
              help="With --weights: keep this layer's fresh filler values (repeatable).")
@click.option("--snapshot", default=None,
              help="Resume from this .solverstate, or 'latest': the newest snapshot of the solver's prefix.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a solver field, e.g. --set base_lr=0.001, or a net's: "
                   "--set net.layer[conv1].convolution_param.num_output=32 (repeatable).")
@click.option("--sigint-effect", type=EFFECT, default="stop", show_default=True,
              help="Ctrl-C: stop (after a snapshot), snapshot (and go on) or none.")
@click.option("--sighup-effect", type=EFFECT, default="snapshot", show_default=True,
              help="SIGHUP: snapshot (and go on), stop (after a snapshot) or none.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: when on a terminal].")
@click.option("--debug-info", is_flag=True,
              help="Log each layer's mean |data| and |diff| on display iterations (solver field debug_info).")
@click.option("--tensorboard", default=None, metavar="DIR",
              help="Also write the metrics as TensorBoard event files in DIR (needs protonet[tensorboard]).")
@click.option("--ranks", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train data-parallel on N processes of this machine, under mpirun (needs protonet[mpi]); "
                   "across machines run `mpirun -n N ... protonet train` instead.")
def train(solver_file: str, weights: str | None, reinit: tuple[str, ...], snapshot: str | None,
          overrides: tuple[str, ...], sigint_effect: str, sighup_effect: str, progress: bool | None,
          debug_info: bool, tensorboard: str | None, ranks: int | None) -> None:
    """Train a net as the solver file says; snapshots go where snapshot_prefix points.

    Under `mpirun -n N` (or with --ranks N) the N processes train it data-parallel: see the README,
    "Training on several processes"."""
    from ..distributed.comm import connect, launched_size
    from ..distributed.faults import abort_on_error
    from ..distributed.parallel import DataParallel
    from ..solvers import SignalHandler, Solver
    from ..zoo import resolve_weights

    if weights and snapshot:
        raise click.UsageError("give --snapshot to resume or --weights to fine-tune, not both")
    if reinit and not weights:
        raise click.UsageError("--reinit applies only with --weights")
    if ranks and launched_size() != ranks:
        if launched_size() > 1:
            raise click.UsageError(f"--ranks {ranks} inside an MPI job of {launched_size()} ranks")
        if ranks > 1:
            from ..distributed.launch import launch

            sys.exit(launch(ranks, sys.argv[1:]))
    world = connect()
    root = world is None or world.is_root
    verbose = logging.getLogger("protonet").isEnabledFor(logging.DEBUG)
    if not root:  # rank 0 alone logs; the others speak only when they fail
        logging.getLogger("protonet").setLevel(logging.ERROR)
    with abort_on_error(world, verbose=verbose):
        solver = Solver(solver_file, overrides=[*overrides, *(["debug_info=true"] if debug_info else [])],
                        reinit=list(reinit), weights=resolve_weights(weights) if weights else None,
                        progress=(sys.stderr.isatty() if progress is None else progress) and root,
                        tensorboard=tensorboard)
        if world is not None:
            DataParallel(world).attach(solver)
        if snapshot == "latest":
            snapshot = latest_snapshot(solver.prefix)
        if snapshot:
            solver.restore(snapshot)
        with SignalHandler(sigint=sigint_effect, sighup=sighup_effect, sigterm="stop") as signals:
            solver.solve(signals)
    if solver.last_snapshot and root:
        click.echo(f"last snapshot: {solver.last_snapshot[1]} (iteration {solver.last_snapshot[0]})")
    if solver.best and solver.best.score is not None and solver.prefix and root:
        from ..solvers.snapshot import best_path

        click.echo(f"best: {best_path(solver.prefix)} ({solver.best.describe()})")


def latest_snapshot(prefix: str | None) -> str:
    """The newest `.solverstate` under the snapshot prefix, or a usage error saying where none was found."""
    from ..solvers.snapshot import latest_state

    found = latest_state(prefix) if prefix else None
    if found is None:
        raise click.UsageError(f"--snapshot latest: no {prefix}_iter_<N>.solverstate to resume from"
                               if prefix else "--snapshot latest: the solver has no snapshot_prefix")
    logging.getLogger("protonet").info("Resuming the newest snapshot, %s", found)
    return found


@cli.command()
@click.option("--model", required=True, help="Net definition, or zoo:NAME.")
@click.option("--weights", default=None, help="Weights (.caffemodel or .npz), or zoo:NAME.")
@click.option("--iterations", type=int, default=None,
              help="Batches to average over [default: one full pass over the test source].")
@click.option("--phase", type=PHASE, default="TEST", show_default=True)
@click.option("--stage", multiple=True, help="NetState stage (repeatable).")
@click.option("--level", type=int, default=0, show_default=True)
def test(model: str, weights: str | None, iterations: int | None, phase: str, stage: tuple[str, ...],
         level: int) -> None:
    """Score a trained net: the mean of each output over the test source.

    A zoo model is scored with the train_val net saved in its entry (data and accuracy layers).
    """
    from ..evaluate import evaluate
    from ..net import Net
    from ..zoo import resolve_scoring_model, resolve_weights

    if weights is None and not model.startswith("zoo:"):
        raise click.UsageError("give --weights (or a zoo:NAME model, whose weights come with it)")
    net = Net(resolve_scoring_model(model), phase=phase, stages=stage, level=level)
    net.copy_from(resolve_weights(weights or model), log=logging.getLogger("protonet").info)
    for name, value in evaluate(net, iterations, progress=sys.stderr.isatty()).items():
        click.echo(f"{name} = {value:.6g}")


@cli.command()
@click.option("--model", required=True, help="Net definition, or zoo:NAME.")
@click.option("--iterations", type=int, default=50, show_default=True)
@click.option("--phase", type=PHASE, default="TRAIN", show_default=True)
def time(model: str, iterations: int, phase: str) -> None:
    """Time each layer's forward and backward pass, as `caffe time` does, with the rate of its matrix
    products (GFLOP/s) beside the BLAS's rate on a 1024x1024 product."""
    from ..evaluate import format_times, time_layers
    from ..net import Net
    from ..ops.blas import square_product_gflops
    from ..zoo import resolve_model

    net = Net(resolve_model(model), phase=phase, seed=0)
    click.echo(format_times(time_layers(net, iterations), square_product_gflops()))


@cli.command()
@click.option("--model", required=True, help="The train_val net.")
@click.option("--weights", required=True, help="Trained weights (.caffemodel or .npz).")
@click.option("--name", required=True, help="Name of the zoo entry.")
@click.option("--description", default="", help="One line saying what the model is.")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Score the model on its test source and record the metrics.")
@click.option("--optimize", is_flag=True,
              help="Fold BatchNorm and Scale into the layers before them, drop Dropout and Split layers.")
def deploy(model: str, weights: str, name: str, description: str, evaluate: bool, optimize: bool) -> None:
    """Turn a trained run into a zoo entry (deploy net, weights, metadata with sha256)."""
    from ..deploy import deploy as make_entry
    from ..evaluate import evaluate as score
    from ..net import Net

    metrics = {}
    if evaluate:
        net = Net(model, weights=weights, phase="TEST")
        metrics = {k: round(v, 6) for k, v in score(net, progress=sys.stderr.isatty()).items()}
    folder = make_entry(model, weights, name, description=description, metrics=metrics, optimize=optimize)
    click.echo(f"deployed {name} to {folder}" + "".join(f"\n  {k} = {v}" for k, v in metrics.items()))
