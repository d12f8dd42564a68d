"""The ranks of an MPI job, through mpi4py (the `mpi` extra): who this process is, and the few
collective operations data-parallel training needs."""

from __future__ import annotations

import os

import numpy as np

from ..errors import ConfigError
from ..extras import require

# Set by the launchers of Open MPI, MPICH / Intel MPI (Hydra) and PMIx (Slurm's srun, prterun).
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")


def launched_size() -> int:
    """How many ranks the MPI launcher that started this process runs (1 when none did)."""
    for name in SIZE_VARIABLES:
        text = os.environ.get(name, "")
        if text.isdigit():
            return int(text)
    return 1


class World:
    """MPI_COMM_WORLD: this process's rank among `size`, and the collectives over numpy arrays."""

    def __init__(self, comm: object) -> None:
        self.comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def broadcast(self, array: np.ndarray) -> None:
        """Overwrite `array` (contiguous) with rank 0's."""
        self.comm.Bcast(array, root=0)

    def start_sum(self, array: np.ndarray) -> object:
        """Start summing the contiguous `array` over the ranks, in place; returns the request."""
        from mpi4py import MPI

        return self.comm.Iallreduce(MPI.IN_PLACE, array, op=MPI.SUM)

    def progress(self, requests: list) -> None:
        """Let the requests move on (MPI progresses non-blocking collectives inside its calls)."""
        from mpi4py import MPI

        MPI.Request.Testall(requests)

    def wait(self, requests: list) -> None:
        from mpi4py import MPI

        MPI.Request.Waitall(requests)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of `values` over the ranks."""
        from mpi4py import MPI

        out = np.empty_like(values)
        self.comm.Allreduce(values, out, op=MPI.SUM)
        return out

    def maximum(self, value: int) -> int:
        from mpi4py import MPI

        return int(self.comm.allreduce(value, op=MPI.MAX))

    def all_gather(self, value: int) -> list[int]:
        return list(self.comm.allgather(value))

    def gather_bytes(self, data: bytes) -> list[bytes] | None:
        """Every rank's `data`, in rank order, on rank 0 (None elsewhere)."""
        return self.comm.gather(data, root=0)

    def abort(self, code: int) -> None:
        """End every rank of the job now (MPI_Abort): no rank is left waiting in a collective."""
        self.comm.Abort(code)


def connect() -> World | None:
    """The job's World when an MPI launcher started this process with more than one rank, else None."""
    if launched_size() <= 1:
        return None
    mpi4py = require("mpi4py", "mpi", "this process was started by mpirun with several ranks, but mpi4py is not "
                     "installed")
    mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI (the prefetch threads never do)
    try:
        from mpi4py import MPI
    except RuntimeError as exc:  # mpi4py without an MPI library to load
        raise ConfigError(f"mpi4py cannot load an MPI library: {exc}",
                          hint="pip install protonet[mpi] (it brings MPICH), or install Open MPI or MPICH") from None
    return World(MPI.COMM_WORLD)
