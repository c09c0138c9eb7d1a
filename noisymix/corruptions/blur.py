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
* ``clipped_zoom(x, zoom)`` — the references' centre zoom (also snow's flake layer);
* ``gaussian_filter(x, sigma, mode, truncate)`` — scipy ``gaussian_filter`` (modes nearest,
  reflect, mirror; a folded (n, n) matrix for wide kernels), shared with weather/digital
  corruptions;
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import register_corruption, truncated_levels_

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
    # Every (image, channel) as one channel of a grouped conv: on CPU several times faster
    # than one-channel images in the batch dimension.
    k = kernel.to(x)[None, None].expand(b * c, 1, *kernel.shape)
    out = F.conv2d(x.reshape(1, b * c, h, w), k, groups=b * c)
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


# Wide kernels: when the kernel is wider than about half the row (n < 2·(2r + 1); the ImageNet
# elastic fields have r = 59 and 512 on 224-px rows), the padded convolution is replaced by
# one (n, n) matrix per axis: the kernel folded through the border's index map, so the
# border (even r > n) is exact, applied as a GEMM.
_WIDE_FACTOR = 2


def _is_wide(n: int, r: int) -> bool:
    return n < _WIDE_FACTOR * (2 * r + 1)


def _pad_along(x: torch.Tensor, r: int, dim: int, mode: str) -> torch.Tensor:
    """x padded by r on both sides of ``dim`` with a scipy border mode (see ``_pad_index``).

    Slices and concatenation (several times faster than a gather along the last dim on CPU);
    the gather handles what slices cannot (reflections wider than the row).
    """
    n = x.shape[dim]
    if r == 0:
        return x
    if mode == "nearest":
        side = list(x.shape)
        side[dim] = r
        return torch.cat([x.narrow(dim, 0, 1).expand(side), x, x.narrow(dim, n - 1, 1).expand(side)], dim)
    skip = 1 if mode == "mirror" else 0  # mirror (c b | a b c) skips the edge sample
    if mode in ("reflect", "mirror") and r + skip <= n:
        lo = x.narrow(dim, skip, r).flip(dim)
        hi = x.narrow(dim, n - r - skip, r).flip(dim)
        return torch.cat([lo, x, hi], dim)
    return x.index_select(dim, _pad_index(n, r, mode, x.device))


@functools.lru_cache(maxsize=64)
def _folded_kernel(n: int, sigma: float, r: int, mode: str) -> torch.Tensor:
    """(n, n) float64 CPU matrix of the 1-D filter with its border: row j holds the kernel
    taps accumulated onto the source pixels that the padded positions j..j+2r map to."""
    k = _gauss1d(sigma, r, torch.device("cpu"))
    src = _pad_index(n, r, mode, "cpu").unfold(0, 2 * r + 1, 1)  # (n, 2r+1) source of each tap
    m = torch.zeros(n, n, dtype=torch.float64)
    rows = torch.arange(n)[:, None].expand_as(src)
    return m.index_put_((rows, src), k.expand_as(src).clone(), accumulate=True)


def _gaussian_1d(x: torch.Tensor, sigma: float, dim: int, mode: str, truncate: float) -> torch.Tensor:
    """Gaussian filter of x along ``dim`` (-1 or -2 of a tensor with ≥ 2 dims)."""
    if sigma <= 0:
        return x
    r = int(truncate * sigma + 0.5)  # scipy's kernel radius
    n = x.shape[dim]
    if _is_wide(n, r):
        m = _folded_kernel(n, float(sigma), r, mode).to(device=x.device, dtype=x.dtype)
        return x @ m.T if dim == -1 else m @ x
    # Depthwise conv2d: every leading index is one channel with its own copy of the kernel
    # (on CPU ~10x faster than the same conv with the channels folded into the batch).
    shape = x.shape
    xp = _pad_along(x.reshape(1, -1, *shape[-2:]), r, dim, mode)
    k = _gauss1d(sigma, r, x.device).to(x.dtype)
    k = k.view(1, 1, 1, -1) if dim == -1 else k.view(1, 1, -1, 1)
    c = xp.shape[1]
    return F.conv2d(xp, k.expand(c, -1, -1, -1), groups=c).reshape(shape)


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
    # Zero taps add nothing: crop an odd kernel to its nonzero support about the centre (the
    # disks sit on a 17×17+ grid; CIFAR's cover 5×5 of it).
    nz = kernel.detach().cpu() != 0
    if kh % 2 and kw % 2 and bool(nz.any()):
        ry = int((torch.nonzero(nz.any(1)).squeeze(1) - kh // 2).abs().max())
        rx = int((torch.nonzero(nz.any(0)).squeeze(1) - kw // 2).abs().max())
        kernel = kernel[kh // 2 - ry:kh // 2 + ry + 1, kw // 2 - rx:kw // 2 + rx + 1]
        kh, kw = kernel.shape
    y = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    if kh * kw <= 169:
        return _depthwise(y, kernel)
    # Larger kernels (ImageNet's 15×15 to 21×21 disks) by FFT, as cv2.filter2D also switches
    # to the DFT for large kernels, on 5-smooth sizes; the circular wrap only touches the
    # discarded pad border.
    hp, wp = y.shape[-2:]
    size = (_smooth_len(hp), _smooth_len(wp))
    k_f = torch.fft.rfft2(kernel.to(y).flip(0, 1), s=size)
    out = torch.fft.irfft2(torch.fft.rfft2(y, s=size) * k_f, s=size)
    return out[..., kh - 1 : hp, kw - 1 : wp].contiguous()


def _smooth_len(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n (a fast FFT length)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


# ---------------------------------------------------------------------------------------------
# Motion blur and zoom blur (public helpers)
# ---------------------------------------------------------------------------------------------


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
    # Edge replication = reading a copy of x padded by the largest shift used, replicated.
    reach = torch.where(weight != 0, torch.maximum(dy.abs(), dx.abs()), 0)  # (B, width)
    pad = int(reach.max()) if b else 0
    x = x.contiguous()  # NCHW windows (to_float's images are channels-last strided)
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate") if pad else x
    # Tap t of image b reads the window of xp at (pad - dy, pad - dx); dropped taps (weight 0)
    # read the centred window instead, which stays inside xp.
    used = weight != 0
    top, left = torch.where(used, pad - dy, pad), torch.where(used, pad - dx, pad)
    sliced = x.device.type == "cpu" and h * w >= _SLICED_MIN_PIXELS
    apply = _sum_windows_sliced if sliced else _sum_windows_gathered
    return apply(xp, h, w, top, left, weight)


# CPU: per-image window sums from about 48×48 px up (CIFAR's 32 px: the per-call overhead of
# B·taps small adds outweighs the gathers; 224 px: sliced ~10x faster).
_SLICED_MIN_PIXELS = 48 * 48


def _sum_windows_sliced(xp, h, w, top, left, weight):
    """Σ_t weight[b, t]·xp[b, :, top[b, t]:+h, left[b, t]:+w] per image: each tap one fused
    multiply-add of a strided window, no index tensors (several times faster on CPU than a
    batched gather per tap). Zero-weight taps are skipped."""
    out = xp.new_empty(xp.shape[0], xp.shape[1], h, w)
    for i, (ts, ls, ws) in enumerate(zip(top.tolist(), left.tolist(), weight.tolist())):
        acc = out[i].zero_()
        for t0, l0, wt in zip(ts, ls, ws):
            if wt != 0:
                acc.add_(xp[i, :, t0:t0 + h, l0:l0 + w], alpha=wt)
    return out


def _sum_windows_gathered(xp, h, w, top, left, weight):
    """The same sum as ``_sum_windows_sliced`` with one batched gather per tap (GPU): a shared
    (h·w) window index plus each image's offset into its flattened padded copy."""
    b, c, hp, wp = xp.shape
    dev = xp.device
    base = (torch.arange(h, device=dev)[:, None] * wp + torch.arange(w, device=dev)).view(1, -1)
    offset = top * wp + left  # (B, width)
    flat = xp.reshape(b, c, hp * wp)
    out = xp.new_zeros(b, c, h, w)
    for t in torch.nonzero((weight != 0).any(0)).squeeze(1).tolist():  # taps some image uses
        src = (base + offset[:, t, None])[:, None, :].expand(b, c, h * w)
        out += weight[:, t, None, None, None] * flat.gather(2, src).view(b, c, h, w)
    return out


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """Centre zoom of x (B, C, H, W) by ``zoom`` ≥ 1, same size, as the references'
    ``clipped_zoom``: crop the central ceil(n/zoom) px of each axis, ``scipy.ndimage.zoom`` it
    (order 1: linear, corner-aligned grid, output round(crop·zoom) px), trim the excess evenly.

    The zoomed crop is at most one pixel longer than n, so the even trim keeps its first n
    pixels; torch's bilinear resize with aligned corners is the same linear map (measured 2-4x
    faster than gathering the two taps ourselves).
    """
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / zoom), math.ceil(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top:top + ch, left:left + cw]
    oh, ow = round(ch * zoom), round(cw * zoom)
    y = F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)
    th, tw = (oh - h) // 2, (ow - w) // 2
    return y[..., th:th + h, tw:tw + w]


def zoom_blur_batch(x: torch.Tensor, zooms: Sequence[float]) -> torch.Tensor:
    """Mean of x (B, C, H, W) and its centre-zoomed copies (zoom factors ≥ 1), as the reference."""
    out = x.clone()
    for z in zooms:
        out += clipped_zoom(x, float(z))
    return out.div_(len(zooms) + 1)


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
    b, nh, nw, _ = offsets.shape
    dev = offsets.device
    n = h * w
    dy, dx = offsets.to(torch.int32).unbind(-1)  # (B, nh, nw)
    step = torch.add(dx, dy, alpha=w)  # flat source offset dy·w + dx
    # Visit order is descending (row, col), i.e. descending flat index: the source was
    # overwritten before (r, q) iff it lies later (step > 0) and inside the visited window.
    # Only the window's last δ-1 rows / cols and first δ cols can point outside it.
    earlier = step > 0
    kr, kc, kl = min(delta - 1, nh), min(delta - 1, nw), min(delta, nw)
    if kr > 0:
        last_rows = torch.arange(h - delta - kr + 1, h - delta + 1, device=dev)[:, None]
        earlier[:, nh - kr:] &= last_rows + dy[:, nh - kr:] <= h - delta
    if kc > 0:
        last_cols = torch.arange(w - delta - kc + 1, w - delta + 1, device=dev)
        earlier[:, :, nw - kc:] &= last_cols + dx[:, :, nw - kc:] <= w - delta
    first_cols = torch.arange(delta + 1, delta + kl + 1, device=dev)
    earlier[:, :, :kl] &= first_cols + dx[:, :, :kl] > delta
    window = (slice(None), slice(delta + 1, h - delta + 1), slice(delta + 1, w - delta + 1))
    # Pointers into the whole flattened batch (image b owns [b·n, (b+1)·n)); identity outside
    # the visited window.
    ptr = torch.arange(b * n, device=dev).view(b, h, w)
    ptr[window] += step
    pending = torch.zeros(b, h, w, dtype=torch.bool, device=dev)
    pending[window] = earlier
    ptr, pending = ptr.view(-1), pending.view(-1)
    # Invariant: final(p) = orig[ptr(p)] if not pending(p) else final(ptr(p)). Synchronous
    # pointer jumping over the shrinking set of pending pixels only (~40 % of the window at
    # first, geometrically fewer after each step).
    active = pending.nonzero().squeeze(1)
    while active.numel():
        nxt = ptr[active]
        ptr[active], still = ptr[nxt], pending[nxt]
        pending[active] = still
        active = active[still]
    return ptr.view(b, n) - torch.arange(0, b * n, n, device=dev)[:, None]


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
    # The reference quantises to uint8 between the two blurs (np.uint8 truncates).
    y = truncated_levels_(y).div_(255.0)
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
