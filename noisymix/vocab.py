"""The product's vocabulary: every name list of noisymix, written once, in the paper's order.

NoisyMix: Erichson et al., "NoisyMix: Boosting Model Robustness to Common Corruptions",
arXiv:2202.01263 (github.com/erichson/NoisyMix); benchmarks from Hendrycks & Dietterich,
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
arXiv:1903.12261 (github.com/hendrycks/robustness).

Registries (schemes, architectures, datasets, corruptions, perturbations, releases) still
register their implementations where they live; ``tests/test_vocab.py`` checks that each
registry's names, and the enums of ``noisymix/pipeline/params.schema.yaml``, equal these.
Orders matter: result tables and generated sets are laid out in them.

Standard library only (no torch, no numpy, nothing from noisymix), so the report, the config
and the workflow can import it cheaply.
"""

from __future__ import annotations

__all__ = [
    "ALL_CORRUPTIONS", "ALL_PERTURBATIONS", "ARCHS", "BENCHMARK_KINDS", "COLUMNS", "RUN_KINDS", "CORRUPTION_FAMILIES",
    "DATASETS", "EXTRA_CORRUPTIONS", "EXTRA_PERTURBATIONS", "NOISE_CORRUPTIONS",
    "NOISE_PERTURBATIONS", "PERTURBATIONS", "PRECISIONS", "PRESETS", "RELEASES", "SCHEMES", "SWITCHES",
    "TEST_CORRUPTIONS",
]

# --- training -------------------------------------------------------------------------------

# NoisyMix arXiv:2202.01263 Table 2 method order (baseline first, NoisyMix last); SPEC §3.
SCHEMES: tuple[str, ...] = (
    "erm", "mixup", "manifold_mixup", "cutmix", "puzzlemix", "nfm", "augmix", "noisymix",
)
# NoisyMix arXiv:2202.01263 / erichson/NoisyMix, SPEC §3: PreActResNet-18, WRN-28 (the official
# code's wideresnet28, widen factor 4, which the paper calls "Wide-ResNet-28x2"), ResNet-50;
# then textbook variants under explicit names (no official weights).
ARCHS: tuple[str, ...] = (
    "preactresnet18", "wrn28_4", "resnet50", "alexnet", "preactresnet18_textbook",
    "wrn28_2_zagoruyko",
)
# SPEC §5 data table; digits04/digits59 are not in the paper (an embedded transfer pair).
DATASETS: tuple[str, ...] = (
    "digits", "digits04", "digits59", "fashion-mnist", "cifar10", "cifar100", "imagenet",
)
# NoisyMix arXiv:2202.01263 Table 4 (SPEC §3): the four ablation switches — augmentations,
# feature mixing, noise injections, JSD loss — in that order.
SWITCHES: tuple[str, ...] = ("augment", "mix", "noise", "jsd")

# --- benchmarks -----------------------------------------------------------------------------

# Hendrycks & Dietterich, arXiv:1903.12261 Fig. 1: the 15 test corruptions (ImageNet-C order).
TEST_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
# Hendrycks & Dietterich, arXiv:1903.12261 (held-out validation set): the 4 extra corruptions.
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS: tuple[str, ...] = TEST_CORRUPTIONS + EXTRA_CORRUPTIONS
# Hendrycks & Dietterich, arXiv:1903.12261 Fig. 1: the 3 noise corruptions (robust accuracy is
# also reported without them, NoisyMix arXiv:2202.01263; SPEC §4).
NOISE_CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "shot_noise", "impulse_noise")
# Hendrycks & Dietterich, arXiv:1903.12261 Fig. 1: the four families of the 15 test corruptions.
CORRUPTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": NOISE_CORRUPTIONS,
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}

# Hendrycks & Dietterich, arXiv:1903.12261 (ImageNet-P): the 10 test perturbations (CIFAR-10-P).
PERTURBATIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
    "brightness", "translate", "rotate", "tilt", "scale",
)
# hendrycks/robustness ImageNet-P/create_p (make_cifar_p.py, make_imagenet_p.py): the 4 extra
# (validation) perturbations.
EXTRA_PERTURBATIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "shear")
ALL_PERTURBATIONS: tuple[str, ...] = PERTURBATIONS + EXTRA_PERTURBATIONS
# hendrycks/robustness ImageNet-P/test.py: the noise perturbations, whose flip probability
# compares every frame with the first (i.i.d. noise, no motion).
NOISE_PERTURBATIONS: tuple[str, ...] = ("gaussian_noise", "shot_noise", "speckle_noise")

# hendrycks/robustness make_cifar_c.py / make_imagenet_c.py (and _p): the two parameter presets.
PRESETS: tuple[str, ...] = ("cifar", "imagenet")

# SPEC §5 / Hendrycks & Dietterich arXiv:1903.12261, Hendrycks et al. arXiv:2006.16241: the
# official releases (-C, -P, then ImageNet-R), as registered in noisymix.benchmarks.releases.
RELEASES: tuple[str, ...] = (
    "cifar10-c", "cifar100-c", "cifar10-p", "imagenet-c", "imagenet-p", "imagenet-r",
)

# --- results --------------------------------------------------------------------------------

# SPEC §6 "Outputs": the tidy columns of `noisymix eval` rows (noisymix.robustness.Rows), one
# row per model × benchmark × corruption × severity × metric; read by noisymix.report.rows.
COLUMNS: tuple[str, ...] = (
    "run", "dataset", "arch", "width", "method", "seed", "config_hash",
    "kind", "ablation_cell", "transfer_source", *SWITCHES,
    "benchmark", "benchmark_kind", "corruption", "severity", "metric", "value",
    "corruption_set", "subset", "n_images", "precision",
)
# Arithmetic of the evaluation forward pass (``noisymix eval --precision``), a column of rows.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
# What a benchmark is (from its manifest or layout, never from its name); "-c" etc. as in
# the report's families.
BENCHMARK_KINDS: tuple[str, ...] = ("clean", "fgsm", "-c", "-p", "-r")
# What a run is, written into its rows at evaluation time (never parsed from paths):
RUN_KINDS: tuple[str, ...] = ("main", "ablation", "transfer")
