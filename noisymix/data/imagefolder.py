"""ImageNet (or any ImageFolder tree) for training and evaluation.

Layout: ``<root>/{train,val}/<wnid>/<image>``. Images are decoded by a DataLoader and handed
to the training step as uint8 (B, 3, S, S) tensors; AugMix and the schemes then run batched on
the device. Evaluation is deterministic: resize 256 → centre crop 224, never a training
transform (the official NoisyMix validation loader applied training transforms).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torchvision import datasets
from torchvision.transforms import v2

from noisymix.data.registry import DatasetError, DatasetInfo


@dataclasses.dataclass
class FolderDataset:
    root: Path
    split: str
    classes: list[str]
    info: DatasetInfo
    samples: list[tuple[str, int]]

    def __len__(self) -> int:
        return len(self.samples)

    def torch_dataset(self, train: bool, image_size: int | None = None) -> datasets.ImageFolder:
        size = image_size or self.info.image_size
        if train:
            tf = v2.Compose([v2.PILToTensor(), v2.RandomResizedCrop(size, antialias=True),
                             v2.RandomHorizontalFlip()])
        else:
            tf = eval_transform(size)
        ds = datasets.ImageFolder(str(self.root), transform=tf)
        return ds


def eval_transform(size: int = 224):
    """Deterministic evaluation transform: resize to size·8/7 (256 for 224), centre crop."""
    return v2.Compose([v2.PILToTensor(), v2.Resize(int(round(size * 8 / 7)), antialias=True),
                       v2.CenterCrop(size)])


class ResizeCenterCrop:
    """uint8 (H, W, 3) tensor → uint8 (3, size, size): resize shorter side to size·8/7, crop.

    For sets whose images vary in size (ImageNet-R, clean ImageNet val); never used on the
    already-224-px ImageNet-C/-P images. A class, not a closure, so loader workers can pickle it.
    """

    def __init__(self, size: int = 224) -> None:
        self.tf = v2.Compose([v2.Resize(int(round(size * 8 / 7)), antialias=True),
                              v2.CenterCrop(size)])

    def __call__(self, x):
        return self.tf(x.permute(2, 0, 1))


def load_imagefolder(root: Path, split: str, info: DatasetInfo) -> FolderDataset:
    sub = root / "imagenet" / ("train" if split == "train" else "val")
    if not sub.is_dir():
        sub = root / ("train" if split == "train" else "val")
    if not sub.is_dir():
        raise DatasetError(
            f"ImageNet {split} folder not found (looked for {root}/imagenet/"
            f"{'train' if split == 'train' else 'val'} and {sub}); pass --data-root pointing "
            f"to a directory with train/ and val/ ImageFolder trees (val sorted into wnid folders)"
        )
    ds = datasets.ImageFolder(str(sub))
    return FolderDataset(sub, split, list(ds.classes), info, list(ds.samples))


__all__ = ["FolderDataset", "ResizeCenterCrop", "eval_transform", "load_imagefolder"]
