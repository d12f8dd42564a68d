"""Smoke tests of the benchmark code (`protonet bench`) with tiny settings; no timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from protonet import bench, bench_worker
from protonet.cli import cli
from protonet.errors import ConfigError
from protonet.net import Net


def test_each_workload_builds_the_net_it_names():
    for name, workload in bench.WORKLOADS.items():
        net = Net(bench_worker.protonet_net_param(workload), phase="TRAIN" if workload.train else "TEST", seed=0)
        data, labels = bench_worker.inputs(workload)
        assert data.shape == (workload.batch, *workload.input_shape) and data.dtype == np.float32, name
        assert labels.shape == (workload.batch,) and labels.max() < 10
        outputs = net.forward(data=data, **({"label": labels} if workload.train else {}))
        assert all(np.isfinite(v).all() for v in outputs.values())
        if not workload.train:
            assert outputs["prob"].shape == (workload.batch, 10)
            np.testing.assert_allclose(outputs["prob"].sum(axis=1), 1, rtol=1e-5)


def test_a_worker_times_protonet_in_process():
    [result] = bench_worker.worker({"framework": "protonet", "workload": "mlp-train", "threads": 1, "repeats": 2,
                             "iterations": 1, "memory_iterations": 1})
    assert result.framework == "protonet" and len(result.blocks_ms) == 2 and result.ms > 0


def test_the_benchmark_runs_workers_and_prints_one_table(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--threads", "1", "--repeats", "1", "--iterations", "1",
                                      "--workloads", "lenet-infer-1,mlp-train", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "LeNet inference, batch 1" in result.output and "MLP 784-500-10" in result.output
    report = json.loads(out.read_text())
    assert {r["workload"] for r in report["results"]} == {"lenet-infer-1", "mlp-train"}
    for r in report["results"]:
        assert r["threads"] == 1 and r["ms"] > 0 and r["peak_rss_mb"] > 10
        assert r["blas_threads"] in (1, None)  # OpenBLAS asked through ctypes where it can be
    compiled = report["machine"]["jit"]  # numba's version where the compiled passes run
    assert (f"compiled passes numba {compiled}" if compiled else "compiled passes off") in result.output


def test_unknown_workloads_are_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'lenet-train'"):
        bench.run_benchmark(["lenet-trian"], [1])


@pytest.mark.skipif(not bench.torch_available(), reason="PyTorch is not installed")
def test_the_comparison_builds_the_same_nets_in_pytorch():
    results = bench_worker.worker({"framework": "torch", "workload": "lenet-train", "threads": 1, "repeats": 1,
                            "iterations": 1, "memory_iterations": 1})
    assert [r.framework for r in results] == ["torch-nchw", "torch-channels-last"]
    model = bench_worker.torch_model("cifar10_quick")
    import torch

    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    param_count = sum(p.numel() for p in model.parameters())
    net = Net(bench_worker.protonet_net_param(bench.WORKLOADS["cifar10-quick-train"]), phase="TRAIN")
    assert param_count == sum(p.blob.count for p in net.learnable)


def test_the_memory_run_trains_lenet_on_fashion_mnist(tmp_path):
    from protonet.data.datasets import find_dataset
    from protonet.errors import DataError

    try:
        find_dataset("fashion-mnist")
    except DataError:
        pytest.skip("Fashion-MNIST is not available")
    spec = {"framework": "protonet", "workload": bench.MEMORY, "threads": 1, "repeats": 1, "iterations": None,
            "memory_iterations": 3}
    [result] = bench.run_worker(spec)
    assert result.peak_rss_mb > 10 and result.seconds > 0


def test_the_blas_thread_count_can_be_read_and_set():
    from protonet.ops.blas import blas_threads, set_blas_threads

    before = blas_threads()
    if before is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS that can be asked")
    try:
        assert set_blas_threads(1) and blas_threads() == 1
    finally:
        set_blas_threads(before)
    assert blas_threads() == before


def test_idleness_is_read_as_a_percentage():
    for idle in (bench.idle_percent(0.2), bench.wait_for_idle(0)):  # 0%: returns at the first reading
        assert idle is None or 0 <= idle <= 100


def test_the_profile_times_each_layer_of_the_workload_nets_with_their_flops(tmp_path):
    out = tmp_path / "profile.json"
    result = CliRunner().invoke(cli, ["bench", "--profile", "--threads", "1", "--iterations", "1",
                                      "--workloads", "lenet-train,lenet-infer-1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "LeNet train, batch 64, 1 thread(s):" in result.output and "fwd GFLOP/s" in result.output
    train, infer = json.loads(out.read_text())["profiles"]
    assert (train["workload"], infer["workload"], train["threads"]) == ("lenet-train", "lenet-infer-1", 1)
    assert train["square_gflops"] > 0
    conv1, conv2 = ({r["name"]: r for r in train["rows"]}[name] for name in ("conv1", "conv2"))
    assert conv1["forward_flops"] == 2 * 64 * 20 * 24 * 24 * 25  # 2 x MACs: outputs x fan-in
    assert conv1["backward_flops"] == conv1["forward_flops"]  # the weight gradient only: data takes none
    assert conv2["backward_flops"] == 2 * conv2["forward_flops"]  # the weight and the data gradients
    assert {r["name"]: r for r in infer["rows"]}["conv1"]["forward_flops"] == 2 * 20 * 24 * 24 * 25
    assert all(r["backward_flops"] == 0 for r in infer["rows"])  # a deploy net: forward only


def test_the_profile_is_not_compared():
    result = CliRunner().invoke(cli, ["bench", "--profile", "--compare", "torch"])
    assert result.exit_code == 2 and "leave out --compare" in result.output


def test_the_memory_run_cannot_be_profiled():
    with pytest.raises(ConfigError, match="cannot profile workload 'lenet-rss'"):
        bench.run_profiles(["lenet-rss"], [1])
