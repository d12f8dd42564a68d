"""A rank that fails ends the whole job: no rank is left waiting in a collective for it.

An error on one rank (a ProtonetError, any exception, a second Ctrl-C) is printed as one line naming
the rank, then MPI_Abort ends every rank at once; mpirun reports the abort and exits non-zero. A rank
that dies outright (killed, out of memory) is seen by mpirun itself, which ends the others (Open MPI's
prterun and MPICH's Hydra both do, within a second or two). Snapshots are written atomically by rank
0, so the last one on disk is whole whichever way the job ends.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator

from ..errors import ProtonetError
from .comm import World


@contextlib.contextmanager
def abort_on_error(world: World | None, verbose: bool = False) -> Iterator[None]:
    """Run the block; when it raises (anything but a clean exit), name this rank and its error on stderr
    and abort the job with the error's exit code. Without a world (one process), errors pass through."""
    if world is None:
        yield
        return
    try:
        yield
    except SystemExit as exc:
        if exc.code not in (0, None):
            _abort(world, f"exited with status {exc.code}", exc.code if isinstance(exc.code, int) else 1)
        raise
    except BaseException as exc:  # noqa: BLE001 - every error must end the job, KeyboardInterrupt included
        if verbose or not isinstance(exc, ProtonetError):
            traceback.print_exc()
        code = exc.exit_code if isinstance(exc, ProtonetError) else 130 if isinstance(exc, KeyboardInterrupt) else 1
        _abort(world, describe(exc), code)


def describe(exc: BaseException) -> str:
    """One line: the error's message, prefixed by its kind unless it is a ProtonetError."""
    if isinstance(exc, ProtonetError):
        return f"error: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _abort(world: World, message: str, code: int) -> None:
    sys.stderr.write(f"protonet: rank {world.rank} of {world.size}: {message}; ending the job\n")
    sys.stderr.flush()
    world.abort(code)
