"""The benchmark's workers (`python -m protonet.bench_worker SPEC`, started by protonet.bench in a fresh
process per framework, workload and thread count): build a workload in protonet or PyTorch, time it,
print the results as JSON."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .bench import CONFIGS, MEMORY, ROOT, WORKLOADS, Result, Workload
from .ops.blas import blas_threads

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


def profile(workload: Workload, threads: int, iterations: int) -> dict:
    """`protonet time` on the workload's net with its synthetic inputs, and the BLAS's square-product rate
    on `threads` threads (protonet's own threads, when several, run the BLAS on one each)."""
    from .evaluate import time_layers
    from .net import Net
    from .ops.blas import set_blas_threads, square_product_gflops

    data, labels = inputs(workload)
    net = Net(protonet_net_param(workload), phase="TRAIN" if workload.train else "TEST", seed=0)
    if workload.train:
        net.blobs["data"].data, net.blobs["label"].data = data, labels
    else:
        net.forward(data=data)  # the deploy net takes the batch's shape
    rows = time_layers(net, iterations)
    set_blas_threads(threads)  # the worker ends after this: nothing to restore
    return {"workload": workload.name, "threads": threads, "square_gflops": square_product_gflops(),
            "rows": [asdict(r) for r in rows]}


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
    """`python -m protonet.bench_worker SPEC`: run one worker, print its results as JSON."""
    if len(argv) != 1:
        sys.exit("usage: python -m protonet.bench_worker SPEC (the `protonet bench` command runs these)")
    spec = json.loads(argv[0])
    if spec.get("profile"):
        print(json.dumps(profile(WORKLOADS[spec["workload"]], spec["threads"], spec["iterations"] or 10)))
        return
    print(json.dumps([asdict(r) for r in worker(spec)]))


if __name__ == "__main__":
    main(sys.argv[1:])
