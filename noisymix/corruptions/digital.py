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

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.corruptions.base import register_corruption
from noisymix.corruptions.weather import gaussian_filter
from noisymix.rng import Streams

# ---------------------------------------------------------------------------------------------
# HSV edits (skimage.color semantics), in float64 as the references compute them
#
# The references convert to HSV, change V (brightness) or S (saturate), and convert back. In
# HSV every channel is v·(1 - s·k) with k ∈ [0, 1] fixed by the hue alone, so with the hue
# kept the round trip has a closed form: a new value v' scales the pixel by v'/v, a new
# saturation s' moves each channel away from v by s'/s. Black pixels (v = 0) become grey
# v'; grey pixels (s = 0) get skimage's hue 0, i.e. k = (0, 1, 1). Same numbers as the round
# trip up to float64 rounding, at a fraction of its cost (no hue, no sector table).


_BRIGHTNESS = {"cifar": [0.05, 0.1, 0.15, 0.2, 0.3], "imagenet": [0.1, 0.2, 0.3, 0.4, 0.5]}


@register_corruption("brightness")
def brightness(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    c = _BRIGHTNESS[preset][severity - 1]
    xd = x.to(torch.float64, copy=True)
    v = xd.amax(1, keepdim=True)
    gain = (v + c).clamp_(max=1.0).div_(v)  # v'/v (inf where v = 0: black, handled below)
    out = xd.mul_(gain)
    black = (v == 0).expand_as(out)
    out[black] = min(c, 1.0)
    return out.clamp_(0, 1).to(x.dtype)


# (saturation factor, saturation offset)
_SATURATE = {
    "cifar": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "imagenet": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
}


@register_corruption("saturate")
def saturate(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    a, b = _SATURATE[preset][severity - 1]
    xd = x.to(torch.float64, copy=True)
    v = xd.amax(1, keepdim=True)
    delta = v - xd.amin(1, keepdim=True)
    grey = delta == 0
    s = delta / torch.where(grey, 1.0, v)
    s_new = (s * a + b).clamp_(0, 1)
    # channel = v - s'·v·k with k = (v - channel) / delta (grey: hue 0, k = (0, 1, 1))
    k = (v - xd).div_(torch.where(grey, 1.0, delta))
    k = torch.where(grey, torch.tensor([0.0, 1.0, 1.0], dtype=xd.dtype,
                                       device=xd.device).view(1, 3, 1, 1), k)
    return (v - s_new * v * k).clamp_(0, 1).to(x.dtype)


_CONTRAST = {"cifar": [0.75, 0.5, 0.4, 0.3, 0.15], "imagenet": [0.4, 0.3, 0.2, 0.1, 0.05]}


@register_corruption("contrast")
def contrast(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    c = _CONTRAST[preset][severity - 1]
    xd = x.to(torch.float64, copy=True)
    means = xd.mean(dim=(2, 3), keepdim=True)  # per image and channel
    return xd.sub_(means).mul_(c).add_(means).clamp_(0, 1).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# pixelate: Pillow BOX resampling, as sparse taps in Pillow's fixed point

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


@functools.lru_cache(maxsize=64)
def _box_plan(n_in: int, n_out: int) -> tuple[torch.Tensor, ...]:
    """Pillow's BOX weights along one axis (``pil_box_matrix``) in closed form, on the CPU.

    A BOX output averages ``count`` consecutive inputs from ``first`` with equal fixed-point
    weights W = round(2²²/count), and Pillow stores (W·S + 2²¹) >> 22 for their sum S. As
    |W·S/2²² - S/count| < 1/(2·count) (count < 128), that is S/count rounded half up, except
    that ties round down where W < 2²²/count: floor((2S + count - down) / (2·count)), which
    float32 evaluates exactly (integers < 2²⁴, a correctly rounded quotient, truncation).
    Returns (first, count, 2·count, count - down); an enlargement has count 1 everywhere.
    When n_in = c·n_out, the boxes are the consecutive blocks of c inputs.
    """
    m = pil_box_matrix(n_in, n_out)
    used = m != 0
    count = used.sum(1)
    first = used.argmax(1)
    weight = m[np.arange(n_out), first]
    down = weight * count < (1 << _PREC)
    return (torch.from_numpy(first), torch.from_numpy(count),
            torch.from_numpy(2.0 * count).float(), torch.from_numpy(count - down).float())


def _interleave(index: torch.Tensor, k: int) -> torch.Tensor:
    """Pixel indices → value indices of rows holding k interleaved channels per pixel."""
    return index if k == 1 else (index[:, None] * k + torch.arange(k, device=index.device)).view(-1)


def _box_pass(y: torch.Tensor, n_out: int, dim: int, k: int = 1) -> torch.Tensor:
    """One Pillow BOX pass along ``dim`` (-1: along rows, -2: across them) of float32 y holding
    8-bit integers, bit-exact (see ``_box_plan``); rows hold k interleaved channels per pixel
    (channels-last images). float32 throughout: conversions cost more than the arithmetic."""
    k = k if dim == -1 else 1
    n_in = y.shape[dim] // k
    first, count, two_count, bias = (t.to(y.device) for t in _box_plan(n_in, n_out))
    if k > 1:
        count, two_count, bias = (t.repeat_interleave(k) for t in (count, two_count, bias))
    shape = (n_out * k,) + (1,) * (-1 - dim)

    def tap(t: int) -> torch.Tensor:  # input t of every output's box (clipped to the row)
        src = (first + t).clamp_(max=n_in - 1)
        if dim == -2:
            return y.index_select(-2, src)  # whole rows: fast on CPU
        src = _interleave(src, k)
        return y.gather(-1, src.expand(*y.shape[:-1], n_out * k))  # ~2x index_select's speed
    taps = int(count.max())
    if n_in == taps * n_out and bool((count == taps).all()):
        # Integer factor (e.g. 224 → 112, 56): the boxes are consecutive blocks, so tap t is a
        # strided view (2-3x faster than a gather along the last dim).
        block = y.unflatten(dim, (n_out, taps, k) if dim == -1 else (n_out, taps))
        total = block.select(-2, 0).clone()
        for t in range(1, taps):
            total.add_(block.select(-2, t))
        total = total.flatten(-2) if dim == -1 else total
    else:
        total = tap(0)
        for t in range(1, taps):
            inside = count > t
            if bool(inside.all()):
                total.add_(tap(t))
            else:
                total.addcmul_(tap(t), inside.to(torch.float32).view(shape))
    return total.mul_(2).add_(bias.view(shape)).div_(two_count.view(shape)).floor_()


def pil_box_resize(u8: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pillow ``Image.resize(size=(W, H), BOX)`` of uint8 (..., h, w) images, bit for bit;
    returns uint8 (..., H, W), channels-last if the input is.

    Horizontal pass first, each pass rounding to 8 bits as Pillow does (Pillow ≥ 13 runs the
    vertical pass first when h - H > 2·(w - W), i.e. pixelating images over twice as tall as
    wide; the references predate it). Where every output copies one input (enlargements),
    the passes are index selections of the uint8 pixels.
    """
    H, W = size
    h, w = u8.shape[-2:]
    (rows, row_taps, *_), (cols, col_taps, *_) = _box_plan(h, H), _box_plan(w, W)
    # A channels-last batch (B, C, h, w) is worked on as the rows of C·w values it holds:
    # no transposing copy (they cost as much as the passes).
    last = u8.dim() == 4 and u8.shape[1] > 1 and u8.stride(1) == 1
    k = u8.shape[1] if last else 1
    y = u8.permute(0, 2, 3, 1).reshape(u8.shape[0], h, w * k) if last else u8.contiguous()
    if int(row_taps.max()) == 1 and int(col_taps.max()) == 1:
        y = y.index_select(-2, rows.to(u8.device))
        y = y.gather(-1, _interleave(cols.to(u8.device), k).expand(*y.shape[:-1], W * k))
    else:
        y = y.float()
        if W != w:
            y = _box_pass(y, W, -1, k)
        if H != h:
            y = _box_pass(y, H, -2)
        y = y.to(torch.uint8)
    return y.view(u8.shape[0], H, W, k).permute(0, 3, 1, 2) if last else y


_PIXELATE = {"cifar": [0.95, 0.9, 0.85, 0.75, 0.65], "imagenet": [0.6, 0.5, 0.4, 0.3, 0.25]}


@register_corruption("pixelate", uint8=True)
def pixelate(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    """uint8 in, uint8 out (registered ``uint8=True``)."""
    c = _PIXELATE[preset][severity - 1]
    H, W = x.shape[-2:]
    # Both references shrink with BOX and enlarge again with BOX (imagecorruptions enlarges
    # with NEAREST; the two differ only where a source pixel edge falls on a target centre).
    return pil_box_resize(pil_box_resize(x, (int(H * c), int(W * c))), (H, W))


_JPEG = {"cifar": [80, 65, 58, 50, 40], "imagenet": [25, 18, 15, 10, 7]}


@register_corruption("jpeg_compression", uint8=True)
def jpeg_compression(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    """uint8 in, uint8 out (registered ``uint8=True``)."""
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    quality = _JPEG[preset][severity - 1]
    # A real JPEG round trip at the preset quality with torchvision, not Pillow: the same
    # libjpeg-turbo coder (4:2:0, islow DCT) gives Pillow's exact coded bytes and pixels at every
    # preset quality (checked), minus Pillow's per-image objects and numpy copies.
    # CUDA images are coded on the CPU too: nvjpeg is another codec, not checked against Pillow.
    # libjpeg-turbo releases the GIL: code contiguous slices of the batch in parallel, one per
    # torch thread (measured 1.6x on 2 cores), keeping the batch order.
    # Both coders work on HWC pixels: channels-last (3, H, W) views go in and come out
    # without transposing copies.
    u8 = list(x.to(device="cpu"))  # B (3, H, W)
    workers = max(1, min(torch.get_num_threads(), len(u8)))
    step = -(-len(u8) // workers)

    def round_trip(part: list[torch.Tensor]) -> list[torch.Tensor]:
        return decode_jpeg(encode_jpeg(part, quality=quality), mode=ImageReadMode.RGB)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(round_trip, [u8[i:i + step] for i in range(0, len(u8), step)])
        hwc = torch.stack([im.permute(1, 2, 0) for part in parts for im in part])
    return hwc.permute(0, 3, 1, 2).to(x.device)


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
    dev, dt = x.device, x.dtype
    # reference quirk: the points are built from (H//2, W//2) in (row, col) order but are used
    # as (x, y) points by cv2; this only matters for non-square images.
    c0, c1 = float(H // 2), float(W // 2)
    s = float(min(H, W) // 3)
    p1 = torch.tensor([[c0 + s, c1 + s], [c0 + s, c1 - s], [c0 - s, c1 - s]], dtype=torch.float64, device=dev)
    p2 = p1 + jitter.to(device=dev, dtype=torch.float64)  # (B, 3, 2)
    # affine M with M·[p1, 1] = p2 (dst from src); warpAffine samples src at M⁻¹·dst.
    A = torch.cat([p1, torch.ones(3, 1, dtype=torch.float64, device=dev)], 1)  # (3, 3)
    M = torch.linalg.solve(A.expand(B, 3, 3), p2).transpose(1, 2)  # (B, 2, 3)
    M3 = torch.cat([M, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=dev).expand(B, 1, 3)], 1)
    Minv = torch.linalg.inv(M3)[:, :2]  # (B, 2, 3), pixel (x, y) → source pixel (x, y)
    # The same map in grid_sample's align_corners=True coordinates (p = half·(g + 1), half =
    # (size - 1)/2), so that affine_grid builds the sampling grid in one batched product.
    # align_corners=True + reflection reflects about the edge pixel centres = REFLECT_101.
    half = torch.tensor([max(W - 1, 1) / 2, max(H - 1, 1) / 2], dtype=torch.float64, device=dev)
    lin, shift = Minv[:, :, :2], Minv[:, :, 2]
    theta = torch.cat([lin * half / half[:, None], ((lin @ half + shift) / half - 1)[:, :, None]], 2)
    grid = F.affine_grid(theta.to(dt), [B, 1, H, W], align_corners=True)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)

    # Both displacement fields in one filter call, then straight into grid coordinates:
    # align_corners=False + reflection reflects about the image borders (±0.5 px) and clamps,
    # which is scipy's half-sample 'reflect' for linear interpolation; g = (2·(p + d) + 1)/n - 1.
    fields = gaussian_filter(torch.stack([ux, uy], 1).to(device=dev, dtype=dt), sigma, mode="reflect", truncate=3.0)
    gx = (2 * torch.arange(W, device=dev, dtype=dt) + 1) / W - 1
    gy = (2 * torch.arange(H, device=dev, dtype=dt) + 1) / H - 1
    base = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)  # (H, W, 2): (x, y)
    scale = torch.tensor([2 * alpha / W, 2 * alpha / H], device=dev, dtype=dt)
    grid = torch.addcmul(base, fields.permute(0, 2, 3, 1), scale)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return y.clamp_(0, 1)


@register_corruption("elastic_transform")
def elastic_transform(x: torch.Tensor, severity: int, preset: str, rng: Streams) -> torch.Tensor:
    B, _, H, W = x.shape
    alpha, sigma, jit = elastic_params(preset, severity, H, W)
    u = rng.rand(6 + 2 * H * W) * 2 - 1  # U(-1, 1), one draw
    jitter = u[:, :6].view(B, 3, 2) * jit
    ux = u[:, 6:6 + H * W].view(B, H, W)
    uy = u[:, 6 + H * W:].view(B, H, W)
    return elastic_apply(x, alpha, sigma, jitter, ux, uy)
