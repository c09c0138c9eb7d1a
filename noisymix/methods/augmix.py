"""AugMix (Hendrycks et al., arXiv:1912.02781; google-research/augmix): clean + two AugMix
views, cross-entropy on the clean view plus 12 × Jensen–Shannon consistency."""

import dataclasses

from noisymix.methods.base import register_scheme
from noisymix.methods.feature_mixing import FeatureMixing


@register_scheme("augmix")
@dataclasses.dataclass(eq=False)
class AugMix(FeatureMixing):
    mix: bool = False
    noise: bool = False
    augment: bool = True
    jsd: bool = True
