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

Threads: every (framework, workload, thread count) runs in a fresh subprocess (`python -m
protonet.bench_worker SPEC`) whose thread counts are set in its environment before numpy or torch loads:
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
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ConfigError, ProtonetError, did_you_mean
from .ops import jit, parallel
from .ops.blas import blas_core

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
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


def run_profiles(workloads: list[str], threads: list[int], iterations: int | None = None, log=print) -> dict:
    """`protonet time` on each workload's net (the synthetic inputs, as timed by `run_benchmark`) at each
    thread count, each in a fresh worker: {"machine", "profiles"}, a profile being the workload, the
    thread count, the BLAS's square-product rate measured in that worker and the LayerTime rows."""
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise ConfigError(f"cannot profile workload '{unknown[0]}'",
                          hint=f"choose from {', '.join(WORKLOADS)} (the memory run has no layers to time)")
    profiles = []
    for count in threads:
        for name in workloads:
            log(f"  profile  {name:<20} {count} thread(s) ...")
            spec = {"framework": "protonet", "workload": name, "threads": count, "iterations": iterations,
                    "profile": True}
            profiles.append(json.loads(_run_worker_process(spec)[0]))
    return {"machine": machine(), "profiles": profiles}


def format_profiles(report: dict) -> str:
    """Each profile as `protonet time`'s table under a line naming the workload and threads."""
    from .evaluate import LayerTime, format_times

    blocks = []
    for p in report["profiles"]:
        rows = [LayerTime(**row) for row in p["rows"]]
        blocks.append(f"{WORKLOADS[p['workload']].title}, {p['threads']} thread(s):\n"
                      + format_times(rows, p["square_gflops"]))
    return "\n\n".join(blocks)


def _env(threads: int) -> dict:
    """This environment with every thread variable set to `threads`."""
    env = dict(os.environ)
    for name in (*THREAD_VARIABLES, parallel.VARIABLE):
        env[name] = str(threads)
    return env


def _run_worker_process(spec: dict) -> tuple[str, float, float]:
    """`python -m protonet.bench_worker SPEC` with the spec's thread count: (stdout, peak RSS MB, seconds)."""
    return _wait([sys.executable, "-m", "protonet.bench_worker", json.dumps(spec)], _env(spec["threads"]))


def run_worker(spec: dict) -> list[Result]:
    """Run one worker subprocess with its thread variables set; its results with its peak RSS."""
    if spec["workload"] == MEMORY and spec["framework"] == "protonet":
        with tempfile.TemporaryDirectory() as folder:
            command = [sys.executable, "-m", "protonet.cli", "train", "--no-progress",
                       "--solver", str(CONFIGS / "lenet" / "solver.yaml"),
                       "--set", f"max_iter={spec['memory_iterations']}",
                       "--set", f"snapshot_prefix={folder}/lenet"]
            _, rss, seconds = _wait(command, _env(spec["threads"]))
        return [Result("protonet", MEMORY, spec["threads"], None, [], rss, None, seconds)]
    out, rss, seconds = _run_worker_process(spec)
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
            "numpy": numpy.__version__, "blas_core": blas_core(), "torch": torch_version(),
            "jit": jit.version()}


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
             f"compiled passes {'numba ' + m['jit'] if m.get('jit') else 'off'}; torch {m['torch'] or '-'}; "
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
