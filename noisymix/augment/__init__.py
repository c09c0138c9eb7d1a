"""Batched, generator-driven image augmentation: crop/flip and AugMix."""

from noisymix.augment.augmentations import ALL_OPS, OPS, apply_op, augmix  # noqa: F401
from noisymix.augment.basic import random_crop_flip  # noqa: F401
