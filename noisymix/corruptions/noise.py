"""Noise corruptions: gaussian, shot, impulse (test) and speckle (extra), batched torch.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", arXiv:1903.12261. Parameters: hendrycks/robustness
``ImageNet-C/create_c/make_cifar_c.py`` (preset ``cifar``) and ``make_imagenet_c.py`` (preset
``imagenet``, also imaug/imagecorruptions).

Inputs are float (B, C, H, W) in [0, 1] (shot and impulse noise: uint8, see
``register_corruption``); every image draws its noise from its own stream of
``rng`` (``noisymix.rng.Streams``), so results do not depend on batch size or sharding.
"""

from __future__ import annotations

import torch

from noisymix.corruptions.base import register_corruption, truncated_levels_

# Standard deviation of additive N(0, c²) noise, in [0, 1] intensity units.
GAUSSIAN = {"cifar": (0.04, 0.06, 0.08, 0.09, 0.10), "imagenet": (0.08, 0.12, 0.18, 0.26, 0.38)}
# Photon count at full intensity: y = Poisson(c·x) / c.
SHOT = {"cifar": (500, 250, 100, 75, 50), "imagenet": (60, 25, 12, 5, 3)}
# Salt-and-pepper amount: fraction of values (per channel) replaced, half by 1, half by 0.
IMPULSE = {"cifar": (0.01, 0.02, 0.03, 0.05, 0.07), "imagenet": (0.03, 0.06, 0.09, 0.17, 0.27)}
# Standard deviation of multiplicative noise: y = x + x·N(0, c²).
SPECKLE = {"cifar": (0.06, 0.1, 0.12, 0.16, 0.2), "imagenet": (0.15, 0.2, 0.35, 0.45, 0.6)}


@register_corruption("gaussian_noise")
def gaussian_noise(x, severity, preset, rng):
    c = GAUSSIAN[preset][severity - 1]
    return (x + c * rng.randn(x.shape[1:])).clamp_(0, 1)


@register_corruption("shot_noise", uint8=True)
def shot_noise(x, severity, preset, rng):
    """uint8 in, uint8 out (registered ``uint8=True``): photon counts ~ Poisson(c·k/255) for
    the pixel's 8-bit level k (one CDF row per level), then counts / c."""
    c = float(SHOT[preset][severity - 1])
    counts = rng.poisson_levels(x, torch.arange(256, device=x.device) * (c / 255))
    # the output level of every count (truncated as the reference's np.uint8), looked up
    table = truncated_levels_(torch.arange(int(counts.max()) + 1, device=x.device) / c)
    return table.to(torch.uint8).index_select(0, counts.view(-1)).view(counts.shape)


@register_corruption("impulse_noise", uint8=True)
def impulse_noise(x, severity, preset, rng):
    """uint8 in, uint8 out (registered ``uint8=True``): every value is kept, 255 or 0."""
    # skimage.util.random_noise(mode='s&p', amount=c, salt_vs_pepper=0.5) as current skimage
    # (and so imagecorruptions) does it: each value independently flipped with probability c,
    # a flipped value becoming 1 or 0 with probability 1/2 each; one uniform u per value
    # decides both (u < c/2: salt, c/2 ≤ u < c: pepper).
    # not in paper: 2018-era skimage instead drew ceil(c·size/2) salt and pepper coordinates
    # with replacement (randint(0, n-1), never the last index); we follow the maintained form.
    c = IMPULSE[preset][severity - 1]
    u = rng.rand(x.shape[1:])
    return x.masked_fill(u < c, 0).masked_fill_(u < c / 2, 255)


@register_corruption("speckle_noise")
def speckle_noise(x, severity, preset, rng):
    c = SPECKLE[preset][severity - 1]
    return (x + x * (c * rng.randn(x.shape[1:]))).clamp_(0, 1)
