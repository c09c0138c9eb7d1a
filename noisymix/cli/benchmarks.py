"""Benchmark verbs: `noisymix corrupt`, `noisymix perturb`, `noisymix fetch`."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from noisymix.io import write_manifest
from noisymix.vocab import ALL_CORRUPTIONS, ALL_PERTURBATIONS, PRESETS


def _csv(value: str | None, allowed, what: str, cast=str):
    if not value:
        return None
    items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise click.BadParameter(f"unknown {what} {bad}; choose from {', '.join(map(str, allowed))}")
    return items


def load_images(dataset: str | None, split: str, input_npy: str | None, labels_npy: str | None,
                data_root: str | None, limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 (N, H, W, 3) images (+ labels) from a registered dataset or an .npy file."""
    if (dataset is None) == (input_npy is None):
        raise click.UsageError("give exactly one of --dataset or --input")
    if dataset is not None:
        from noisymix.data import ArrayDataset, load_dataset

        ds = load_dataset(dataset, split, data_root)
        if not isinstance(ds, ArrayDataset):
            raise click.UsageError(f"{dataset} is an image folder; use "
                                   f"`noisymix corrupt --folder` for ImageNet-style sets")
        images, labels = ds.images, ds.labels
    else:
        images = np.load(input_npy, mmap_mode="r")
        labels = np.load(labels_npy) if labels_npy else None
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise click.BadParameter(f"{input_npy} holds {images.dtype} {images.shape}; expected "
                                     f"uint8 (N, H, W, 3)", param_hint="--input")
    if limit is not None:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    return images, labels


_input_options = [
    click.option("--dataset", default=None, help="a registered dataset (e.g. digits)"),
    click.option("--split", default="test", show_default=True),
    click.option("--input", "input_npy", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="uint8 (N, H, W, 3) images as .npy"),
    click.option("--labels", "labels_npy", default=None, type=click.Path(exists=True, dir_okay=False)),
    click.option("--data-root", default=None),
    click.option("--limit", type=int, default=None, help="only the first N images"),
    click.option("--seed", default=0, show_default=True),
    click.option("--device", default="auto", show_default=True),
    click.option("--batch-size", type=int, default=None),
    click.option("--progress/--no-progress", default=None),
]


def _with_inputs(f):
    for opt in reversed(_input_options):
        f = opt(f)
    return f


def _progress(flag):
    from noisymix.train import show_progress

    return show_progress(flag)


@click.command()
@_with_inputs
@click.option("--folder", default=None, type=click.Path(exists=True, file_okay=False),
              help="an ImageFolder tree: writes <name>/<severity>/<class>/<file> instead")
@click.option("--preset", type=click.Choice(PRESETS), default="cifar", show_default=True)
@click.option("--corruptions", default=None, help="comma-separated subset (default: all 19)")
@click.option("--severities", default=None, help="comma-separated subset of 1..5")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def corrupt(dataset, split, input_npy, labels_npy, data_root, limit, seed, device, batch_size,
            progress, folder, preset, corruptions, severities, out) -> None:
    """Build a -C benchmark in the official layout (CIFAR-10-C npy or ImageNet-C folders)."""
    from noisymix.corruptions import SEVERITIES
    from noisymix.device import resolve_device

    names = _csv(corruptions, ALL_CORRUPTIONS, "corruption")
    sevs = _csv(severities, SEVERITIES, "severity", int) or list(SEVERITIES)
    dev = resolve_device(device)
    if folder is not None:
        from noisymix.corruptions.writer import corrupt_image_folder

        corrupt_image_folder(folder, out, preset=preset, corruptions=names, severities=sevs,
                             seed=seed, device=dev, progress=_progress(progress))
        click.echo(f"wrote ImageNet-C layout under {out}")
        return
    from noisymix.corruptions.writer import corrupt_arrays

    images, labels = load_images(dataset, split, input_npy, labels_npy, data_root, limit)
    paths = corrupt_arrays(images, out, preset, corruptions=names, severities=sevs, seed=seed,
                           device=dev, batch_size=batch_size or 256, labels=labels,
                           progress=_progress(progress))
    write_manifest(out, kind="corruptions", preset=preset, seed=seed, severities=sevs,
                   n_images=len(images))
    n_written = len([p for p in paths if p != "labels"])
    click.echo(f"wrote {n_written} corruptions × {len(sevs)} severities of {len(images)} "
               f"images to {out}")


@click.command()
@_with_inputs
@click.option("--preset", type=click.Choice(PRESETS), default="cifar", show_default=True)
@click.option("--perturbations", default=None, help="comma-separated (default: the 10 test ones)")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def perturb(dataset, split, input_npy, labels_npy, data_root, limit, seed, device, batch_size,
            progress, preset, perturbations, out) -> None:
    """Build a -P benchmark: <name>.npy uint8 (N, frames, H, W, 3) sequences (CIFAR-10-P)."""
    from noisymix.device import resolve_device
    from noisymix.perturbations import perturb_arrays

    names = _csv(perturbations, ALL_PERTURBATIONS, "perturbation")
    images, labels = load_images(dataset, split, input_npy, labels_npy, data_root, limit)
    paths = perturb_arrays(images, out, preset, perturbations=names, seed=seed,
                           device=resolve_device(device), batch_size=batch_size, labels=labels,
                           progress=_progress(progress))
    write_manifest(out, kind="perturbations", preset=preset, seed=seed, n_images=len(images))
    n_written = len([p for p in paths if p != "labels"])
    click.echo(f"wrote {n_written} perturbations of {len(images)} images to {out}")


@click.command()
@click.argument("release")
@click.option("--data-root", default=None, help="where releases live [env NOISYMIX_DATA or ./data]")
@click.option("--keep-archives", is_flag=True)
def fetch(release, data_root, keep_archives) -> None:
    """Download, verify (published checksums) and safely extract an official release."""
    from noisymix.benchmarks.releases import fetch_release
    from noisymix.data.registry import default_root

    path = fetch_release(release, Path(data_root) if data_root else default_root(),
                         keep_archives=keep_archives)
    click.echo(f"{release} ready at {path}")


COMMANDS = [corrupt, perturb, fetch]
