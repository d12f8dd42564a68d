"""Data-parallel training over MPI: sharding, the gradient reducer, the hooks' checks (in one process,
with a stand-in World), then real 2-rank jobs under mpirun (skipped without mpi4py and an mpirun)."""

from __future__ import annotations

import glob
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from protonet.data.reader import RecordReader, shuffled
from protonet.distributed.faults import REPORTS_VARIABLE, abort_on_error, print_reports
from protonet.distributed.launch import mpirun_command
from protonet.distributed.parallel import DataParallel, ReplicaError
from protonet.distributed.reducer import GradientReducer
from protonet.distributed.shard import shard_net
from protonet.errors import DataError, WeightsError
from protonet.net import Net
from protonet.proto import pb
from protonet.solvers import Solver
from protonet.solvers.snapshot import learned_net_path, read_state

NET = """name: Tiny
layer:
  - {name: data, type: Data, top: [data, label], data_param: {source: SOURCE, batch_size: BATCH, shuffle: SHUFFLE},
     transform_param: {scale: 0.00390625}}
  - {name: conv, type: Convolution, bottom: data, top: conv,
     convolution_param: {num_output: 4, kernel_size: 3, weight_filler: {type: xavier}}}
  - {name: pool, type: Pooling, bottom: conv, top: pool, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}
  - {name: relu, type: ReLU, bottom: pool, top: pool}
  - {name: drop, type: Dropout, bottom: pool, top: pool, dropout_param: {dropout_ratio: DROPOUT}}
  - {name: ip, type: InnerProduct, bottom: pool, top: ip,
     inner_product_param: {num_output: 3, weight_filler: {type: xavier}}}
  - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}
"""
SOLVER = """net: net.yaml
base_lr: 0.1
momentum: 0.9
weight_decay: 0.001
clip_gradients: 5
lr_policy: fixed
max_iter: 8
snapshot: 4
snapshot_prefix: runs/tiny
random_seed: 1
weight_check_interval: 2
"""


def write_run(folder: Path, *, source: str = "data.npz", dropout: float = 0.0, shuffle: bool = False) -> Path:
    """A tiny conv net on 256 random 8x8 images (data.npz) and its solver; returns the solver file."""
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", data=rng.integers(0, 256, (256, 1, 8, 8), dtype=np.uint8),
             labels=rng.integers(0, 3, 256))
    (folder / "net.yaml").write_text(net_text(source, dropout, shuffle))
    (folder / "solver.yaml").write_text(SOLVER)
    return folder / "solver.yaml"


def net_text(source: str = "data.npz", dropout: float = 0.0, shuffle: bool = False, batch: str = "32") -> str:
    net = NET
    for key, value in (("SOURCE", source), ("DROPOUT", dropout), ("SHUFFLE", str(shuffle).lower()), ("BATCH", batch)):
        net = net.replace(key, str(value))
    return net


class OneRankOfTwo:
    """A stand-in World: rank `rank` of 2 whose peer holds the same gradients and weights (so a sum is
    twice the local value), recording what is asked of it."""

    def __init__(self, rank: int = 0, peer_crc_differs: bool = False) -> None:
        self.rank, self.size, self.is_root = rank, 2, rank == 0
        self.started: list[int] = []  # sizes of the buckets started, in order
        self.peer_crc_differs = peer_crc_differs
        self.aborted: int | None = None

    def broadcast(self, array):
        pass

    def start_sum(self, array):
        self.started.append(array.size)
        array *= 2
        return None

    def progress(self, requests):
        pass

    def wait(self, requests):
        pass

    def sum(self, values):
        return values * 2

    def maximum(self, value):
        return value

    def all_gather(self, value):
        return [value, value + 1 if self.peer_crc_differs else value]

    def gather_bytes(self, data):
        return [data, data] if self.is_root else None

    def abort(self, code):
        self.aborted = code
        raise SystemExit(code)


# -- sharding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
def test_two_shards_read_the_batch_of_one_reader_twice_as_large(shuffle):
    order = shuffled(10) if shuffle else None
    whole = RecordReader(10, 6, source="x", seed=lambda: 3, order=order)
    shards = [RecordReader(10, 3, source="x", seed=lambda: 3, order=order) for _ in range(2)]
    for rank, reader in enumerate(shards):
        reader.shard(rank, 2)
    for _ in range(4):  # across epoch boundaries
        expected = whole.next_indices()
        parts = [reader.next_indices() for reader in shards]
        assert list(parts[0]) == list(expected[0::2]) and list(parts[1]) == list(expected[1::2])
        assert shards[0].cursor() == shards[1].cursor() == whole.cursor()


def two_batches(net: Net, top: str) -> np.ndarray:
    batches = []
    for _ in range(2):
        net.forward()
        batches.append(net.blobs[top].data.copy())
    return np.concatenate(batches)


def check_sharded(folder: Path, text: str, top: str) -> None:
    """Ranks 0 and 1 of a net of batch 32 (`text`, with BATCH for the batch size) read the even and the odd
    records of each batch of the same net with batch 64."""
    (folder / "net64.yaml").write_text(text.replace("BATCH", "64"))
    (folder / "net32.yaml").write_text(text.replace("BATCH", "32"))
    expected = two_batches(Net(folder / "net64.yaml", phase="TRAIN", seed=1), top)
    for rank in range(2):
        net = Net(folder / "net32.yaml", phase="TRAIN", seed=1)
        shard_net(net, rank, 2)
        mine = two_batches(net, top)
        for batch in range(2):
            np.testing.assert_array_equal(mine[batch * 32:(batch + 1) * 32],
                                          expected[batch * 64:(batch + 1) * 64][rank::2])


def test_an_in_memory_source_is_sharded(tmp_path):
    write_run(tmp_path)
    check_sharded(tmp_path, net_text(batch="BATCH"), "label")


def test_an_lmdb_stream_is_sharded(tmp_path):
    pytest.importorskip("lmdb")
    from protonet.data.tools import convert, open_records

    write_run(tmp_path)
    os.chdir(tmp_path)
    convert(open_records("data.npz"), tmp_path / "db")
    for top in ("label", "data"):
        check_sharded(tmp_path, net_text("db", batch="BATCH"), top)


def test_an_hdf5_source_is_sharded(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "rows.h5", "w") as handle:
        handle["data"] = np.random.default_rng(2).standard_normal((100, 3)).astype(np.float32)
        handle["label"] = np.arange(100, dtype=np.float32)
    (tmp_path / "list.txt").write_text("rows.h5\n")
    check_sharded(tmp_path, "name: H\nlayer:\n  - {name: d, type: HDF5Data, top: [data, label], "
                            "hdf5_data_param: {source: list.txt, batch_size: BATCH}}\n", "label")


def test_a_synthetic_source_is_sharded(tmp_path):
    check_sharded(tmp_path, "name: S\nlayer:\n  - {name: d, type: Data, top: [data, label], data_param: "
                            "{batch_size: BATCH}, synthetic_param: {kind: blobs, classes: 3, num: 100, seed: 4}}\n",
                  "data")


def test_ranks_draw_different_random_streams(tmp_path):
    write_run(tmp_path, dropout=0.5)
    draws = []
    for rank in range(2):
        net = Net(tmp_path / "net.yaml", phase="TRAIN", seed=1)
        shard_net(net, rank, 2)
        draws.append(net.ctx.rng.random(4))
    assert not np.array_equal(*draws)


# -- the reducer and the solver's hooks -----------------------------------------------------------


def test_buckets_start_during_backward_and_the_gradients_are_averaged(tmp_path):
    solver = Solver(write_run(tmp_path))
    world = OneRankOfTwo()
    net = solver.net
    reducer = GradientReducer(world, net, bucket_bytes=1, overlap=True)  # one param a bucket
    assert [b.params[0].layer for b in reducer.buckets] == ["ip", "ip", "conv", "conv"]  # backward's order
    started_at = []
    observer = reducer.watching(lambda direction, i: started_at.append((net.layers[i].name, len(world.started))))
    net.clear_param_diffs()
    net.forward_backward()
    local = [lp.blob.diff.copy() for lp in net.learnable]
    net.layer_dict["data"].seek(0, 0)  # the same batch again
    net.observer = observer
    net.clear_param_diffs()
    net.forward_backward()
    net.observer = None
    # ip's two buckets left once backward passed ip (the observer runs before the reducer sends)
    assert ("relu", 2) in started_at and started_at[-1] == ("conv", 2)
    reducer.finish()
    assert len(world.started) == 4
    for lp, before in zip(net.learnable, local):
        np.testing.assert_allclose(lp.blob.diff, before, rtol=1e-6)  # (2 g) / 2


def test_a_rank_whose_weights_differ_stops_the_run(tmp_path):
    solver = DataParallel(OneRankOfTwo(peer_crc_differs=True)).attach(Solver(write_run(tmp_path)))
    with pytest.raises(ReplicaError, match="at iteration 2 the weights of rank 1 differ from rank 0's"):
        solver.step(2)


def test_rank_0_writes_the_snapshot_with_every_ranks_state(tmp_path):
    os.chdir(tmp_path)
    solver = DataParallel(OneRankOfTwo()).attach(Solver(write_run(tmp_path)))
    solver.step(4)
    state = read_state("runs/tiny_iter_4.solverstate")
    cursor = state.rank_state[1].data_cursor[0]
    assert len(state.rank_state) == 2 and (cursor.position, cursor.epoch) == (0, 1)  # 4 x 2 ranks x 32 = 256 read


def test_another_rank_writes_nothing(tmp_path):
    os.chdir(tmp_path)
    solver = DataParallel(OneRankOfTwo(rank=1)).attach(Solver(write_run(tmp_path), record=True))
    solver.solve()
    assert solver.last_snapshot[0] == 8 and not (tmp_path / "runs").exists()


def test_a_state_of_another_rank_count_is_refused(tmp_path):
    os.chdir(tmp_path)
    solver = DataParallel(OneRankOfTwo()).attach(Solver(write_run(tmp_path)))
    solver.step(4)
    single = Solver(tmp_path / "solver.yaml")
    with pytest.raises(WeightsError, match="written by a run of 2 ranks, this run has 1.*--ranks 2"):
        single.restore("runs/tiny_iter_4.solverstate")


def test_a_failing_rank_names_itself_and_aborts_the_job(capsys):
    world = OneRankOfTwo(rank=1)
    with pytest.raises(SystemExit), abort_on_error(world):
        raise DataError("data source 'x' not found")
    assert world.aborted == 3
    assert "protonet: rank 1 of 2: error: data source 'x' not found; ending the job" in capsys.readouterr().err


def test_under_the_launcher_a_report_waits_in_a_file_and_is_printed_in_rank_order(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(REPORTS_VARIABLE, str(tmp_path))
    for rank in (10, 2):
        world = OneRankOfTwo(rank=rank)
        with pytest.raises(SystemExit), abort_on_error(world):
            raise KeyError("lr")
        assert world.aborted == 1
    assert capsys.readouterr().err == ""  # mpirun could drop it, so the launcher prints it after the job
    out = io.StringIO()
    print_reports(tmp_path, out)
    reports = out.getvalue()
    assert reports.index("rank 2 of 2: KeyError: 'lr'; ending the job") < reports.index("rank 10 of 2:")
    assert "Traceback" in reports  # an unexpected error keeps its traceback


def test_open_mpi_is_launched_oversubscribed_and_allowed_as_root(tmp_path):
    fake = tmp_path / "mpirun"
    fake.write_text("#!/bin/sh\necho 'mpirun (Open MPI) 5.0.11'\n")
    fake.chmod(0o755)
    command, env = mpirun_command(3, ["train", "--solver", "s.yaml"], mpirun=str(fake))
    assert command == [str(fake), "-n", "3", "--oversubscribe", sys.executable, "-m", "protonet.cli",
                       "train", "--solver", "s.yaml"]
    assert (env.get("OMPI_ALLOW_RUN_AS_ROOT") == "1") == (os.geteuid() == 0)


# -- real jobs under mpirun -----------------------------------------------------------------------


def mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401

        from protonet.distributed.launch import find_mpirun

        find_mpirun()
    except Exception:  # noqa: BLE001 - any reason not to run MPI jobs here is a skip
        return False
    return True


needs_mpi = pytest.mark.skipif(not mpi_available(), reason="needs mpi4py and mpirun (pip install protonet[mpi])")
TAG = f"PROTONET_TEST_JOB={os.getpid()}"


def train(folder: Path, *args: str, ranks: int = 2, wait: bool = True):
    """`protonet train --ranks RANKS` in `folder`: its finished process, or (not `wait`) the running one."""
    env = dict(os.environ, PROTONET_TEST_JOB=str(os.getpid()))
    command = [sys.executable, "-m", "protonet.cli", "train", "--solver", "solver.yaml", "--ranks", str(ranks),
               "--no-progress", *args]
    if wait:
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def weights(path: Path) -> list[np.ndarray]:
    net = pb.NetParameter()
    net.ParseFromString(path.read_bytes())
    return [np.array(blob.data, np.float32) for layer in net.layer for blob in layer.blobs]


@needs_mpi
def test_two_ranks_of_batch_32_train_as_one_process_of_batch_64(tmp_path):
    write_run(tmp_path)
    job = train(tmp_path)
    assert job.returncode == 0, job.stderr
    assert "Data-parallel over 2 ranks" in job.stderr
    one = train(tmp_path, "--set", "net.layer[data].data_param.batch_size=64", "--set", "snapshot_prefix=one/tiny",
                ranks=1)
    assert one.returncode == 0, one.stderr
    for a, b in zip(weights(tmp_path / "runs/tiny_iter_8.caffemodel"),
                    weights(tmp_path / "one/tiny_iter_8.caffemodel")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-7)
    assert not np.array_equal(weights(tmp_path / "runs/tiny_iter_4.caffemodel")[0],
                              weights(tmp_path / "runs/tiny_iter_8.caffemodel")[0])  # it did train


@needs_mpi
def test_a_resumed_two_rank_run_ends_as_an_uninterrupted_one(tmp_path):
    write_run(tmp_path, dropout=0.5, shuffle=True)  # each rank's generator and the epochs' orders matter
    whole = train(tmp_path)
    assert whole.returncode == 0, whole.stderr
    resumed = train(tmp_path, "--snapshot", "runs/tiny_iter_4.solverstate", "--set", "snapshot_prefix=again/tiny")
    assert resumed.returncode == 0, resumed.stderr
    for a, b in zip(weights(tmp_path / "runs/tiny_iter_8.caffemodel"),
                    weights(tmp_path / "again/tiny_iter_8.caffemodel")):
        np.testing.assert_array_equal(a, b)


@needs_mpi
def test_resuming_on_another_rank_count_ends_the_job_with_a_message(tmp_path):
    write_run(tmp_path)
    assert train(tmp_path, ranks=1).returncode == 0
    job = train(tmp_path, "--snapshot", "runs/tiny_iter_4.solverstate", "--set", "snapshot_prefix=two/tiny")
    assert job.returncode != 0
    # every rank finds it: whichever aborts first ends the job, naming itself
    assert re.search(r"rank [01] of 2: error: .*written by a run of 1 rank, this run has 2", job.stderr)


def rank_pid(rank: int) -> int | None:
    """The pid of this test's job's rank `rank` (found by the job's tag and the rank its launcher set)."""
    ranks = {f"PMI_RANK={rank}".encode(), f"OMPI_COMM_WORLD_RANK={rank}".encode()}
    for entry in os.listdir("/proc"):
        try:
            env = set(Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if TAG.encode() in env and env & ranks:
            return int(entry)
    return None


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
def test_a_killed_rank_ends_the_job_and_leaves_the_last_snapshot_whole(tmp_path):
    write_run(tmp_path)
    job = train(tmp_path, "--set", "max_iter=1000000", "--set", "snapshot=10", wait=False)
    deadline = time.monotonic() + 60
    while not glob.glob(str(tmp_path / "runs/tiny_iter_10.solverstate")) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = rank_pid(1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    output, _ = job.communicate(timeout=60)
    assert time.monotonic() - killed < 10 and job.returncode != 0
    assert f"1: pid {pid}" in output  # rank 0 said which pid rank 1 is, mpirun names the pid that died
    assert "Killed" in output or "signal 9" in output
    last = max(glob.glob(str(tmp_path / "runs/tiny_iter_*.solverstate")), key=os.path.getmtime)
    state = read_state(last)
    Net(tmp_path / "net.yaml", phase="TRAIN").copy_from(learned_net_path(state, last))
    assert state.iter >= 10 and len(state.rank_state) == 2


@needs_mpi
def test_keep_best_stops_every_rank_when_rank_0_finds_no_improvement(tmp_path):
    write_run(tmp_path)
    job = train(tmp_path, "--set", "test_iter=1", "--set", "test_interval=2", "--set", "base_lr=0",
                "--set", "keep_best.output=loss", "--set", "keep_best.patience=1", "--set", "max_iter=100")
    assert job.returncode == 0, job.stderr
    # the test at iteration 2 cannot beat the one at 0 (nothing learns at lr 0): both ranks stop after it
    assert "Stopping at iteration 3, no improvement" in job.stderr
    assert len(read_state(tmp_path / "runs/tiny_iter_3.solverstate").rank_state) == 2
    assert (tmp_path / "runs/tiny_best.caffemodel").exists()
