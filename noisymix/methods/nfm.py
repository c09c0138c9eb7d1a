"""Noisy Feature Mixup (Lim et al., arXiv:2110.02180; erichson/NFM).

Manifold mixup at k ∈ {0, 1, 2, 3} with α = 1, plus additive (0.4) and multiplicative (0.2)
noise; no AugMix views, no JSD, no sparsity, one noise level for the single view.
"""

import dataclasses

from noisymix.methods.base import register_scheme
from noisymix.methods.feature_mixing import FeatureMixing


@register_scheme("nfm")
@dataclasses.dataclass(eq=False)
class NFM(FeatureMixing):
    alpha: float = 1.0
    add_level: float = 0.4
    mult_level: float = 0.2
    sparse_level: float = 0.0
    view_scaled_noise: bool = False
    augment: bool = False
    jsd: bool = False
