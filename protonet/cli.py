"""The `protonet` command: a few lines over the library for each subcommand."""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from .errors import ProtonetError

USAGE_EXIT = 64  # sysexits' EX_USAGE: a bad command line, kept apart from the error kinds' codes 2-6
PHASE = click.Choice(["TRAIN", "TEST"], case_sensitive=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("--allow-python-layers", is_flag=True,
              help="Let 'Python' layers import and run the modules their files name.")
@click.option("--max-elements", type=int, default=None, metavar="N",
              help="Largest array (elements) a config or weights file may declare [default: 2^31].")
@click.version_option(package_name="protonet")
def cli(verbose: bool, allow_python_layers: bool, max_elements: int | None) -> None:
    """Caffe-style deep learning from config files."""
    from .blob import LIMIT_VARIABLE
    from .layers.python import allow_python_layers as allow

    allow(allow_python_layers)
    if max_elements is not None:
        os.environ[LIMIT_VARIABLE] = str(max_elements)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        stream=sys.stderr)


def main() -> None:
    """Entry point: user errors end as one line on stderr and a distinct exit code."""
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except ProtonetError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"protonet: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("protonet: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(USAGE_EXIT if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


# ------------------------------------------------------------------ nets


@cli.command()
def layers() -> None:
    """List the registered layer types."""
    from .layers.registry import layer_types

    for name, summary in layer_types().items():
        click.echo(f"{name:<26} {summary}")


@cli.command()
@click.option("--model", required=True, help="Net definition (.prototxt or .yaml), or zoo:NAME.")
@click.option("--phase", type=PHASE, default="TEST", show_default=True)
@click.option("--stage", multiple=True, help="NetState stage (repeatable).")
@click.option("--level", type=int, default=0, show_default=True)
def check(model: str, phase: str, stage: tuple[str, ...], level: int) -> None:
    """Validate a net and print its layers, shapes, parameters and FLOPs."""
    from .net import Net
    from .summary import format_table
    from .zoo import resolve_model

    net = Net(resolve_model(model), phase=phase, stages=stage, level=level)
    click.echo(format_table(net))


@cli.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
def convert(source: str, target: str) -> None:
    """Convert between formats, chosen by the extensions.

    Nets and solvers: .prototxt <-> .yaml. Weights: .caffemodel <-> .npz <-> .caffemodel.h5.
    Blobs: .binaryproto <-> .npy. Solver states: .solverstate <-> .npz.
    """
    from .convert import convert_file

    click.echo(convert_file(source, target))


EFFECT = click.Choice(["snapshot", "stop", "none"])


@cli.command()
@click.option("--solver", "solver_file", required=True, help="Solver file (.prototxt or .yaml).")
@click.option("--weights", default=None, help="Initialise from these weights (fine-tuning), or zoo:NAME.")
@click.option("--reinit", multiple=True, metavar="LAYER",
              help="With --weights: keep this layer's fresh filler values (repeatable).")
@click.option("--snapshot", default=None, help="Resume from this .solverstate.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a solver field, e.g. --set base_lr=0.001 (repeatable).")
@click.option("--sigint-effect", type=EFFECT, default="stop", show_default=True,
              help="Ctrl-C: stop (after a snapshot), snapshot (and go on) or none.")
@click.option("--sighup-effect", type=EFFECT, default="snapshot", show_default=True,
              help="SIGHUP: snapshot (and go on), stop (after a snapshot) or none.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: when on a terminal].")
@click.option("--debug-info", is_flag=True,
              help="Log each layer's mean |data| and |diff| on display iterations (solver field debug_info).")
def train(solver_file: str, weights: str | None, reinit: tuple[str, ...], snapshot: str | None,
          overrides: tuple[str, ...], sigint_effect: str, sighup_effect: str, progress: bool | None,
          debug_info: bool) -> None:
    """Train a net as the solver file says; snapshots go where snapshot_prefix points."""
    from .solvers import SignalHandler, Solver
    from .zoo import resolve_weights

    if weights and snapshot:
        raise click.UsageError("give --snapshot to resume or --weights to fine-tune, not both")
    if reinit and not weights:
        raise click.UsageError("--reinit applies only with --weights")
    solver = Solver(solver_file, overrides=[*overrides, *(["debug_info=true"] if debug_info else [])],
                    reinit=list(reinit),
                    weights=resolve_weights(weights) if weights else None,
                    progress=sys.stderr.isatty() if progress is None else progress)
    if snapshot:
        solver.restore(snapshot)
    with SignalHandler(sigint=sigint_effect, sighup=sighup_effect, sigterm="stop") as signals:
        solver.solve(signals)
    if solver.last_snapshot:
        click.echo(f"last snapshot: {solver.last_snapshot[1]} (iteration {solver.last_snapshot[0]})")


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
    from .evaluate import evaluate
    from .net import Net
    from .zoo import resolve_scoring_model, resolve_weights

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
    """Time each layer's forward and backward pass, as `caffe time` does."""
    from .evaluate import time_layers
    from .net import Net
    from .zoo import resolve_model

    net = Net(resolve_model(model), phase=phase, seed=0)
    rows, forward, backward = time_layers(net, iterations)
    click.echo(f"{'layer':<24} {'type':<20} {'forward ms':>11} {'backward ms':>12}")
    for name, kind, f, b in rows:
        click.echo(f"{name:<24} {kind:<20} {f:>11.3f} {b:>12.3f}")
    click.echo(f"Average Forward pass: {forward:.3f} ms.")
    click.echo(f"Average Backward pass: {backward:.3f} ms.")
    click.echo(f"Average Forward-Backward: {forward + backward:.3f} ms.")


@cli.command()
@click.option("--model", required=True, help="The train_val net.")
@click.option("--weights", required=True, help="Trained weights (.caffemodel or .npz).")
@click.option("--name", required=True, help="Name of the zoo entry.")
@click.option("--description", default="", help="One line saying what the model is.")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Score the model on its test source and record the metrics.")
def deploy(model: str, weights: str, name: str, description: str, evaluate: bool) -> None:
    """Turn a trained run into a zoo entry (deploy net, weights, metadata with sha256)."""
    from .deploy import deploy as make_entry
    from .evaluate import evaluate as score
    from .net import Net

    metrics = {}
    if evaluate:
        net = Net(model, weights=weights, phase="TEST")
        metrics = {k: round(v, 6) for k, v in score(net, progress=sys.stderr.isatty()).items()}
    folder = make_entry(model, weights, name, description=description, metrics=metrics)
    click.echo(f"deployed {name} to {folder}" + "".join(f"\n  {k} = {v}" for k, v in metrics.items()))


@cli.command()
@click.argument("source", type=click.Path(dir_okay=False, exists=True))
@click.argument("target", type=click.Path(dir_okay=False))
def upgrade(source: str, target: str) -> None:
    """Rewrite a legacy (V0/V1) net or solver in the current format."""
    from . import config
    from .convert import load_config
    from .proto import pb
    from .upgrade import upgrade_net, upgrade_solver

    message = load_config(source)
    fix = upgrade_net if isinstance(message, pb.NetParameter) else upgrade_solver
    config.save(fix(message, source=source), target)
    click.echo(f"wrote {target}")


@cli.command()
@click.option("--model", required=True, help="Net definition, or zoo:NAME.")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--rankdir", type=click.Choice(["LR", "TB", "BT", "RL"]), default="LR", show_default=True)
@click.option("--phase", type=PHASE, default="TEST", show_default=True)
def draw(model: str, output: str, rankdir: str, phase: str) -> None:
    """Draw the net as a graph: OUTPUT.svg/.png (with graphviz's dot) or OUTPUT.dot."""
    from .draw import draw_net
    from .zoo import resolve_model

    click.echo(draw_net(resolve_model(model), output, rankdir=rankdir, phase=phase.upper()))


@cli.command()
@click.option("--threads", type=click.IntRange(1), multiple=True,
              help="BLAS/OpenMP threads, set in each worker's environment (repeatable) [default: 1 and 2].")
@click.option("--compare", type=click.Choice(["torch"]), default=None,
              help="Also time the same nets in PyTorch (NCHW and channels-last), when it is installed.")
@click.option("--repeats", type=click.IntRange(1), default=7, show_default=True,
              help="Timed blocks per workload; the median is reported.")
@click.option("--iterations", type=click.IntRange(1), default=None,
              help="Steps per timed block [default: per workload].")
@click.option("--memory-iterations", type=click.IntRange(1), default=2000, show_default=True,
              help="Training iterations of the lenet-rss workload.")
@click.option("--workloads", "workload_names", multiple=True, metavar="NAME[,NAME...]",
              help="Workloads to run (repeatable or comma-separated) [default: all]: lenet-train, "
                   "cifar10-quick-train, mlp-train, lenet-infer-256, lenet-infer-1, lenet-rss.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON here.")
@click.option("--wait-idle", type=click.IntRange(0, 100), default=0, metavar="PERCENT",
              help="Start each worker only once the CPUs were this idle over 3 s (shared machines).")
def bench(threads: tuple[int, ...], compare: str | None, repeats: int, iterations: int | None,
          memory_iterations: int, workload_names: tuple[str, ...], json_out: str | None, wait_idle: int) -> None:
    """Time fixed workloads (LeNet, CIFAR-10 quick, an MLP) on synthetic data, optionally beside PyTorch."""
    import json

    from .bench import ALL, format_table, run_benchmark
    from .io import atomic_write

    names = [n.strip() for item in workload_names for n in item.split(",") if n.strip()] or list(ALL)
    report = run_benchmark(names, list(threads) or [1, 2], compare, repeats, iterations, memory_iterations,
                           wait_idle, log=lambda line: click.echo(line, err=True))
    click.echo(format_table(report))
    if json_out:
        atomic_write(json_out, json.dumps(report, indent=1).encode())
        click.echo(f"wrote {json_out}")


# ------------------------------------------------------------------ zoo


@cli.group()
def zoo() -> None:
    """The model zoo ($PROTONET_ZOO or ./zoo): list, show, pack and install entries."""


@zoo.command("list")
def zoo_list() -> None:
    """List the entries: name, task, dataset, main metric, weights size."""
    from .zoo import entries, entry_row

    rows = [entry_row(*item) for item in entries()]
    click.echo(f"{'name':<24} {'task':<16} {'dataset':<16} {'metric':<22} {'weights':>9}")
    for row in rows:
        click.echo(f"{row[0]:<24} {row[1]:<16} {row[2]:<16} {row[3]:<22} {row[4]:>9}")
    if not rows:
        click.echo("(no entries; make one with 'protonet deploy' or 'protonet zoo install')")


@zoo.command("show")
@click.argument("name")
def zoo_show(name: str) -> None:
    """Print an entry's metadata and check its weights' sha256 (OK or MISMATCH)."""
    import yaml

    from .errors import WeightsError
    from .zoo import check_weights, entry, read_meta

    folder, _ = entry(name)
    meta = read_meta(folder)
    click.echo(f"folder: {folder}")
    click.echo(yaml.safe_dump(meta, sort_keys=False).rstrip())
    matches, actual = check_weights(folder, meta)
    click.echo(f"weights sha256: {'OK' if matches else f'MISMATCH (found {actual})'}")
    if not matches:
        raise WeightsError("weights do not match the metadata's sha256",
                           file=str(folder / meta["weights"]["file"]),
                           hint="the entry is damaged or altered; install or deploy it again")


@zoo.command("pack")
@click.argument("name")
@click.argument("out", required=False, type=click.Path(dir_okay=False))
def zoo_pack(name: str, out: str | None) -> None:
    """Write entry NAME as a .tar.gz [default: NAME.tar.gz] to share; prints its sha256."""
    from .zoo import pack

    path, digest = pack(name, out)
    click.echo(f"wrote {path}\nsha256 {digest}")


@zoo.command("install")
@click.argument("source")
@click.option("--sha256", "digest", required=True, metavar="HEX",
              help="The archive's published sha256; checked before anything is unpacked.")
@click.option("--name", default=None, help="Install under this name [default: the archive's folder name].")
@click.option("--force", is_flag=True, help="Replace an existing entry (once the new one has validated).")
def zoo_install(source: str, digest: str, name: str | None, force: bool) -> None:
    """Install an entry from a .tar.gz file or an https:// URL, verified and safely extracted."""
    from .zoo import install

    install(source, digest, name=name, force=force, log=click.echo)


# ------------------------------------------------------------------ data


@cli.group()
def data() -> None:
    """Datasets: fetch and prepare."""


@data.command("get")
@click.argument("name", type=click.Choice(["fashion-mnist", "mnist"]))
@click.option("--dest", type=click.Path(file_okay=False), default=None,
              help="Folder to put the files in (default: $PROTONET_DATA/NAME or ./data/NAME).")
def data_get(name: str, dest: str | None) -> None:
    """Get a dataset (a local copy where one exists, else a download), checksums verified."""
    from .data import get_dataset

    click.echo(f"{name}: {get_dataset(name, dest, log=click.echo)}")


if __name__ == "__main__":  # pragma: no cover
    main()

