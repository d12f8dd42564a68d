"""The `protonet` command group and the option types its commands share; each command module adds its
commands to `cli`."""

from __future__ import annotations

import logging
import os
import sys

import click

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
    from ..blob import LIMIT_VARIABLE
    from ..layers.python import allow_python_layers as allow

    allow(allow_python_layers)
    if max_elements is not None:
        os.environ[LIMIT_VARIABLE] = str(max_elements)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
