"""Layers whose batch runs in parts on several threads (protonet.ops.parallel) give the one-thread results."""

from __future__ import annotations

import numpy as np
import pytest

from protonet.gradcheck import make_layer, run_layer
from protonet.layers import pooling
from protonet.ops import blas, conv, parallel
from protonet.solvers import base as solver_base

from .test_solver_helpers import make_solver, weights
from .test_solver_rules import RULE_FIELDS

FILLERS = 'weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 }'


CONFIGS = [
    ('type: "Convolution" convolution_param { num_output: 3 kernel_size: 3 pad: 1 }', (5, 2, 6, 6)),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 2 stride: 2 group: 2 }', (4, 2, 6, 5)),
    ('type: "InnerProduct" inner_product_param { num_output: 40 }', (37, 3, 4, 4)),
    ('type: "InnerProduct" inner_product_param { num_output: 7 transpose: true }', (50, 60)),
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }', (5, 2, 7, 7)),
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }', (3, 2, 6, 6)),
    ('type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }', (4, 3, 5, 5)),
]


@pytest.fixture
def split_everything(monkeypatch):
    """Thresholds at their least, so that tiny inputs are split too; BLAS threads restored afterwards."""
    monkeypatch.setattr(parallel, "MIN_SPLIT_FLOPS", 0)
    monkeypatch.setattr(pooling, "MIN_SPLIT_ELEMENTS", 1)
    monkeypatch.setattr(conv, "MIN_SPLIT_BYTES", 0)
    counts: list[int] = []
    run = parallel.run
    monkeypatch.setattr(parallel, "run", lambda work, count: (counts.append(count), run(work, count))[1])
    before = blas.blas_threads()
    parallel.set_product_threads(False)  # a net run earlier may have chosen OpenBLAS's threads
    yield counts
    parallel.set_threads(1)
    parallel.set_product_threads(False)
    if before:
        blas.set_blas_threads(before)


def forward_backward(config: str, x: np.ndarray, num_tops: int = 1) -> list[np.ndarray]:
    if "_param {" in config and "Pooling" not in config:  # learnable: random weights and biases
        config = config[:-1] + FILLERS + " }"
    layer = make_layer(config)
    bottom, top = run_layer(layer, [x], num_tops)
    top[0].diff = np.random.default_rng(3).standard_normal(top[0].shape)
    layer.backward(top, [True], bottom)
    return [t.data.copy() for t in top] + [bottom[0].diff.copy()] + [b.diff.copy() for b in layer.blobs]


@pytest.mark.parametrize("config, shape", CONFIGS)
def test_two_threads_give_the_one_thread_results(config, shape, rng, split_everything):
    x = rng.integers(0, 4, shape).astype(float)  # ties too: the first maximum must win in every part
    parallel.set_threads(1)
    expected = forward_backward(config, x)
    parallel.set_threads(2)
    split_everything.clear()
    for found, want in zip(forward_backward(config, x), expected, strict=True):
        np.testing.assert_allclose(found, want, atol=1e-12)
    assert max(split_everything) == 2  # the work did go to two threads


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("config", [c for c, _ in CONFIGS if "Pooling" in c])
def test_pooling_in_parts_of_a_few_images_gives_the_whole_batch_result(config, threads, rng, monkeypatch,
                                                                        split_everything):
    x = rng.integers(0, 4, (7, 2, 6, 6)).astype(float)
    parallel.set_threads(1)
    expected = forward_backward(config, x)
    monkeypatch.setattr(pooling, "PART_ELEMENTS", 2 * 2 * 6 * 6)  # two images a part
    parallel.set_threads(threads)
    split_everything.clear()
    for found, want in zip(forward_backward(config, x), expected, strict=True):
        np.testing.assert_array_equal(found, want)
    assert max(split_everything) == threads


def test_the_max_pooling_mask_joins_the_parts(rng, split_everything):
    config = 'type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }'
    x = rng.standard_normal((5, 2, 4, 4))
    parallel.set_threads(1)
    expected = forward_backward(config, x, num_tops=2)[1]
    parallel.set_threads(3)
    np.testing.assert_array_equal(forward_backward(config, x, num_tops=2)[1], expected)


def test_parts_cover_the_range_in_near_equal_slices():
    assert parallel.parts(10, 3) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert parallel.parts(10, 4, minimum=4) == [slice(0, 5), slice(5, 10)]
    assert parallel.parts(1, 2) == [slice(0, 1)]


def test_run_raises_a_failing_part_after_all_parts_ended(split_everything):
    done = []

    def work(k: int) -> None:
        if k == 1:
            raise ValueError("part 1")
        done.append(k)

    with pytest.raises(ValueError, match="part 1"):
        parallel.run(work, 3)
    assert sorted(done) == [0, 2]


def test_more_than_one_thread_puts_blas_on_one(split_everything):
    if blas.blas_threads() is None:
        pytest.skip("numpy's BLAS cannot be asked")
    parallel.set_threads(2)
    assert blas.blas_threads() == 1


def test_fresh_blobs_get_their_gradients_made_before_the_threads_start(rng, split_everything):
    """A Blob makes its diff on first use; two parts making it at once would each write to their own."""
    config, shape = CONFIGS[0]
    x = rng.standard_normal(shape)
    parallel.set_threads(1)
    expected = forward_backward(config, x)
    parallel.set_threads(2)
    for _ in range(10):  # fresh layers and blobs each time
        for found, want in zip(forward_backward(config, x), expected, strict=True):
            np.testing.assert_allclose(found, want, atol=1e-12)


WIDE_NET = """
layer { name: "in" type: "Input" top: "in" input_param { shape { dim: 2 dim: 300 } } }
layer { name: "ip" type: "InnerProduct" bottom: "in" top: "y" loss_weight: 1
        inner_product_param { num_output: 1 weight_filler { type: "gaussian" std: 0.1 } } }
"""


@pytest.mark.parametrize("rule", list(RULE_FIELDS))
def test_the_update_in_parts_on_two_threads_is_the_one_thread_update(rule, monkeypatch, split_everything, rng):
    monkeypatch.setattr(solver_base, "MIN_SPLIT_ELEMENTS", 1)
    fields = f'type: "{rule}" weight_decay: 0.01 {RULE_FIELDS[rule]}'
    x, results = rng.standard_normal((2, 300)), []
    for threads in (1, 2):
        parallel.set_threads(threads)
        split_everything.clear()
        solver = make_solver(WIDE_NET, fields, dtype=np.float32)
        solver.net.blobs["in"].data = x
        solver.step(3)
        results.append(weights(solver) + solver.rule.state_arrays())
    assert 2 in split_everything  # the 300 weights went to two threads: elements 0..127 and 128..299
    assert solver._update_plan() == [[(0, slice(128, 300))], [(0, slice(0, 128)), (1, slice(0, 1))]]
    for found, want in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(found, want)


MLP = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 8 dim: 30 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 20 weight_filler { type: "xavier" } } }
layer { name: "sig" type: "Sigmoid" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
"""
CONV_MLP = MLP.replace("dim: 8 dim: 30", "dim: 8 dim: 2 dim: 5 dim: 3").replace(
    'layer { name: "ip1"', 'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param '
    '{ num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } } }\nlayer { name: "ip1"').replace(
    'bottom: "data" top: "ip1"', 'bottom: "conv" top: "ip1"')


@pytest.mark.parametrize(("text", "parts_expected"), [(MLP, False), (CONV_MLP, True)])
def test_a_net_without_batch_parts_runs_its_products_on_blas_threads(text, parts_expected, rng, split_everything):
    """An inner-product-only net multiplies on OpenBLAS's threads (its products not split), a net with a
    convolution on protonet's; either way with the one-thread results, and BLAS back on one thread."""
    from protonet import Net
    from protonet.config import parse
    from protonet.proto import pb

    param = parse(text, pb.NetParameter())
    x = rng.standard_normal(param.layer[0].input_param.shape[0].dim).astype(np.float32)
    parallel.set_threads(1)
    expected = Net(param, phase="TRAIN", seed=0).forward(data=x)["ip2"]
    parallel.set_threads(2)
    split_everything.clear()
    found = Net(param, phase="TRAIN", seed=0).forward(data=x)["ip2"]
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    assert (max(split_everything, default=1) == 2) == parts_expected
    if blas.blas_threads() is not None:
        assert blas.blas_threads() == 1
