"""Write -P sequences in the CIFAR-10-P on-disk layout, atomically and resumably.

Layout (as the CIFAR-10-P release of hendrycks/robustness, arXiv:1903.12261):
``out_dir/<perturbation>.npy`` uint8 (N, frames, H, W, 3) and, if labels are given,
``out_dir/labels.npy`` int64 (N,). Each file is filled through a memory map under a temporary
name and renamed into place only when complete, so a file that exists is finished: an
interrupted run resumes by skipping those files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from noisymix.perturbations.sequences import frame_count, perturb
from noisymix.vocab import PERTURBATIONS


def _is_complete(path: Path, shape: tuple[int, ...]) -> bool:
    if not path.exists():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        return False
    return arr.dtype == np.uint8 and tuple(arr.shape) == shape


def _auto_batch(frames: int, size: int) -> int:
    # Keep the float32 frame stack of one batch near 256 MiB (a few such buffers are live).
    per_image = frames * 3 * size * size * 4
    return max(1, min(1024, (256 << 20) // per_image))


def perturb_arrays(
    images: np.ndarray,
    out_dir: str | os.PathLike,
    preset: str = "cifar",
    perturbations: Sequence[str] | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int | None = None,
    labels: np.ndarray | Sequence[int] | None = None,
    progress: bool = True,
    size: int | None = None,
) -> dict[str, Path]:
    """Generate ``<name>.npy`` sequences for uint8 images (N, H, W, 3); returns name → path.

    ``perturbations`` defaults to the 10 test perturbations. ``batch_size`` (default: sized to
    about 256 MiB of frames) never changes the output: randomness is per image index.
    Existing complete files are kept (resume); files of the wrong shape are regenerated.
    """
    names = tuple(PERTURBATIONS if perturbations is None else perturbations)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape[:3]
    side = size if size is not None else h
    paths: dict[str, Path] = {}

    if labels is not None:
        lab = np.asarray(labels, dtype=np.int64)
        if lab.shape != (n,):
            raise ValueError(f"labels shape {lab.shape} != ({n},)")
        path = out / "labels.npy"
        if not (path.exists() and np.array_equal(np.load(path), lab)):
            tmp = out / ".labels.npy.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, lab)
            os.replace(tmp, path)
        paths["labels"] = path

    for name in names:
        frames = frame_count(name, preset)
        shape = (n, frames, side, side, 3)
        path = out / f"{name}.npy"
        paths[name] = path
        if _is_complete(path, shape):
            continue
        bs = batch_size or _auto_batch(frames, side)
        tmp = out / f".{name}.npy.tmp"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        starts = range(0, n, bs)
        for start in tqdm(starts, desc=name, unit="batch", disable=not progress):
            stop = min(start + bs, n)
            seq = perturb(images[start:stop], name, preset=preset, seed=seed,
                          indices=range(start, stop), device=device, size=size)
            arr[start:stop] = seq.cpu().numpy()
        arr.flush()
        del arr
        os.replace(tmp, path)
    return paths
