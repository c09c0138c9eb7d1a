"""FGSM accuracy: accuracy under a one-step L∞ attack.

Fast Gradient Sign Method, Goodfellow, Shlens, Szegedy, "Explaining and Harnessing
Adversarial Examples", arXiv:1412.6572; reported for NoisyMix in arXiv:2202.01263 (reference
code: erichson/NoisyMix). Untargeted, white-box, one step:

    x' = clamp(x + ε · sign(∇_x CE(f(x), y)), 0, 1)

with x in [0, 1] pixel units (the model normalises inside) and ε in the same units
(e.g. 8/255).
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Adversarial batch x' for x (B, 3, H, W) in [0, 1] and labels y (B,).

    Only the gradient with respect to x is computed (``torch.autograd.grad``), so parameter
    ``.grad`` fields are never touched and the model's ``requires_grad`` flags are left alone.
    """
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        # Summed loss: the per-sample gradients are independent of the batch, and the sign
        # is the same as with a mean, without shrinking tiny gradients by 1/B.
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return (x.detach() + eps * grad.sign()).clamp_(0.0, 1.0)


def fgsm_accuracy(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    eps: float,
    device: torch.device | str | None = None,
) -> float:
    """Top-1 accuracy (fraction) of ``model`` on FGSM examples of every (x, y) batch.

    ``batches`` yields x float (B, 3, H, W) in [0, 1] and integer labels y (B,) (a DataLoader
    works). The model runs in eval mode (BatchNorm statistics frozen, as at test time) and is
    returned to its previous mode afterwards. ``device`` defaults to the model's.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    try:
        for x, y in batches:
            x = x.to(device, non_blocking=True).float()
            y = y.to(device, non_blocking=True).long()
            x_adv = fgsm_attack(model, x, y, eps)
            with torch.no_grad():
                pred = model(x_adv).argmax(dim=1)
            correct += int((pred == y).sum())
            total += y.numel()
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("no batches given")
    return correct / total
