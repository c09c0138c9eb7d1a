"""Perturbation sequences (-P benchmarks: CIFAR-10-P, ImageNet-P), batched torch.

References: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", arXiv:1903.12261; hendrycks/robustness
(ImageNet-P/create_p/make_cifar_p.py, make_imagenet_p.py). Frame counts and parameters below are
the ones those scripts use (difficulty 1 of the noise sequences, which is what the released
``gaussian_noise.npy`` etc. hold); the code is our own batched re-implementation.

Every perturbation maps one image to a sequence of ``frames`` images. All frames of all images
of a batch are computed at once as tensors of shape (B, F, 3, H, W) on any device. Randomness
(noise, snow and spatter layers) comes from one counter-based stream per image
(``noisymix.rng.Streams``) keyed by (seed, perturbation, image index), so output never depends
on the batch size, and each draw is one batched call.

Conventions: pixel-centre coordinates (pixel j at j, as OpenCV); ``to_u8_trunc`` reproduces
``np.uint8(255 * x)`` (truncation) and ``to_u8_round`` reproduces libraries that round when
writing 8-bit images (PIL resampling, OpenCV warps, ImageMagick PNG output).

ImageNet-P protocol: the reference resizes to 256 (short side), applies geometric perturbations
(translate, rotate, tilt, scale, shear, zoom_blur) to the full image and then centre-crops 224,
so content from outside the crop slides in; photometric ones are applied to the 224 crop. Here,
pass square images (e.g. 256x256) and ``size=224``: geometric perturbations sample the crop
from the transformed full image, the others perturb the centre crop.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import truncated_levels_
from noisymix.corruptions.blur import clipped_zoom
from noisymix.rng import Streams
from noisymix.vocab import (  # noqa: F401  (re-exported by noisymix.perturbations)
    ALL_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    NOISE_PERTURBATIONS,
    PERTURBATIONS,
    PRESETS,
)

# ImageNet-P protocol (see above): these transform the full image before the centre crop.
GEOMETRIC_PERTURBATIONS = ("zoom_blur", "translate", "rotate", "tilt", "scale", "shear")

# Parameters per preset, from make_cifar_p.py / make_imagenet_p.py. Per-frame values are
# written as functions of the frame index i in 0..frames-1; intensities are in [0, 1] units,
# angles in degrees, shifts in pixels.
PARAMS: dict[str, dict[str, dict]] = {
    "cifar": {
        "gaussian_noise": dict(frames=31, sigma=0.02),
        "shot_noise": dict(frames=31, rate=700.0),
        "speckle_noise": dict(frames=31, sigma=0.05),
        # ImageMagick motion blur, angle (i - 20) * 9 for i in 0..20, i.e. -180..0 degrees.
        "motion_blur": dict(frames=21, radius=6, sigma=1.8, angle=lambda i: (i - 20) * 9.0),
        # Running mean of zoomed copies, zoom 1 + 0.004 i.
        "zoom_blur": dict(frames=31, zoom=lambda i: 1 + 0.004 * i),
        "snow": dict(frames=31, loc=0.05, scale=0.3, zoom=2, threshold=0.5,
                     radius=10, sigma=2.0, angle=lambda i: i * 4 - 150.0),
        "brightness": dict(frames=31, delta=lambda i: (i - 15) * 1.5 / 100),
        "translate": dict(frames=16, shift=lambda i: i - 7),
        "rotate": dict(frames=31, angle=lambda i: i - 15.0),
        "tilt": dict(frames=31, angle=lambda i: 0.75 * (i - 15)),
        "scale": dict(frames=31, scale=lambda i: (i * 2 + 70) / 100),
        "gaussian_blur": dict(frames=31, sigma=lambda i: 0.3 + 0.015 * i, truncate=7.0),
        "spatter": dict(frames=31, loc=0.6, scale=0.265, sigma=1.75, threshold=0.7,
                        drift=(0.2, 0.8)),
        "shear": dict(frames=31, shear=lambda i: i - 15.0),
    },
    "imagenet": {
        "gaussian_noise": dict(frames=31, sigma=0.03),
        "shot_noise": dict(frames=31, rate=300.0),
        "speckle_noise": dict(frames=31, sigma=0.05),
        "motion_blur": dict(frames=31, radius=10, sigma=3.0, angle=lambda i: (i - 30) * 4.0),
        "zoom_blur": dict(frames=31, zoom=lambda i: 1 + 0.004 * i),
        "snow": dict(frames=31, loc=0.05, scale=0.3, zoom=3, threshold=0.5,
                     radius=14, sigma=4.0, angle=lambda i: i * 4 - 150.0),
        "brightness": dict(frames=31, delta=lambda i: (i - 15) * 2 / 100),
        "translate": dict(frames=41, shift=lambda i: i - 20),
        "rotate": dict(frames=31, angle=lambda i: i - 15.0),
        "tilt": dict(frames=31, angle=lambda i: float(i - 15)),
        "scale": dict(frames=31, scale=lambda i: (i * 2.5 + 40) / 100),
        "gaussian_blur": dict(frames=31, sigma=lambda i: 0.25 + 0.035 * i, truncate=6.0),
        "spatter": dict(frames=31, loc=0.65, scale=0.27, sigma=3.7, threshold=0.69,
                        drift=(0.05, 0.1, 0.15, 0.7)),
        "shear": dict(frames=31, shear=lambda i: i - 15.0),
    },
}


def _check(name: str, preset: str) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {PRESETS}")
    if name not in ALL_PERTURBATIONS:
        raise ValueError(
            f"unknown perturbation {name!r}; choose from: {', '.join(ALL_PERTURBATIONS)}"
        )
    return PARAMS[preset][name]


def frame_count(name: str, preset: str = "cifar") -> int:
    """Number of frames of one sequence (frame 0 included)."""
    return _check(name, preset)["frames"]


def _per_frame(fn: Callable[[int], float], frames: int) -> list[float]:
    return [float(fn(i)) for i in range(frames)]


# ---------------------------------------------------------------------------------------------
# small helpers

def to_u8_trunc(y: torch.Tensor) -> torch.Tensor:
    """float (B, F, 3, H, W) in [0, 1] → uint8 (B, F, H, W, 3), as ``np.uint8(255 * y)``
    (``truncated_levels_``)."""
    y = truncated_levels_(y.clamp(0, 1))  # a copy: the caller's frames stay as they are
    return y.to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()


def to_u8_round(y: torch.Tensor) -> torch.Tensor:
    """float (B, F, 3, H, W) in [0, 1] → uint8 (B, F, H, W, 3), rounding to nearest."""
    y = (y.clamp(0, 1) * 255.0).round_()
    return y.to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()


def _quantize_round(y: torch.Tensor) -> torch.Tensor:
    """Round float images in [0, 1] to the 8-bit grid, staying float (an 8-bit intermediate)."""
    return (y.clamp(0, 1) * 255.0).round_().div_(255.0)


def _crop_offsets(h: int, w: int, size: int) -> tuple[int, int]:
    # torchvision CenterCrop: top = round((H - size) / 2).
    return int(round((h - size) / 2.0)), int(round((w - size) / 2.0))


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    top, left = _crop_offsets(h, w, size)
    return x[..., top:top + size, left:left + size]


def _gaussian_taps(sigma: float, truncate: float) -> torch.Tensor:
    """1-D Gaussian weights as scipy.ndimage.gaussian_filter uses (radius int(t·σ + 0.5))."""
    r = int(truncate * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _separable_blur(x: torch.Tensor, taps: list[torch.Tensor]) -> torch.Tensor:
    """Gaussian blur with a different kernel per frame, edge mode 'nearest'.

    x: (B, F, C, H, W); taps: F 1-D kernels (odd lengths). Kernels are zero-padded to a common
    length so that one depthwise conv over all B·F·C planes does the work.
    """
    b, f, c, h, w = x.shape
    r = max(len(k) for k in taps) // 2
    kern = torch.zeros(f, 2 * r + 1, dtype=torch.float64)
    for i, k in enumerate(taps):
        kr = len(k) // 2
        kern[i, r - kr:r + kr + 1] = k
    kern = kern.to(x.device, x.dtype).reshape(f, 1, 1, 2 * r + 1)
    # Frames as channels, (image, colour) as batch: a depthwise conv with F kernels.
    planes = x.transpose(1, 2).reshape(b * c, f, h, w)
    planes = F.pad(planes, (r, r, r, r), mode="replicate")
    planes = F.conv2d(planes, kern, groups=f)                        # along W
    planes = F.conv2d(planes, kern.transpose(2, 3), groups=f)        # along H
    return planes.reshape(b, c, f, h, w).transpose(1, 2)


def motion_blur_planes(
    x: torch.Tensor, radius: int, sigma: float, angles_deg: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """ImageMagick ``-motion-blur radius x sigma + angle``, one angle per image.

    x: (N, C, H, W); angles_deg: N angles in degrees. The kernel is one-sided: tap i (0..2r)
    samples the pixel offset by round-up(i·(cos a, sin a) − 0.5) with Gaussian weight
    exp(−i²/2σ²) (normalised), and edges replicate (ImageMagick's default virtual pixels).
    """
    n, c, h, w = x.shape
    width = 2 * int(radius) + 1
    i = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(i ** 2) / (2 * sigma ** 2))
    k = (k / k.sum()).to(x.dtype)
    a = torch.deg2rad(torch.as_tensor(angles_deg, dtype=torch.float64)).reshape(n, 1)
    # As ImageMagick: a point `width` away along the angle, then offsets i·point/|point|.
    px, py = width * torch.cos(a), width * torch.sin(a)
    norm = torch.hypot(px, py)
    ox = torch.ceil(i * px / norm - 0.5).long().to(x.device)   # (N, width) column offsets
    oy = torch.ceil(i * py / norm - 0.5).long().to(x.device)   # (N, width) row offsets
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    out = torch.zeros_like(x)
    for t in range(width):
        # A translation with clamped (replicated) edges is separable: gather rows, then cols.
        ry = (rows[None] + oy[:, t, None]).clamp_(0, h - 1)          # (N, H)
        cx = (cols[None] + ox[:, t, None]).clamp_(0, w - 1)          # (N, W)
        shifted = x.gather(2, ry[:, None, :, None].expand(n, c, h, w))
        shifted = shifted.gather(3, cx[:, None, None, :].expand(n, c, h, w))
        out.add_(shifted, alpha=float(k[t]))
    return out


def _warp(
    x: torch.Tensor, inv: torch.Tensor, size: int, mode: str, sampler: str
) -> torch.Tensor:
    """Sample a centre ``size`` crop of each frame's warped image.

    x: (B, 3, H, W); inv: (F, 3, 3) float64 maps output full-image pixel coordinates
    (homogeneous, pixel-centre convention) to input coordinates. Returns (B, F, 3, size, size).
    sampler 'pil': PIL's transform — source points outside [-0.5, W-0.5) get the fill 0, inside
    the edge pixels are clamped. sampler 'cv2': OpenCV's BORDER_CONSTANT — bilinear taps
    outside the image read 0.
    """
    b, c, h, w = x.shape
    f = inv.shape[0]
    top, left = _crop_offsets(h, w, size)
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float64) + top,
        torch.arange(size, dtype=torch.float64) + left,
        indexing="ij",
    )
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)   # (P, 3)
    src = torch.einsum("fij,pj->fpi", inv, pts)
    qx, qy = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]         # (F, P)
    grid = torch.stack([2 * qx / (w - 1) - 1, 2 * qy / (h - 1) - 1], -1)
    grid = grid.reshape(f, size, size, 2).to(x.device, x.dtype)
    # Images as channels, frames as batch: one grid per frame serves all B images.
    planes = x.reshape(1, b * c, h, w).expand(f, b * c, h, w)
    if sampler == "pil":
        out = F.grid_sample(planes, grid, mode=mode, padding_mode="border", align_corners=True)
        inside = (qx >= -0.5) & (qx < w - 0.5) & (qy >= -0.5) & (qy < h - 0.5)
        out = out * inside.reshape(f, 1, size, size).to(out.device, out.dtype)
    else:
        out = F.grid_sample(planes, grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out.reshape(f, b, c, size, size).transpose(0, 1)


def _tv_affine_inverse(
    h: int, w: int, angle: list[float], scale: list[float], shear: list[float],
    tx: list[float],
) -> torch.Tensor:
    """Inverse matrices (F, 3, 3) of torchvision ≤0.4 ``affine`` in pixel-centre coordinates.

    Forward map: p_out = c + t + RSS·(p_in − c) with RSS = s·[[cos a, −sin(a+φ)], [sin a,
    cos(a+φ)]] (a clockwise on screen, φ the x-shear angle).
    """
    # reference quirk: torchvision ≤0.4 put the centre at (w/2 + 0.5, h/2 + 0.5) in PIL's
    # half-pixel coordinates, i.e. (w/2, h/2) in pixel-centre coordinates — half a pixel right
    # of and below the true centre ((w-1)/2, (h-1)/2). We keep that centre.
    cx, cy = w * 0.5, h * 0.5
    a = torch.deg2rad(torch.tensor(angle, dtype=torch.float64))
    s = torch.deg2rad(torch.tensor(shear, dtype=torch.float64))
    sc = torch.tensor(scale, dtype=torch.float64)
    f = a.shape[0]
    m = torch.zeros(f, 3, 3, dtype=torch.float64)
    # reference quirk: that RSS also shrinks y by cos(φ) when shearing (fixed in later
    # torchvision); the shear sequence reproduces it.
    m[:, 0, 0], m[:, 0, 1] = sc * torch.cos(a), -sc * torch.sin(a + s)
    m[:, 1, 0], m[:, 1, 1] = sc * torch.sin(a), sc * torch.cos(a + s)
    t = torch.tensor(tx, dtype=torch.float64)
    m[:, 0, 2] = cx + t - m[:, 0, 0] * cx - m[:, 0, 1] * cy
    m[:, 1, 2] = cy - m[:, 1, 0] * cx - m[:, 1, 1] * cy
    m[:, 2, 2] = 1.0
    return torch.linalg.inv(m)


# ---------------------------------------------------------------------------------------------
# the perturbations: fn(x (B,3,H,W) float [0,1], p params, rng, size) -> uint8 (B,F,s,s,3)

def _gaussian_noise(x, p, rng, size):
    x = _center_crop(x, size)
    n = rng.randn((p["frames"] - 1, *x.shape[1:]))
    seq = torch.cat([x[:, None], (x[:, None] + p["sigma"] * n).clamp(0, 1)], 1)
    return to_u8_trunc(seq)   # frame 0 is the clean image


def _shot_noise(x, p, rng, size):
    x = _center_crop(x, size)
    # Poisson photon counts at `rate` photons per unit intensity, every frame its own draw.
    level = torch.round(x[:, None] * 255).long().expand(-1, p["frames"] - 1, *x.shape[1:])
    z = rng.poisson_levels(level, torch.arange(256, device=x.device) * (p["rate"] / 255))
    seq = torch.cat([x[:, None], (z / p["rate"]).clamp(0, 1)], 1)
    return to_u8_trunc(seq)


def _speckle_noise(x, p, rng, size):
    x = _center_crop(x, size)
    n = rng.randn((p["frames"] - 1, *x.shape[1:]))
    seq = torch.cat([x[:, None], (x[:, None] * (1 + p["sigma"] * n)).clamp(0, 1)], 1)
    return to_u8_trunc(seq)


def _motion_blur(x, p, rng, size):
    x = _center_crop(x, size)
    b, c, h, w = x.shape
    f = p["frames"]
    angles = torch.tensor(_per_frame(p["angle"], f), dtype=torch.float64).repeat(b)
    y = motion_blur_planes(x.repeat_interleave(f, 0), p["radius"], p["sigma"], angles)
    return to_u8_round(y.reshape(b, f, c, h, w))   # ImageMagick writes a rounded 8-bit PNG


def _zoom_blur(x, p, rng, size):
    b, c, h, w = x.shape
    f = p["frames"]
    zooms = _per_frame(p["zoom"], f)[1:]
    inv = _tv_affine_inverse(h, w, [0.0] * (f - 1), zooms, [0.0] * (f - 1), [0.0] * (f - 1))
    zoomed = _quantize_round(_warp(x, inv, size, "bilinear", "pil"))   # PIL 8-bit frames
    # Frame i is the mean of the clean crop and the first i zoomed copies.
    total = torch.cat([_center_crop(x, size)[:, None], zoomed], 1).cumsum(1)
    count = torch.arange(1, f + 1, device=x.device, dtype=x.dtype).reshape(1, f, 1, 1, 1)
    return to_u8_trunc(total / count)   # ToPILImage truncates


def _snow(x, p, rng, size):
    x = _center_crop(x, size)
    b, c, h, w = x.shape
    f = p["frames"]
    layer = p["loc"] + p["scale"] * rng.randn((1, h, w))   # (B, 1, H, W)
    layer = clipped_zoom(layer, p["zoom"])
    layer = torch.where(layer < p["threshold"], torch.zeros_like(layer), layer)
    layer = (layer.clamp(0, 1) * 255).floor() / 255   # saved as an 8-bit PNG (astype: trunc)
    angles = torch.tensor(_per_frame(p["angle"], f), dtype=torch.float64).repeat(b)
    moving = motion_blur_planes(layer.repeat_interleave(f, 0), p["radius"], p["sigma"], angles)
    moving = _quantize_round(moving).reshape(b, f, 1, h, w)
    # Whiten the scene a little (grey as OpenCV's RGB2GRAY), then add the layer and its 180°
    # rotation (snow falling both ways).
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    base = 0.85 * x + 0.15 * torch.maximum(x, gray * 1.5 + 0.5)
    seq = base[:, None] + moving + moving.flip(-1, -2)
    return to_u8_trunc(seq)


def _brightness(x, p, rng, size):
    x = _center_crop(x, size)
    f = p["frames"]
    delta = torch.tensor(_per_frame(p["delta"], f), device=x.device, dtype=x.dtype)
    # V += c in HSV with H, S fixed scales RGB by V'/V (black pixels, S = 0, become grey V').
    v = x.amax(1, keepdim=True)[:, None]                                 # (B, 1, 1, H, W)
    v_new = (v + delta.reshape(1, f, 1, 1, 1)).clamp(0, 1)
    ratio = torch.where(v > 0, v_new / v.clamp_min(1e-12), torch.zeros_like(v_new))
    seq = torch.where(v > 0, x[:, None] * ratio, v_new.expand(-1, -1, 3, -1, -1))
    return to_u8_trunc(seq)


def _translate(x, p, rng, size):
    _, _, h, w = x.shape
    f = p["frames"]
    shifts = _per_frame(p["shift"], f)
    inv = _tv_affine_inverse(h, w, [0.0] * f, [1.0] * f, [0.0] * f, shifts)
    # PIL's default resampling is nearest; shifts are whole pixels, so the copy is exact.
    return to_u8_round(_warp(x, inv, size, "nearest", "pil"))


def _rotate(x, p, rng, size):
    _, _, h, w = x.shape
    f = p["frames"]
    inv = _tv_affine_inverse(h, w, _per_frame(p["angle"], f), [1.0] * f, [0.0] * f, [0.0] * f)
    return to_u8_round(_warp(x, inv, size, "bilinear", "pil"))


def _scale(x, p, rng, size):
    _, _, h, w = x.shape
    f = p["frames"]
    inv = _tv_affine_inverse(h, w, [0.0] * f, _per_frame(p["scale"], f), [0.0] * f, [0.0] * f)
    return to_u8_round(_warp(x, inv, size, "bilinear", "pil"))


def _shear(x, p, rng, size):
    _, _, h, w = x.shape
    f = p["frames"]
    inv = _tv_affine_inverse(h, w, [0.0] * f, [1.0] * f, _per_frame(p["shear"], f), [0.0] * f)
    return to_u8_round(_warp(x, inv, size, "bilinear", "pil"))


def tilt_matrices(h: int, w: int, angles_deg: Sequence[float]) -> torch.Tensor:
    """Forward homographies (F, 3, 3): rotate the image plane about x and y by the same angle,
    seen by a pinhole camera at focal length f = diagonal and distance f (as the reference)."""
    out = []
    foc = math.sqrt(w ** 2 + h ** 2)
    for ang in angles_deg:
        t = math.radians(ang)
        c, s = math.cos(t), math.sin(t)
        to3d = torch.tensor([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]],
                            dtype=torch.float64)
        rx = torch.tensor([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]],
                          dtype=torch.float64)
        ry = torch.tensor([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]],
                          dtype=torch.float64)
        move = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, foc], [0, 0, 0, 1]],
                            dtype=torch.float64)
        to2d = torch.tensor([[foc, 0, w / 2, 0], [0, foc, h / 2, 0], [0, 0, 1, 0]],
                            dtype=torch.float64)
        out.append(to2d @ move @ rx @ ry @ to3d)
    return torch.stack(out)


def _tilt(x, p, rng, size):
    _, _, h, w = x.shape
    mats = tilt_matrices(h, w, _per_frame(p["angle"], p["frames"]))
    # cv2.warpPerspective: bilinear, constant-0 border.
    return to_u8_round(_warp(x, torch.linalg.inv(mats), size, "bilinear", "cv2"))


def _gaussian_blur(x, p, rng, size):
    x = _center_crop(x, size)
    f = p["frames"]
    taps = [_gaussian_taps(s, p["truncate"]) for s in _per_frame(p["sigma"], f)]
    y = _separable_blur(x[:, None].expand(-1, f, -1, -1, -1), taps)
    return to_u8_trunc(y)


def _spatter_mask(layer_u8: np.ndarray) -> np.ndarray:
    """Liquid highlight mask of one 8-bit layer (H, W) → float32 (H, W), OpenCV as reference.

    not in paper: edge detection, distance transform and histogram equalisation stay on the
    CPU with OpenCV (no batched torch equivalent is worth its complexity for an extra
    perturbation); everything else of spatter is batched.
    """
    from noisymix.corruptions.weather import _water_shading  # the -C spatter's shading

    return layer_u8.astype(np.float32) * _water_shading(layer_u8)


def _spatter(x, p, rng, size):
    x = _center_crop(x, size)
    b, c, h, w = x.shape
    f = p["frames"]
    layer = p["loc"] + p["scale"] * rng.randn((1, 1, h, w))   # (B, 1, 1, H, W)
    layer = _separable_blur(layer, [_gaussian_taps(p["sigma"], 4.0)])[:, 0]  # (B, 1, H, W)
    layer = torch.where(layer < p["threshold"], torch.zeros_like(layer), layer)
    # The liquid drifts down: each frame, every column is convolved with `drift` (np.convolve
    # 'same', zeros outside), i.e. row y takes Σ_j drift[j]·row[y + off − j].
    drift = torch.tensor(p["drift"], dtype=x.dtype, device=x.device)
    m = len(p["drift"])
    off = (m - 1) // 2
    kern = drift.flip(0).reshape(1, 1, m, 1)   # cross-correlation form of the convolution
    layers = []
    for _ in range(f):
        layers.append(layer)
        layer = F.conv2d(F.pad(layer, (0, 0, m - 1 - off, off)), kern)
    layers = torch.stack(layers, 1)   # (B, F, 1, H, W)
    # not in paper: clip before the 8-bit cast (numpy's cast of values > 255 is undefined).
    u8 = (layers * 255).clamp(0, 255).to(torch.uint8).cpu().numpy()
    masks = np.stack([_spatter_mask(u8[i, j, 0]) for i in range(b) for j in range(f)])
    mask = torch.from_numpy(masks).to(x.device, x.dtype).reshape(b, f, 1, h, w)
    peak = mask.amax((-1, -2), keepdim=True)
    # not in paper: an empty mask (peak 0) stays empty instead of dividing 0 by 0.
    mask = 0.6 * mask / peak.clamp_min(1e-12)
    # reference quirk: "pale turquoise" (175, 238, 238) is BGR but added to RGB channels as is.
    color = torch.tensor([175, 238, 238], dtype=x.dtype, device=x.device).reshape(1, 1, 3, 1, 1)
    return to_u8_trunc(x[:, None] + mask * color / 255.0)


_FUNCS: dict[str, Callable] = {
    "gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise,
    "speckle_noise": _speckle_noise, "motion_blur": _motion_blur, "zoom_blur": _zoom_blur,
    "snow": _snow, "brightness": _brightness, "translate": _translate, "rotate": _rotate,
    "tilt": _tilt, "scale": _scale, "gaussian_blur": _gaussian_blur, "spatter": _spatter,
    "shear": _shear,
}


def sequence_streams(seed: int, name: str, indices: Sequence[int],
                     device: torch.device | str) -> Streams:
    """One stream per image, keyed by (seed, perturbation, image index); severity slot 0 keeps
    the streams apart from the -C corruptions (severities 1..5) of the same name."""
    return Streams.for_items(seed, name, 0, indices=indices, device=device)


def perturb(
    images: np.ndarray | torch.Tensor,
    name: str,
    preset: str = "cifar",
    seed: int = 0,
    indices: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
    size: int | None = None,
) -> torch.Tensor:
    """Perturbation sequences of a batch of uint8 (B, H, W, 3) images.

    Returns uint8 (B, frames, size, size, 3) on ``device``. ``indices`` are the images'
    positions in their dataset (default 0..B-1); they, not the batch layout, decide each
    image's randomness. ``size`` (default: the input size, which must then be square) is the
    side of the centre crop that is returned (ImageNet-P: 256x256 inputs, ``size=224``).
    """
    p = _check(name, preset)
    t = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (B, H, W, 3), got {tuple(t.shape)} {t.dtype}")
    x = t.to(device).permute(0, 3, 1, 2).float().div_(255.0)
    h, w = x.shape[-2:]
    if size is None:
        if h != w:
            raise ValueError(f"non-square images ({h}x{w}) need an explicit crop `size`")
        size = h
    if size > min(h, w):
        raise ValueError(f"crop size {size} exceeds the image ({h}x{w})")
    if indices is None:
        indices = range(x.shape[0])
    if len(indices) != x.shape[0]:
        raise ValueError(f"{len(indices)} indices for {x.shape[0]} images")
    rng = sequence_streams(seed, name, indices, x.device)
    with torch.no_grad():
        return _FUNCS[name](x, p, rng, size)
