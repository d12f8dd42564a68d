#!/usr/bin/env python3
"""Training from an LMDB against the same records in memory: LeNet on MNIST (and peak RSS against the
LMDB's size), or Caffe's CIFAR-10 quick net on generated CIFAR-format records.

    scripts/bench_lmdb.py [--net lenet] [--mnist DIR] [--large N] [--work DIR] [--iterations N] [--repeats R]
    scripts/bench_lmdb.py --net cifar10_quick [--work DIR] [--iterations N] [--repeats R]

lenet: makes (once, in --work) an LMDB of MNIST's 60,000 training records as convert_mnist_data does,
and a larger one of --large records (the 60,000 repeated); then trains configs/lenet (SGD, batch 64)
from the IDX file in memory, from the 60k LMDB and from the large LMDB.

cifar10_quick: makes (once, in --work) a CIFAR-10 binary archive of 50,000 train and 10,000 test
records of random bytes, and `protonet data get cifar10 --from` it (the LMDBs, the mean, the IDX
files); then trains configs/cifar10_quick (Caffe's solver, batch 100, mean_file) from the IDX file in
memory and from the LMDB.

Only the TRAIN net runs (no tests), one BLAS thread, a fresh process per run; each run times
--iterations steps after a warm-up and reports ms per iteration and its peak RSS (VmHWM). Runs
alternate and repeat R times; the table shows the min and the median of the R runs.
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
SOLVERS = {  # each config's solver, without tests or snapshots
    "lenet": 'base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75',
    "cifar10_quick": 'base_lr: 0.001 momentum: 0.9 weight_decay: 0.004 lr_policy: "fixed"'}
WARM_UP = {"lenet": 20, "cifar10_quick": 5}
CIFAR_RECORDS = {"train": 50_000, "test": 10_000}


def worker(net_name: str, source: str, iterations: int) -> None:
    """One run: the config's train net (its TEST layers left out) on `source`, timed; prints JSON. Paths
    in the config (CIFAR's mean_file) are relative to the working directory, --work."""
    sys.path.insert(0, str(ROOT))
    from google.protobuf import text_format

    from protonet import Solver
    from protonet.config import load_net
    from protonet.proto import pb

    net = load_net(ROOT / "configs" / net_name / "train_val.prototxt")
    layers = [layer for layer in net.layer if not any(rule.phase == pb.TEST for rule in layer.include)]
    layers[0].data_param.source = source
    param = text_format.Parse(f'{SOLVERS[net_name]} max_iter: 1000000 display: 0 random_seed: 1701 type: "SGD"',
                              pb.SolverParameter())
    param.net_param.CopyFrom(pb.NetParameter(name=net.name, layer=layers))
    solver = Solver(param)
    solver.step(WARM_UP[net_name])
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


def make_cifar(work: Path) -> Path:
    """data/cifar10 in `work`, as `protonet data get cifar10 --from` makes it from an archive of random records."""
    sys.path.insert(0, str(ROOT))
    import dataclasses

    import numpy as np

    from protonet.data import cifar, datasets

    folder, archive = work / "data" / "cifar10", work / "cifar-10-binary.tar.gz"
    if cifar.made(folder):
        return folder
    started = time.perf_counter()
    if not archive.exists():
        rng = np.random.default_rng(1701)
        cifar.write_binary_archive(archive, {
            split: (rng.integers(0, 256, (count, *cifar.SHAPE), np.uint8), rng.integers(0, 10, count, np.uint8))
            for split, count in CIFAR_RECORDS.items()})
    info = datasets.DATASETS["cifar10"]  # the generated archive stands in for the published one
    datasets.DATASETS["cifar10"] = dataclasses.replace(
        info, archive=dataclasses.replace(info.archive, md5=datasets.file_md5(archive)))
    datasets.get_dataset("cifar10", folder, local=archive, log=lambda line: print(line, file=sys.stderr))
    print(f"made {folder} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder


def sources(args: argparse.Namespace) -> dict[str, str]:
    """The runs to compare, by name: the records in memory first, then the LMDBs."""
    if args.net == "cifar10_quick":
        folder = make_cifar(args.work)
        return {"IDX in memory": str(folder / "train-images-idx4-ubyte"),
                "LMDB 50k": str(folder / "cifar10_train_lmdb")}
    images, labels = args.mnist / "train-images-idx3-ubyte.gz", args.mnist / "train-labels-idx1-ubyte.gz"
    small, large = args.work / "mnist_train_lmdb", args.work / f"mnist_train_{args.large}_lmdb"
    make_lmdb(small, images, labels, 60_000)
    make_lmdb(large, images, labels, args.large)
    return {"IDX in memory": str(images), "LMDB 60k": str(small), f"LMDB {args.large // 1000}k": str(large)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", choices=sorted(SOLVERS), default="lenet")
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--work", type=Path, default=Path("/tmp/protonet-bench-lmdb"))
    parser.add_argument("--iterations", type=int, default=None, help="default: 300 (lenet), 30 (cifar10_quick)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=3, metavar=("NET", "SOURCE", "ITERATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    iterations = args.iterations or {"lenet": 300, "cifar10_quick": 30}[args.net]
    args.work, args.mnist = args.work.resolve(), args.mnist.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    runs = sources(args)
    results: dict[str, list[dict]] = {name: [] for name in runs}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for repeat in range(args.repeats):
        for name, source in runs.items():
            out = subprocess.run([sys.executable, __file__, "--worker", args.net, source, str(iterations)], env=env,
                                 cwd=args.work, capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.splitlines()[-1]))
            print(f"repeat {repeat + 1}: {name}: {results[name][-1]}", file=sys.stderr)
    base = [r["ms"] for r in results["IDX in memory"]]
    print(f"{args.net} train step, {iterations} iterations, min and median of {args.repeats} runs")
    print(f"{'source':<16} {'ms/iter min':>11} {'median':>8} {'vs IDX (min, median)':>21} {'peak RSS MiB':>13}")
    for name, rows in results.items():
        ms = [r["ms"] for r in rows]
        ratios = f"{min(ms) / min(base):.2f}x, {statistics.median(ms) / statistics.median(base):.2f}x"
        rss = statistics.median(r["rss_mib"] for r in rows)
        print(f"{name:<16} {min(ms):11.2f} {statistics.median(ms):8.2f} {ratios:>21} {rss:13.0f}")


if __name__ == "__main__":
    main()
