"""Pipeline verbs: `noisymix prepare` (finetune, toy, aggregate are added below it).

``prepare`` is the first stage of the NoisyMix reproduction DAG (Erichson et al.,
arXiv:2202.01263): it checks that a training set or an official benchmark release is present
(fetching it, checksummed, with ``--download``) and writes a small JSON marker that later rules
depend on, so a missing dataset fails once, early, with a message that says what to do.
"""

from __future__ import annotations

from pathlib import Path

import click


def prepare_dataset(name: str, root: str | Path | None = None, download: bool = False) -> dict:
    """Verify (and with ``download`` fetch) dataset or release ``name``; return its summary.

    Datasets (``noisymix.data.list_datasets()``) report train/test sizes and classes; releases
    (``noisymix.benchmarks.list_releases()``, e.g. ``cifar10-c``) report their folder.
    """
    from noisymix.benchmarks.releases import fetch_release, get_release, list_releases
    from noisymix.data import list_datasets, load_dataset
    from noisymix.data.registry import DatasetError, default_root

    root = Path(root) if root is not None else default_root()
    if name in list_datasets():
        train = load_dataset(name, "train", root, download=download)
        test = load_dataset(name, "test", root, download=download)
        source = str(getattr(train, "root", "") or root)
        if name == "digits":
            source = "sklearn.datasets.load_digits"
        return {"dataset": name, "kind": "dataset", "n_train": len(train), "n_test": len(test),
                "classes": list(train.classes), "source": source}
    if name in list_releases():
        release = get_release(name)
        folder = root / release.dirname
        if download:
            folder = fetch_release(name, root)
        elif not folder.is_dir():
            raise DatasetError(f"{name} not found in {folder}; run `noisymix prepare --dataset "
                               f"{name} --download` or extract it there by hand "
                               f"({release.page})")
        return {"dataset": name, "kind": "release", "n_train": None, "n_test": None,
                "classes": None, "source": str(folder)}
    raise ValueError(f"unknown dataset {name!r}; choose one of: "
                     f"{', '.join(list_datasets() + list_releases())}")


@click.command()
@click.option("--dataset", required=True,
              help="a dataset (digits, fashion-mnist, cifar10, ...) or release (cifar10-c, ...)")
@click.option("--data-root", default=None, help="dataset directory [env NOISYMIX_DATA or ./data]")
@click.option("--download/--no-download", default=False, show_default=True,
              help="fetch what is missing (checksums verified, resumable)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="marker JSON")
def prepare(dataset, data_root, download, out) -> None:
    """Verify (and with --download fetch) DATASET; write the marker OUT (JSON, atomically)."""
    from noisymix.io import write_json

    info = prepare_dataset(dataset, data_root, download)
    write_json(out, info)
    sizes = "" if info["n_train"] is None else f": {info['n_train']} train / {info['n_test']} test"
    click.echo(f"{dataset} ready ({info['source']}){sizes} → {out}")


COMMANDS = [prepare]
