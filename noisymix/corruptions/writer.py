"""Write corrupted test sets in the official on-disk layouts (CIFAR-10-C, ImageNet-C).

Hendrycks & Dietterich, arXiv:1903.12261; layouts as released by hendrycks/robustness
(``make_cifar_c.py``: ``<corruption>.npy`` uint8 (5·N, H, W, 3), severity 1 block first, and
``labels.npy``; ``make_imagenet_c.py``: ``<corruption>/<severity>/<wnid>/<file>``, JPEG quality 85).

Every output is written to a temporary name and renamed when complete, so an interrupted run
never leaves a partial file that looks finished; rerunning skips the finished ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from noisymix.corruptions.base import SEVERITIES, corrupt, get_corruption
from noisymix.vocab import ALL_CORRUPTIONS, PRESETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
JPEG_QUALITY = 85  # make_imagenet_c.py: Image.save(..., quality=85, optimize=True)


def _check_args(corruptions, severities, preset) -> tuple[list[str], list[int]]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {PRESETS}")
    names = list(ALL_CORRUPTIONS if corruptions is None else corruptions)
    for n in names:
        get_corruption(n)  # raises on an unknown or unregistered name
    sevs = [int(s) for s in severities]
    if not sevs or any(s not in SEVERITIES for s in sevs):
        raise ValueError(f"severities must be a non-empty subset of 1..5, got {severities}")
    return names, sevs


def _show_progress(progress: bool) -> bool:
    return bool(progress) and sys.stderr.isatty()


def label_array(labels: Sequence[int] | np.ndarray, repeats: int) -> np.ndarray:
    """Labels tiled once per severity block, uint8 as in the CIFAR-10/100-C releases.

    Labels that do not fit in uint8 (more than 256 classes) are stored as int64 instead.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError("labels must be a 1-D integer array")
    dtype = np.uint8 if lab.size == 0 or (lab.min() >= 0 and lab.max() <= 255) else np.int64
    return np.tile(lab.astype(dtype), repeats)


def _complete(path: Path, shape: tuple[int, ...], dtype) -> bool:
    """True if ``path`` is a finished array of this shape and dtype; raises on a mismatch."""
    if not path.exists():
        return False
    arr = np.load(path, mmap_mode="r")
    if arr.shape != shape or arr.dtype != np.dtype(dtype):
        raise FileExistsError(
            f"{path} exists with shape {arr.shape} {arr.dtype}, expected {shape} "
            f"{np.dtype(dtype)}; remove it or write to another directory"
        )
    return True


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
) -> dict[str, Path]:
    """Write ``out_dir/<corruption>.npy`` (CIFAR-10-C layout) for uint8 images (N, H, W, 3).

    Each file is uint8 (len(severities)·N, H, W, 3): one block of N images per severity, in the
    order given (1..5 by default: severity 1 first, as released). ``images`` may be a memmap;
    only ``batch_size`` images are in memory at a time. Image i of every block uses seed index
    i, so any batch size or device gives the same random draws. ``labels`` (N,), if given, go to
    ``out_dir/labels.npy`` tiled per severity. Finished files are skipped. Returns name → path.
    """
    names, sevs = _check_args(corruptions, severities, preset)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    n = images.shape[0]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = (len(sevs) * n, *images.shape[1:])
    written: dict[str, Path] = {}

    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} images")
        lab = label_array(labels, len(sevs))
        path = out / "labels.npy"
        if not _complete(path, lab.shape, lab.dtype):
            tmp = out / "labels.npy.tmp"
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
                np.save(f, lab)
            os.replace(tmp, path)
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
        tmp = out / f"{nm}.npy.tmp"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        for block, sev in enumerate(sevs):
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                batch = np.array(images[start:stop])  # a writable copy (memmaps are read-only)
                y = corrupt(batch, nm, sev, preset, seed, range(start, stop), device)
                arr[block * n + start : block * n + stop] = y.cpu().numpy()
                bar.update(stop - start)
        arr.flush()
        del arr
        os.replace(tmp, path)
    bar.close()
    return written


def list_image_files(root: str | os.PathLike) -> list[tuple[str, str]]:
    """Sorted (class, file name) pairs of an ImageFolder tree ``root/<class>/<file>``."""
    root = Path(root)
    files = []
    for cls in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for f in sorted((root / cls).iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append((cls, f.name))
    if not files:
        raise FileNotFoundError(f"no images found under {root}/<class>/")
    return files


def _out_name(name: str, image_format: str) -> str:
    stem, suffix = os.path.splitext(name)
    if image_format == "png":
        return stem + ".png"
    # JPEG: keep the file name as released (ILSVRC2012_val_*.JPEG) when it already is one.
    return name if suffix.lower() in (".jpg", ".jpeg") else stem + ".jpg"


def _save_image(arr: np.ndarray, path: Path, image_format: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    img = Image.fromarray(arr)
    if image_format == "png":
        img.save(tmp, format="PNG")
    else:
        img.save(tmp, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    os.replace(tmp, path)


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
) -> Path:
    """Write ``out_root/<corruption>/<severity>/<class>/<file>`` (ImageNet-C layout).

    Reads ``in_root/<class>/<file>`` with PIL (converted to RGB, size kept: no resize or
    crop), corrupts consecutive same-size images in batches, and saves JPEG (quality 85, as
    released; the name is kept when it is already a JPEG name) or PNG (lossless) under the
    same stem. The seed index of an image is its position in the sorted file list, so results
    do not depend on batching. Existing outputs are skipped; each file is written atomically.
    """
    if image_format not in ("jpeg", "png"):
        raise ValueError(f"image_format must be 'jpeg' or 'png', got {image_format!r}")
    names, sevs = _check_args(corruptions, severities, preset)
    in_root, out_root = Path(in_root), Path(out_root)
    files = list_image_files(in_root)

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

    bar = tqdm(total=len(files), unit="img", disable=not _show_progress(progress), desc="corrupt")
    batch: list[tuple[int, np.ndarray]] = []
    for i, (cls, fname) in enumerate(files):
        if all(target(nm, sev, cls, fname).exists() for nm in names for sev in sevs):
            bar.update(1)
            continue
        with Image.open(in_root / cls / fname) as im:
            arr = np.array(im.convert("RGB"), dtype=np.uint8)
        if batch and (len(batch) == batch_size or batch[0][1].shape != arr.shape):
            flush(batch)
            batch = []
        batch.append((i, arr))
        bar.update(1)
    if batch:
        flush(batch)
    bar.close()
    return out_root
