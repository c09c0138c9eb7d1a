"""Manifold mixup (Verma et al., arXiv:1806.05236): mixup at a layer k drawn uniformly from
{input, after stage 1, after stage 2}, λ ~ Beta(2, 2)."""

import dataclasses

from noisymix.methods.base import register_scheme
from noisymix.methods.feature_mixing import FeatureMixing


@register_scheme("manifold_mixup")
@dataclasses.dataclass(eq=False)
class ManifoldMixup(FeatureMixing):
    alpha: float = 2.0
    mix_layers: tuple[int, ...] = (0, 1, 2)
    noise: bool = False
    augment: bool = False
    jsd: bool = False
