"""The `protonet` command: a few lines over the library for each subcommand."""

from __future__ import annotations

import logging
import sys
import traceback

import click

from .errors import ProtonetError

PHASE = click.Choice(["TRAIN", "TEST"], case_sensitive=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(package_name="protonet")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Caffe-style deep learning from config files."""
    ctx.obj = {"verbose": verbose}
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
        sys.exit(exc.exit_code)
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
    """Convert between formats, chosen by the extensions (e.g. net.prototxt -> net.yaml)."""
    from .convert import convert_file

    click.echo(convert_file(source, target))


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
    from .data.datasets import get_dataset

    click.echo(f"{name}: {get_dataset(name, dest)}")


if __name__ == "__main__":  # pragma: no cover
    main()

