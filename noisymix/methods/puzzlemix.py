"""PuzzleMix (Kim, Choo & Song, "Puzzle Mix: Exploiting Saliency and Local Statistics for
Optimal Mixup", ICML 2020, arXiv:2009.06962); reference code github.com/snu-mllab/PuzzleMix
(``main.py`` train loop, ``mixup.py``).

Per batch: a grid of n×n blocks (n ∈ {2, 4, 8, 16}), a partner permutation and λ ~ Beta(α, α)
are drawn; the input-gradient saliency of the clean batch sets unary costs; a graph cut (gco)
picks per block whether x, x[perm] or an even blend (3 labels) is shown, trading kept saliency
against label smoothness (β), colour continuity across block borders (γ) and a prior pulling
the mixed share towards λ (η); an approximate optimal transport then moves each image's salient
blocks into the region it is shown in; labels are mixed with each sample's actual mask mean.

Defaults are the official CIFAR PreActResNet-18 command of the reference README (``--train
mixup --mixup_alpha 1.0 --graph True --n_labels 3 --eta 0.2 --beta 1.2 --gamma 0.5
--neigh_size 4 --transport True --t_size 4 --t_eps 0.8``; ``clean_lam`` and ``adv_p`` keep the
``main.py`` defaults 0, the README sets ``--clean_lam 1`` for Tiny-ImageNet only).
"""

import dataclasses
from typing import ClassVar

import torch
from torch.nn import functional as F

from noisymix.methods.base import Limit, Scheme, register_scheme
from noisymix.methods.puzzlemix_ops import check_geometry, puzzle_mix, soft_bce
from noisymix.rng import sample_beta

BLOCK_NUMS = (2, 4, 8, 16)  # grid sides, drawn uniformly per batch (reference: 2**randint(1, 5))


@register_scheme("puzzlemix")
@dataclasses.dataclass(eq=False)
class PuzzleMix(Scheme):
    alpha: float = 1.0  # λ ~ Beta(α, α), the target share of x (reference --mixup_alpha)
    n_labels: int = 3  # graph-cut labels: mask values {1, 0.5, 0} for 3
    beta: float = 1.2  # label smoothness per grid edge, divided by 16·n inside (unitless)
    gamma: float = 0.5  # weight of the colour jump across block borders ([0, 1] intensity units)
    eta: float = 0.2  # weight of the λ prior (−log probability per grid, divided by n²)
    neigh_size: int = 4  # pixels; colours are averaged over neigh×neigh cells for the γ term
    transport: bool = True  # move salient blocks into the shown region
    t_size: int = 4  # transport block side in pixels (capped at the graph-cut block; −1: same)
    t_eps: float = 0.8  # transport cost per (block distance / (grid side − 1))², vs saliency
    clean_lam: float = 0.0  # weight of the clean-batch loss, 2·clean_lam·CE/K added (0: off)
    adv_p: float = 0.0  # probability of adversarial noise on x and, independently, on x[perm]
    adv_eps: float = 10.0  # L∞ radius of that noise in 1/255 intensity steps
    loss_type: str = "bce"  # "bce": reference BCE(softmax, soft target); "ce": soft-label CE

    # Allowed values (noisymix.methods.base.Limit); neigh_size and t_size must also divide the
    # image into every grid, checked at the first batch (check_geometry).
    LIMITS: ClassVar[dict[str, Limit]] = {
        "alpha": Limit(gt=0),
        "n_labels": Limit(ge=2),
        "beta": Limit(ge=0), "gamma": Limit(ge=0), "eta": Limit(ge=0),
        "neigh_size": Limit(ge=1),
        "t_size": Limit(ge=1, also=(-1,)),
        "t_eps": Limit(ge=0),
        "clean_lam": Limit(ge=0),
        "adv_p": Limit(ge=0, le=1),                   # a probability
        "adv_eps": Limit(ge=0),
        "loss_type": Limit(choices=("bce", "ce")),
    }

    def loss(self, model, x, y):
        batch, _, height, width = x.shape
        check_geometry(height, width, BLOCK_NUMS, self.neigh_size, self.t_size)
        g = self.generator(x.device)
        dev = x.device
        n = BLOCK_NUMS[int(torch.randint(0, len(BLOCK_NUMS), (), generator=g, device=dev))]
        perm = torch.randperm(batch, generator=g, device=dev)
        lam = float(sample_beta(self.alpha, self.alpha, g)) if self.alpha > 0 else 1.0
        adv = (False, False)
        noise = None
        if self.adv_p > 0:
            coins = torch.rand(3, generator=g, device=dev)
            adv = (bool(coins[0] < self.adv_p), bool(coins[1] < self.adv_p))
        x_sal = x
        if any(adv):  # random start inside the L∞ ball, kept inside [0, 1]
            eps = self.adv_eps / 255
            start = (torch.rand(x.shape, generator=g, device=dev) * 2 - 1) * eps
            x_sal = (x + start).clamp(0, 1)
            noise = x_sal - x

        saliency, grad, clean_loss = self._saliency(model, x_sal, y)

        if noise is not None:  # one FGSM step from the random start, then a random shrink
            eps = self.adv_eps / 255
            noise = (noise + (self.adv_eps + 2) / 255 * grad.sign()).clamp(-eps, eps)
            noise = noise * float(coins[2])

        with torch.no_grad():
            mixed, ratio, _ = puzzle_mix(
                x.detach(), saliency, perm, lam, n, n_labels=self.n_labels, beta=self.beta,
                gamma=self.gamma, eta=self.eta, neigh_size=self.neigh_size,
                transport=self.transport, t_size=self.t_size, t_eps=self.t_eps,
                noise=noise, noise_on=adv)
        logits = model(mixed).float()
        k = logits.shape[1]
        target = ratio[:, None] * F.one_hot(y, k) + (1 - ratio[:, None]) * F.one_hot(y[perm], k)
        if self.loss_type == "bce":
            loss = soft_bce(logits, target)
        else:
            # not in reference: soft-label cross-entropy, as the other noisymix mixing schemes.
            loss = -(target * F.log_softmax(logits, 1)).sum(1).mean()
        return loss if clean_loss is None else loss + clean_loss

    def _saliency(self, model, x, y):
        """Input saliency (B, H, W) = RMS over channels of ∂CE/∂(normalised input).

        With clean_lam = 0 the forward runs in eval mode (no BN-statistics update) and nothing
        stays in the graph; with clean_lam > 0 it runs in train mode and its loss,
        2·clean_lam·CE/K (K classes, matching the per-class mean of the BCE loss), is returned
        so that the caller's backward trains on the clean batch too, as the reference does.
        Gradients go to the input only (autograd.grad), never into the parameters' .grad.
        """
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            if self.clean_lam > 0:
                logits = model(x).float()
                loss = 2 * self.clean_lam * F.cross_entropy(logits, y) / logits.shape[1]
                (grad,) = torch.autograd.grad(loss, x, retain_graph=True)
                clean = loss
            else:
                was_training = model.training
                model.eval()
                try:
                    logits = model(x).float()
                finally:
                    model.train(was_training)
                (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), x)
                clean = None
        # The reference takes the gradient w.r.t. the normalised input z = (x − mean)/std:
        # ∂L/∂z = std · ∂L/∂x. Models without a `normalize` stage use ∂L/∂x as is.
        std = getattr(getattr(model, "normalize", None), "std", None)
        grad_z = grad * std.to(grad) if std is not None else grad
        saliency = grad_z.pow(2).mean(1).sqrt()
        return saliency.detach(), grad.detach(), clean
