"""Batched, generator-driven image augmentation: crop/flip and AugMix."""

from noisymix.augment.augmentations import ALL_OPS, OPS, apply_op, augmix  # noqa: F401
from noisymix.augment.basic import (  # noqa: F401
    random_crop_flip,
    random_resized_crop_flip,
    resize_center_crop,
)
