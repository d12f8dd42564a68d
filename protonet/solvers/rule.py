"""UpdateRule: turns each parameter's gradient into the step to subtract, keeping Caffe's history blobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from ..ops.blas import axpy
from ..proto import pb

Fail = Callable[..., ConfigError]  # (message, hint=None) -> the error naming the solver file


class UpdateRule:
    """Base of the elementwise update rules (Caffe's SGDSolver family and the newer Adam flavours).

    `compute(k, part, g, local_rate, iteration)` overwrites `g`, the normalised and regularised gradient
    of the flat slice `part` of parameter k, with the update; the solver then does W -= g. The update is
    elementwise, so the solver may run the parts of a parameter on several threads, with the same result.
    `history[j][k]` is history blob j of parameter k; `state_arrays()` lists them in Caffe's .solverstate
    order: all of history 0, then all of history 1 (Adam: m then v; AdaDelta: gradient then update
    history). Scratch space is one flat buffer per slot, as large as the largest parameter, so a step
    allocates nothing; slot 0 also serves the solver's regularisation, before `compute`.

    `defaults` are the rule's own values for solver fields left unset (torch.optim's, for the rules
    that follow it); `value(name)` reads a field through them. `regularise` is Caffe's coupled weight
    decay unless a rule overrides it; `begin(iteration)` runs once per update, before any part.
    """

    type: ClassVar[str] = ""
    num_histories: ClassVar[int] = 1
    num_scratch: ClassVar[int] = 1
    defaults: ClassVar[dict[str, float]] = {}
    needs_objective: ClassVar[bool] = False  # True: `step(objective, rate)` replaces `compute`

    def __init__(self, param: pb.SolverParameter, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
        self.param = param
        self.history = [[np.zeros(shape, dtype) for shape in shapes] for _ in range(self.num_histories)]
        largest = max((int(np.prod(shape)) for shape in shapes), default=0)
        self._scratch = [np.empty(largest, dtype) for _ in range(self.num_scratch)]

    @classmethod
    def check(cls, param: pb.SolverParameter, fail: Fail) -> None:
        """Raise fail(message, hint) for fields this rule cannot use (solver validation)."""

    def value(self, name: str) -> float:
        """Solver field `name`: its value when set, else the rule's default, else the schema's."""
        if self.param.HasField(name) or name not in self.defaults:
            return getattr(self.param, name)
        return self.defaults[name]

    def begin(self, iteration: int) -> None:
        """Called once per update, before `regularise`/`compute` run on the parts."""

    def regularise(self, part: slice, w: np.ndarray, g: np.ndarray, decay_mult: float, local_rate: float
                   ) -> None:
        """Caffe's coupled decay: g += weight_decay * decay_mult * (w for L2, sign(w) for L1)."""
        decay = self.value("weight_decay") * decay_mult
        if decay and self.param.regularization_type == "L2":
            axpy(decay, w, g)
        elif decay:
            axpy(decay, np.sign(w, out=self.scratch(0, part)), g)

    def histories(self, k: int, part: slice) -> list[np.ndarray]:
        """The flat slice `part` of each history array of parameter k."""
        return [group[k].reshape(-1)[part] for group in self.history]

    def scratch(self, slot: int, part: slice) -> np.ndarray:
        """Scratch space for the flat slice `part` of a parameter (contents undefined; disjoint parts get
        disjoint space, so parts may run at once)."""
        return self._scratch[slot][part]

    def state_arrays(self) -> list[np.ndarray]:
        return [h for group in self.history for h in group]

    def compute(self, k: int, part: slice, g: np.ndarray, local_rate: float, iteration: int) -> None:
        raise NotImplementedError

