"""Solvers: the training loop, learning-rate policies, the update rules (RULES), snapshots and resume."""

from .base import Solver
from .build import RULES
from .lr_policy import POLICIES, learning_rate
from .signals import SignalHandler

__all__ = ["POLICIES", "RULES", "SignalHandler", "Solver", "learning_rate"]
