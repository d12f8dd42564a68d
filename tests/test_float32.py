"""float32 end to end: a whole LeNet training iteration (forward, backward, SGD update) keeps every blob's
data and diff, every parameter and every solver history in float32, and a steady-state iteration makes
no new large arrays."""

from __future__ import annotations

import tracemalloc

import numpy as np

from protonet.bench import WORKLOADS
from protonet.bench_worker import inputs, protonet_net_param
from protonet.proto import pb
from protonet.solvers import Solver


def lenet_solver() -> Solver:
    workload = WORKLOADS["lenet-train"]
    solver = Solver(pb.SolverParameter(net_param=protonet_net_param(workload), type="SGD", base_lr=0.01,
                                       momentum=0.9, weight_decay=0.0005, lr_policy="fixed", max_iter=100,
                                       random_seed=0))
    data, labels = inputs(workload)
    solver.net.blobs["data"].data = data
    solver.net.blobs["label"].data = labels
    return solver


def test_a_lenet_iteration_stays_float32():
    solver = lenet_solver()
    solver.step(2)
    net = solver.net
    for name, blob in net.blobs.items():
        assert blob.data.dtype == np.float32, name
        assert blob.diff.dtype == np.float32, name
    assert net.learnable
    for param in net.learnable:
        assert param.blob.data.dtype == np.float32, param.layer
        assert param.blob.diff.dtype == np.float32, param.layer
    assert all(h.dtype == np.float32 for h in solver.rule.state_arrays())
    assert np.isfinite(net.loss) and isinstance(net.loss, float)


def test_a_steady_state_iteration_allocates_no_large_array():
    """After the first iterations every work array exists: forward, backward and update together may only
    make small temporaries (numpy's iteration buffers, per-class sums), far below one blob of LeNet."""
    solver = lenet_solver()
    solver.step(2)
    net = solver.net
    smallest_blob = min(b.data.nbytes for name, b in net.blobs.items() if name.startswith(("conv", "pool")))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        net.clear_param_diffs()
        net.forward_backward()
        solver._apply_update(0.01)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak < 160 * 1024 < smallest_blob, peak
