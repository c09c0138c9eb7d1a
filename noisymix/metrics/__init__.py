"""Robustness metrics: corruption (CE, mCE, robust accuracy), perturbation stability (FP, mFR,
top-5 distance, mT5D), calibration (RMS, ECE, AURRA) and FGSM accuracy.

Definitions follow Hendrycks & Dietterich (arXiv:1903.12261) and the reference code in
hendrycks/robustness, hendrycks/outlier-exposure and hendrycks/natural-adv-examples; each
module says exactly which reference function it matches and where it departs.
"""

from noisymix.metrics.adversarial import fgsm_accuracy, fgsm_attack
from noisymix.metrics.calibration import (
    aurra,
    confidence_and_correct,
    expected_calibration_error,
    rms_calibration_error,
)
from noisymix.metrics.corruption import (
    ALEXNET_ERR,
    ALEXNET_ERR_BY_SEVERITY,
    NOISE_CORRUPTIONS,
    TEST_CORRUPTIONS,
    corruption_error,
    mce,
    robust_accuracy,
    unnormalized_mce,
)
from noisymix.metrics.stability import (
    NOISE_PERTURBATIONS,
    flip_probability,
    is_noise_perturbation,
    mfr,
    mt5d,
    top5_distance,
    zipf_distance,
)

__all__ = [
    "ALEXNET_ERR",
    "ALEXNET_ERR_BY_SEVERITY",
    "NOISE_CORRUPTIONS",
    "NOISE_PERTURBATIONS",
    "TEST_CORRUPTIONS",
    "aurra",
    "confidence_and_correct",
    "corruption_error",
    "expected_calibration_error",
    "fgsm_accuracy",
    "fgsm_attack",
    "flip_probability",
    "is_noise_perturbation",
    "mce",
    "mfr",
    "mt5d",
    "rms_calibration_error",
    "robust_accuracy",
    "top5_distance",
    "unnormalized_mce",
    "zipf_distance",
]
