"""pycaffe's solvers over protonet's Solver: the class names the update rule, as in Caffe.

`SGDSolver(file)` trains with SGD whatever the file's `type` says (Caffe's classes fix the rule);
`get_solver(file)` takes the rule from the file. As a library, `step(n)` writes only the snapshots
the solver file asks for; `solve()` also writes the run files (resolved configs, metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..proto import pb
from ..solvers import Solver as ProtonetSolver
from .net import Net


class Solver:
    """A solver from a solver file: `.net`, `.test_nets`, `.iter`, `.step(n)`, `.solve()`,
    `.snapshot()`, `.restore(state_file)`."""

    rule: ClassVar[str | None] = None  # the update rule this class forces; None: the file's own

    def __init__(self, filename: str | Path) -> None:
        self._solver = ProtonetSolver(filename, [f"type={self.rule}"] if self.rule else None)
        self._net = Net.wrap(self._solver.net)
        self._test_nets = [Net.wrap(net) for net in self._solver.test_nets]

    @property
    def net(self) -> Net:
        return self._net

    @property
    def test_nets(self) -> list[Net]:
        return self._test_nets

    @property
    def iter(self) -> int:
        return self._solver.iter

    @property
    def max_iter(self) -> int:
        return self._solver.param.max_iter

    @property
    def param(self) -> pb.SolverParameter:
        return self._solver.param

    def step(self, iters: int) -> None:
        """Run `iters` iterations (testing and snapshotting when the solver file says)."""
        self._solver.step(iters)

    def solve(self, resume_file: str | Path | None = None) -> None:
        """Train to max_iter, after restoring `resume_file` (a .solverstate) when given."""
        if resume_file:
            self.restore(resume_file)
        self._solver.solve()

    def restore(self, state_file: str | Path) -> None:
        self._solver.restore(state_file)

    def snapshot(self) -> str:
        """Write `<prefix>_iter_<N>.caffemodel` and `.solverstate`; returns the latter's path."""
        return self._solver.snapshot()

    def share_weights(self, net: Net) -> None:
        """Make `net` use this solver's train-net weights (layers of the same name)."""
        net.share_with(self._net)


def _solver_class(name: str, rule: str) -> type[Solver]:
    doc = f"A solver with the {rule} update rule, whatever the file's `type` says."
    return type(name, (Solver,), {"rule": rule, "__doc__": doc, "__module__": __name__})


SGDSolver = _solver_class("SGDSolver", "SGD")
NesterovSolver = _solver_class("NesterovSolver", "Nesterov")
AdaGradSolver = _solver_class("AdaGradSolver", "AdaGrad")
RMSPropSolver = _solver_class("RMSPropSolver", "RMSProp")
AdaDeltaSolver = _solver_class("AdaDeltaSolver", "AdaDelta")
AdamSolver = _solver_class("AdamSolver", "Adam")


def get_solver(filename: str | Path) -> Solver:
    """A solver with the update rule the file's `type` names (Caffe's SolverRegistry)."""
    return Solver(filename)
