"""The model zoo commands: list, show, verify, pack, install, import, pull, remove."""

from __future__ import annotations

import click

from .group import cli


@cli.group()
def zoo() -> None:
    """The model zoo ($PROTONET_ZOO or ./zoo): list, show, verify, pack, install, import, pull, remove."""


INDEX_OPTION = click.option("--index", "indexes", multiple=True, metavar="FILE|URL",
                            help="Another zoo index to read, after the package's and $PROTONET_ZOO_INDEX's "
                                 "(repeatable).")


@zoo.command("list")
@click.option("--available", is_flag=True, help="List the models of the zoo index that 'zoo pull' can fetch.")
@INDEX_OPTION
def zoo_list(available: bool, indexes: tuple[str, ...]) -> None:
    """List the entries: name, task, dataset, main metric, weights size ('*': shipped with protonet)."""
    from ..zoo import entries, entry_row

    if available:
        list_index(indexes)
        return
    rows = [entry_row(*item) for item in entries()]
    click.echo(f"{'name':<24} {'task':<16} {'dataset':<16} {'metric':<22} {'weights':>9}")
    for row in rows:
        click.echo(f"{row[0]:<24} {row[1]:<16} {row[2]:<16} {row[3]:<22} {row[4]:>9}")
    if not rows:
        click.echo("(no entries; make one with 'protonet deploy' or 'protonet zoo install')")
    elif any(row[0].endswith("*") for row in rows):
        click.echo("* shipped with protonet (an entry of the same name in the zoo folder takes its place)")


def list_index(indexes: tuple[str, ...]) -> None:
    from ..zoo import entries, human_size
    from ..zoo_index import load_index

    installed = {folder.name for folder, _, _ in entries()}
    models = load_index(indexes)
    click.echo(f"{'name':<24} {'size':>9}  {'metrics':<22} {'license':<14} {'installed':<9} description")
    for item in models.values():
        metrics = ", ".join(f"{k}={v}" for k, v in item.metrics.items()) or "-"
        click.echo(f"{item.name:<24} {human_size(item.size):>9}  {metrics:<22} {item.license or '-':<14} "
                   f"{'yes' if item.name in installed else 'no':<9} {item.description}")
    if not models:
        click.echo("(the index lists no models; add one with --index FILE|URL or $PROTONET_ZOO_INDEX)")


@zoo.command("pull")
@click.argument("name")
@INDEX_OPTION
@click.option("--force", is_flag=True, help="Replace an existing entry (once the new one has validated).")
def zoo_pull(name: str, indexes: tuple[str, ...], force: bool) -> None:
    """Download model NAME of the zoo index, check its size and sha256, and install it."""
    from ..zoo_index import pull

    pull(name, index=indexes, force=force, log=click.echo)


@zoo.command("show")
@click.argument("name")
def zoo_show(name: str) -> None:
    """Print an entry's metadata and check its weights' sha256 (OK or MISMATCH)."""
    import yaml

    from ..errors import WeightsError
    from ..zoo import check_weights, entry, read_meta

    folder, _ = entry(name)
    meta = read_meta(folder)
    click.echo(f"folder: {folder}")
    click.echo(yaml.safe_dump(meta, sort_keys=False).rstrip())
    matches, actual = check_weights(folder, meta)
    click.echo(f"weights sha256: {'OK' if matches else f'MISMATCH (found {actual})'}")
    if not matches:
        raise WeightsError("weights do not match the metadata's sha256",
                           file=str(folder / meta["weights"]["file"]),
                           hint="the entry is damaged or altered; install or deploy it again")


@zoo.command("pack")
@click.argument("name")
@click.argument("out", required=False, type=click.Path(dir_okay=False))
def zoo_pack(name: str, out: str | None) -> None:
    """Write entry NAME as a .tar.gz [default: NAME.tar.gz] to share; prints its sha256."""
    from ..zoo import pack

    path, digest = pack(name, out)
    click.echo(f"wrote {path}\nsha256 {digest}")


@zoo.command("install")
@click.argument("source")
@click.option("--sha256", "digest", required=True, metavar="HEX",
              help="The archive's published sha256; checked before anything is unpacked.")
@click.option("--name", default=None, help="Install under this name [default: the archive's folder name].")
@click.option("--force", is_flag=True, help="Replace an existing entry (once the new one has validated).")
def zoo_install(source: str, digest: str, name: str | None, force: bool) -> None:
    """Install an entry from a .tar.gz file or an https:// URL, verified and safely extracted."""
    from ..zoo import install

    install(source, digest, name=name, force=force, log=click.echo)


@zoo.command("verify")
@click.argument("name", required=False)
def zoo_verify(name: str | None) -> None:
    """Check an entry (or every entry): files, weights sha256, the deploy net loads them and runs."""
    from ..errors import ProtonetError
    from ..zoo import entries, verify

    names = [name] if name else [item[0].name for item in entries()]
    failed = []
    for each in names:
        try:
            verify(each)
            click.echo(f"{each}: OK")
        except ProtonetError as exc:
            click.echo(f"{each}: FAILED: {exc}")
            failed.append((each, exc))
    if len(failed) == 1 and name:
        raise failed[0][1]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(names)} entries failed to verify")


@zoo.command("remove")
@click.argument("name")
def zoo_remove(name: str) -> None:
    """Delete entry NAME from the zoo."""
    from ..zoo import remove

    click.echo(f"removed {remove(name)}")


def parse_shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """'C,H,W' -> (C, H, W) of positive integers."""
    if value is None:
        return None
    try:
        shape = tuple(int(part) for part in value.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise click.BadParameter(f"'{value}' is not C,H,W (three positive integers, e.g. 3,32,32)")
    return shape


@zoo.command("import")
@click.option("--model", required=True, help="The net: a deploy net or a train_val net (prototxt or YAML, V0-V2).")
@click.option("--weights", required=True, help="Its trained weights (.caffemodel, V1 or V2, or .npz).")
@click.option("--name", required=True, help="Name of the zoo entry.")
@click.option("--labels", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Class names, one a line (e.g. Caffe's synset_words.txt).")
@click.option("--description", default="", help="One line saying what the model is.")
@click.option("--optimize", is_flag=True,
              help="Fold BatchNorm and Scale into the layers before them, drop Dropout and Split layers.")
@click.option("--input-shape", callback=parse_shape, default=None, metavar="C,H,W",
              help="The records' shape, when the train_val's data source is not here to read it from.")
@click.option("--mean-file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Mean image (.binaryproto) to subtract, over the TEST data layer's mean.")
@click.option("--mean-value", multiple=True, type=float, help="Mean per channel (repeat, in BGR order).")
@click.option("--scale", type=float, default=None, help="Multiply inputs by this after the mean, e.g. 0.00390625.")
@click.option("--force", is_flag=True, help="Replace an existing entry of that name.")
def zoo_import(model: str, weights: str, name: str, labels: str | None, description: str, optimize: bool,
               input_shape: tuple[int, ...] | None, mean_file: str | None, mean_value: tuple[float, ...],
               scale: float | None, force: bool) -> None:
    """Make a zoo entry of a model trained elsewhere (Caffe): the deploy net, the weights, and the TEST data
    layer's transform (scale, mean, crop) as the input transform predict applies."""
    from ..deploy import import_model
    from ..proto import pb

    transform = pb.TransformationParameter(mean_value=mean_value)
    if mean_file:
        transform.mean_file = mean_file
    if scale is not None:
        transform.scale = scale
    folder = import_model(model, weights, name, labels=labels, description=description, optimize=optimize,
                          input_shape=input_shape, transform=transform, force=force)
    click.echo(f"imported {name} to {folder}")
