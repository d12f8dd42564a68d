"""Learning-rate policies, with Caffe's formulas (sgd_solver.cpp, GetLearningRate).

    fixed      base_lr
    step       base_lr * gamma ^ floor(iter / stepsize)
    exp        base_lr * gamma ^ iter
    inv        base_lr * (1 + gamma * iter) ^ (-power)
    multistep  base_lr * gamma ^ current_step, where current_step advances by one in any iteration
               with iter >= stepvalue[current_step] (stateful: saved in the .solverstate)
    poly       base_lr * (1 - iter / max_iter) ^ power   (0 past max_iter, where Caffe gives NaN)
    sigmoid    base_lr / (1 + exp(-gamma * (iter - stepsize)))
"""

from __future__ import annotations

import math

from ..errors import ConfigError, did_you_mean
from ..proto import pb

POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")

# The fields each policy reads besides base_lr.
NEEDS = {"step": ("gamma", "stepsize"), "exp": ("gamma",), "inv": ("gamma", "power"),
         "multistep": ("gamma", "stepvalue"), "poly": ("power", "max_iter"), "sigmoid": ("gamma", "stepsize")}

_FORMULAS = {
    "step": "base_lr * gamma ^ floor(iter / stepsize)",
    "exp": "base_lr * gamma ^ iter",
    "inv": "base_lr * (1 + gamma * iter) ^ (-power)",
    "multistep": "base_lr * gamma ^ (number of stepvalues passed)",
    "poly": "base_lr * (1 - iter / max_iter) ^ power",
    "sigmoid": "base_lr / (1 + exp(-gamma * (iter - stepsize)))",
}


def check_policy(param: pb.SolverParameter, file: str | None = None) -> None:
    """ConfigError when the policy is unknown or a field it needs is missing or out of range."""
    policy = param.lr_policy
    if not param.HasField("lr_policy"):
        raise ConfigError("lr_policy is not set", file=file,
                          hint=f"add lr_policy: \"fixed\" (or one of {', '.join(POLICIES)})")
    if policy not in POLICIES:
        raise ConfigError(f"unknown lr_policy '{policy}'", file=file,
                          hint=did_you_mean(policy, POLICIES) or f"use one of {', '.join(POLICIES)}")
    for name in NEEDS.get(policy, ()):
        present = len(param.stepvalue) if name == "stepvalue" else param.HasField(name)
        if not present:
            raise ConfigError(f"lr_policy '{policy}' needs {name}, which is not set", file=file,
                              hint=f"the rate is {_FORMULAS[policy]}")
    if param.gamma < 0:
        raise ConfigError(f"gamma must be >= 0, found {param.gamma:g}", file=file)
    if "stepsize" in NEEDS.get(policy, ()) and param.stepsize <= 0:
        raise ConfigError(f"stepsize must be > 0, found {param.stepsize}", file=file)
    steps = list(param.stepvalue)
    if policy == "multistep" and any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise ConfigError(f"stepvalue must increase, found {list(param.stepvalue)}", file=file)
    if policy == "poly" and param.max_iter <= 0:
        raise ConfigError(f"lr_policy 'poly' needs max_iter > 0, found {param.max_iter}", file=file)


def learning_rate(param: pb.SolverParameter, iteration: int, current_step: int = 0) -> tuple[float, int]:
    """The rate for `iteration` and the new `current_step` (changed by step and multistep only)."""
    policy, base = param.lr_policy, param.base_lr
    if policy == "fixed":
        return base, current_step
    if policy == "step":
        current_step = iteration // param.stepsize
        return base * param.gamma ** current_step, current_step
    if policy == "exp":
        return base * param.gamma ** iteration, current_step
    if policy == "inv":
        return base * (1.0 + param.gamma * iteration) ** -param.power, current_step
    if policy == "multistep":
        if current_step < len(param.stepvalue) and iteration >= param.stepvalue[current_step]:
            current_step += 1
        return base * param.gamma ** current_step, current_step
    if policy == "poly":
        return base * max(0.0, 1.0 - iteration / param.max_iter) ** param.power, current_step
    if policy == "sigmoid":
        return base * _sigmoid(param.gamma * (iteration - param.stepsize)), current_step
    raise ConfigError(f"unknown lr_policy '{policy}'", hint=did_you_mean(policy, POLICIES))


def _sigmoid(z: float) -> float:
    """1 / (1 + exp(-z)) without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
