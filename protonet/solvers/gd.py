"""GD: plain gradient descent, update = local_rate * g (no history).

Full-batch gradient descent is GD over a train net that reads its whole dataset each iteration:
batch_size x iter_size = the number of records (a data layer's batch as large as its source, or a fixed
Input/MemoryData batch). Any other rule runs full-batch the same way.
"""

from __future__ import annotations

import numpy as np

from ..proto import pb
from .rule import Fail, UpdateRule


class GD(UpdateRule):
    type = "GD"
    num_histories = 0

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        if param.momentum:
            raise fail(f"momentum cannot be used with GD, found {param.momentum:g}",
                       hint="remove momentum, or use type SGD (gradient descent with momentum)")

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        g *= local_rate
