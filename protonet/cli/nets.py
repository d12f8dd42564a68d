"""Commands on net files: list layer types, check, convert, upgrade, draw."""

from __future__ import annotations

import click

from .group import PHASE, cli


@cli.command()
def layers() -> None:
    """List the registered layer types."""
    from ..layers.registry import layer_types

    for name, summary in layer_types().items():
        click.echo(f"{name:<26} {summary}")


@cli.command()
@click.option("--model", required=True, help="Net definition (.prototxt or .yaml), or zoo:NAME.")
@click.option("--phase", type=PHASE, default="TEST", show_default=True)
@click.option("--stage", multiple=True, help="NetState stage (repeatable).")
@click.option("--level", type=int, default=0, show_default=True)
def check(model: str, phase: str, stage: tuple[str, ...], level: int) -> None:
    """Validate a net and print its layers, shapes, parameters and FLOPs."""
    from ..net import Net
    from ..summary import format_table
    from ..zoo import resolve_model

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
    from ..convert import convert_file

    click.echo(convert_file(source, target))


@cli.command()
@click.argument("source", type=click.Path(dir_okay=False, exists=True))
@click.argument("target", type=click.Path(dir_okay=False))
def upgrade(source: str, target: str) -> None:
    """Rewrite a legacy (V0/V1) net or solver in the current format."""
    from .. import config
    from ..convert import load_config
    from ..proto import pb
    from ..upgrade import upgrade_net, upgrade_solver

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
    from ..draw import draw_net
    from ..zoo import resolve_model

    click.echo(draw_net(resolve_model(model), output, rankdir=rankdir, phase=phase.upper()))
