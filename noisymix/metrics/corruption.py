"""Corruption metrics (-C): corruption error (CE), mCE and robust accuracy.

Definitions from Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", arXiv:1903.12261 (reference code: hendrycks/robustness,
``ImageNet-C/test.py``), with the AlexNet normalisation used by AugMix (arXiv:1912.02781,
google-research/augmix ``imagenet.py``) and NoisyMix (arXiv:2202.01263).

What the references actually compute (read, not guessed):

- hendrycks/robustness ``ImageNet-C/test.py`` returns, per corruption, the *mean* error over
  the 5 severities and prints their mean as "mCE (unnormalized by AlexNet errors)"; it holds
  no AlexNet constants.
- google-research/augmix ``imagenet.py`` holds ``ALEXNET_ERR`` (the 15 numbers below) and
  computes ``ce = mean_s(err_s) / ALEXNET_ERR[c]``. Each constant is AlexNet's error averaged
  over the 5 severities (checked in the tests against AlexNet's per-severity errors, as timm
  lists them), so ``mean_s(E_s) / mean_s(E^A_s) = sum_s(E_s) / sum_s(E^A_s)``: the paper's
  formula CE = Σ_s E_s / Σ_s E^AlexNet_s and AugMix's code agree exactly.

All values are fractions in [0, 1] (errors, accuracies, CE); multiply by 100 for tables.
"""

from __future__ import annotations

from typing import Mapping, Sequence

# The 15 test corruptions in the canonical order (SPEC §4) and their noise subset, from the
# torch-free vocabulary, so that metrics stay importable without the corruption generators.
from noisymix.vocab import NOISE_CORRUPTIONS, TEST_CORRUPTIONS

# AlexNet top-1 error on ImageNet-C, averaged over severities 1–5 (fraction).
ALEXNET_ERR: dict[str, float] = dict(
    zip(
        TEST_CORRUPTIONS,
        (
            0.886428, 0.894468, 0.922640, 0.819880, 0.826268, 0.785948, 0.798360,
            0.866816, 0.826572, 0.819324, 0.564592, 0.853204, 0.646056, 0.717840,
            0.606500,
        ),  # fmt: skip
    )
)

# The same AlexNet errors per severity 1..5 (fraction), as published with ImageNet-C and
# listed by timm (``imagenetc_alexnet_error_rates_list``); their means are ALEXNET_ERR.
ALEXNET_ERR_BY_SEVERITY: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.9487, 0.9872, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.5843, 0.70048, 0.82108, 0.8975, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.9187, 0.94952),
    "frost": (0.6139, 0.79734, 0.8879, 0.89942, 0.9343),
    "fog": (0.67474, 0.7605, 0.84378, 0.8726, 0.945),
    "brightness": (0.4514, 0.48502, 0.54048, 0.62166, 0.7244),
    "contrast": (0.64548, 0.7615, 0.88874, 0.9776, 0.9927),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.5462, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
}


def corruption_error(
    err_by_severity: Sequence[float], alexnet_err: float | Sequence[float]
) -> float:
    """CE of one corruption: Σ_s E_s / Σ_s E^AlexNet_s (errors as fractions).

    ``alexnet_err`` is either the published scalar (AlexNet's error *averaged* over the
    severities, as in ``ALEXNET_ERR``), in which case the denominator is ``S · alexnet_err``
    for S severities, or AlexNet's per-severity errors (same length as ``err_by_severity``).
    """
    errs = [float(e) for e in err_by_severity]
    if not errs:
        raise ValueError("err_by_severity is empty")
    if isinstance(alexnet_err, (int, float)):
        denom = len(errs) * float(alexnet_err)
    else:
        ref = [float(e) for e in alexnet_err]
        if len(ref) != len(errs):
            raise ValueError(f"{len(errs)} model errors but {len(ref)} AlexNet errors")
        denom = sum(ref)
    return sum(errs) / denom


def _require(table: Mapping[str, Sequence[float]], names: Sequence[str]) -> None:
    missing = [c for c in names if c not in table]
    if missing:
        raise KeyError(f"missing corruptions: {missing}")


def mce(
    err_by_corruption: Mapping[str, Sequence[float]],
    alexnet_err: Mapping[str, float | Sequence[float]] = ALEXNET_ERR,
    corruptions: Sequence[str] = TEST_CORRUPTIONS,
) -> float:
    """Mean corruption error: mean over ``corruptions`` of ``corruption_error``.

    ``err_by_corruption[c]`` holds the model's error at each severity. Only the 15 test
    corruptions count by default; extra entries (e.g. the 4 validation corruptions) are
    ignored, never averaged in (SPEC §9).
    """
    _require(err_by_corruption, corruptions)
    ces = [corruption_error(err_by_corruption[c], alexnet_err[c]) for c in corruptions]
    return sum(ces) / len(ces)


def unnormalized_mce(
    err_by_corruption: Mapping[str, Sequence[float]], corruptions: Sequence[str] = TEST_CORRUPTIONS
) -> float:
    """Mean over corruptions of the mean error over severities (the reference test.py's
    "mCE (unnormalized by AlexNet errors)"), as used for CIFAR-10/100-C tables."""
    _require(err_by_corruption, corruptions)
    means = [sum(map(float, err_by_corruption[c])) / len(err_by_corruption[c]) for c in corruptions]
    return sum(means) / len(means)


def robust_accuracy(
    acc_by_corruption: Mapping[str, Sequence[float]],
    corruptions: Sequence[str] = TEST_CORRUPTIONS,
    noise_corruptions: Sequence[str] = NOISE_CORRUPTIONS,
) -> dict[str, float]:
    """Robust accuracy: mean accuracy over corruptions × severities.

    Returns ``{"robust_acc": mean over all 15 × 5, "robust_acc_no_noise": mean over the 12
    corruptions left without gaussian/shot/impulse noise}``. Each corruption is first averaged
    over its severities, so a corruption with a missing severity cannot weigh less.
    """
    _require(acc_by_corruption, corruptions)

    def per_corruption(c: str) -> float:
        accs = [float(a) for a in acc_by_corruption[c]]
        if not accs:
            raise ValueError(f"no accuracies for {c}")
        return sum(accs) / len(accs)

    every = [per_corruption(c) for c in corruptions]
    no_noise = [per_corruption(c) for c in corruptions if c not in noise_corruptions]
    return {
        "robust_acc": sum(every) / len(every),
        "robust_acc_no_noise": sum(no_noise) / len(no_noise) if no_noise else float("nan"),
    }
