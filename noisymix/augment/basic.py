"""Standard CIFAR augmentation as batched tensor code: random crop (zero pad 4) + h-flip.

torchvision's RandomCrop/RandomHorizontalFlip draw one parameter per call and work image by
image; here one call crops and flips a whole batch on its device with per-image draws.
"""

from __future__ import annotations

import torch


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
