"""`protonet time`'s table: each layer's rate of products (GFLOP/s) and the step's products at the BLAS's
square-product rate, from known times and FLOPs (no timing is asserted)."""

from __future__ import annotations

from protonet.evaluate import LayerTime, format_times
from protonet.ops.blas import square_product_gflops


def test_rates_are_flops_over_time_and_blank_without_products():
    rows = [LayerTime("conv", "Convolution", 2.0, 4.0, 6_000_000, 12_000_000),
            LayerTime("relu", "ReLU", 0.5, 0.25)]
    lines = format_times(rows, reference_gflops=100.0).splitlines()
    assert lines[1].split()[-2:] == ["3.0", "3.0"]  # 6e6 FLOP in 2 ms, 12e6 in 4 ms
    assert lines[2].split() == ["relu", "ReLU", "0.500", "0.250"]
    assert "Average Forward-Backward: 6.750 ms." in lines
    assert lines[-1] == ("Products: 0.018 GFLOP per forward-backward; at the BLAS's square-product rate of "
                         "100.0 GFLOP/s they alone take 0.18 ms.")


def test_a_net_without_products_prints_no_products_line():
    text = format_times([LayerTime("relu", "ReLU", 0.5, 0.25)], reference_gflops=100.0)
    assert "Products" not in text and text.endswith("Average Forward-Backward: 0.750 ms.")


def test_the_square_product_rate_is_its_flops_over_its_best_time(monkeypatch):
    clock = iter([0.0, 0.5, 1.0, 1.25, 2.0, 3.0])  # three timed products: 0.5 s, 0.25 s, 1 s
    monkeypatch.setattr("protonet.ops.blas.time.perf_counter", lambda: next(clock))
    assert square_product_gflops(size=100, repeats=3) == 2 * 100**3 / 0.25 / 1e9
