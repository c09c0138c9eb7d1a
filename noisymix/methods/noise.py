"""Noise injections of NFM / NoisyMix (Lim et al., arXiv:2110.02180; erichson/NoisyMix).

h ← (1 + mult_noise) · h + add_noise, where
  add_noise  = add_level · b · N(0, 1),      b  ~ Beta(2, 5) once per call,
  mult_noise = mult_level · b′ · U(−1, 1),   b′ ~ Beta(2, 5) once per call,
and every entry of each noise tensor is zeroed with probability ``sparse_level``.
"""

from __future__ import annotations

import torch

from noisymix.rng import sample_beta


def inject_noise(
    h: torch.Tensor,
    generator: torch.Generator,
    add_level: float = 0.0,
    mult_level: float = 0.0,
    sparse_level: float = 0.0,
) -> torch.Tensor:
    """Additive + multiplicative sparse noise on features ``h`` (any shape, any dtype)."""
    out = h
    if mult_level > 0:
        b = sample_beta(2.0, 5.0, generator).to(h.dtype)
        mult = mult_level * b * (2 * torch.rand(h.shape, generator=generator, device=h.device,
                                                dtype=h.dtype) - 1)
        if sparse_level > 0:
            keep = torch.rand(h.shape, generator=generator, device=h.device) >= sparse_level
            mult = mult * keep
        out = out * (1 + mult)
    if add_level > 0:
        b = sample_beta(2.0, 5.0, generator).to(h.dtype)
        add = add_level * b * torch.randn(h.shape, generator=generator, device=h.device,
                                          dtype=h.dtype)
        if sparse_level > 0:
            keep = torch.rand(h.shape, generator=generator, device=h.device) >= sparse_level
            add = add * keep
        out = out + add
    return out
