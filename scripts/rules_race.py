"""Every update rule on one logistic regression (80 points, 2 features, weight_decay 0.01): how many
iterations and gradient evaluations each needs to bring the objective within 1e-6 of its optimum.

    python scripts/rules_race.py

The optimum comes from plain numpy Newton on the written-out gradient and Hessian. Each iteration of a
first-order rule is one forward-backward pass; Newton and LBFGS also count their re-evaluations.
"""

from __future__ import annotations

import numpy as np
from google.protobuf import text_format

from protonet import Solver
from protonet.proto import pb

N, WD, LIMIT = 80, 0.01, 3000
NET = f"""
layer {{ name: "in" type: "Input" top: "x" top: "t" input_param {{ shape {{ dim: {N} dim: 2 }}
                                                                    shape {{ dim: {N} dim: 1 }} }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param {{ num_output: 1 }} }}
layer {{ name: "loss" type: "SigmoidCrossEntropyLoss" bottom: "y" bottom: "t" top: "loss" }}
"""
RULES = {
    "GD": "base_lr: 1", "SGD": "base_lr: 0.5 momentum: 0.9", "Nesterov": "base_lr: 0.5 momentum: 0.9",
    "AdaGrad": "base_lr: 0.5", "RMSProp": "base_lr: 0.01", "AdaDelta": "base_lr: 1 momentum: 0.95",
    "Adam": "base_lr: 0.05 momentum: 0.9", "NAdam": "base_lr: 0.05", "Adamax": "base_lr: 0.05",
    "AdamW": "base_lr: 0.05", "RAdam": "base_lr: 0.05", "QHAdam": "base_lr: 0.05",
    "Newton": "base_lr: 1", "LBFGS": "base_lr: 1",
}


def problem() -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 2))
    t = (x @ [2.0, -1.0] + rng.normal(size=N) > 0).astype(float)
    a = np.hstack([x, np.ones((N, 1))])
    wd = float(np.float32(WD))
    theta = np.zeros(3)

    def objective(th: np.ndarray) -> float:
        z = a @ th
        return float(np.mean(np.logaddexp(0, z) - t * z) + wd / 2 * th @ th)

    for _ in range(30):
        p = 1 / (1 + np.exp(-a @ theta))
        grad = a.T @ (p - t) / N + wd * theta
        hessian = a.T @ (a * (p * (1 - p))[:, None]) / N + wd * np.eye(3)
        theta -= np.linalg.solve(hessian, grad)
    return x, t, objective(theta)


def race(rule: str, x: np.ndarray, t: np.ndarray, best: float) -> tuple[int, int] | None:
    param = text_format.Parse(f'type: "{rule}" {RULES[rule]} weight_decay: {WD} max_iter: {LIMIT} '
                              'lr_policy: "fixed" random_seed: 1', pb.SolverParameter())
    text_format.Parse(NET, param.net_param)
    solver = Solver(param, dtype=np.float64)
    solver.net.blobs["x"].data, solver.net.blobs["t"].data = x, t[:, None]
    evaluations = 0
    counting = solver.net.forward_backward

    def counted() -> float:
        nonlocal evaluations
        evaluations += 1
        return counting()

    solver.net.forward_backward = counted
    for iteration in range(1, LIMIT + 1):
        solver.step(1)
        w, b = (lp.blob.data.ravel() for lp in solver.net.learnable)
        z = x @ w + b[0]
        value = np.mean(np.logaddexp(0, z) - t * z) + float(np.float32(WD)) / 2 * (w @ w + b @ b)
        if value - best < 1e-6:
            return iteration, evaluations
    return None


def main() -> None:
    x, t, best = problem()
    print(f"{'rule':<10}{'iterations':>12}{'evaluations':>13}")
    for rule in RULES:
        result = race(rule, x, t, best)
        shown = (f"{result[0]:>12}{result[1]:>13}" if result else f"{'> ' + str(LIMIT):>12}{'':>13}")
        print(f"{rule:<10}{shown}")


if __name__ == "__main__":
    main()
