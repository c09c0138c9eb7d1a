"""Input mixup (Zhang et al., arXiv:1710.09412): x̃ = λx + (1−λ)x[perm], λ ~ Beta(1, 1).

Mixing the normalised input equals mixing the raw input (normalisation is affine)."""

import dataclasses

from noisymix.methods.base import register_scheme
from noisymix.methods.feature_mixing import FeatureMixing


@register_scheme("mixup")
@dataclasses.dataclass(eq=False)
class Mixup(FeatureMixing):
    alpha: float = 1.0
    mix_layers: tuple[int, ...] = (0,)
    noise: bool = False
    augment: bool = False
    jsd: bool = False
