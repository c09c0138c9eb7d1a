"""Registry and driver of the corruption functions (-C benchmarks).

References: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", arXiv:1903.12261; hendrycks/robustness
(ImageNet-C/create_c/make_cifar_c.py, make_imagenet_c.py); imaug/imagecorruptions.

Contract of a corruption function, registered with ``@register_corruption(name)``::

    fn(x, severity, preset, rng) -> y
      x:        float32 (B, 3, H, W) in [0, 1], any device
      severity: int in 1..5
      preset:   "cifar" or "imagenet"
      rng:      ``noisymix.rng.Streams`` on x.device, one stream per image keyed by
                (seed, corruption, severity, image index): output never depends on batch
                size, sharding or device order, and each draw is one batched call
      y:        float32 (B, 3, H, W) in [0, 1]

``corrupt`` turns uint8 NHWC images into uint8 NHWC corrupted images, truncating to uint8 as
the reference scripts do (``np.uint8`` of a float array in [0, 255]).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from noisymix.rng import Streams
from noisymix.vocab import (  # noqa: F401  (re-exported by noisymix.corruptions)
    ALL_CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    NOISE_CORRUPTIONS,
    PRESETS,
    TEST_CORRUPTIONS,
)

SEVERITIES = (1, 2, 3, 4, 5)

CorruptionFn = Callable[[torch.Tensor, int, str, Streams], torch.Tensor]
_REGISTRY: dict[str, CorruptionFn] = {}
_UINT8_NATIVE: set[str] = set()


def register_corruption(name: str, uint8: bool = False) -> Callable[[CorruptionFn], CorruptionFn]:
    """Register ``fn`` under ``name``. ``uint8=True``: ``fn`` maps uint8 (B, 3, H, W) to uint8
    (B, 3, H, W) (8-bit codecs and resamplers, whose reference reads 8-bit images): ``corrupt``
    then skips the float round trip, which is exact for them and costs more than they do."""
    if name not in ALL_CORRUPTIONS:
        raise ValueError(f"{name!r} is not one of the 19 corruptions")

    def wrap(fn: CorruptionFn) -> CorruptionFn:
        _REGISTRY[name] = fn
        if uint8:
            _UINT8_NATIVE.add(name)
        return fn

    return wrap


def list_corruptions() -> list[str]:
    """Registered corruptions in the canonical order (15 test corruptions, then 4 extra)."""
    return [c for c in ALL_CORRUPTIONS if c in _REGISTRY]


def get_corruption(name: str) -> CorruptionFn:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown corruption {name!r}; choose from: {', '.join(ALL_CORRUPTIONS)}"
        ) from None


def image_streams(seed: int, name: str, severity: int, indices: Sequence[int],
                  device: torch.device | str) -> Streams:
    """The random streams of images ``indices`` of one (corruption, severity) block."""
    return Streams.for_items(seed, name, severity, indices=indices, device=device)


def to_float(images: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (B, H, W, 3) → float32 (B, 3, H, W) in [0, 1] on ``device``."""
    t = torch.from_numpy(np.array(images)) if not isinstance(images, torch.Tensor) else images
    return t.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def truncated_levels_(y: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → the 8-bit levels ``np.uint8(255·y)`` gives (still float), in
    place: the references' truncation to uint8.

    The +1e-3 guards float round-off (k/255·255 may land just below k); it never moves a
    value across an integer boundary that the reference's float64 arithmetic would not.
    """
    return y.clamp_(0, 1).mul_(255.0).add_(1e-3).floor_()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float (B, 3, H, W) in [0, 1] → uint8 (B, H, W, 3), truncating like ``np.uint8``
    (``truncated_levels_``)."""
    y = x.permute(0, 2, 3, 1).contiguous()  # one copy (in place from here: big temporaries
    if y.data_ptr() == x.data_ptr():        # cost more in page faults than the arithmetic)
        y = y.clone()
    return truncated_levels_(y).to(torch.uint8)


def corrupt(
    images: np.ndarray | torch.Tensor,
    name: str,
    severity: int,
    preset: str = "cifar",
    seed: int = 0,
    indices: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Corrupt a batch of uint8 NHWC images; returns uint8 NHWC on ``device``.

    ``indices`` are the images' positions in their dataset (default 0..B-1): they, not the
    batch layout, decide each image's randomness.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {PRESETS}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be in 1..5, got {severity}")
    fn = get_corruption(name)
    t = torch.from_numpy(np.array(images)) if not isinstance(images, torch.Tensor) else images
    t = t.to(device)
    rng = image_streams(seed, name, severity, range(t.shape[0]) if indices is None else indices,
                        t.device)
    if name in _UINT8_NATIVE:
        return fn(t.permute(0, 3, 1, 2), severity, preset, rng).permute(0, 2, 3, 1).contiguous()
    return to_uint8(fn(t.permute(0, 3, 1, 2).float().div_(255.0), severity, preset, rng))
