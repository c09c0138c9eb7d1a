"""Generator-driven samplers that torch lacks.

``torch.distributions`` (Beta, Dirichlet, Gamma) cannot take a ``torch.Generator``, and global
RNG state is exactly what made the reference code irreproducible across devices. These
samplers draw only from the generator they are given, on its device, vectorised.
"""

from __future__ import annotations

import torch


def sample_gamma(
    concentration: float, size: int | tuple[int, ...], generator: torch.Generator, tries: int = 24
) -> torch.Tensor:
    """Gamma(concentration, 1) variates by Marsaglia–Tsang, vectorised rejection.

    ``tries`` proposals per variate; the chance that all are rejected is below 1e-20 for any
    concentration (acceptance rate > 0.95 for k ≥ 1), in which case the last proposal is used.
    """
    size = (size,) if isinstance(size, int) else tuple(size)
    device = generator.device
    boost = concentration < 1  # Gamma(k) = Gamma(k+1) · U^(1/k)
    k = concentration + 1.0 if boost else float(concentration)
    d = k - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    z = torch.randn((tries, *size), generator=generator, device=device, dtype=torch.float64)
    u = torch.rand((tries, *size), generator=generator, device=device, dtype=torch.float64)
    v = (1.0 + c * z) ** 3
    logv = torch.log(v.clamp_min(1e-300))
    ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * logv)
    ok[-1] = True
    first = torch.argmax(ok.to(torch.uint8), dim=0, keepdim=True)
    g = d * torch.gather(v.clamp_min(0), 0, first)[0]
    if boost:
        u2 = torch.rand(size, generator=generator, device=device, dtype=torch.float64)
        g = g * u2.pow(1.0 / concentration)
    return g.float()


def sample_beta(
    a: float, b: float, generator: torch.Generator, size: int | tuple[int, ...] = ()
) -> torch.Tensor:
    """Beta(a, b) variates (a 0-d tensor for the default ``size=()``)."""
    shape = (1,) if size == () else size
    ga = sample_gamma(a, shape, generator)
    gb = sample_gamma(b, shape, generator)
    out = ga / (ga + gb).clamp_min(1e-30)
    return out.reshape(()) if size == () else out


def sample_dirichlet(
    alpha: float, k: int, generator: torch.Generator, size: int = 1
) -> torch.Tensor:
    """Symmetric Dirichlet(α·1ₖ) variates, shape (size, k)."""
    g = sample_gamma(alpha, (size, k), generator)
    return g / g.sum(dim=1, keepdim=True).clamp_min(1e-30)


def randint(low: int, high: int, generator: torch.Generator, size=()) -> torch.Tensor:
    """Uniform integers in [low, high) on the generator's device."""
    return torch.randint(low, high, size, generator=generator, device=generator.device)
