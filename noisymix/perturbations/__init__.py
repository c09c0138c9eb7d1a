"""Perturbation sequences (-P): 10 test + 4 extra perturbations, ``cifar`` and ``imagenet``
presets (Hendrycks & Dietterich, arXiv:1903.12261; hendrycks/robustness ImageNet-P/create_p).
"""

from noisymix.perturbations.sequences import (  # noqa: F401
    ALL_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    GEOMETRIC_PERTURBATIONS,
    NOISE_PERTURBATIONS,
    PERTURBATIONS,
    PRESETS,
    frame_count,
    perturb,
)
from noisymix.perturbations.writer import perturb_arrays  # noqa: F401
