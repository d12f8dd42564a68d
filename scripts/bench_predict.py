#!/usr/bin/env python3
"""Prediction throughput of LeNet (random weights) at batch 1 and 256: `python scripts/bench_predict.py`."""

import time

import numpy as np

from protonet import Net
from protonet.predict import Predictor
from protonet.proto import pb


def main() -> None:
    net = Net("configs/lenet/deploy.yaml", phase="TEST", seed=0)
    predictor = Predictor(net, "data", None, pb.TransformationParameter(scale=1 / 256), None)
    records = np.random.default_rng(0).integers(0, 256, (1024, 1, 28, 28)).astype(np.float32)
    batch = predictor.prepare(records)
    for size, count in ((1, 256), (256, 1024)):
        predictor.probabilities(batch[:size], size)  # warm up
        start = time.perf_counter()
        predictor.probabilities(batch[:count], size)
        print(f"batch {size}: {count / (time.perf_counter() - start):.0f} images/s")


if __name__ == "__main__":
    main()
