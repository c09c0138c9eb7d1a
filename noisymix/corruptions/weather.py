"""Weather corruptions of the -C benchmarks: snow, frost, fog, spatter (batched torch).

Paper: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations", arXiv:1903.12261. References: hendrycks/robustness
``ImageNet-C/create_c/make_cifar_c.py`` (``cifar`` preset, 32 px) and ``make_imagenet_c.py``
(``imagenet`` preset, 224 px); imaug/imagecorruptions (the ``imagenet`` preset at any size,
non-square included).

Each function follows the contract of ``noisymix.corruptions.base``: x (B, 3, H, W) float in
[0, 1] and ``rng``, one random stream per image (``noisymix.rng.Streams``): an image's output
never depends on the batch it is in. The filters and zooms come from ``blur.py``.
"""

from __future__ import annotations

import importlib.resources
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import register_corruption
from noisymix.rng import Streams
from noisymix.corruptions.blur import (  # noqa: F401 (gaussian_filter re-exported)
    _pad_along, clipped_zoom, gaussian_filter, motion_blur_batch)

# ---------------------------------------------------------------------------------------------
# fog


def plasma_fractal(rng: Streams, mapsize: int, wibbledecay: float) -> torch.Tensor:
    """Diamond-square height maps (B, mapsize, mapsize) in [0, 1], one per stream of ``rng``.

    Same recursion as the reference (FLHerne/mapgen): corners start at 0, every midpoint is the
    mean of its 4 neighbours (torus wrap) plus wibble·U(-wibble, wibble), wibble starts at 100
    and is divided by ``wibbledecay`` per level; finally min-max normalised per map.
    The noise of all levels is drawn once per image, then the levels run batched.
    """
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    B, device = len(rng), rng.device
    counts, step = [], mapsize
    while step >= 2:
        counts.append((mapsize // step) ** 2)
        step //= 2
    noise = rng.rand(3 * sum(counts)) * 2 - 1  # U(-1, 1), (B, total)
    m = torch.zeros(B, mapsize, mapsize, device=device)
    step, wibble, off = mapsize, 100.0, 0
    for n in counts:
        half, s = step // 2, mapsize // step

        def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
            nonlocal off
            u = noise[:, off:off + n].view(B, s, s)
            off += n
            return total / 4 + wibble * wibble * u

        corner = m[:, 0::step, 0::step]
        sq = corner + corner.roll(-1, 1)
        sq = sq + sq.roll(-1, 2)
        m[:, half::step, half::step] = wibbled_mean(sq)
        dr, ul = m[:, half::step, half::step], m[:, 0::step, 0::step]
        m[:, 0::step, half::step] = wibbled_mean(dr + dr.roll(1, 1) + ul + ul.roll(-1, 2))
        m[:, half::step, 0::step] = wibbled_mean(dr + dr.roll(1, 2) + ul + ul.roll(-1, 1))
        step //= 2
        wibble /= wibbledecay
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / m.amax(dim=(1, 2), keepdim=True)


_FOG = {
    "cifar": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "imagenet": [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)],
}


@register_corruption("fog")
def fog(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    strength, decay = _FOG[preset][severity - 1]
    H, W = x.shape[-2:]
    # The references use mapsize 32 (cifar) and 256 (imagenet, cropped to 224); the smallest
    # power of two covering the image (imagecorruptions' rule) gives exactly those at 32 / 224 px.
    mapsize = 1 << (max(H, W) - 1).bit_length()
    fractal = plasma_fractal(rng, mapsize, decay)[:, None, :H, :W].to(x.dtype)
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)  # one max over all channels, per image
    y = x + strength * fractal
    return (y * max_val / (max_val + strength)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------
# frost

_FROST = {
    "cifar": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "imagenet": [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
}
_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


@lru_cache(maxsize=None)
def _frost_textures(preset: str) -> tuple[np.ndarray, ...]:
    """The six frost photos, RGB uint8 (h, w, 3), as the preset uses them.

    Read from the installed ``imagecorruptions`` package (same files as hendrycks/robustness);
    the cifar preset shrinks them by 0.2 (cv2 bilinear), the imagenet preset uses them as is.
    """
    import cv2

    root = importlib.resources.files("imagecorruptions") / "frost"
    out = []
    for name in _FROST_FILES:
        with importlib.resources.as_file(root / name) as path:
            bgr = cv2.imread(str(path))
        if bgr is None:
            raise FileNotFoundError(f"frost texture {name} not found in imagecorruptions")
        if preset == "cifar":
            bgr = cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)
        out.append(np.ascontiguousarray(bgr[..., ::-1]))
    return tuple(out)


@lru_cache(maxsize=64)
def _frost_texture(preset: str, idx: int, H: int, W: int, device: torch.device) -> torch.Tensor:
    """Texture idx as float (3, h, w) in [0, 1], at least (H+1) × (W+1) for a random crop."""
    tex = _frost_textures(preset)[idx]
    h, w = tex.shape[:2]
    if h <= H or w <= W:
        # not in paper: images larger than the texture (the references only see 32 / 224 px);
        # scale it up to cover the image with 10 % margin, bicubic, as imagecorruptions does.
        import cv2

        f = 1.1 * max(H / h, W / w)
        tex = cv2.resize(tex, (math.ceil(w * f), math.ceil(h * f)), interpolation=cv2.INTER_CUBIC)
    return torch.from_numpy(np.ascontiguousarray(tex)).to(device).permute(2, 0, 1).float() / 255


@register_corruption("frost")
def frost(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    a, b = _FROST[preset][severity - 1]
    B, _, H, W = x.shape
    # reference quirk: np.random.randint(5) over the 6-file list — frost6 is never used.
    which = rng.randint(0, 5)
    corner = rng.rand(2, torch.float64)  # top-left corner, randint(0, side - size) below
    layer = torch.empty_like(x)
    rows, cols = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    for idx in range(5):  # one gather per texture, over the images that drew it
        sel = torch.nonzero(which == idx).squeeze(1)
        if sel.numel() == 0:
            continue
        tex = _frost_texture(preset, idx, H, W, x.device)  # (3, h, w)
        span = torch.tensor([tex.shape[1] - H, tex.shape[2] - W], device=x.device)
        top, left = torch.floor(corner[sel] * span).long().unbind(1)
        r = (top[:, None] + rows)[:, :, None]  # (n, H, 1)
        c = (left[:, None] + cols)[:, None, :]  # (n, 1, W)
        layer[sel] = tex[:, r, c].permute(1, 0, 2, 3).to(x.dtype)
    return (a * x + b * layer).clamp(0, 1)


# ---------------------------------------------------------------------------------------------
# snow

# (mean, std, zoom, threshold, blur radius, blur sigma, image blend weight)
_SNOW = {
    "cifar": [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ],
    "imagenet": [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ],
}


@register_corruption("snow")
def snow(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:

    mu, sd, zoom, thresh, radius, sigma, keep = _SNOW[preset][severity - 1]
    B, _, H, W = x.shape
    flakes = rng.randn((1, H, W)).to(x.dtype) * sd + mu  # (B, 1, H, W)
    flakes = clipped_zoom(flakes, zoom)
    flakes = torch.where(flakes < thresh, torch.zeros_like(flakes), flakes).clamp(0, 1)
    # The reference passes the layer through an 8-bit PNG (truncation) to ImageMagick's motion
    # blur and reads 8 bits back (rounding); we keep both quantisations.
    flakes = torch.floor(flakes * 255) / 255
    angles = rng.rand() * 90 - 135  # U(-135, -45) degrees, (B,)
    # not in paper: the line-kernel motion blur of imagecorruptions instead of ImageMagick's.
    flakes = motion_blur_batch(flakes, radius, sigma, angles)
    flakes = torch.round(flakes.clamp(0, 1) * 255) / 255
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)  # cv2 RGB2GRAY
    x = keep * x + (1 - keep) * torch.maximum(x, gray * 1.5 + 0.5)
    return (x + flakes + flakes.flip(-2, -1)).clamp(0, 1)  # flip(-2,-1) = np.rot90(k=2)


# ---------------------------------------------------------------------------------------------
# spatter

# (mean, std, gaussian sigma, threshold, intensity / mud sigma, mud?)
_SPATTER = {
    "cifar": [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ],
    "imagenet": [
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ],
}
_WATER_RGB = (175 / 255, 238 / 255, 238 / 255)  # pale turquoise
_MUD_RGB = (63 / 255, 42 / 255, 20 / 255)  # mud brown


# Emboss kernel of the drop relief (the reference's constant).
_DROP_RELIEF = ((-2.0, -1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 1.0, 2.0))
_EDGE_THRESHOLDS = (50, 150)  # Canny hysteresis, 8-bit levels
_RAMP_PX = 20  # distance to the nearest drop edge is capped at this many px


def _mirror1(x: torch.Tensor) -> torch.Tensor:
    """x (B, H, W) padded by one pixel on every side, mirror border (c b | a b c d | c)."""
    if min(x.shape[-2:]) > 1:
        return F.pad(x[:, None], (1, 1, 1, 1), mode="reflect")[:, 0]
    return _pad_along(_pad_along(x, 1, -1, "mirror"), 1, -2, "mirror")


def _mean3x3(x: torch.Tensor) -> torch.Tensor:
    """3×3 neighbourhood sums of x (B, H, W) with a mirror border, times 1/9 (cv2.blur).

    Callers pass float64 (sums of nine float32 values are exact there, as in OpenCV) or
    small integers in float32 (exact sums, and a mean never within 1/18 of a rounding tie)."""
    x = _mirror1(x)
    rows = (x[..., :-2] + x[..., 1:-1]).add_(x[..., 2:])
    return (rows[..., :-2, :] + rows[..., 1:-1, :]).add_(rows[..., 2:, :]).mul_(1.0 / 9)


def _equalize(levels: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each image of uint8 (B, H, W), as cv2.equalizeHist: the first
    occupied level maps to 0, level i to round(255·(#pixels in (first, i]) / #pixels above
    first) in float32; a single-level image keeps its level."""
    b = levels.shape[0]
    flat = levels.reshape(b, -1).long()
    counts = torch.zeros(b, 256, dtype=torch.long, device=levels.device)
    counts.scatter_add_(1, flat, torch.ones(1, 1, dtype=torch.long, device=levels.device).expand_as(flat))
    first = (counts > 0).to(torch.uint8).argmax(1, keepdim=True)
    upto = counts.cumsum(1)
    at_first = upto.gather(1, first)  # every pixel at or below the first occupied level
    above = (flat.shape[1] - at_first).to(torch.float32)
    lut = ((upto - at_first).to(torch.float32) * (255.0 / above)).round_().clamp_(0, 255)
    lut = torch.where(above > 0, lut, first.to(torch.float32))
    return lut.gather(1, flat).view_as(levels)


def water_shading(liquid: torch.Tensor) -> torch.Tensor:
    """Shading of the water drops for uint8 liquid layers (B, H, W) → float32 (B, H, W), the
    reference's recipe: the distance of each pixel to the nearest drop edge (Canny), capped at
    20 px, smoothed (3×3 mean, truncated to 8 bits) and histogram-equalised, then embossed
    (saturated to 8 bits) and smoothed again (3×3 mean, rounded to 8 bits). Bit-exact with
    the reference's OpenCV calls."""
    import cv2

    dev = liquid.device
    # cv2 for the edge detector (hysteresis) and the 5×5 chamfer distance transform: both are
    # sequential per-image algorithms with no batched torch form; the rest runs batched here.
    ramp = np.stack([
        cv2.distanceTransform(255 - cv2.Canny(layer, *_EDGE_THRESHOLDS), cv2.DIST_L2, 5)
        for layer in liquid.to(torch.uint8).cpu().numpy()
    ])
    # The mean of the capped float32 distances in float64, rounded to float32 and truncated
    # to 8 bits, as OpenCV computes it.
    ramp = torch.from_numpy(ramp).to(device=dev, dtype=torch.float64).clamp_(max=_RAMP_PX)
    levels = _equalize(_mean3x3(ramp).to(torch.float32).floor_().to(torch.uint8))
    relief = _mirror1(levels.to(torch.float32))[None]  # images as channels: depthwise conv
    kernel = torch.tensor(_DROP_RELIEF, device=dev).expand(relief.shape[1], 1, 3, 3)
    relief = F.conv2d(relief, kernel, groups=relief.shape[1])[0].clamp_(0, 255)  # exact sums
    return _mean3x3(relief).round_()


def _water_shading(liquid_u8: np.ndarray) -> np.ndarray:
    """``water_shading`` of one uint8 layer (H, W) as numpy (used by the -P spatter)."""
    return water_shading(torch.from_numpy(np.ascontiguousarray(liquid_u8))[None])[0].numpy()


@register_corruption("spatter")
def spatter(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    mu, sd, sigma, thresh, amount, mud = _SPATTER[preset][severity - 1]
    B, _, H, W = x.shape
    liquid = rng.randn((H, W)).to(x.dtype) * sd + mu  # (B, H, W)
    liquid = gaussian_filter(liquid, sigma, mode="nearest", truncate=4.0)
    liquid = torch.where(liquid < thresh, torch.zeros_like(liquid), liquid)
    # reference quirk: severities 1-3 are water drops, 4-5 switch to mud.
    if not mud:
        # np.uint8 truncation of liquid·255 (clamped: the reference would wrap above 255,
        # which its parameters make vanishingly rare)
        lu8 = (liquid * 255).clamp(0, 255).to(torch.uint8)
        m = lu8.to(x.dtype) * water_shading(lu8).to(x.dtype)  # (B, H, W)
        peak = m.amax(dim=(1, 2), keepdim=True)
        # reference divides by the max (NaN if no drop at all); treat that as no spatter
        m = torch.where(peak > 0, m / peak.clamp_min(1e-12), torch.zeros_like(m)) * amount
        color = torch.tensor(_WATER_RGB, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x + m.unsqueeze(1) * color).clamp(0, 1)
    m = (liquid > thresh).to(x.dtype)
    m = gaussian_filter(m, amount, mode="nearest", truncate=4.0)
    m = torch.where(m < 0.8, torch.zeros_like(m), m).unsqueeze(1)
    color = torch.tensor(_MUD_RGB, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * (1 - m) + color * m).clamp(0, 1)
