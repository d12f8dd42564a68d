"""The model zoo commands: list, show, verify, pack, install, remove."""

from __future__ import annotations

import click

from .group import cli


@cli.group()
def zoo() -> None:
    """The model zoo ($PROTONET_ZOO or ./zoo): list, show, verify, pack, install and remove entries."""


@zoo.command("list")
def zoo_list() -> None:
    """List the entries: name, task, dataset, main metric, weights size."""
    from ..zoo import entries, entry_row

    rows = [entry_row(*item) for item in entries()]
    click.echo(f"{'name':<24} {'task':<16} {'dataset':<16} {'metric':<22} {'weights':>9}")
    for row in rows:
        click.echo(f"{row[0]:<24} {row[1]:<16} {row[2]:<16} {row[3]:<22} {row[4]:>9}")
    if not rows:
        click.echo("(no entries; make one with 'protonet deploy' or 'protonet zoo install')")


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

    names = [name] if name else [item[0] for item in entries()]
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
