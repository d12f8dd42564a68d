#!/usr/bin/env python3
"""Forward time of corpus deploy nets before and after protonet.optimize (batch 1, 224x224, random
weights): the fastest of --runs forward passes after one warm-up, in wall and in CPU time, the two nets
taking turns.

    .venv/bin/python scripts/bench_optimize.py [--runs 5] [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from protonet import Net, config
from protonet.optimize import optimized

NETS = {"ResNet-50": ("KaimingHe__deep-residual-networks", "prototxt", "ResNet-50-deploy.prototxt"),
        "MobileNet": ("shicai__MobileNet-Caffe", "mobilenet_deploy.prototxt")}


def random_weights(net: Net, rng: np.random.Generator) -> None:
    """He-scaled weights; BatchNorm statistics mean 0, variance 1 (values do not change the time)."""
    for name, blobs in net.params.items():
        if net.layer_dict[name].type == "BatchNorm":
            blobs[0].data, blobs[1].data, blobs[2].data = (np.zeros(blobs[0].shape, np.float32),
                                                           np.ones(blobs[1].shape, np.float32),
                                                           np.ones(1, np.float32))
            continue
        fan_in = max(int(np.prod(blobs[0].shape[1:])), 1)
        blobs[0].data = rng.normal(0, np.sqrt(2 / fan_in), blobs[0].shape).astype(np.float32)
        for blob in blobs[1:]:
            blob.data = np.zeros(blob.shape, np.float32)


def fastest(nets: tuple[Net, ...], x: np.ndarray, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of the fastest of `runs` forward passes of each net, the nets taking turns (the
    machine's load drifts). CPU time (all threads) counts the work done, whatever else runs beside it."""
    times: list[list[tuple[float, float]]] = [[] for _ in nets]
    for net in nets:
        net.forward(data=x)
    for _ in range(runs):
        for net, spent in zip(nets, times, strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            net.forward(data=x)
            spent.append((time.perf_counter() - wall, time.process_time() - cpu))
    return [(min(w for w, _ in spent), min(c for _, c in spent)) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    args = parser.parse_args()
    print(f"{'net':<10} {'layers':>7} {'optimised':>9} {'wall ms':>9} {'optimised':>9} {'speed-up':>8} "
          f"{'CPU ms':>9} {'optimised':>9} {'speed-up':>8}")
    for name, parts in NETS.items():
        param = config.load_net(Path(args.corpus, *parts))
        param.layer[0].input_param.shape[0].dim[:] = [1, 3, 224, 224]
        original = Net(param, phase="TEST")
        random_weights(original, np.random.default_rng(0))
        rewritten, optimised, _ = optimized(original, param)
        x = np.random.default_rng(1).normal(0, 50, (1, 3, 224, 224)).astype(np.float32)
        (wall, cpu), (wall_after, cpu_after) = fastest((original, optimised), x, args.runs)
        print(f"{name:<10} {len(param.layer):>7} {len(rewritten.layer):>9} {wall * 1e3:>9.1f} {wall_after * 1e3:>9.1f} "
              f"{wall / wall_after:>7.2f}x {cpu * 1e3:>9.1f} {cpu_after * 1e3:>9.1f} {cpu / cpu_after:>7.2f}x")


if __name__ == "__main__":
    main()
