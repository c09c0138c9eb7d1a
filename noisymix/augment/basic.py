"""Standard CIFAR augmentation as batched tensor code: random crop (zero pad 4) + h-flip.

torchvision's RandomCrop/RandomHorizontalFlip draw one parameter per call and work image by
image; here one call crops and flips a whole batch on its device with per-image draws.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop_flip(x: torch.Tensor, size: int, generator: torch.Generator,
                             scale: tuple[float, float] = (0.08, 1.0),
                             ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """torchvision's RandomResizedCrop(size) + RandomHorizontalFlip, batched: x (B, C, H, W)
    → (B, C, size, size). Per image, as torchvision: up to 10 boxes of area ~ U(scale)·H·W
    and log aspect ~ U(log ratio), the first that fits, else the centre crop; the box is
    resampled bilinearly (one grid_sample for the batch; the flip is folded into its affine
    map). The official transfer code trains at 224 px this way (erichson/NoisyMix
    transfer_learning); # not in paper: no antialiasing when a box is shrunk (torchvision
    antialiases; CIFAR → 224 only enlarges)."""
    b, c, h, w = x.shape
    dev, tries = x.device, 10
    u = torch.rand((4, tries, b), generator=generator, device=dev, dtype=torch.float64)
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * (h * w)
    logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1]
    bw = torch.round(torch.sqrt(area * torch.exp(logr)))
    bh = torch.round(torch.sqrt(area / torch.exp(logr)))
    fits = (bw > 0) & (bw <= w) & (bh > 0) & (bh <= h)
    first = torch.argmax(fits.to(torch.uint8), dim=0)  # (B,) first fitting try
    ok = fits.any(0)
    pick = lambda t: t.gather(0, first[None])[0]  # noqa: E731
    # fallback: the whole image clipped to the ratio range, centred (torchvision's)
    in_ratio = w / h
    fw = float(w if in_ratio <= ratio[1] else round(h * ratio[1]))
    fh = float(h if in_ratio >= ratio[0] else round(w / ratio[0]))
    bw = torch.where(ok, pick(bw), torch.full_like(ok, fw, dtype=torch.float64))
    bh = torch.where(ok, pick(bh), torch.full_like(ok, fh, dtype=torch.float64))
    top = torch.where(ok, torch.floor(pick(u[2]) * (h - bh + 1)), (h - bh) // 2)
    left = torch.where(ok, torch.floor(pick(u[3]) * (w - bw + 1)), (w - bw) // 2)
    flip = torch.rand(b, generator=generator, device=dev) < 0.5
    sx = (bw / w) * torch.where(flip, -1.0, 1.0).double()
    theta = torch.zeros((b, 2, 3), dtype=torch.float64, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = sx, (2 * left + bw) / w - 1
    theta[:, 1, 1], theta[:, 1, 2] = bh / h, (2 * top + bh) / h - 1
    grid = F.affine_grid(theta.to(x.dtype), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The official test transform, batched: Resize(round(size·8/7)) (shorter side, bilinear,
    antialiased) + CenterCrop(size): 256 then 224 for size 224."""
    h, w = x.shape[-2:]
    short = int(round(size * 8 / 7))
    nh, nw = (short, max(short, round(w * short / h))) if h <= w else \
        (max(short, round(h * short / w)), short)
    y = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return y[..., top:top + size, left:left + size]


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4,
                     flip: bool = True) -> torch.Tensor:
    """x (B, C, H, W) → same shape: zero-pad by ``pad``, crop H×W at a random offset, flip."""
    b, c, h, w = x.shape
    dev = x.device
    if pad <= 0:
        if flip:
            do = torch.rand(b, generator=generator, device=dev) < 0.5
            x = torch.where(do[:, None, None, None], x.flip(-1), x)
        return x
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=dev)
    cols = torch.arange(w, device=dev).expand(b, w)
    if flip:  # the flip is folded into the column gather: no extra pass over the batch
        do = torch.rand(b, generator=generator, device=dev) < 0.5
        cols = torch.where(do[:, None], cols.flip(1), cols)
    rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = ox[:, None] + cols  # (B, W)
    padded = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
    return padded.gather(3, cols[:, None, None, :].expand(b, c, h, w))
