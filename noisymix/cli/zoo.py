"""``noisymix import`` and ``noisymix zoo``: public checkpoints as run folders."""

from __future__ import annotations

import click

from noisymix.zoo import ZOO


@click.command("import")
@click.option("--entry", type=click.Choice(list(ZOO)), default=None,
              help="a published checkpoint (see `noisymix zoo`)")
@click.option("--file", "file", type=click.Path(dir_okay=False), default=None,
              help="a state-dict file (torch.save of tensors; read with weights_only)")
@click.option("--arch", default=None, help="noisymix arch of --file [default: the entry's]")
@click.option("--method", default=None, help="row label in the tables [default: the entry's]")
@click.option("--source", default=None, help="where --file was published (recorded)")
@click.option("--sha256", default=None, help="expected sha256 of the file")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="outputs of the net [default: --dataset's class count, else 1000]")
@click.option("--width", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="channel multiplier (1 for published models; fixtures)")
@click.option("--dataset", default=None,
              help="record this dataset's class list and input size (e.g. imagenet)")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="where --dataset lies [default: $NOISYMIX_DATA or ./data]")
@click.option("--mirror", type=click.Path(dir_okay=False), default=None,
              help="fixture mirror index (mirror.json): the entry's file and sha256 from there")
@click.option("--progress/--no-progress", default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="run folder")
def import_(entry, file, arch, method, source, sha256, num_classes, width, dataset, data_root,
            mirror, progress, out) -> None:
    """Turn a public checkpoint into a run folder (model.safetensors + model.json)."""
    from noisymix.importer import import_checkpoint

    path = import_checkpoint(out, entry=entry, file=file, arch=arch, method=method,
                             source=source, sha256=sha256, num_classes=num_classes,
                             width=width, dataset=dataset, data_root=data_root, mirror=mirror,
                             progress=progress)
    click.echo(f"wrote {path}")


@click.command("zoo")
def zoo() -> None:
    """List the importable public checkpoints with their sources and checksum status."""
    for e in ZOO.values():
        click.echo(f"{e.name:28s} {e.arch:9s} {e.method:12s} {e.checksum_status}")
        click.echo(f"{'':28s} {e.source}{'  (browser download: --file)' if e.manual else ''}")


COMMANDS = [import_, zoo]
