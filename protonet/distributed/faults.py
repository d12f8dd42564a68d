"""A rank that fails ends the whole job: no rank is left waiting in a collective for it.

An error on one rank (a ProtonetError, any exception, a second Ctrl-C) is reported as one line naming
the rank, then MPI_Abort ends every rank at once; mpirun reports the abort and exits non-zero. mpirun
can drop what a rank wrote just before the abort, so under `protonet train --ranks N` the report goes
to a file that the launcher prints once the job has ended (REPORTS_VARIABLE names its folder); under a
bare mpirun it goes to stderr, with a moment for mpirun to carry it out.

A rank that dies outright (killed, out of memory) is seen by mpirun itself, which ends the others (Open
MPI's prterun and MPICH's Hydra both do, within a second or two). Snapshots are written atomically by
rank 0, so the last one on disk is whole whichever way the job ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ..errors import ProtonetError
from .comm import World

REPORTS_VARIABLE = "PROTONET_RANK_REPORTS"
FORWARD_PAUSE_S = 0.5  # under a bare mpirun: time for its output forwarding before the abort


@contextlib.contextmanager
def abort_on_error(world: World | None, verbose: bool = False) -> Iterator[None]:
    """Run the block; when it raises (anything but a clean exit), report this rank and its error and
    abort the job with the error's exit code. Without a world (one process), errors pass through."""
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
        trace = traceback.format_exc() if verbose or not isinstance(exc, ProtonetError) else ""
        code = exc.exit_code if isinstance(exc, ProtonetError) else 130 if isinstance(exc, KeyboardInterrupt) else 1
        _abort(world, describe(exc), code, trace)


def describe(exc: BaseException) -> str:
    """One line: the error's message, prefixed by its kind unless it is a ProtonetError."""
    if isinstance(exc, ProtonetError):
        return f"error: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _abort(world: World, message: str, code: int, trace: str = "") -> None:
    report = trace + f"protonet: rank {world.rank} of {world.size}: {message}; ending the job\n"
    if not _leave_for_launcher(report, world.rank):
        sys.stderr.write(report)
        sys.stderr.flush()
        time.sleep(FORWARD_PAUSE_S)
    world.abort(code)


def _leave_for_launcher(report: str, rank: int) -> bool:
    """Write the report where `protonet train --ranks` will print it from; False outside one."""
    folder = os.environ.get(REPORTS_VARIABLE)
    if not folder:
        return False
    try:
        Path(folder, f"rank-{rank}.txt").write_text(report)
    except OSError:
        return False
    return True


def print_reports(folder: Path, out: TextIO) -> None:
    """Write the ranks' reports left in `folder` to `out`, in rank order."""
    for path in sorted(folder.glob("rank-*.txt"), key=lambda path: int(path.stem.split("-")[1])):
        out.write(path.read_text())
    out.flush()
