"""The `protonet` command: a few lines over the library for each subcommand."""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from ..errors import ProtonetError

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


# Each module below adds its commands to the group.
from . import bench, course, data, nets, run, zoo  # noqa: E402,F401
