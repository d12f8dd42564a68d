#!/usr/bin/env python
"""Data-parallel training speed: images/s of LeNet and CIFAR-10 quick on 1 and 2 ranks, the time each
iteration spends averaging gradients, and the Allreduce cost against message size (a fitted model).

    .venv/bin/python scripts/bench_mpi.py [--blocks 5] [--json out.json]

Every rank runs one BLAS thread and the workload's batch (LeNet 64, CIFAR-10 quick 100) of fixed synthetic
inputs (protonet.bench_worker's nets), so 2 ranks train on twice the records per iteration. Each figure is
the best (min) of `--blocks` timed blocks after a warm-up block: on a shared machine the minimum is the
least disturbed. "comm" is the time per iteration spent in the average (waiting for the buckets, copying
back, the loss), with the buckets sent during backward ("overlap") or all after it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORKLOADS = {"lenet-train": 20, "cifar10-quick-train": 4}  # iterations per block
SIZES = [2**k for k in range(8, 23, 2)]  # float32 elements of the Allreduce model's messages


def train_figures(name: str, iterations: int, blocks: int, overlap: bool) -> dict:
    """Best ms per iteration and comm ms per iteration of one workload on this job's ranks."""
    from protonet.bench import WORKLOADS as ALL
    from protonet.bench_worker import protonet_run
    from protonet.distributed.comm import connect
    from protonet.distributed.parallel import DataParallel

    workload = ALL[name]
    step = protonet_run(workload)
    solver = step.__self__
    world = connect()
    comm = [0.0]
    if world is not None:
        parallel = DataParallel(world, overlap=overlap)
        parallel.attach(solver)
        average = parallel.average

        def timed(loss: float) -> float:
            start = time.perf_counter()
            try:
                return average(loss)
            finally:
                comm[0] += time.perf_counter() - start
        parallel.average = timed
    step(iterations)
    best = best_comm = float("inf")
    for _ in range(blocks):
        comm[0] = 0.0
        start = time.perf_counter()
        step(iterations)
        elapsed = (time.perf_counter() - start) * 1000 / iterations
        if elapsed < best:
            best, best_comm = elapsed, comm[0] * 1000 / iterations
    ranks = world.size if world else 1
    params = sum(lp.blob.count for lp in solver.net.learnable)
    return {"workload": name, "ranks": ranks, "overlap": overlap, "ms": round(best, 2), "comm_ms": round(best_comm, 3),
            "images_per_s": round(ranks * workload.batch * 1000 / best, 1), "params": params,
            "buckets": len(parallel.reducer.buckets) if world else 0}


def allreduce_figures(blocks: int) -> list[dict]:
    """Best µs of a blocking float32 Allreduce (sum) of each size in SIZES."""
    import numpy as np

    from protonet.distributed.comm import connect

    world = connect()
    rows = []
    for size in SIZES:
        array = np.ones(size, np.float32)
        repeats = max(3, 2**20 // size)
        best = float("inf")
        for _ in range(blocks):
            world.comm.Barrier()
            start = time.perf_counter()
            for _ in range(repeats):
                world.start_sum(array).Wait()
            best = min(best, (time.perf_counter() - start) / repeats)
        rows.append({"elements": size, "us": round(best * 1e6, 2)})
    return rows


def fit(rows: list[dict]) -> tuple[float, float]:
    """Least squares (relative) t = alpha + bytes / beta; returns (alpha µs, beta GB/s)."""
    import numpy as np

    x = np.array([4.0 * r["elements"] for r in rows])
    t = np.array([r["us"] for r in rows])
    slope, alpha = np.polyfit(x, t, 1, w=1 / t)  # relative errors: small and large messages count alike
    return alpha, 1e-3 / slope


def worker(blocks: int) -> None:
    from protonet.distributed.comm import connect

    world = connect()
    out = [train_figures(name, iterations, blocks, overlap)
           for name, iterations in WORKLOADS.items() for overlap in ((True, False) if world else (True,))]
    model = allreduce_figures(blocks) if world else []
    if world is None or world.is_root:
        print(json.dumps({"train": out, "allreduce": model}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.blocks)
        return
    from protonet.distributed.launch import mpirun_command

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PROTONET_THREADS="1")
    own = [sys.executable, __file__, "--worker", "--blocks", str(args.blocks)]
    one = json.loads(subprocess.run(own, env=env, capture_output=True, text=True, check=True).stdout)
    command, mpi_env = mpirun_command(2, [], mpirun=None)
    command = command[:command.index(sys.executable)] + own
    two = json.loads(subprocess.run(command, env={**mpi_env, **env}, capture_output=True, text=True,
                                    check=True).stdout)
    rows = one["train"] + two["train"]
    print(f"{'workload':<22}{'ranks':>6}{'buckets sent':>16}{'ms/iter':>10}{'comm ms':>10}{'images/s':>10}")
    for r in rows:
        when = "-" if r["ranks"] == 1 else "during backward" if r["overlap"] else "after backward"
        print(f"{r['workload']:<22}{r['ranks']:>6}{when:>16}{r['ms']:>10}{r['comm_ms']:>10}{r['images_per_s']:>10}")
    alpha, beta = fit(two["allreduce"])
    print("\nAllreduce (2 ranks, float32):", ", ".join(f"{r['elements']}: {r['us']} us" for r in two["allreduce"]))
    print(f"fit: t = {alpha:.1f} us + bytes / ({beta:.2f} GB/s)")
    for name, params in (("LeNet", 431080), ("CIFAR-10 quick", 145578), ("AlexNet", 60965224), ("VGG-16", 138357544)):
        print(f"  {name} ({params} params): {(alpha + 4 * params / (beta * 1e3)) / 1e3:.2f} ms per iteration")
    if args.json:
        Path(args.json).write_text(json.dumps({"one": one, "two": two, "alpha_us": alpha, "beta_gbs": beta}, indent=1))


if __name__ == "__main__":
    main()
