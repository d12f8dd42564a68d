"""The `protonet` command: a few lines over the library for each subcommand."""

from __future__ import annotations

import sys
import traceback

import click

from ..errors import ProtonetError
from . import bench, course, data, export, nets, predict, run, zoo  # noqa: F401  (each adds its commands to the group)
from .group import USAGE_EXIT, cli


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
