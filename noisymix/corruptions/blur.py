"""Blur corruptions: defocus, glass, motion, zoom (test) and gaussian (extra), batched torch.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", arXiv:1903.12261. Parameters: hendrycks/robustness
``ImageNet-C/create_c/make_cifar_c.py`` (preset ``cifar``) and ``make_imagenet_c.py`` (preset
``imagenet``); size-generic algorithms as imaug/imagecorruptions implements them.

Everything works on float (B, C, H, W) in [0, 1] on any device; deterministic filters are
shared by the batch, random draws come from each image's own stream (see ``base``).

Public helpers for other modules (weather's snow, the -P perturbations):

* ``motion_blur_batch(x, radius, sigma, angles_deg)`` — one angle per image;
* ``zoom_blur_batch(x, zooms)`` — mean of the image and its centre-zoomed copies;
* ``gaussian_filter(x, sigma, mode, truncate)`` — scipy ``gaussian_filter`` (modes nearest,
  reflect, mirror; FFT for wide kernels), shared with weather/digital corruptions;
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import register_corruption

# ---------------------------------------------------------------------------------------------
# Parameters, indexed by severity - 1.
# ---------------------------------------------------------------------------------------------

# skimage ``gaussian`` sigma, pixels.
GAUSSIAN_BLUR = {"cifar": (0.4, 0.6, 0.7, 0.8, 1.0), "imagenet": (1, 2, 3, 4, 6)}
# (disk radius px, anti-alias gaussian sigma px)
DEFOCUS = {
    "cifar": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "imagenet": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
}
# (gaussian sigma px, max pixel displacement, shuffle iterations)
GLASS = {
    "cifar": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "imagenet": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
}
# (radius px, sigma px) of the motion kernel.
MOTION = {
    "cifar": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "imagenet": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
}
# reference quirk: zoom factors are np.arange with float steps, whose length depends on float
# round-off (np.arange(1, 1.11, 0.01) has 12 entries, ending at 1.11); evaluate it the same way.
ZOOM = {
    "cifar": [np.arange(1, stop, 0.01).tolist() for stop in (1.06, 1.11, 1.16, 1.21, 1.26)],
    "imagenet": [
        np.arange(1, 1.11, 0.01).tolist(),
        np.arange(1, 1.16, 0.01).tolist(),
        np.arange(1, 1.21, 0.02).tolist(),
        np.arange(1, 1.26, 0.02).tolist(),
        np.arange(1, 1.31, 0.03).tolist(),
    ],
}


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def _depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of padded x (B, C, H', W') with one 2-D kernel (kh, kw)."""
    b, c, h, w = x.shape
    out = F.conv2d(x.reshape(b * c, 1, h, w), kernel[None, None].to(x))
    return out.reshape(b, c, out.shape[-2], out.shape[-1])


def _gauss1d(sigma: float, radius: int, device: torch.device) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _pad_index(n: int, r: int, mode: str, device) -> torch.Tensor:
    """Source index of each of the n + 2r positions of a row padded by r on both sides.

    Works for r > n (the ImageNet elastic field has radius 512 on 224-px images).
    mode: scipy names — ``nearest`` (a a | a b c), ``reflect`` (b a | a b c, edge repeated),
    ``mirror`` (c b | a b c, cv2 BORDER_REFLECT_101).
    """
    i = torch.arange(-r, n + r, device=device)
    if mode == "nearest":
        return i.clamp(0, n - 1)
    if mode == "reflect":
        m = i.remainder(2 * n)
        return torch.where(m >= n, 2 * n - 1 - m, m)
    if mode == "mirror":
        if n == 1:
            return torch.zeros_like(i)
        m = i.remainder(2 * n - 2)
        return torch.where(m >= n, 2 * n - 2 - m, m)
    raise ValueError(f"unknown padding mode {mode!r}")


_FFT_RADIUS = 16  # px: above it the separable filter switches to FFT convolution


def _gaussian_1d(x: torch.Tensor, sigma: float, dim: int, mode: str, truncate: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = int(truncate * sigma + 0.5)  # scipy's kernel radius
    k = _gauss1d(sigma, r, x.device).to(x.dtype).view(1, 1, -1)
    n = x.shape[dim]
    xp = x.index_select(dim, _pad_index(n, r, mode, x.device)).movedim(dim, -1)
    lead = xp.shape[:-1]
    if r > _FFT_RADIUS:
        # Wide kernels (ImageNet elastic: r ≈ 100 px): direct conv1d costs O(n·r) and its
        # im2col buffer grew to tens of GB for a batch of 64; an FFT convolution is
        # O(n log n) and needs only the padded rows. The kernel is symmetric, so
        # convolution = correlation and the valid part starts at 2r.
        length = n + 4 * r
        spec = torch.fft.rfft(xp.double(), length) * torch.fft.rfft(k.view(-1).double(), length)
        y = torch.fft.irfft(spec, length)[..., 2 * r:2 * r + n].to(x.dtype)
    else:
        y = F.conv1d(xp.reshape(-1, 1, n + 2 * r), k).reshape(*lead, n)
    return y.movedim(-1, dim)


def gaussian_filter(
    x: torch.Tensor, sigma: float | tuple[float, float], mode: str = "nearest", truncate: float = 4.0
) -> torch.Tensor:
    """2-D Gaussian filter over the last two dims, as ``skimage.filters.gaussian`` /
    ``scipy.ndimage.gaussian_filter`` (same kernel radius, normalisation and border modes).
    sigma in pixels, scalar or (sigma_rows, sigma_cols)."""
    sy, sx = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    return _gaussian_1d(_gaussian_1d(x, float(sy), -2, mode, truncate), float(sx), -1, mode, truncate)


def disk_kernel(radius: float, alias_blur: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """The reference's anti-aliased disk (float32 (K, K), sums to 1).

    A {0,1} disk of ``radius`` px on a grid of half-width max(8, radius), normalised, then
    blurred by cv2.GaussianBlur with a 3×3 (radius ≤ 8) or 5×5 kernel of sigma ``alias_blur``
    and cv2's default border (reflect-101).
    """
    half, ksize = (8, 3) if radius <= 8 else (int(radius), 5)
    t = torch.arange(-half, half + 1, device=device, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    d = ((xx**2 + yy**2) <= radius**2).to(torch.float64)
    d = d / d.sum()
    g = _gauss1d(alias_blur, ksize // 2, torch.device(device))  # cv2.getGaussianKernel, sigma > 0
    p = ksize // 2
    d = F.pad(d[None, None], (p, p, p, p), mode="reflect")  # torch 'reflect' == cv2 reflect-101
    d = F.conv2d(F.conv2d(d, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    return d[0, 0].float()


def filter2d_reflect(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """cv2.filter2D(x, -1, kernel) per channel: correlation, centred anchor, reflect-101 border."""
    kh, kw = kernel.shape
    y = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    if kh * kw <= 121:
        return _depthwise(y, kernel)
    # Large kernels (the 17×17+ disks) by FFT, as cv2.filter2D also switches to the DFT for
    # kernels of 11×11 and more; the circular wrap only touches the discarded pad border.
    hp, wp = y.shape[-2:]
    k_f = torch.fft.rfft2(kernel.to(y).flip(0, 1), s=(hp, wp))
    out = torch.fft.irfft2(torch.fft.rfft2(y) * k_f, s=(hp, wp))
    return out[..., kh - 1 :, kw - 1 :].contiguous()


# ---------------------------------------------------------------------------------------------
# Motion blur and zoom blur (public helpers)
# ---------------------------------------------------------------------------------------------


def _shift_index(n: int, shift: torch.Tensor) -> torch.Tensor:
    """Source index of ``out[j] = in[clamp(j - shift)]`` (edge-replicating shift), (B, n)."""
    j = torch.arange(n, device=shift.device)
    return (j[None, :] - shift[:, None]).clamp_(0, n - 1)


def motion_blur_batch(
    x: torch.Tensor, radius: int, sigma: float, angles_deg: torch.Tensor
) -> torch.Tensor:
    """Motion blur of x (B, C, H, W) along one angle per image (degrees, (B,)).

    imagecorruptions' re-implementation of ImageMagick's MotionBlurImage: a one-sided 1-D
    gaussian kernel k_i ∝ exp(-i²/2σ²), i = 0..2·radius, normalised; tap i is the image shifted
    by round(i·(cos a, sin a)) px (rounded as -ceil(v - 0.5)), edges replicated. Taps whose
    shift reaches the image size are dropped (reference quirk: the kernel is not renormalised).
    """
    b, c, h, w = x.shape
    width = 2 * int(radius) + 1
    i = torch.arange(width, device=x.device, dtype=torch.float64)
    k = torch.exp(-(i**2) / (2.0 * float(sigma) ** 2))
    k = (k / k.sum())[None, :]  # (1, width)
    a = torch.deg2rad(angles_deg.to(device=x.device, dtype=torch.float64))[:, None]  # (B, 1)
    # The reference's point = width·(sin a, cos a) divided by its own length.
    p_y, p_x = width * torch.sin(a), width * torch.cos(a)
    hyp = torch.hypot(p_y, p_x)
    dy = -torch.ceil(i * p_y / hyp - 0.5).long()  # (B, width)
    dx = -torch.ceil(i * p_x / hyp - 0.5).long()
    # reference quirk: the tap loop stops at the first shift as large as the image.
    inside = (dy.abs() < h) & (dx.abs() < w)
    weight = (k * torch.cumprod(inside.to(torch.float64), dim=1)).to(x.dtype)  # (B, width)
    out = torch.zeros_like(x)
    flat = x.reshape(b, c, h * w)
    for t in range(width):
        # One gather per tap over the flattened image: source pixel (row, col) of every output.
        src = _shift_index(h, dy[:, t])[:, :, None] * w + _shift_index(w, dx[:, t])[:, None, :]
        tap = flat.gather(2, src.reshape(b, 1, h * w).expand(b, c, h * w))
        out += weight[:, t, None, None, None] * tap.view(b, c, h, w)
    return out


def _linear_resample(x: torch.Tensor, coords: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear interpolation of x along ``dim`` at fractional source positions ``coords``."""
    n = x.shape[dim]
    i0 = coords.floor().long().clamp_(0, n - 1)
    i1 = (i0 + 1).clamp_(max=n - 1)
    shape = [1] * x.dim()
    shape[dim] = -1
    frac = (coords - i0.to(coords)).to(x.dtype).view(shape)
    return x.index_select(dim, i0) * (1 - frac) + x.index_select(dim, i1) * frac


def _zoom_coords(n: int, zoom: float, device: torch.device) -> torch.Tensor:
    """Source positions (n,) of the first n outputs of the reference's ``clipped_zoom``.

    Crop the central ceil(n/zoom) px, scipy.ndimage.zoom it (order 1, output round(crop·zoom)
    px, corner-aligned grid: out j ↦ crop j·(crop-1)/(out-1)), keep the first n px (the zoomed
    crop is at most one px longer, so the reference's central trim keeps the same ones).
    """
    crop = int(math.ceil(n / float(zoom)))
    top = (n - crop) // 2
    out = int(round(crop * float(zoom)))
    scale = (crop - 1) / (out - 1) if out > 1 else 0.0
    j = torch.arange(n, device=device, dtype=torch.float64)
    return top + j * scale


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """Centre zoom of x (B, C, H, W) by ``zoom`` ≥ 1, same size, bilinear (scipy order 1)."""
    h, w = x.shape[-2:]
    y = _linear_resample(x, _zoom_coords(h, zoom, x.device), dim=2)
    return _linear_resample(y, _zoom_coords(w, zoom, x.device), dim=3)


def zoom_blur_batch(x: torch.Tensor, zooms: Sequence[float]) -> torch.Tensor:
    """Mean of x (B, C, H, W) and its centre-zoomed copies (zoom factors ≥ 1), as the reference."""
    out = x.clone()
    for z in zooms:
        out += clipped_zoom(x, float(z))
    return out / (len(zooms) + 1)


# ---------------------------------------------------------------------------------------------
# Glass blur
# ---------------------------------------------------------------------------------------------


def glass_sources(offsets: torch.Tensor, h: int, w: int, delta: int) -> torch.Tensor:
    """Flat source index (B, h·w) of one pass of the reference's local pixel "swap".

    The reference visits rows r = h-δ … δ+1 and, within each, columns q = w-δ … δ+1 (both
    descending), draws (dx, dy) ∈ [-δ, δ)² and executes ``x[r, q], x[r', q'] = x[r', q'], x[r, q]``
    on numpy views. reference quirk: that statement is a one-way copy x[r, q] ← x[r+dy, q+dx]
    (the second assignment writes back the value just copied), and being sequential, a copy may
    read a pixel already overwritten in this pass. Reproduced exactly and batched: a pixel's final
    value is the original value at the end of its chain of copies from earlier-visited pixels,
    found by pointer jumping (log₂ of the longest chain gathers). For δ = 1 (CIFAR) offsets lie in
    {-1, 0}, every source is visited later, and this is one plain gather.

    offsets: int (B, h-2δ, w-2δ, 2) holding (dy, dx) for visited pixel (δ+1+i, δ+1+j).
    """
    b = offsets.shape[0]
    dev = offsets.device
    rows = torch.arange(delta + 1, h - delta + 1, device=dev)
    cols = torch.arange(delta + 1, w - delta + 1, device=dev)
    r, q = rows[:, None], cols[None, :]
    src_r = r + offsets[..., 0]  # (B, nh, nw)
    src_q = q + offsets[..., 1]
    visited = (src_r > delta) & (src_r <= h - delta) & (src_q > delta) & (src_q <= w - delta)
    # Visit order is descending (row, col): the source was overwritten before (r, q) iff later.
    earlier = visited & ((src_r > r) | ((src_r == r) & (src_q > q)))
    ptr = torch.arange(h * w, device=dev).repeat(b, 1)  # identity outside the visited region
    done = torch.ones(b, h * w, dtype=torch.bool, device=dev)
    flat = (r * w + q).expand(b, -1, -1).reshape(b, -1)
    ptr.scatter_(1, flat, (src_r * w + src_q).reshape(b, -1))
    done.scatter_(1, flat, ~earlier.reshape(b, -1))
    # Invariant: final(p) = orig[ptr(p)] if done(p) else final(ptr(p)).
    while not bool(done.all()):
        ptr, done = (
            torch.where(done, ptr, ptr.gather(1, ptr)),
            done | done.gather(1, ptr),
        )
    return ptr


def glass_shuffle(x: torch.Tensor, offsets: torch.Tensor, delta: int) -> torch.Tensor:
    """Apply one pass of the sequential pixel copy to x (B, C, H, W) with given offsets."""
    b, c, h, w = x.shape
    src = glass_sources(offsets, h, w, delta)
    return x.reshape(b, c, h * w).gather(2, src[:, None, :].expand(b, c, -1)).reshape(b, c, h, w)


# ---------------------------------------------------------------------------------------------
# Registered corruptions
# ---------------------------------------------------------------------------------------------


@register_corruption("gaussian_blur")
def gaussian_blur(x, severity, preset, rng):
    return gaussian_filter(x, GAUSSIAN_BLUR[preset][severity - 1]).clamp_(0, 1)


@register_corruption("defocus_blur")
def defocus_blur(x, severity, preset, rng):
    radius, alias = DEFOCUS[preset][severity - 1]
    return filter2d_reflect(x, disk_kernel(radius, alias, x.device)).clamp_(0, 1)


@register_corruption("glass_blur")
def glass_blur(x, severity, preset, rng):
    sigma, delta, iterations = GLASS[preset][severity - 1]
    b, _, h, w = x.shape
    y = gaussian_filter(x, sigma)
    # The reference quantises to uint8 between the two blurs (np.uint8 truncates); +1e-3 as
    # base.to_uint8 guards float round-off.
    y = (y.clamp(0, 1) * 255.0 + 1e-3).floor_().div_(255.0)
    nh, nw = max(h - 2 * delta, 0), max(w - 2 * delta, 0)
    for _ in range(iterations):
        # Offsets in [-δ, δ) (numpy randint excludes the upper bound), one draw per image.
        off = rng.randint(-delta, delta, (nh, nw, 2))
        y = glass_shuffle(y, off, delta)
    return gaussian_filter(y, sigma).clamp_(0, 1)


@register_corruption("motion_blur")
def motion_blur(x, severity, preset, rng):
    # not in paper: the reference renders motion blur with ImageMagick (Wand); like
    # imagecorruptions we use its numpy re-implementation (no ImageMagick needed), with each
    # preset's (radius, sigma). The CIFAR-10-C release itself went through ImageMagick.
    radius, sigma = MOTION[preset][severity - 1]
    angles = rng.rand((), torch.float64) * 90.0 - 45.0  # uniform(-45, 45) degrees per image
    return motion_blur_batch(x, radius, sigma, angles).clamp_(0, 1)


@register_corruption("zoom_blur")
def zoom_blur(x, severity, preset, rng):
    return zoom_blur_batch(x, ZOOM[preset][severity - 1]).clamp_(0, 1)
