"""`noisymix fixtures`: write the offline mirror of tiny fixture datasets and releases.

The smoke-scale pipeline profiles "download" every dataset and benchmark release from this
mirror (``file://`` URLs) through the real download → checksum → safe-extract code, so they
run end to end in CI with no network (``noisymix.fixtures``).
"""

from __future__ import annotations

import click

from noisymix.fixtures import FIXTURE_NAMES


@click.command()
@click.option("--name", "names", multiple=True, type=click.Choice(FIXTURE_NAMES),
              help="dataset or release to write (repeatable) [default: all]")
@click.option("--seed", default=0, show_default=True, type=int, help="image generator seed")
@click.option("--per-class", default=2, show_default=True, type=click.IntRange(min=1),
              help="training images per class (per CIFAR-10 batch)")
@click.option("--image-size", default=32, show_default=True, type=click.IntRange(min=8),
              help="side of the ImageNet-style images, pixels")
@click.option("--zoo-width", default=0.0625, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="channel multiplier of the zoo-* fixture weight files")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="mirror folder (files/ and mirror.json)")
def fixtures(names, seed, per_class, image_size, zoo_width, out) -> None:
    """Write tiny datasets / releases in their official layouts and OUT/mirror.json."""
    from noisymix.fixtures import write_fixtures

    path = write_fixtures(out, names or FIXTURE_NAMES, seed=seed, per_class=per_class,
                          image_size=image_size, zoo_width=zoo_width)
    click.echo(str(path))


COMMANDS = [fixtures]
