"""Empirical risk minimisation: cross-entropy on the crop/flip-augmented batch (baseline)."""

import dataclasses

from torch.nn import functional as F

from noisymix.methods.base import Scheme, register_scheme


@register_scheme("erm")
@dataclasses.dataclass(eq=False)
class ERM(Scheme):
    def loss(self, model, x, y):
        return F.cross_entropy(model(x).float(), y)
