"""`protonet bench`: fixed workloads timed in protonet and, with `compare="torch"`, in PyTorch's CPU build.

Workloads (synthetic inputs, fixed once, float32):
  lenet-train          LeNet (configs/lenet) forward + backward + SGD update, batch 64
  cifar10-quick-train  Caffe's CIFAR-10 quick net (configs/cifar10_quick), the same, batch 100
  mlp-train            784-500-10 with a sigmoid, the same, batch 64
  lenet-infer-256      LeNet deploy net forward (softmax out), batch 256
  lenet-infer-1        the same, batch 1 (latency)
  lenet-rss            peak RSS of a whole `protonet train` run of configs/lenet/solver.yaml on
                       Fashion-MNIST (2000 iterations by default) against an equivalent PyTorch loop

Training is SGD with momentum 0.9, weight decay 0.0005 and a constant rate (0.01, twice that for the
biases: Caffe's lr_mult 2), the same in both frameworks; PyTorch pools with ceil_mode=True, as Caffe.

Threads: every (framework, workload, thread count) runs in a fresh subprocess (`python -m protonet.bench
worker SPEC`) whose thread counts are set in its environment before numpy or torch loads:
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and PROTONET_THREADS, plus torch.set_num_threads in
PyTorch's worker (so threadpoolctl is not needed). With PROTONET_THREADS above 1, protonet runs batch parts
and split products on its own threads and puts OpenBLAS on one (see protonet.ops.parallel), which the
table's BLAS column then shows.
A worker runs one warm-up block, then `repeats` timed blocks of `iterations` steps; the figure is the
median block's milliseconds per step. Peak RSS is the worker's ru_maxrss, read by the parent with os.wait4.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ConfigError, ProtonetError, did_you_mean
from .ops import parallel
from .ops.blas import blas_core, blas_threads

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SOLVER = {"base_lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "bias_lr_mult": 2.0}
MLP = """
name: MLP
layer:
  - {name: data, type: Input, top: [data, label], input_param: {shape: [{dim: [64, 784]}, {dim: [64]}]}}
  - {name: ip1, type: InnerProduct, bottom: data, top: ip1, param: [{lr_mult: 1}, {lr_mult: 2}],
     inner_product_param: {num_output: 500, weight_filler: {type: xavier}, bias_filler: {type: constant}}}
  - {name: sig1, type: Sigmoid, bottom: ip1, top: ip1}
  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, param: [{lr_mult: 1}, {lr_mult: 2}],
     inner_product_param: {num_output: 10, weight_filler: {type: xavier}, bias_filler: {type: constant}}}
  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}
"""


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    net: str  # lenet, cifar10_quick or mlp
    batch: int
    train: bool
    iterations: int  # steps per timed block

    @property
    def input_shape(self) -> tuple[int, ...]:
        return {"lenet": (1, 28, 28), "cifar10_quick": (3, 32, 32), "mlp": (784,)}[self.net]


WORKLOADS = {w.name: w for w in (
    Workload("lenet-train", "LeNet train, batch 64", "lenet", 64, True, 10),
    Workload("cifar10-quick-train", "CIFAR-10 quick train, batch 100", "cifar10_quick", 100, True, 2),
    Workload("mlp-train", "MLP 784-500-10 sigmoid train, batch 64", "mlp", 64, True, 50),
    Workload("lenet-infer-256", "LeNet inference, batch 256", "lenet", 256, False, 4),
    Workload("lenet-infer-1", "LeNet inference, batch 1", "lenet", 1, False, 200),
)}
MEMORY = "lenet-rss"
ALL = (*WORKLOADS, MEMORY)


@dataclass
class Result:
    """One worker's figures; ms is the median over the timed blocks (None for the memory run)."""

    framework: str  # protonet, torch-nchw, torch-channels-last
    workload: str
    threads: int
    ms: float | None
    blocks_ms: list[float]
    peak_rss_mb: float
    blas_threads: int | None = None
    seconds: float | None = None  # wall time of the memory run


# ------------------------------------------------------------------ the parent: subprocesses and the table


def run_benchmark(workloads: list[str], threads: list[int], compare: str | None = None, repeats: int = 7,
                  iterations: int | None = None, memory_iterations: int = 2000, wait_idle: int = 0,
                  log=print) -> dict:
    """Run every workload at every thread count (protonet, then PyTorch when compared) and return
    {"machine", "load", "settings", "results"}: the JSON `protonet bench` writes. With `wait_idle` (a
    percentage), each worker starts only once the CPUs were that idle over 3 s (at most 10 minutes)."""
    unknown = [w for w in workloads if w not in ALL]
    if unknown:
        raise ConfigError(f"unknown workload '{unknown[0]}'",
                          hint=did_you_mean(unknown[0], ALL) or f"choose from {', '.join(ALL)}")
    if compare and not torch_available():
        raise ConfigError("--compare torch needs PyTorch, which is not importable here",
                          hint="pip install torch (CPU build); it is not a protonet dependency")
    load = {"before": os.getloadavg()}
    results: list[Result] = []
    for count in threads:
        for name in workloads:
            frameworks = ["protonet", *(["torch"] if compare else [])]
            for framework in frameworks:
                if wait_idle:
                    log(f"  (CPUs {wait_for_idle(wait_idle)}% idle)")
                log(f"  {framework:<8} {name:<20} {count} thread(s) ...")
                spec = {"framework": framework, "workload": name, "threads": count, "repeats": repeats,
                        "iterations": iterations, "memory_iterations": memory_iterations}
                results.extend(run_worker(spec))
    load["after"] = os.getloadavg()
    settings = {"workloads": workloads, "threads": threads, "compare": compare, "repeats": repeats,
                "iterations": iterations, "memory_iterations": memory_iterations, "wait_idle": wait_idle}
    return {"machine": machine(), "load": load, "settings": settings, "results": [asdict(r) for r in results]}


def run_worker(spec: dict) -> list[Result]:
    """Run one worker subprocess with its thread variables set; its results with its peak RSS."""
    env = dict(os.environ)
    for name in (*THREAD_VARIABLES, parallel.VARIABLE):
        env[name] = str(spec["threads"])
    if spec["workload"] == MEMORY and spec["framework"] == "protonet":
        with tempfile.TemporaryDirectory() as folder:
            command = [sys.executable, "-m", "protonet.cli", "train", "--no-progress",
                       "--solver", str(CONFIGS / "lenet" / "solver.yaml"),
                       "--set", f"max_iter={spec['memory_iterations']}",
                       "--set", f"snapshot_prefix={folder}/lenet"]
            _, rss, seconds = _wait(command, env)
        return [Result("protonet", MEMORY, spec["threads"], None, [], rss, None, seconds)]
    command = [sys.executable, "-m", "protonet.bench", "worker", json.dumps(spec)]
    out, rss, seconds = _wait(command, env)
    results = [Result(**item) for item in json.loads(out)]
    for r in results:
        r.peak_rss_mb = rss
        if r.workload == MEMORY:
            r.seconds = seconds
    return results


def _wait(command: list[str], env: dict) -> tuple[str, float, float]:
    """(stdout, peak RSS in MB, wall seconds) of a finished child; a ProtonetError when it failed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if child.returncode:
            lines = err.read().strip().splitlines() or ["(no output)"]
            raise ProtonetError(f"benchmark worker failed (exit {child.returncode}): {lines[-1]}",
                                hint=f"run it alone to see all of its output: {' '.join(command)}")
        return out.read(), usage.ru_maxrss / 1024, seconds


def idle_percent(seconds: float = 3.0) -> int | None:
    """How idle all CPUs were over the next `seconds`, from /proc/stat (None where there is none)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    try:
        idle, total = sample()
        time.sleep(seconds)
        idle2, total2 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(100 * (idle2 - idle) / max(total2 - total, 1))


def wait_for_idle(percent: int, limit: float = 600) -> int | None:
    """Wait until the CPUs were at least `percent` idle over 3 s, or `limit` seconds; the last reading."""
    deadline = time.monotonic() + limit
    while True:
        idle = idle_percent()
        if idle is None or idle >= percent or time.monotonic() > deadline:
            return idle


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "blas_core": blas_core(), "torch": torch_version()}


def torch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None


def torch_version() -> str | None:
    if not torch_available():
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


def format_table(report: dict) -> str:
    """The results as one table: per workload and thread count, protonet beside the faster PyTorch layout."""
    rows: dict[tuple[str, int], dict[str, Result]] = {}
    for item in report["results"]:
        r = Result(**item)
        rows.setdefault((r.workload, r.threads), {})[r.framework] = r
    m, load = report["machine"], report["load"]
    lines = [f"{m['cpu']}, {m['cores']} cores; numpy {m['numpy']} (OpenBLAS {m.get('blas_core') or '?'} kernels), "
             f"torch {m['torch'] or '-'}; "
             f"load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after",
             f"{'workload':<40}{'thr':>4}{'BLAS':>5}{'protonet':>10}{'img/s':>8}{'RSS MB':>8}{'torch':>9}"
             f"{'torch CL':>9}{'RSS MB':>8}{'ratio':>7}{'/NCHW':>7}"]
    for (name, threads), found in rows.items():
        ours = found["protonet"]
        nchw, cl = found.get("torch-nchw"), found.get("torch-channels-last")
        if name == MEMORY:
            title = f"LeNet {report['settings']['memory_iterations']} it. Fashion-MNIST: time, RSS"
            ratio = f"{ours.peak_rss_mb / nchw.peak_rss_mb:7.2f}" if nchw else ""
            lines.append(f"{title:<40}{threads:>4}{'':>5}{ours.seconds:>9.1f}s{'':>8}{ours.peak_rss_mb:>8.0f}"
                         + (f"{nchw.seconds:>8.1f}s{'':>9}{nchw.peak_rss_mb:>8.0f}{ratio}" if nchw else ""))
            continue
        batch = WORKLOADS[name].batch
        torch_ms = [r.ms for r in (nchw, cl) if r]
        blas = "?" if ours.blas_threads is None else ours.blas_threads
        line = (f"{WORKLOADS[name].title:<40}{threads:>4}{blas:>5}{ours.ms:>10.2f}{batch * 1000 / ours.ms:>8.0f}"
                f"{ours.peak_rss_mb:>8.0f}")
        if torch_ms:
            line += (f"{_ms(nchw):>9}{_ms(cl):>9}{max(r.peak_rss_mb for r in (nchw, cl) if r):>8.0f}"
                     f"{ours.ms / min(torch_ms):>7.2f}{ours.ms / nchw.ms:>7.2f}")
        lines.append(line)
    lines.append("ms per iteration (median of the timed blocks); BLAS: the threads numpy's OpenBLAS reports; "
                 "ratio = protonet / faster PyTorch layout, /NCHW = protonet / PyTorch NCHW; memory row: "
                 "seconds for the whole run, peak RSS, and protonet / PyTorch peak RSS")
    return "\n".join(lines)


def _ms(result: Result | None) -> str:
    return f"{result.ms:.2f}" if result and result.ms is not None else "-"


# ------------------------------------------------------------------ the workers


def worker(spec: dict) -> list[Result]:
    """Time one workload in this process (its thread variables already set by the parent)."""
    name, threads = spec["workload"], spec["threads"]
    if name == MEMORY:
        return [torch_training_run(spec["memory_iterations"], threads)]
    workload = WORKLOADS[name]
    iterations = spec["iterations"] or workload.iterations
    if spec["framework"] == "protonet":
        blocks = time_blocks(protonet_run(workload), iterations, spec["repeats"])
        return [Result("protonet", name, threads, statistics.median(blocks), blocks, 0, blas_threads())]
    results = []
    for layout in ("nchw", "channels-last") if workload.net != "mlp" else ("nchw",):
        step = torch_step(workload, threads, layout == "channels-last")
        blocks = time_blocks(repeated(step), iterations, spec["repeats"])
        results.append(Result(f"torch-{layout}", name, threads, statistics.median(blocks), blocks, 0,
                              _torch().get_num_threads()))
    return results


def time_blocks(run, iterations: int, repeats: int) -> list[float]:
    """ms per step of each of `repeats` blocks of `iterations` steps (`run(n)` runs n), after one warm-up
    block."""
    run(iterations)
    blocks = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(iterations)
        blocks.append((time.perf_counter() - start) * 1000 / iterations)
    return blocks


def repeated(step):
    """`run(n)`: n calls of `step`."""

    def run(n: int) -> None:
        for _ in range(n):
            step()

    return run


def inputs(workload: Workload):
    """The synthetic batch: images in [0, 1) (LeNet, MLP) or N(0, 1) (CIFAR-10), labels in 0..9."""
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (workload.batch, *workload.input_shape)
    data = (rng.standard_normal(shape, dtype=np.float32) if workload.net == "cifar10_quick"
            else rng.random(shape, dtype=np.float32))
    return data, rng.integers(0, 10, workload.batch)


def protonet_net_param(workload: Workload):
    """The workload's net: the config's train_val net with Input layers for data and label (training),
    or its deploy net (inference)."""
    from .config import load_net, parse
    from .proto import pb

    if workload.net == "mlp":
        return parse(MLP, pb.NetParameter(), syntax="yaml")
    folder = CONFIGS / workload.net
    if not workload.train:
        return load_net(folder / "deploy.yaml")
    param = load_net(folder / "train_val.yaml")
    out = pb.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    layer = out.layer.add(name="input", type="Input", top=["data", "label"])
    layer.input_param.shape.add(dim=[workload.batch, *workload.input_shape])
    layer.input_param.shape.add(dim=[workload.batch])
    for lp in param.layer:
        if not lp.bottom and set(lp.top) & {"data", "label"}:
            continue  # the data layers: replaced by the Input layer
        out.layer.add().CopyFrom(lp)
    return out


def protonet_run(workload: Workload):
    """`run(n)`: n steps of the workload in protonet (training: `Solver.step(n)`, as `protonet train`)."""
    from .net import Net
    from .proto import pb
    from .solvers import Solver

    data, labels = inputs(workload)
    param = protonet_net_param(workload)
    if not workload.train:
        net = Net(param, phase="TEST", seed=0)
        return repeated(lambda: net.forward(data=data))
    solver = Solver(pb.SolverParameter(net_param=param, type="SGD", lr_policy="fixed", max_iter=10**9,
                                       random_seed=0, base_lr=SOLVER["base_lr"], momentum=SOLVER["momentum"],
                                       weight_decay=SOLVER["weight_decay"]))
    solver.net.blobs["data"].data = data
    solver.net.blobs["label"].data = labels
    return solver.step


def _torch():
    import torch

    return torch


def torch_model(net: str):
    """The workload's net in PyTorch: the same layers and shapes as the protonet config."""
    nn = _torch().nn
    if net == "lenet":
        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(20, 50, 5),
                             nn.MaxPool2d(2, 2, ceil_mode=True), nn.Flatten(), nn.Linear(800, 500),
                             nn.ReLU(inplace=True), nn.Linear(500, 10))
    if net == "cifar10_quick":
        return nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True),
                             nn.ReLU(inplace=True), nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True),
                             nn.AvgPool2d(3, 2, ceil_mode=True), nn.Conv2d(32, 64, 5, padding=2),
                             nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, ceil_mode=True), nn.Flatten(),
                             nn.Linear(1024, 64), nn.Linear(64, 10))
    return nn.Sequential(nn.Linear(784, 500), nn.Sigmoid(), nn.Linear(500, 10))


def torch_optimizer(model):
    """Caffe's SGD: momentum, weight decay on every parameter, biases at twice the rate."""
    torch = _torch()
    weights = [p for name, p in model.named_parameters() if not name.endswith("bias")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    lr = SOLVER["base_lr"]
    return torch.optim.SGD([{"params": weights}, {"params": biases, "lr": lr * SOLVER["bias_lr_mult"]}],
                           lr=lr, momentum=SOLVER["momentum"], weight_decay=SOLVER["weight_decay"])


def torch_step(workload: Workload, threads: int, channels_last: bool):
    """A function running one step of the workload in PyTorch, NCHW or channels-last."""
    torch = _torch()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data, labels = inputs(workload)
    x, y = torch.from_numpy(data), torch.from_numpy(labels)
    model = torch_model(workload.net)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if not workload.train:
        model.train(False)  # inference mode

        def infer() -> None:
            with torch.inference_mode():
                model(x).softmax(1)

        return infer
    optimizer = torch_optimizer(model)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train() -> None:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    return train


def torch_training_run(iterations: int, threads: int) -> Result:
    """configs/lenet/solver.yaml in PyTorch: Fashion-MNIST in memory as uint8, batches of 64 in file order
    scaled by 1/256, the `inv` rate policy, a test pass (100 batches of 100) every 1000 iterations from
    the first (Caffe's test_initialization) and at the end, and a snapshot (weights and momentum)."""
    torch = _torch()
    from .data.sources import open_source

    torch.set_num_threads(threads)
    torch.manual_seed(1701)
    train = open_source("fashion-mnist:train", base_dir=ROOT)
    test = open_source("fashion-mnist:test", base_dir=ROOT)
    images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels.astype("int64"))
    test_images, test_labels = torch.from_numpy(test.images), torch.from_numpy(test.labels.astype("int64"))
    model = torch_model("lenet")
    optimizer = torch_optimizer(model)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 + 0.0001 * it) ** -0.75)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run_test() -> None:
        model.train(False)  # inference mode
        with torch.no_grad():
            for k in range(100):
                batch = slice(k * 100 % len(test_images), k * 100 % len(test_images) + 100)
                model(test_images[batch].float() / 256).argmax(1).eq(test_labels[batch]).float().mean()
        model.train()

    for it in range(iterations):
        if it % 1000 == 0:
            run_test()
        start = it * 64 % len(images)
        index = torch.arange(start, start + 64) % len(images)
        optimizer.zero_grad()
        loss_fn(model(images[index].float() / 256), labels[index]).backward()
        optimizer.step()
        schedule.step()
    run_test()
    with tempfile.TemporaryDirectory() as folder:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        torch.save(state, Path(folder) / "lenet.pt")
    return Result("torch-nchw", MEMORY, threads, None, [], 0, torch.get_num_threads())


def main(argv: list[str]) -> None:
    """`python -m protonet.bench worker SPEC`: run one worker, print its results as JSON."""
    if len(argv) != 2 or argv[0] != "worker":
        sys.exit("usage: python -m protonet.bench worker SPEC (the `protonet bench` command runs these)")
    print(json.dumps([asdict(r) for r in worker(json.loads(argv[1]))]))


if __name__ == "__main__":
    main(sys.argv[1:])
