"""Digital corruptions of the -C benchmarks: brightness, contrast, saturate, elastic_transform,
pixelate, jpeg_compression (batched torch, except JPEG).

Paper: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations", arXiv:1903.12261. References: hendrycks/robustness
``ImageNet-C/create_c/make_cifar_c.py`` (``cifar`` preset, 32 px) and ``make_imagenet_c.py``
(``imagenet`` preset, 224 px); imaug/imagecorruptions (the ``imagenet`` preset at any size).

brightness / saturate reproduce ``skimage.color`` HSV round trips, pixelate reproduces
Pillow's 8-bit BOX resampling (fixed-point coefficients, horizontal pass first), so these
match the references up to float rounding; see tests/test_corruptions_weather_digital.py.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import register_corruption
from noisymix.corruptions.weather import gaussian_filter
from noisymix.rng import Streams

# ---------------------------------------------------------------------------------------------
# HSV (skimage.color semantics), computed in float64 as the references do


def rgb2hsv(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] → HSV, all in [0, 1], as ``skimage.color.rgb2hsv``.

    Hue ties between channels go to the last maximal one (blue over green over red), and grey
    pixels get hue 0 and saturation 0.
    """
    r, g, b = x.unbind(1)
    v = x.amax(1)
    delta = v - x.amin(1)
    grey = delta == 0
    d = torch.where(grey, torch.ones_like(delta), delta)
    s = torch.where(grey, torch.zeros_like(delta), delta / torch.where(grey, torch.ones_like(v), v))
    h = torch.where(b == v, 4 + (r - g) / d, torch.where(g == v, 2 + (b - r) / d, (g - b) / d))
    h = torch.where(grey, torch.zeros_like(h), torch.remainder(h / 6, 1.0))
    return torch.stack([h, s, v], 1)


def hsv2rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) HSV → RGB, as ``skimage.color.hsv2rgb`` (sector = floor(6h) mod 6)."""
    h, s, v = hsv.unbind(1)
    hi = torch.floor(h * 6)
    f = h * 6 - hi
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    hi = hi.long().remainder(6)
    table = torch.stack(
        [
            torch.stack(c, 1)
            for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))
        ],
        0,
    )  # (6, B, 3, H, W)
    idx = hi.unsqueeze(0).unsqueeze(2).expand(1, -1, 3, -1, -1)
    return table.gather(0, idx).squeeze(0)


_BRIGHTNESS = {"cifar": [0.05, 0.1, 0.15, 0.2, 0.3], "imagenet": [0.1, 0.2, 0.3, 0.4, 0.5]}


@register_corruption("brightness")
def brightness(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    c = _BRIGHTNESS[preset][severity - 1]
    hsv = rgb2hsv(x.double())
    hsv = torch.cat([hsv[:, :2], (hsv[:, 2:] + c).clamp(0, 1)], 1)  # value + c
    return hsv2rgb(hsv).clamp(0, 1).to(x.dtype)


# (saturation factor, saturation offset)
_SATURATE = {
    "cifar": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "imagenet": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
}


@register_corruption("saturate")
def saturate(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    a, b = _SATURATE[preset][severity - 1]
    hsv = rgb2hsv(x.double())
    hsv = torch.cat([hsv[:, :1], (hsv[:, 1:2] * a + b).clamp(0, 1), hsv[:, 2:]], 1)
    return hsv2rgb(hsv).clamp(0, 1).to(x.dtype)


_CONTRAST = {"cifar": [0.75, 0.5, 0.4, 0.3, 0.15], "imagenet": [0.4, 0.3, 0.2, 0.1, 0.05]}


@register_corruption("contrast")
def contrast(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    c = _CONTRAST[preset][severity - 1]
    xd = x.double()
    means = xd.mean(dim=(2, 3), keepdim=True)  # per image and channel
    return ((xd - means) * c + means).clamp(0, 1).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# pixelate: Pillow BOX resampling as matrices

_PREC = 22  # Pillow's PRECISION_BITS for 8-bit images (32 - 8 - 2)


def pil_box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) fixed-point weights of Pillow's BOX resize along one axis.

    Mirrors Pillow's ``precompute_coeffs`` (box filter on (-0.5, 0.5], support 0.5·scale,
    normalised) and ``normalize_coeffs_8bpc`` (weights rounded to multiples of 2**-22).
    """
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = 0.5 * fscale
    out = np.zeros((n_out, n_in), dtype=np.float64)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        pos = np.arange(xmin, xmax)
        u = (pos - center + 0.5) / fscale
        w = ((u > -0.5) & (u <= 0.5)).astype(np.float64)
        if w.sum() > 0:
            w /= w.sum()
        out[xx, xmin:xmax] = np.floor(w * (1 << _PREC) + 0.5)
    return out


def pil_box_resize(u8: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pillow ``Image.resize(size=(W, H), BOX)`` of integer-valued (B, C, h, w) images.

    Horizontal pass first, each pass rounding to 8 bits as Pillow does; float64 holds the
    fixed-point sums exactly (< 2**31).
    """
    H, W = size
    h, w = u8.shape[-2:]
    y = u8.double()
    half = float(1 << (_PREC - 1))
    if W != w:
        kw = torch.from_numpy(pil_box_matrix(w, W)).to(y.device)
        y = torch.floor((y @ kw.T + half) / (1 << _PREC)).clamp(0, 255)
    if H != h:
        kh = torch.from_numpy(pil_box_matrix(h, H)).to(y.device)
        y = torch.floor((kh @ y + half) / (1 << _PREC)).clamp(0, 255)
    return y


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    """float [0, 1] → integer-valued float in 0..255 (exact for x = k/255)."""
    return torch.round(x.clamp(0, 1) * 255)


_PIXELATE = {"cifar": [0.95, 0.9, 0.85, 0.75, 0.65], "imagenet": [0.6, 0.5, 0.4, 0.3, 0.25]}


@register_corruption("pixelate")
def pixelate(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    c = _PIXELATE[preset][severity - 1]
    H, W = x.shape[-2:]
    # Both references shrink with BOX and enlarge again with BOX (imagecorruptions enlarges
    # with NEAREST; the two differ only where a source pixel edge falls on a target centre).
    small = pil_box_resize(_to_u8(x), (int(H * c), int(W * c)))
    return (pil_box_resize(small, (H, W)) / 255).to(x.dtype)


_JPEG = {"cifar": [80, 65, 58, 50, 40], "imagenet": [25, 18, 15, 10, 7]}


@register_corruption("jpeg_compression")
def jpeg_compression(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    from PIL import Image

    quality = _JPEG[preset][severity - 1]
    u8 = _to_u8(x).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 3)
    # A real JPEG round trip with Pillow (libjpeg) at the preset quality: entropy coding is
    # inherently per-image CPU work, so this loop is the one non-batched path here.
    out = []
    for img in u8:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=quality)
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    y = torch.from_numpy(np.stack(out)).to(x.device).permute(0, 3, 1, 2)
    return (y.to(x.dtype) / 255).contiguous()


# ---------------------------------------------------------------------------------------------
# elastic transform

# (displacement amplitude α, field smoothing σ, affine jitter) in pixels at the reference size
_ELASTIC_REF_SIZE = {"cifar": 32, "imagenet": 224}
_ELASTIC = {
    # reference quirk: the affine jitter (3rd term) shrinks with severity on CIFAR-10-C
    # (0.08 → 0.03 of the size); the distortion is carried by the smoothed field instead.
    "cifar": [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
    # reference quirk: "244 should have been 224" — make_imagenet_c.py's factor, kept as is.
    "imagenet": [(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)],
}


def elastic_params(preset: str, severity: int, H: int, W: int) -> tuple[float, float, float]:
    """(α, σ, affine jitter) in pixels for an H × W image."""
    base = 32 if preset == "cifar" else 244
    # not in paper: the references fix the image size (32 / 224 px); for other sizes every
    # pixel quantity is scaled by min(H, W) / reference size (identity at the reference size).
    f = min(H, W) / _ELASTIC_REF_SIZE[preset]
    return tuple(base * k * f for k in _ELASTIC[preset][severity - 1])


def elastic_apply(
    x: torch.Tensor, alpha: float, sigma: float, jitter: torch.Tensor, ux: torch.Tensor, uy: torch.Tensor
) -> torch.Tensor:
    """The deterministic part of elastic_transform, given its random draws.

    x (B, 3, H, W); jitter (B, 3, 2) = U(-1, 1)·affine jitter (pixels) added to the three
    reference points; ux, uy (B, H, W) = U(-1, 1) fields. Steps of the reference:
    1. random affine (cv2.getAffineTransform + warpAffine, bilinear, BORDER_REFLECT_101);
    2. displacement fields gaussian(u, σ, mode='reflect', truncate=3)·α;
    3. bilinear resampling at (row + dy, col + dx), scipy map_coordinates mode='reflect'.
    """
    B, _, H, W = x.shape
    dev = x.device
    # reference quirk: the points are built from (H//2, W//2) in (row, col) order but are used
    # as (x, y) points by cv2; this only matters for non-square images.
    c0, c1 = float(H // 2), float(W // 2)
    s = float(min(H, W) // 3)
    p1 = torch.tensor([[c0 + s, c1 + s], [c0 + s, c1 - s], [c0 - s, c1 - s]], dtype=torch.float64, device=dev)
    p2 = p1 + jitter.double()  # (B, 3, 2)
    # affine M with M·[p1, 1] = p2 (dst from src); warpAffine samples src at M⁻¹·dst.
    A = torch.cat([p1, torch.ones(3, 1, dtype=torch.float64, device=dev)], 1)  # (3, 3)
    M = torch.linalg.solve(A.expand(B, 3, 3), p2).transpose(1, 2)  # (B, 2, 3)
    M3 = torch.cat([M, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=dev).expand(B, 1, 3)], 1)
    Minv = torch.linalg.inv(M3)[:, :2]  # (B, 2, 3)
    rows, cols = torch.meshgrid(
        torch.arange(H, dtype=torch.float64, device=dev), torch.arange(W, dtype=torch.float64, device=dev), indexing="ij"
    )
    dst = torch.stack([cols, rows, torch.ones_like(rows)], -1)  # (H, W, 3): (x, y, 1)
    src = torch.einsum("bij,hwj->bhwi", Minv, dst)  # (B, H, W, 2) source (x, y) in pixels
    # align_corners=True + reflection reflects about the edge pixel centres = REFLECT_101
    grid = torch.stack([2 * src[..., 0] / max(W - 1, 1) - 1, 2 * src[..., 1] / max(H - 1, 1) - 1], -1)
    x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)

    dx = gaussian_filter(ux.to(torch.float64), sigma, mode="reflect", truncate=3.0) * alpha
    dy = gaussian_filter(uy.to(torch.float64), sigma, mode="reflect", truncate=3.0) * alpha
    # align_corners=False + reflection reflects about the image borders (±0.5 px) and clamps,
    # which is scipy's half-sample 'reflect' for linear interpolation.
    gx = (2 * (cols + dx) + 1) / W - 1
    gy = (2 * (rows + dy) + 1) / H - 1
    grid = torch.stack([gx, gy], -1).to(x.dtype)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return y.clamp(0, 1)


@register_corruption("elastic_transform")
def elastic_transform(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    B, _, H, W = x.shape
    alpha, sigma, jit = elastic_params(preset, severity, H, W)
    u = rng.rand(6 + 2 * H * W) * 2 - 1  # U(-1, 1), one draw
    jitter = u[:, :6].view(B, 3, 2) * jit
    ux = u[:, 6:6 + H * W].view(B, H, W)
    uy = u[:, 6 + H * W:].view(B, H, W)
    return elastic_apply(x, alpha, sigma, jitter, ux, uy)
