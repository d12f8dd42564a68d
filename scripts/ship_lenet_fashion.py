#!/usr/bin/env python3
"""Make the zoo entry the package ships, protonet/models/lenet-fashion, from a run of the LeNet recipe:

    .venv/bin/protonet train --solver configs/lenet/solver.yaml --no-progress    # 4000 iterations
    .venv/bin/python scripts/ship_lenet_fashion.py runs/lenet/lenet_iter_4000.caffemodel

The model is scored on the 10,000 Fashion-MNIST test images and the metrics, with the training
command, go into its model.yaml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protonet import Net  # noqa: E402
from protonet.deploy import deploy  # noqa: E402
from protonet.evaluate import evaluate  # noqa: E402
from protonet.zoo import SHIPPED  # noqa: E402

TRAIN_VAL = Path("configs/lenet/train_val.yaml")
TRAINING = {"command": "protonet train --solver configs/lenet/solver.yaml",
            "recipe": "Caffe's LeNet: SGD, momentum 0.9, base_lr 0.01, inv policy, batch 64, 4000 iterations, "
                      "weight decay 0.0005, random_seed 1701"}


def main() -> None:
    os.chdir(ROOT)
    weights = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/lenet/lenet_iter_4000.caffemodel")
    metrics = {k: round(v, 4) for k, v in evaluate(Net(TRAIN_VAL, weights=weights, phase="TEST")).items()}
    os.environ["PROTONET_ZOO"] = str(SHIPPED)
    folder = deploy(TRAIN_VAL, weights, "lenet-fashion", metrics=metrics,
                    description="LeNet (Caffe's MNIST recipe) trained by protonet on Fashion-MNIST",
                    extra={"training": TRAINING, "source": f"{TRAIN_VAL} trained by protonet",
                           "license": "BSD-2-Clause (weights); Fashion-MNIST: MIT, Zalando Research"})
    print(f"wrote {folder}: {metrics}")


if __name__ == "__main__":
    main()
