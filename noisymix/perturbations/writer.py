"""Write -P sequences in the CIFAR-10-P on-disk layout, atomically and resumably.

Layout (as the CIFAR-10-P release of hendrycks/robustness, arXiv:1903.12261):
``out_dir/<perturbation>.npy`` uint8 (N, frames, H, W, 3) and, if labels are given,
``out_dir/labels.npy`` int64 (N,). Each file is filled through a memory map under a hidden
temporary name (``noisymix.io.atomic_path``) and renamed into place only when complete, so a
file that exists is finished: an interrupted run resumes by skipping those files. The folder
describes itself (``noisymix.manifest``): settings recorded before any output, ``manifest.json``
(settings + every file's size and sha256) written last; a rerun with other settings is refused
unless ``force``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from noisymix import manifest as mf
from noisymix.errors import UsageError
from noisymix.io import atomic_path, held_folder
from noisymix.perturbations.sequences import frame_count, perturb
from noisymix.vocab import ALL_PERTURBATIONS, PERTURBATIONS, PRESETS


def _is_complete(path: Path, shape: tuple[int, ...]) -> bool:
    if not path.exists():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        return False
    return arr.dtype == np.uint8 and tuple(arr.shape) == shape


def _is_complete_labels(path: Path, lab: np.ndarray) -> bool:
    try:
        return path.is_file() and np.array_equal(np.load(path), lab)
    except (ValueError, OSError, EOFError):
        return False


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
    *,
    limit: int | None = None,
    source: dict | None = None,
    force: bool = False,
) -> dict[str, Path]:
    """Generate ``<name>.npy`` sequences for uint8 images (N, H, W, 3); returns name → path.

    ``perturbations`` defaults to the 10 test perturbations. ``batch_size`` (default: sized to
    about 256 MiB of frames) never changes the output: randomness is per image index.
    ``limit``: only the first ``limit`` images; ``source``: what the images are (e.g.
    ``{"dataset": "digits", "split": "test"}``), recorded in ``manifest.json`` with their
    sha256. A rerun with the same settings keeps complete files (resume; damaged ones are
    regenerated); with other settings it raises ``UsageError`` unless ``force``.
    """
    from noisymix.corruptions.writer import _limited, array_source, owned_arrays

    if preset not in PRESETS:
        raise UsageError(f"--preset {preset!r}: choose from {', '.join(PRESETS)}")
    names = list(PERTURBATIONS if perturbations is None else perturbations)
    unknown = [p for p in names if p not in ALL_PERTURBATIONS]
    if unknown or not names or len(set(names)) != len(names):
        raise UsageError(f"--perturbations {','.join(names)}: give names of "
                         f"{', '.join(ALL_PERTURBATIONS)}, each once")
    names = [p for p in ALL_PERTURBATIONS if p in names]  # canonical order
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise UsageError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise UsageError(f"{len(labels)} labels for {len(images)} images")
    images, labels = _limited(images, labels, limit)
    n, h, w = images.shape[:3]
    if n == 0:
        raise UsageError("no images to perturb (an empty input)")
    side = size if size is not None else h
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if (lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer)
                or (lab.size and lab.min() < 0)):
            raise UsageError("labels must be a 1-D array of class indices >= 0")
        lab = lab.astype(np.int64)
    out = Path(out_dir)
    settings = mf.generator_settings(
        "perturbations", "cifar", names, n, array_source(source, images, labels),
        preset=preset, seed=int(seed), limit=limit, size=size)
    with held_folder(out):  # one writer at a time
        previous = mf.prepare_output(out, settings, owned_arrays(ALL_PERTURBATIONS), force)
        paths: dict[str, Path] = {}
        wrote = False

        if lab is not None:
            path = out / "labels.npy"
            if not _is_complete_labels(path, lab):
                with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, lab)
                wrote = True
            paths["labels"] = path

        for name in names:
            frames = frame_count(name, preset)
            shape = (n, frames, side, side, 3)
            path = out / f"{name}.npy"
            paths[name] = path
            if _is_complete(path, shape):
                continue
            bs = batch_size or _auto_batch(frames, side)
            with atomic_path(path) as tmp:  # hidden .<name>.npy.<random>.tmp until whole
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                starts = range(0, n, bs)
                for start in tqdm(starts, desc=name, unit="batch", disable=not progress):
                    stop = min(start + bs, n)
                    seq = perturb(images[start:stop], name, preset=preset, seed=seed,
                                  indices=range(start, stop), device=device, size=size)
                    arr[start:stop] = seq.cpu().numpy()
                arr.flush()
                del arr
            wrote = True
        mf.finish(out, settings, previous, wrote, owned_arrays(ALL_PERTURBATIONS))
    return paths
