"""Dataset commands: get, convert, mean, info."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

from .group import cli

LABELS = click.option("--labels", default="", metavar="FILE",
                      help="The labels file of an IDX images source (default: found beside it).")


@cli.group()
def data() -> None:
    """Datasets: fetch and prepare."""


@data.command("get")
@click.argument("name", type=click.Choice(["fashion-mnist", "mnist", "cifar10"]))
@click.option("--dest", type=click.Path(file_okay=False), default=None,
              help="Folder to put the files in (default: $PROTONET_DATA/NAME or ./data/NAME).")
@click.option("--from", "local", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="cifar10: a copy of cifar-10-binary.tar.gz to use instead of downloading (md5 checked).")
def data_get(name: str, dest: str | None, local: str | None) -> None:
    """Get a dataset (a local copy where one exists, else a download), checksums verified. cifar10 is
    then made into LMDBs, a mean.binaryproto and IDX files, as Caffe's examples/cifar10 does."""
    from ..data import get_dataset

    click.echo(f"{name}: {get_dataset(name, dest, log=click.echo, local=local)}")


@data.command("convert")
@click.argument("source")
@click.argument("dest", type=click.Path(exists=False))
@LABELS
@click.option("--resize", nargs=2, type=click.IntRange(1), default=None, metavar="H W",
              help="Image lists: resize every image to H x W (bilinear).")
@click.option("--gray", is_flag=True, help="Image lists: read images as one grey channel.")
@click.option("--shuffle", is_flag=True, help="Image lists: write the images in a random order (--seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="The seed of --shuffle.")
@click.option("--encoded", is_flag=True, help="Store images encoded (the PNG/JPEG file, else as PNG).")
@click.option("--root", default="", metavar="FOLDER", help="Image lists: the folder the paths are relative to.")
def data_convert(source: str, dest: str, labels: str, resize: tuple[int, int] | None, gray: bool, shuffle: bool,
                 seed: int, encoded: bool, root: str) -> None:
    """Write SOURCE (a database, an IDX file, an .npz, a dataset such as mnist:train, or an image list of
    `path label` lines) into a new LMDB at DEST, as Caffe's convert_mnist_data / convert_imageset do."""
    from ..data.tools import ImageOptions, convert, open_records

    options = ImageOptions(resize=tuple(resize) if resize else None, gray=gray, shuffle=shuffle, encoded=encoded,
                           root=root, seed=seed)
    stream = open_records(source, labels=labels, images=options)
    with _bar(stream.count, "convert") as progress:
        summary = convert(stream, dest, progress=progress)
    click.echo(f"{dest}: wrote {summary.describe()} from {stream.source} ({stream.kind}) in {summary.seconds:.1f} s")


@data.command("mean")
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False))
@LABELS
def data_mean(source: str, out: str, labels: str) -> None:
    """Write the mean image of SOURCE's records to OUT (.binaryproto), as Caffe's compute_image_mean."""
    from ..data.tools import mean, open_records

    stream = open_records(source, labels=labels)
    with _bar(stream.count, "mean") as progress:
        summary, average = mean(stream, out, progress=progress)
    for channel, value in enumerate(average.reshape(len(average), -1).mean(axis=1)):
        click.echo(f"mean_value channel [{channel}]: {value:.6g}")
    click.echo(f"{out}: the mean of {summary.describe()} in {summary.seconds:.1f} s")


@data.command("info")
@click.argument("source")
@LABELS
def data_info(source: str, labels: str) -> None:
    """Count, shape, dtype, label histogram and first keys of SOURCE's records."""
    from ..data.tools import info, open_records

    stream = open_records(source, labels=labels)
    with _bar(stream.count, "info") as progress:
        summary = info(stream, progress=progress)
    histogram = ", ".join(f"{label}: {count}" for label, count in sorted(summary.labels.items()))
    click.echo(f"source: {stream.source} ({stream.kind})")
    click.echo(f"records: {summary.count}, each {summary.record}")
    click.echo(f"labels: {histogram}")
    click.echo(f"first keys: {', '.join(summary.first_keys)}")


@contextlib.contextmanager
def _bar(total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A tqdm progress bar on stderr (shown on a terminal only)."""
    from tqdm import tqdm

    with tqdm(total=total, unit=" records", desc=what, disable=None, leave=False) as bar:
        yield bar.update
