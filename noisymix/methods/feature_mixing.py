"""The engine behind mixup, manifold mixup, NFM, AugMix and NoisyMix.

NoisyMix (Erichson et al., arXiv:2202.01263; erichson/NoisyMix) as its official code does it:
the batch is three views — clean x and two AugMix views — concatenated; a layer k is drawn
uniformly from ``mix_layers``; at k every view is mixed with one shared λ ~ Beta(α, α) and one
shared permutation, then noised with an additive level that grows with the view index
(v = 1, 2, 3); the loss is mixup cross-entropy on the clean view plus the weighted 3-way
Jensen–Shannon divergence. Its four components — augmentations, feature mixing, noise, JSD —
are independent switches, so every ablation cell (Table 4) is one configuration, and the
baselines are the same engine with other defaults (see the per-scheme modules).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from noisymix.methods.base import Limit, Scheme, mixed_cross_entropy
from noisymix.methods.hooks import num_stages, transform_at
from noisymix.methods.losses import JensenShannonConsistency
from noisymix.methods.noise import inject_noise
from noisymix.rng import randint, sample_beta


@dataclasses.dataclass(eq=False)
class FeatureMixing(Scheme):
    # feature mixing
    mix: bool = True
    alpha: float = 1.0              # λ ~ Beta(α, α)
    mix_layers: tuple[int, ...] = (0, 1, 2, 3)  # 0 = normalised input, i = after stage i
    # noise injection
    noise: bool = True
    add_level: float = 0.5          # std multiplier of the additive noise (normalised units)
    mult_level: float = 0.5         # half-width of the multiplicative noise
    sparse_level: float = 0.65      # probability that a noise entry is zeroed
    view_scaled_noise: bool = True  # additive level × view index v ∈ {1, 2, 3}
    # augmentations (AugMix views)
    augment: bool = True
    severity: int = 3               # AugMix op levels drawn uniformly in [0.1, severity]
    width: int = 3                  # chains per view
    depth: int = -1                 # ops per chain; −1 = uniform in {1, 2, 3}
    augmix_alpha: float = 1.0       # Dirichlet / Beta parameter of the AugMix mixing
    all_ops: bool = False           # add color/contrast/brightness/sharpness (overlap -C)
    # consistency loss
    jsd: bool = True
    jsd_weight: float = 12.0

    # Allowed values (noisymix.methods.base.Limit), as the paper and the reference code use
    # them; mix_layers' upper end is the model's stage count, checked at the first batch.
    LIMITS: ClassVar[dict[str, Limit]] = {
        "alpha": Limit(gt=0, hint="mix=false turns mixing off"),
        "mix_layers": Limit(ge=0),
        "add_level": Limit(ge=0),
        "mult_level": Limit(ge=0),
        "sparse_level": Limit(ge=0, le=1),            # a probability
        "severity": Limit(ge=1, le=10),               # AugMix levels are tenths of the max op
        "width": Limit(ge=1),
        "depth": Limit(ge=1, also=(-1,)),
        "augmix_alpha": Limit(gt=0),                  # Dirichlet/Beta parameters are > 0
        "jsd_weight": Limit(ge=0),
    }

    def __post_init__(self) -> None:
        super().__post_init__()  # checks every field against LIMITS (mix_layers → a tuple)
        self._jsd = JensenShannonConsistency(self.jsd_weight)

    def views(self, x: torch.Tensor, g: torch.Generator) -> list[torch.Tensor]:
        """[x, A(x), A(x)] with JSD, [A(x)] with augmentations alone, else [x]."""
        if not self.augment:
            return [x, x, x] if self.jsd else [x]
        from noisymix.augment.augmentations import augmix

        def aug(images: torch.Tensor) -> torch.Tensor:
            return augmix(images, g, severity=self.severity, width=self.width, depth=self.depth,
                          alpha=self.augmix_alpha, all_ops=self.all_ops)

        if not self.jsd:
            return [aug(x)]
        # both augmented views in one batched call (half the kernel launches on a GPU)
        return [x, *aug(torch.cat([x, x])).chunk(2)]

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = self.generator(x.device)
        views = self.views(x, g)
        n_views, batch = len(views), x.shape[0]
        xb = torch.cat(views) if n_views > 1 else views[0]
        lam = torch.ones((), device=x.device)
        perm = torch.arange(batch, device=x.device)
        if self.mix or self.noise:
            stages = num_stages(model)
            bad = [k for k in self.mix_layers if not 0 <= k < stages]
            if bad:
                raise ValueError(f"mix_layers {bad} out of range for a model with stages "
                                 f"0..{stages - 1}")
            k = self.mix_layers[int(randint(0, len(self.mix_layers), g))]
            if self.mix and self.alpha > 0:
                lam = sample_beta(self.alpha, self.alpha, g)
                perm = torch.randperm(batch, generator=g, device=x.device)

            def mix_and_noise(h: torch.Tensor) -> torch.Tensor:
                out = []
                for v, hv in enumerate(h.chunk(n_views), start=1):
                    if self.mix:
                        lam_h = lam.to(hv.dtype)
                        hv = lam_h * hv + (1 - lam_h) * hv[perm]
                    if self.noise:
                        level = self.add_level * (v if self.view_scaled_noise else 1)
                        hv = inject_noise(hv, g, level, self.mult_level, self.sparse_level)
                    out.append(hv)
                return torch.cat(out) if n_views > 1 else out[0]

            with transform_at(model, k, mix_and_noise):
                logits = model(xb)
        else:
            logits = model(xb)
        logits_clean = logits[:batch].float()
        if self.mix:
            loss = mixed_cross_entropy(logits_clean, y, y[perm], lam)
        else:
            loss = F.cross_entropy(logits_clean, y)
        if self.jsd:
            loss = loss + self._jsd(*logits.chunk(n_views))
        return loss
