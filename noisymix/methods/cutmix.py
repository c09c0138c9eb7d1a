"""CutMix (Yun et al., arXiv:1905.04899): with probability ``prob`` paste a box of a shuffled
image; λ ~ Beta(β, β) sets the box area and is recomputed from the clipped box."""

import dataclasses
from typing import ClassVar

import torch
from torch.nn import functional as F

from noisymix.methods.base import Limit, Scheme, mixed_cross_entropy, register_scheme
from noisymix.rng import sample_beta


@register_scheme("cutmix")
@dataclasses.dataclass(eq=False)
class CutMix(Scheme):
    beta: float = 1.0
    prob: float = 0.5

    LIMITS: ClassVar[dict[str, Limit]] = {"beta": Limit(gt=0), "prob": Limit(ge=0, le=1)}

    def loss(self, model, x, y):
        g = self.generator(x.device)
        if float(torch.rand((), generator=g, device=x.device)) >= self.prob:
            return F.cross_entropy(model(x).float(), y)
        batch, _, h, w = x.shape
        lam = float(sample_beta(self.beta, self.beta, g))
        perm = torch.randperm(batch, generator=g, device=x.device)
        y0, x0, y1, x1 = cutmix_box(h, w, lam, g)
        mixed = x.clone()
        mixed[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)  # actual pasted area after clipping
        return mixed_cross_entropy(model(mixed).float(), y, y[perm], lam)


def cutmix_box(h: int, w: int, lam: float, g: torch.Generator) -> tuple[int, int, int, int]:
    """A box of area ≈ (1−λ)·h·w centred uniformly at random, clipped to the image."""
    ratio = (1.0 - lam) ** 0.5
    ch, cw = int(h * ratio), int(w * ratio)
    cy = int(torch.randint(0, h, (), generator=g, device=g.device))
    cx = int(torch.randint(0, w, (), generator=g, device=g.device))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    return y0, x0, y1, x1
