"""NoisyMix (Erichson et al., arXiv:2202.01263): AugMix views + JSD + noisy feature mixup.

Defaults are the paper's CIFAR settings: α = 1, k ∈ {0, 1, 2, 3}, additive level 0.5 (× view
index), multiplicative level 0.5, sparsity 0.65, AugMix severity 3 / width 3 / depth 1–3,
JSD weight 12. Switch ``augment``, ``mix``, ``noise``, ``jsd`` off for the ablation (Table 4).
"""

import dataclasses

from noisymix.methods.base import register_scheme
from noisymix.methods.feature_mixing import FeatureMixing


@register_scheme("noisymix")
@dataclasses.dataclass(eq=False)
class NoisyMix(FeatureMixing):
    pass
