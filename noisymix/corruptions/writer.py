"""Write corrupted test sets in the official on-disk layouts (CIFAR-10-C, ImageNet-C).

Hendrycks & Dietterich, arXiv:1903.12261; layouts as released by hendrycks/robustness
(``make_cifar_c.py``: ``<corruption>.npy`` uint8 (5·N, H, W, 3), severity 1 block first, and
``labels.npy``; ``make_imagenet_c.py``: ``<corruption>/<severity>/<wnid>/<file>``, JPEG quality 85).

Every output is written under a hidden temporary name (``noisymix.io.atomic_path``) and renamed
when complete, so an interrupted run never leaves a partial file that looks finished. The folder
describes itself (``noisymix.manifest``): the run's settings are recorded before any output and
``manifest.json`` (settings + every file's size and sha256) is written last. Rerunning with the
same settings skips the finished files; other settings are refused unless ``force``, which
removes the files this writer owns (never others) and rebuilds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from noisymix import manifest as mf
from noisymix.corruptions.base import SEVERITIES, corrupt, get_corruption
from noisymix.errors import InputError, UsageError
from noisymix.io import atomic_path, held_folder
from noisymix.progress import show_progress
from noisymix.vocab import ALL_CORRUPTIONS, PRESETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
JPEG_QUALITY = 85  # make_imagenet_c.py: Image.save(..., quality=85, optimize=True)


def _check_args(corruptions, severities, preset) -> tuple[list[str], list[int]]:
    if preset not in PRESETS:
        raise UsageError(f"--preset {preset!r}: choose from {', '.join(PRESETS)}")
    names = list(ALL_CORRUPTIONS if corruptions is None else corruptions)
    for n in names:
        get_corruption(n)  # raises on an unknown or unregistered name
    if not names or len(set(names)) != len(names):
        raise UsageError(f"--corruptions {','.join(names)}: give each name once, at least one")
    # written and recorded in canonical order, so the order of --corruptions changes nothing
    names = [c for c in ALL_CORRUPTIONS if c in names] + [c for c in names
                                                          if c not in ALL_CORRUPTIONS]
    sevs = [int(s) for s in severities]
    if not sevs or any(s not in SEVERITIES for s in sevs) or len(set(sevs)) != len(sevs):
        raise UsageError(f"--severities {','.join(map(str, severities))}: give a non-empty "
                         f"subset of 1..5, each once")
    return names, sevs


def _limited(images, labels, limit: int | None):
    """The first ``limit`` images (and labels); ``limit`` None: all."""
    if limit is None:
        return images, labels
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise UsageError(f"--limit {limit!r}: give a positive number of images")
    return images[:limit], (labels[:limit] if labels is not None else None)


def array_source(source: dict | None, images: np.ndarray, labels) -> dict:
    """What the images are (``source``: e.g. dataset and split, or the input file) plus the
    sha256 of their bytes and of the labels (as int64), for the manifest."""
    lab = None if labels is None else np.ascontiguousarray(np.asarray(labels), dtype=np.int64)
    return {**(source or {}), "sha256": mf.array_sha256(images),
            "labels_sha256": None if lab is None else mf.array_sha256(lab)}


def owned_arrays(names: Sequence[str]) -> Callable[[str], bool]:
    """The files an array writer of ``names`` owns: ``<name>.npy`` and ``labels.npy``."""
    mine = {f"{n}.npy" for n in names} | {"labels.npy"}
    return lambda rel: rel in mine


def _show_progress(progress: bool) -> bool:
    return bool(progress) and show_progress(None)


def label_array(labels: Sequence[int] | np.ndarray, repeats: int) -> np.ndarray:
    """Labels tiled once per severity block, uint8 as in the CIFAR-10/100-C releases.

    Labels that do not fit in uint8 (more than 256 classes) are stored as int64 instead.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise UsageError("labels must be a 1-D integer array")
    if lab.size and lab.min() < 0:
        raise UsageError(f"labels must be class indices >= 0, found {lab.min()}")
    dtype = np.uint8 if lab.size == 0 or lab.max() <= 255 else np.int64
    return np.tile(lab.astype(dtype), repeats)


def _complete(path: Path, shape: tuple[int, ...], dtype) -> bool:
    """True if ``path`` is a finished array of this shape and dtype.

    Called only in a folder whose recorded settings match this run's, so anything else (an
    unreadable, truncated or reshaped file: damaged since) is rebuilt."""
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError):
        return False
    return arr.shape == shape and arr.dtype == np.dtype(dtype)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save would
        np.save(f, arr)                                    # append ".npy" to a name


def corrupt_arrays(
    images: np.ndarray,
    out_dir: str | os.PathLike,
    preset: str,
    corruptions: Iterable[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    labels: Sequence[int] | np.ndarray | None = None,
    progress: bool = True,
    *,
    limit: int | None = None,
    source: dict | None = None,
    force: bool = False,
) -> dict[str, Path]:
    """Write ``out_dir/<corruption>.npy`` (CIFAR-10-C layout) for uint8 images (N, H, W, 3).

    Each file is uint8 (len(severities)·N, H, W, 3): one block of N images per severity, in the
    order given (1..5 by default: severity 1 first, as released). ``images`` may be a memmap;
    only ``batch_size`` images are in memory at a time. Image i of every block uses seed index
    i, so any batch size or device gives the same random draws. ``labels`` (N,), if given, go to
    ``out_dir/labels.npy`` tiled per severity. ``limit``: only the first ``limit`` images.

    ``out_dir/manifest.json`` records the settings (``source``: what the images are, e.g.
    ``{"dataset": "digits", "split": "test"}``; their sha256 is added) and every file's
    checksum. A rerun with the same settings skips finished files; with other settings it
    raises ``UsageError`` unless ``force`` (then the folder's -C files are rebuilt). Returns
    name → path.
    """
    names, sevs = _check_args(corruptions, severities, preset)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise UsageError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise UsageError(f"{len(labels)} labels for {len(images)} images")
    images, labels = _limited(images, labels, limit)
    n = images.shape[0]
    if n == 0:
        raise UsageError("no images to corrupt (an empty input)")
    lab = label_array(labels, len(sevs)) if labels is not None else None
    out = Path(out_dir)
    settings = mf.generator_settings(
        "corruptions", "cifar", names, n, array_source(source, images, labels), preset=preset,
        seed=int(seed), limit=limit, severities=sevs)
    with held_folder(out):  # one writer at a time
        previous = mf.prepare_output(out, settings, owned_arrays(ALL_CORRUPTIONS), force)
        shape = (len(sevs) * n, *images.shape[1:])
        written: dict[str, Path] = {}
        wrote = False

        if lab is not None:
            path = out / "labels.npy"
            if not _complete(path, lab.shape, lab.dtype):
                _save_npy(path, lab)
                wrote = True
            written["labels"] = path

        todo = [nm for nm in names if not _complete(out / f"{nm}.npy", shape, np.uint8)]
        bar = tqdm(
            total=len(todo) * len(sevs) * n, unit="img", disable=not _show_progress(progress),
            desc="corrupt",
        )
        for nm in names:
            path = out / f"{nm}.npy"
            written[nm] = path
            if nm not in todo:
                continue
            bar.set_postfix_str(nm)
            with atomic_path(path) as tmp:  # hidden .<name>.npy.<random>.tmp until whole
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                for block, sev in enumerate(sevs):
                    for start in range(0, n, batch_size):
                        stop = min(start + batch_size, n)
                        # a writable copy (memmaps are read-only)
                        batch = np.array(images[start:stop])
                        y = corrupt(batch, nm, sev, preset, seed, range(start, stop), device)
                        arr[block * n + start : block * n + stop] = y.cpu().numpy()
                        bar.update(stop - start)
                arr.flush()
                del arr
            wrote = True
        bar.close()
        mf.finish(out, settings, previous, wrote, owned_arrays(ALL_CORRUPTIONS))
    return written


def list_image_files(root: str | os.PathLike) -> list[tuple[str, str]]:
    """Sorted (class, file name) pairs of an ImageFolder tree ``root/<class>/<file>``."""
    root = Path(root)
    files = []
    for cls in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "."):
        for f in sorted((root / cls).iterdir()):
            if f.is_file() and f.name[0] != "." and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append((cls, f.name))
    if not files:
        raise InputError(f"no images found under {root}/<class>/; give an ImageFolder tree "
                         f"(one folder of images per class)")
    return files


def owned_folders(names: Sequence[str]) -> Callable[[str], bool]:
    """The files a folder writer of ``names`` owns: ``<name>/<severity>/<class>/<image>``."""
    names, sevs = set(names), {str(s) for s in SEVERITIES}

    def owned(rel: str) -> bool:
        parts = rel.split("/")
        return (len(parts) == 4 and parts[0] in names and parts[1] in sevs
                and os.path.splitext(parts[3])[1].lower() in (".jpg", ".jpeg", ".png"))

    return owned


def _out_name(name: str, image_format: str) -> str:
    stem, suffix = os.path.splitext(name)
    if image_format == "png":
        return stem + ".png"
    # JPEG: keep the file name as released (ILSVRC2012_val_*.JPEG) when it already is one.
    return name if suffix.lower() in (".jpg", ".jpeg") else stem + ".jpg"


def _save_image(arr: np.ndarray, path: Path, image_format: str) -> None:
    img = Image.fromarray(arr)
    with atomic_path(path) as tmp:  # hidden .<file>.<random>.tmp until whole
        if image_format == "png":
            img.save(tmp, format="PNG")
        else:
            img.save(tmp, format="JPEG", quality=JPEG_QUALITY, optimize=True)


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"{path} is not a readable image ({e}); remove or replace it") from e


def corrupt_image_folder(
    in_root: str | os.PathLike,
    out_root: str | os.PathLike,
    preset: str = "imagenet",
    corruptions: Iterable[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    image_format: str = "jpeg",
    progress: bool = True,
    *,
    limit: int | None = None,
    force: bool = False,
) -> Path:
    """Write ``out_root/<corruption>/<severity>/<class>/<file>`` (ImageNet-C layout).

    Reads ``in_root/<class>/<file>`` with PIL (converted to RGB, size kept: no resize or
    crop), corrupts consecutive same-size images in batches, and saves JPEG (quality 85, as
    released; the name is kept when it is already a JPEG name) or PNG (lossless) under the
    same stem. The seed index of an image is its position in the sorted file list, so results
    do not depend on batching. ``limit``: only the first ``limit`` files of that list.

    Each file is written atomically; ``out_root/manifest.json`` (settings, the source folder
    with the sha256 of its file list and bytes, every output file's checksum) is written last.
    A rerun with the same settings skips existing outputs; with other settings it raises
    ``UsageError`` unless ``force`` (then this writer's files are removed and rebuilt).
    """
    if image_format not in ("jpeg", "png"):
        raise UsageError(f"image_format must be 'jpeg' or 'png', got {image_format!r}")
    names, sevs = _check_args(corruptions, severities, preset)
    in_root, out_root = Path(in_root), Path(out_root)
    files, _ = _limited(list_image_files(in_root), None, limit)
    rels = [f"{cls}/{fname}" for cls, fname in files]
    source = {"folder": str(in_root), "sha256": mf.files_sha256(in_root, rels)}
    settings = mf.generator_settings("corruptions", "imagenet", names, len(files), source,
                                     preset=preset, seed=int(seed), limit=limit,
                                     severities=sevs, image_format=image_format)
    with held_folder(out_root):  # one writer at a time
        previous = mf.prepare_output(out_root, settings, owned_folders(ALL_CORRUPTIONS), force)

        def target(nm: str, sev: int, cls: str, fname: str) -> Path:
            return out_root / nm / str(sev) / cls / _out_name(fname, image_format)

        def flush(batch: list[tuple[int, np.ndarray]]) -> None:
            idx = [i for i, _ in batch]
            x = np.stack([a for _, a in batch])
            for nm in names:
                for sev in sevs:
                    paths = [target(nm, sev, *files[i]) for i in idx]
                    if all(p.exists() for p in paths):
                        continue
                    y = corrupt(x, nm, sev, preset, seed, idx, device).cpu().numpy()
                    for p, im in zip(paths, y):
                        if not p.exists():
                            _save_image(im, p, image_format)
                            written.append(p)

        written: list[Path] = []
        bar = tqdm(total=len(files), unit="img", disable=not _show_progress(progress),
                   desc="corrupt")
        batch: list[tuple[int, np.ndarray]] = []
        for i, (cls, fname) in enumerate(files):
            if all(target(nm, sev, cls, fname).exists() for nm in names for sev in sevs):
                bar.update(1)
                continue
            arr = _read_image(in_root / cls / fname)
            if batch and (len(batch) == batch_size or batch[0][1].shape != arr.shape):
                flush(batch)
                batch = []
            batch.append((i, arr))
            bar.update(1)
        if batch:
            flush(batch)
        bar.close()
        mf.finish(out_root, settings, previous, bool(written), owned_folders(ALL_CORRUPTIONS))
    return out_root
