#!/usr/bin/env python3
"""LeNet from an LMDB against the same records as IDX in memory, and peak RSS against the LMDB's size.

    scripts/bench_lmdb.py [--mnist DIR] [--work DIR] [--iterations N] [--repeats R] [--large N]

Makes (once, in --work) an LMDB of MNIST's 60,000 training records as convert_mnist_data does, and a
larger one of --large records (the 60,000 repeated); then trains configs/lenet (SGD, batch 64, no
tests) in a fresh process per run: from the IDX file in memory, from the 60k LMDB, and from the large
LMDB. Each run times `iterations` steps after 20 warm-up steps and reports ms per iteration and its
peak RSS (VmHWM); runs alternate and repeat R times, and the table shows medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLVER = ('base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75 '
          'max_iter: 1000000 display: 0 random_seed: 1701 type: "SGD"')
WARM_UP = 20


def worker(source: str, iterations: int) -> None:
    """One run: LeNet's train net (configs/lenet, its TEST layers left out) on `source`, timed; prints JSON."""
    sys.path.insert(0, str(ROOT))
    from google.protobuf import text_format

    from protonet import Solver
    from protonet.config import load_net
    from protonet.proto import pb

    net = load_net(ROOT / "configs" / "lenet" / "train_val.prototxt")
    layers = [layer for layer in net.layer if not any(rule.phase == pb.TEST for rule in layer.include)]
    layers[0].data_param.source = source
    param = text_format.Parse(SOLVER, pb.SolverParameter())
    param.net_param.CopyFrom(pb.NetParameter(name=net.name, layer=layers))
    solver = Solver(param)
    solver.step(WARM_UP)
    started = time.perf_counter()
    solver.step(iterations)
    ms = 1000 * (time.perf_counter() - started) / iterations
    print(json.dumps({"ms": ms, "rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would carry over the parent's peak across exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1024)


def make_lmdb(dest: Path, images: Path, labels: Path, count: int) -> None:
    """`count` records: MNIST's training set, repeated (keys '%08d', raw Datums)."""
    if dest.exists():
        return
    sys.path.insert(0, str(ROOT))
    from protonet.data.database import LmdbWriter
    from protonet.data.datum import encode_datum
    from protonet.data.idx import read_idx

    pixels, values = read_idx(images), read_idx(labels)
    values_per_record = [encode_datum(x[None], int(y)) for x, y in zip(pixels, values)]
    started = time.perf_counter()
    with LmdbWriter(dest) as writer:
        for i in range(count):
            writer.put(b"%08d" % i, values_per_record[i % len(values_per_record)])
    size = sum(f.stat().st_size for f in dest.iterdir()) / 2**20
    print(f"made {dest}: {count} records, {size:.0f} MiB, in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--work", type=Path, default=Path("/tmp/protonet-bench-lmdb"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=2, metavar=("SOURCE", "ITERATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    images, labels = args.mnist / "train-images-idx3-ubyte.gz", args.mnist / "train-labels-idx1-ubyte.gz"
    args.work.mkdir(parents=True, exist_ok=True)
    small, large = args.work / "mnist_train_lmdb", args.work / f"mnist_train_{args.large}_lmdb"
    make_lmdb(small, images, labels, 60_000)
    make_lmdb(large, images, labels, args.large)
    runs = {"IDX in memory": str(images), "LMDB 60k": str(small), f"LMDB {args.large // 1000}k": str(large)}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for repeat in range(args.repeats):
        for name, source in runs.items():
            out = subprocess.run([sys.executable, __file__, "--worker", source, str(args.iterations)], env=env,
                                 capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.splitlines()[-1]))
            print(f"repeat {repeat + 1}: {name}: {results[name][-1]}", file=sys.stderr)
    base = statistics.median(r["ms"] for r in results["IDX in memory"])
    print(f"LeNet train step, batch 64, {args.iterations} iterations, median of {args.repeats} runs")
    print(f"{'source':<16} {'ms/iter':>8} {'vs IDX':>7} {'peak RSS MiB':>13}")
    for name, rows in results.items():
        ms = statistics.median(r["ms"] for r in rows)
        rss = statistics.median(r["rss_mib"] for r in rows)
        print(f"{name:<16} {ms:8.2f} {ms / base:6.2f}x {rss:13.0f}")


if __name__ == "__main__":
    main()
