"""Jensen–Shannon consistency loss of AugMix (Hendrycks et al., arXiv:1912.02781).

JS(p₁, p₂, p₃) = ⅓ Σᵢ KL(pᵢ ‖ M), M = ⅓ Σᵢ pᵢ clamped to [1e-7, 1] before the log, averaged
over the batch; logits arrive clean split first.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class JensenShannonConsistency(nn.Module):
    def __init__(self, weight: float = 12.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, *logits: torch.Tensor) -> torch.Tensor:  # each (B, classes)
        probs = [F.softmax(z.float(), dim=1) for z in logits]
        log_mixture = torch.clamp(sum(probs) / len(probs), 1e-7, 1).log()
        kl = sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probs)
        return self.weight * kl / len(probs)
