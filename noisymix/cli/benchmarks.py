"""Benchmark verbs: `noisymix corrupt`, `noisymix perturb`, `noisymix fetch`."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from noisymix.errors import InputError, UsageError
from noisymix.cli.choices import DATASET
from noisymix.vocab import ALL_CORRUPTIONS, ALL_PERTURBATIONS, PRESETS


def _int(v: str):
    try:
        return int(v)
    except ValueError:
        return v  # reported below as not allowed


def _csv(value: str | None, allowed, what: str, cast=str):
    if not value:
        return None
    items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise click.BadParameter(f"unknown {what} {bad}; choose from {', '.join(map(str, allowed))}")
    return items


def _load_npy(path: str, flag: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{flag} {path} is not a readable .npy array ({e})") from e


def load_images(dataset: str | None, split: str, input_npy: str | None, labels_npy: str | None,
                data_root: str | None
                ) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """uint8 (N, H, W, 3) images, labels or None, and what they are (the manifest's
    ``source``), from a registered dataset or an .npy file."""
    if (dataset is None) == (input_npy is None):
        raise UsageError("give exactly one of --dataset or --input")
    if dataset is not None:
        if labels_npy is not None:
            raise UsageError("--labels goes with --input; a --dataset brings its own labels")
        from noisymix.data import ArrayDataset, load_dataset

        ds = load_dataset(dataset, split, data_root)
        if not isinstance(ds, ArrayDataset):
            raise UsageError(f"--dataset {dataset} is an image folder; use "
                             f"`noisymix corrupt --folder <its {split} folder>` (ImageNet-C "
                             f"layout) for ImageNet-style sets")
        return ds.images, ds.labels, {"dataset": dataset, "split": split}
    images = _load_npy(input_npy, "--input")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"--input {input_npy} holds {images.dtype} {images.shape}; expected "
                         f"uint8 (N, H, W, 3)")
    labels = None
    if labels_npy:
        labels = np.asarray(_load_npy(labels_npy, "--labels"))
        if labels.ndim != 1 or len(labels) != len(images):
            raise InputError(f"--labels {labels_npy} holds shape {labels.shape}; expected "
                             f"({len(images)},), one label per image of {input_npy}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"--labels {labels_npy} holds {labels.dtype} values; expected "
                             f"integer class indices")
        if labels.size and labels.min() < 0:
            raise InputError(f"--labels {labels_npy} holds negative labels ({labels.min()}); "
                             f"expected class indices >= 0")
    return images, labels, {"input": str(input_npy), "labels": labels_npy}


_input_options = [
    click.option("--dataset", default=None, type=DATASET, help="a registered dataset"),
    click.option("--split", default="test", show_default=True),
    click.option("--input", "input_npy", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="uint8 (N, H, W, 3) images as .npy"),
    click.option("--labels", "labels_npy", default=None,
                 type=click.Path(exists=True, dir_okay=False)),
    click.option("--data-root", default=None),
    click.option("--limit", type=click.IntRange(min=1), default=None,
                 help="only the first N images"),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
    click.option("--device", default="auto", show_default=True),
    click.option("--batch-size", type=click.IntRange(min=1), default=None),
    click.option("--progress/--no-progress", default=None),
    click.option("--force", is_flag=True,
                 help="--out holds a set built with other settings: remove the files this "
                      "verb writes there (no others) and rebuild it [default: refuse]"),
]


def _with_inputs(f):
    for opt in reversed(_input_options):
        f = opt(f)
    return f


def _progress(flag):
    from noisymix.progress import show_progress

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
            progress, force, folder, preset, corruptions, severities, out) -> None:
    """Build a -C benchmark in the official layout (CIFAR-10-C npy or ImageNet-C folders).

    --out gets manifest.json (settings, every file's sha256) last; rerunning the same command
    resumes, other settings are refused unless --force."""
    from noisymix.corruptions import SEVERITIES
    from noisymix.device import resolve_device

    names = _csv(corruptions, ALL_CORRUPTIONS, "corruption")
    sevs = _csv(severities, SEVERITIES, "severity", _int) or list(SEVERITIES)
    if folder is not None:
        if dataset is not None or input_npy is not None or labels_npy is not None:
            raise UsageError("--folder is the input (an ImageFolder tree); leave out "
                             "--dataset, --input and --labels")
        from noisymix.corruptions.writer import corrupt_image_folder

        corrupt_image_folder(folder, out, preset=preset, corruptions=names, severities=sevs,
                             seed=seed, device=resolve_device(device),
                             batch_size=batch_size or 32, progress=_progress(progress),
                             limit=limit, force=force)
        click.echo(f"wrote ImageNet-C layout under {out}")
        return
    from noisymix.corruptions.writer import corrupt_arrays

    images, labels, source = load_images(dataset, split, input_npy, labels_npy, data_root)
    paths = corrupt_arrays(images, out, preset, corruptions=names, severities=sevs, seed=seed,
                           device=resolve_device(device), batch_size=batch_size or 256,
                           labels=labels, progress=_progress(progress), limit=limit,
                           source=source, force=force)
    n = len(images) if limit is None else min(limit, len(images))
    n_written = len([p for p in paths if p != "labels"])
    click.echo(f"wrote {n_written} corruptions × {len(sevs)} severities of {n} images to {out}")


@click.command()
@_with_inputs
@click.option("--preset", type=click.Choice(PRESETS), default="cifar", show_default=True)
@click.option("--perturbations", default=None, help="comma-separated (default: the 10 test ones)")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def perturb(dataset, split, input_npy, labels_npy, data_root, limit, seed, device, batch_size,
            progress, force, preset, perturbations, out) -> None:
    """Build a -P benchmark: <name>.npy uint8 (N, frames, H, W, 3) sequences (CIFAR-10-P).

    --out gets manifest.json (settings, every file's sha256) last; rerunning the same command
    resumes, other settings are refused unless --force."""
    from noisymix.device import resolve_device
    from noisymix.perturbations import perturb_arrays

    names = _csv(perturbations, ALL_PERTURBATIONS, "perturbation")
    images, labels, source = load_images(dataset, split, input_npy, labels_npy, data_root)
    paths = perturb_arrays(images, out, preset, perturbations=names, seed=seed,
                           device=resolve_device(device), batch_size=batch_size, labels=labels,
                           progress=_progress(progress), limit=limit, source=source,
                           force=force)
    n = len(images) if limit is None else min(limit, len(images))
    n_written = len([p for p in paths if p != "labels"])
    click.echo(f"wrote {n_written} perturbations of {n} images to {out}")


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
