"""ImageNet (or any ImageFolder tree) for training and evaluation.

Layout: ``<root>/{train,val}/<wnid>/<image>``. Images are decoded by a DataLoader and handed
to the training step as uint8 (B, 3, S, S) tensors; AugMix and the schemes then run batched on
the device. Evaluation is deterministic: resize 256 → centre crop 224, never a training
transform (the official NoisyMix validation loader applied training transforms).

An image that cannot be decoded (truncated download, a stray non-image file) stops the run
with one ``InputError`` naming the file, also when decoding happens in a loader worker.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PIL import Image
from torchvision import datasets
from torchvision.transforms import v2

from noisymix.data.registry import DatasetError, DatasetInfo
from noisymix.errors import InputError


class UnreadableImageError(InputError):
    """An image file of a dataset cannot be decoded (exit status 1, the file named).

    DataLoader workers hand their exceptions to the main process as text: torch re-raises
    ``type(message=<worker traceback>)`` when the type has a truthy ``message`` attribute
    (``torch._utils.ExceptionWrapper.reraise``), else ``type(<traceback>)``. Taking the
    ``message`` form and keeping only its last line gives back this error's own one-line
    message, so the CLI prints that instead of a traceback pasted into one line.
    """

    message = "an image file cannot be decoded"

    def __init__(self, text: str = "", *, message: str | None = None):
        if message is not None:
            last = message.rstrip().splitlines()[-1] if message.strip() else ""
            head = f"{type(self).__module__}.{type(self).__qualname__}: "
            text = last[len(head):] if last.startswith(head) else last
        super().__init__(text)


def load_rgb(path: str):
    """PIL RGB image of ``path`` (fully decoded here); an undecodable file raises
    ``UnreadableImageError`` naming it. torchvision's default loader, with the file named."""
    try:
        with open(path, "rb") as f, Image.open(f) as im:
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UnreadableImageError(f"{path} is not a readable image "
                                   f"({' '.join(str(e).split()) or type(e).__name__}); "
                                   f"remove or replace it") from e


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
        ds = datasets.ImageFolder(str(self.root), transform=tf, loader=load_rgb)
        # this dataset's samples (a --train-subset keeps the first N), not a fresh scan's
        ds.samples = ds.imgs = list(self.samples)
        ds.targets = [t for _, t in self.samples]
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


__all__ = ["FolderDataset", "ResizeCenterCrop", "UnreadableImageError", "eval_transform",
           "load_imagefolder", "load_rgb"]
