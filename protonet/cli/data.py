"""Dataset commands."""

from __future__ import annotations

import click

from .group import cli


@cli.group()
def data() -> None:
    """Datasets: fetch and prepare."""


@data.command("get")
@click.argument("name", type=click.Choice(["fashion-mnist", "mnist"]))
@click.option("--dest", type=click.Path(file_okay=False), default=None,
              help="Folder to put the files in (default: $PROTONET_DATA/NAME or ./data/NAME).")
def data_get(name: str, dest: str | None) -> None:
    """Get a dataset (a local copy where one exists, else a download), checksums verified."""
    from ..data import get_dataset

    click.echo(f"{name}: {get_dataset(name, dest, log=click.echo)}")
