"""`protonet train --ranks N`: start the same command line on N processes of this machine under mpirun.

mpirun is the one installed beside this Python (the `mpi` extra's MPICH wheel puts it in the virtual
environment's bin), else the first on PATH (a system Open MPI or MPICH). For Open MPI, the launch allows
more ranks than cores (--oversubscribe) and, as root (containers, CI), sets the two variables it asks
for. Each rank gets one BLAS thread unless OMP_NUM_THREADS / OPENBLAS_NUM_THREADS say otherwise: N ranks
of a many-threaded BLAS would fight over the cores.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError
from .faults import REPORTS_VARIABLE, print_reports

ROOT_VARIABLES = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
FORWARDED = (signal.SIGTERM,)  # MPICH's mpirun passes it on to the ranks (a stop); it ends on SIGHUP


def find_mpirun() -> str:
    """The mpirun beside sys.executable, else mpirun or mpiexec on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    if found is None:
        raise ConfigError("--ranks needs mpirun, and none is installed", hint="pip install protonet[mpi]")
    return found


def is_open_mpi(mpirun: str) -> bool:
    """Whether `mpirun` is Open MPI's (its --version names Open MPI or its runtime, PRRTE / Open RTE)."""
    try:
        text = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(name in text for name in ("Open MPI", "OpenRTE", "Open RTE", "PRRTE", "prterun"))


def mpirun_command(ranks: int, argv: list[str], mpirun: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run `protonet ARGV` on `ranks` processes here."""
    mpirun = mpirun or find_mpirun()
    env = dict(os.environ)
    flags = []
    if is_open_mpi(mpirun):
        flags.append("--oversubscribe")
        if os.geteuid() == 0:
            env.update(ROOT_VARIABLES)
    if not any(name in env for name in THREAD_VARIABLES):
        env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    return [mpirun, "-n", str(ranks), *flags, sys.executable, "-m", "protonet.cli", *argv], env


def launch(ranks: int, argv: list[str]) -> int:
    """Run `protonet ARGV` on `ranks` processes under mpirun; returns its exit status. A SIGTERM sent to
    this process goes on to mpirun, which passes it to the ranks (they stop after a snapshot); a Ctrl-C
    reaches mpirun directly, from the terminal. A failing rank's report is printed once the job ends."""
    command, env = mpirun_command(ranks, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryDirectory(prefix="protonet-ranks-") as reports:
        env[REPORTS_VARIABLE] = reports
        status = _run(command, env)
        print_reports(Path(reports), sys.stderr)
    return status


def _run(command: list[str], env: dict[str, str]) -> int:
    with subprocess.Popen(command, env=env) as job:
        forwarded = {number: signal.signal(number, lambda number, _: job.send_signal(number))
                     for number in FORWARDED}
        ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return job.wait()
        finally:
            for number, old in forwarded.items():
                signal.signal(number, old)
            signal.signal(signal.SIGINT, ignored)
