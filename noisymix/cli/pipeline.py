"""Pipeline verbs: `noisymix prepare` (finetune, toy, aggregate are added below it).

``prepare`` is the first stage of the NoisyMix reproduction DAG (Erichson et al.,
arXiv:2202.01263): it checks that a training set or an official benchmark release is present
(fetching it, checksummed, with ``--download``) and writes a small JSON marker that later rules
depend on, so a missing dataset fails once, early, with a message that says what to do.
"""

from __future__ import annotations

from pathlib import Path

import click

from noisymix.cli.choices import DATASET_OR_RELEASE


def _fetch_from_mirror(name: str, root: Path, mirror: Path) -> None:
    """Put dataset ``name`` under ``root`` from a local mirror (tests, smoke runs, air-gapped
    sites): each file is downloaded, checksum-verified and, if an archive, safely extracted
    where the official download would put it."""
    from noisymix.benchmarks.releases import mirror_files
    from noisymix.data.download import download, extract

    dest = {"cifar10": root / "cifar10", "cifar100": root / "cifar100", "imagenet": root,
            "fashion-mnist": root / "fashion-mnist"}.get(name)
    if dest is None:
        return  # embedded (digits): nothing to fetch
    for f in mirror_files(mirror, name):
        marker = dest / f".noisymix-complete-{f.filename}"
        if marker.exists():
            continue
        if name == "fashion-mnist":  # raw .gz files, read as they are
            download(f.url, dest / f.filename, sha256=f.sha256, md5=f.md5, expected_size=f.size,
                     progress=False)
        else:
            archive = root / "downloads" / name / f.filename
            download(f.url, archive, sha256=f.sha256, md5=f.md5, expected_size=f.size,
                     progress=False)
            extract(archive, dest)
            archive.unlink()
        marker.write_text(f"{f.sha256 or f.md5 or ''}\n")


def _dataset_origin(name: str, root: Path, download: bool) -> tuple[str, str]:
    """(source, folder) of dataset ``name`` as it will be read: ``source`` is where its bytes
    come from (the official URL when this call downloads them, the Debian package folder, or
    the local folder that already holds them), ``folder`` where they lie ("" if embedded)."""
    from noisymix.data import registry as r

    if name.startswith("digits"):
        return "sklearn.datasets.load_digits, embedded", ""
    if name in r.CIFAR_FILES:
        spec = r.CIFAR_FILES[name]
        folder = root / name / spec["folder"]
        return (spec["url"] if download and not folder.is_dir() else str(folder)), str(folder)
    if name == "fashion-mnist":
        local = root / "fashion-mnist"
        if all((local / f).exists() for f in r.FASHION_MNIST_FILES):
            return str(local), str(local)
        if all((r.FASHION_MNIST_SYSTEM_DIR / f).exists() for f in r.FASHION_MNIST_FILES):
            system = str(r.FASHION_MNIST_SYSTEM_DIR)
            return f"{system} (Debian package dataset-fashion-mnist)", system
        return (r.FASHION_MNIST_URL if download else str(local)), str(local)
    return "", ""  # imagenet: placed by hand; its folder is known once it is found


def prepare_dataset(name: str, root: str | Path | None = None, download: bool = False,
                    mirror: str | Path | None = None) -> dict:
    """Verify (and with ``download`` fetch) dataset or release ``name``; return its summary.

    Datasets (``noisymix.data.list_datasets()``) report train/test sizes and classes; releases
    (``noisymix.benchmarks.list_releases()``, e.g. ``cifar10-c``) report their folder.
    ``source`` names where the data came from: the official URL (or release page) when this
    call downloaded it, the mirror index with ``mirror``, else the folder that already held it;
    ``folder`` is where it lies. ``mirror`` (a ``mirror.json`` of `noisymix fixtures`) replaces
    the official URLs and checksums with the mirror's, through the same download/verify/extract
    code.
    """
    from noisymix.benchmarks.releases import (fetch_release, get_release, is_complete,
                                              list_releases, with_mirror)
    from noisymix.data import list_datasets, load_dataset
    from noisymix.data.registry import DatasetError, default_root

    root = Path(root) if root is not None else default_root()
    if mirror is not None and not download:
        raise ValueError("--mirror needs --download (the mirror replaces the official URLs)")
    if name in list_datasets():
        if mirror is not None:
            _fetch_from_mirror(name, root, Path(mirror))
            download = False
        source, folder = _dataset_origin(name, root, download)
        train = load_dataset(name, "train", root, download=download)
        test = load_dataset(name, "test", root, download=download)
        if getattr(train, "root", None) is not None:  # an image folder: the tree it read
            folder = str(train.root.parent)
            source = source or folder
        if mirror is not None and not name.startswith("digits"):
            source = f"mirror {mirror}"
        return {"dataset": name, "kind": "dataset", "n_train": len(train), "n_test": len(test),
                "classes": list(train.classes), "source": source, "folder": folder}
    if name in list_releases():
        release = get_release(name)
        folder = root / release.dirname
        if mirror is not None:
            source = f"mirror {mirror}"
        elif download and not is_complete(release, root):
            source = release.files[0].url if len(release.files) == 1 else release.page
        else:
            source = str(folder)
        if download:
            rel = with_mirror(release, mirror) if mirror is not None else None
            folder = fetch_release(name, root, release=rel, progress=False)
        elif not folder.is_dir():
            raise DatasetError(f"{name} not found in {folder}; run `noisymix prepare --dataset "
                               f"{name} --download` or extract it there by hand "
                               f"({release.page})")
        return {"dataset": name, "kind": "release", "n_train": None, "n_test": None,
                "classes": None, "source": source, "folder": str(folder)}
    raise ValueError(f"unknown dataset {name!r}; choose one of: "
                     f"{', '.join(list_datasets() + list_releases())}")


@click.command()
@click.option("--dataset", required=True, type=DATASET_OR_RELEASE,
              help="a training set or an official benchmark release")
@click.option("--data-root", default=None, help="dataset directory [env NOISYMIX_DATA or ./data]")
@click.option("--download/--no-download", default=False, show_default=True,
              help="fetch what is missing (checksums verified, resumable)")
@click.option("--mirror", default=None, type=click.Path(dir_okay=False, exists=True),
              help="mirror.json of `noisymix fixtures`: download from it instead of the "
                   "official URLs (same verification)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="marker JSON")
def prepare(dataset, data_root, download, mirror, out) -> None:
    """Verify (and with --download fetch) DATASET; write the marker OUT (JSON, atomically)."""
    from noisymix.io import write_json

    info = prepare_dataset(dataset, data_root, download, mirror)
    write_json(out, info)
    sizes = "" if info["n_train"] is None else f": {info['n_train']} train / {info['n_test']} test"
    where = f" in {info['folder']}" if info["folder"] else ""
    click.echo(f"{dataset} ready{where} (source: {info['source']}){sizes} → {out}")


@click.command(name="dvc-yaml")
@click.option("--params", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False, exists=True), help="the experiment settings")
@click.option("--check", is_flag=True,
              help="write nothing; exit 1 naming every dvc.yaml that differs from the plan")
def dvc_yaml(params, check) -> None:
    """Write (or --check) the generated dvc.yaml of every profile and scale.

    Each lives in its profile's working directory: ./dvc.yaml (quick), pipelines/<profile>/,
    smoke/<profile>/ (scale=smoke); each
    holds the plan's jobs as DVC stages with Snakemake's exact commands.
    """
    from noisymix.io import write_text
    from noisymix.pipeline.dvc import generate

    root = Path(params).resolve().parent
    stale = []
    for rel, text in generate(params).items():
        path = root / rel
        if path.exists() and path.read_text() == text:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text)
    if check and stale:
        raise click.ClickException(f"stale: {', '.join(stale)}; run `noisymix dvc-yaml`")
    click.echo(f"{'stale' if check else 'written'}: {', '.join(stale) or 'none'}")


COMMANDS = [prepare, dvc_yaml]
