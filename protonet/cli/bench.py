"""The benchmark command."""

from __future__ import annotations

import click

from .group import cli


@cli.command()
@click.option("--threads", type=click.IntRange(1), multiple=True,
              help="BLAS/OpenMP threads, set in each worker's environment (repeatable) [default: 1 and 2].")
@click.option("--compare", type=click.Choice(["torch"]), default=None,
              help="Also time the same nets in PyTorch (NCHW and channels-last), when it is installed.")
@click.option("--repeats", type=click.IntRange(1), default=7, show_default=True,
              help="Timed blocks per workload; the median is reported.")
@click.option("--iterations", type=click.IntRange(1), default=None,
              help="Steps per timed block [default: per workload].")
@click.option("--memory-iterations", type=click.IntRange(1), default=2000, show_default=True,
              help="Training iterations of the lenet-rss workload.")
@click.option("--workloads", "workload_names", multiple=True, metavar="NAME[,NAME...]",
              help="Workloads to run (repeatable or comma-separated) [default: all]: lenet-train, "
                   "cifar10-quick-train, mlp-train, lenet-infer-256, lenet-infer-1, lenet-rss.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON here.")
@click.option("--profile", is_flag=True,
              help="Instead, time each layer of the protonet workloads (`protonet time` on their nets), with "
                   "the GFLOP/s of their products beside the BLAS's square-product rate.")
@click.option("--wait-idle", type=click.IntRange(0, 100), default=0, metavar="PERCENT",
              help="Start each worker only once the CPUs were this idle over 3 s (shared machines).")
def bench(threads: tuple[int, ...], compare: str | None, repeats: int, iterations: int | None,
          memory_iterations: int, workload_names: tuple[str, ...], json_out: str | None, profile: bool,
          wait_idle: int) -> None:
    """Time fixed workloads (LeNet, CIFAR-10 quick, an MLP) on synthetic data, optionally beside PyTorch."""
    import json

    from ..bench import ALL, WORKLOADS, format_profiles, format_table, run_benchmark, run_profiles
    from ..io import atomic_write

    names = [n.strip() for item in workload_names for n in item.split(",") if n.strip()]
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    if profile:
        if compare:
            raise click.UsageError("--profile times protonet's layers alone: leave out --compare")
        report = run_profiles(names or list(WORKLOADS), list(threads) or [1], iterations, log=log)
        click.echo(format_profiles(report))
    else:
        report = run_benchmark(names or list(ALL), list(threads) or [1, 2], compare, repeats, iterations,
                               memory_iterations, wait_idle, log=log)
        click.echo(format_table(report))
    if json_out:
        atomic_write(json_out, json.dumps(report, indent=1).encode())
        click.echo(f"wrote {json_out}")
