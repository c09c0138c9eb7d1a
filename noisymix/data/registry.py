"""Dataset registry: digits, fashion-mnist, cifar10, cifar100 (uint8 NHWC arrays) and imagenet.

CIFAR-shaped sets live in memory as uint8 (N, H, W, 3) arrays so that the whole training data
pipeline (crop, flip, AugMix) runs as batched tensor code on the training device.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
from pathlib import Path
from typing import Callable

import numpy as np

from noisymix.errors import NoisymixError

CIFAR_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # NoisyMix official normalisation
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# md5 of the official gzip files (zalandoresearch/fashion-mnist README / torchvision).
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CLASSES = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle-boot",
]


class DatasetError(NoisymixError, RuntimeError):
    """A dataset is missing or damaged; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    image_size: int  # training crop size, pixels
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    kind: str = "array"  # "array" (uint8 NHWC in memory) or "folder" (ImageFolder)


@dataclasses.dataclass
class ArrayDataset:
    """A labelled image set held as uint8 (N, H, W, 3) + int64 (N,) arrays."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    info: DatasetInfo

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise DatasetError(f"{self.info.name}: images must be uint8 (N, H, W, 3), got "
                               f"{self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise DatasetError(f"{self.info.name}: {len(self.images)} images but "
                               f"{len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)


_INFO = {
    "digits": DatasetInfo("digits", 10, 32, *CIFAR_MEAN_STD),
    # not in paper: an embedded transfer pair (quick profile, Table 5 layout): pre-train on the
    # digits 0-4, fine-tune on the unseen digits 5-9 (labels 0-4 there) — new classes, same
    # split of images as `digits`, no download.
    "digits04": DatasetInfo("digits04", 5, 32, *CIFAR_MEAN_STD),
    "digits59": DatasetInfo("digits59", 5, 32, *CIFAR_MEAN_STD),
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 32, *CIFAR_MEAN_STD),
    "cifar10": DatasetInfo("cifar10", 10, 32, *CIFAR_MEAN_STD),
    "cifar100": DatasetInfo("cifar100", 100, 32, *CIFAR_MEAN_STD),
    "imagenet": DatasetInfo("imagenet", 1000, 224, *IMAGENET_MEAN_STD, kind="folder"),
}


def list_datasets() -> list[str]:
    return list(_INFO)


def dataset_info(name: str) -> DatasetInfo:
    try:
        return _INFO[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of: {', '.join(_INFO)}"
        ) from None


def default_root() -> Path:
    return Path(os.environ.get("NOISYMIX_DATA", "data"))


def load_dataset(name: str, split: str = "train", root: str | Path | None = None,
                 download: bool = False):
    """Load ``split`` ("train" or "test") of dataset ``name``.

    Array sets return an ``ArrayDataset``; ``imagenet`` returns a folder dataset
    (``noisymix.data.imagefolder``). ``download=True`` fetches sets that can be fetched.
    """
    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else default_root()
    return _LOADERS[name](split, root, download, info)


# --- digits ---------------------------------------------------------------------------

DIGITS_TEST_FRACTION = 0.25  # fixed split: 1,348 train / 449 test images
DIGITS_SUBSETS = {"digits": tuple(range(10)), "digits04": tuple(range(5)),
                  "digits59": tuple(range(5, 10))}


def _load_digits(split: str, root: Path, download: bool, info: DatasetInfo) -> ArrayDataset:
    import torch

    raw, target = _sklearn_digits()
    x = torch.from_numpy(raw.astype(np.float32) / 16.0)[:, None]  # (N,1,8,8) in [0,1]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    images = images.expand(-1, -1, -1, 3).contiguous().numpy()
    labels = target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))  # fixed, seed 0
    n_test = int(round(DIGITS_TEST_FRACTION * len(labels)))
    idx = np.sort(order[:n_test] if split == "test" else order[n_test:])
    keep = DIGITS_SUBSETS[info.name]
    idx = idx[np.isin(labels[idx], keep)]
    return ArrayDataset(images[idx], labels[idx] - keep[0], [str(i) for i in keep], info)


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as ((1797, 8, 8) values 0-16, (1797,) labels).

    Read from the CSV that scikit-learn ships (what ``sklearn.datasets.load_digits`` parses),
    because importing sklearn.datasets costs ~2 s in every pipeline job.
    """
    import importlib.util
    from pathlib import Path as _P

    spec = importlib.util.find_spec("sklearn")
    path = _P(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.exists():  # layout changed: fall back to the public API
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


# --- Fashion-MNIST ----------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[:2] != b"\x00\x00":
        raise DatasetError(f"{path} is not an IDX file; delete it and download again")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated; delete it and download again")
    return arr.reshape(dims)


def _fashion_dir(root: Path, download: bool) -> Path:
    local = root / "fashion-mnist"
    missing = [f for f in FASHION_MNIST_FILES if not (local / f).exists()]
    if not missing:
        return local  # the data root the user (or the pipeline) chose comes first
    if all((FASHION_MNIST_SYSTEM_DIR / f).exists() for f in FASHION_MNIST_FILES):
        return FASHION_MNIST_SYSTEM_DIR  # Debian's dataset-fashion-mnist package
    if missing and download:
        from noisymix.data.download import download as fetch

        for f in missing:
            fetch(FASHION_MNIST_URL + f, local / f, md5=FASHION_MNIST_FILES[f])
    elif missing:
        raise DatasetError(
            f"Fashion-MNIST not found in {FASHION_MNIST_SYSTEM_DIR} or {local}; install it with "
            f"`apt-get install dataset-fashion-mnist` or run "
            f"`noisymix prepare --dataset fashion-mnist --download`"
        )
    return local


def _load_fashion(split: str, root: Path, download: bool, info: DatasetInfo) -> ArrayDataset:
    d = _fashion_dir(root, download)
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(d / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(d / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28 → 32 px, zero border
    images = np.repeat(images[..., None], 3, axis=-1)
    return ArrayDataset(np.ascontiguousarray(images), labels, FASHION_CLASSES, info)


# --- CIFAR ------------------------------------------------------------------------------


# torchvision's layout and file names; the archives' published md5s (torchvision's CIFAR10/100).
CIFAR_FILES = {
    "cifar10": dict(folder="cifar-10-batches-py", archive="cifar-10-python.tar.gz",
                    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    md5="c58f30108f718f92721af3b95e74349a",
                    train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                    meta="batches.meta", labels="labels", names="label_names"),
    "cifar100": dict(folder="cifar-100-python", archive="cifar-100-python.tar.gz",
                     url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                     md5="eb9058c3a382ffc7106e4002c42a8d85",
                     train=["train"], test=["test"], meta="meta", labels="fine_labels",
                     names="fine_label_names"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts, lists, bytes and numpy arrays) and nothing else:
    a pickle naming any other global is refused instead of run."""

    ALLOWED = {(f"numpy.{core}.{mod}", fn) for core in ("core", "_core")
               for mod, fn in (("multiarray", "_reconstruct"), ("numeric", "_frombuffer"))}
    ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise DatasetError(f"{path} is not a readable CIFAR batch ({e}); delete it and run "
                           f"`noisymix prepare --dataset ... --download` again") from None


def _load_cifar(split: str, root: Path, download: bool, info: DatasetInfo) -> ArrayDataset:
    """CIFAR-10/100 from torchvision's on-disk layout ``<root>/<name>/<folder>/``.

    Read here rather than through torchvision so that the batches are unpickled with an
    allow-list (no code runs from a data file); the archive's checksum is verified when it is
    downloaded (`noisymix prepare --download`).
    """
    spec = CIFAR_FILES[info.name]
    folder = root / info.name / spec["folder"]
    if download and not folder.is_dir():
        from noisymix.data.download import download as fetch, extract

        archive = root / "downloads" / info.name / spec["archive"]
        fetch(spec["url"], archive, md5=spec["md5"])
        extract(archive, root / info.name)
        archive.unlink()
    files = spec["train"] if split == "train" else spec["test"]
    missing = [f for f in files + [spec["meta"]] if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"{info.name} not found or incomplete under {folder} (missing {missing[:3]}); run "
            f"`noisymix prepare --dataset {info.name} --download` (or pass --download)")
    images, labels = [], []
    for f in files:
        batch = _read_cifar_batch(folder / f)
        try:
            data = np.asarray(batch["data"], dtype=np.uint8)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[spec["labels"]], dtype=np.int64))
        except (KeyError, ValueError) as e:
            raise DatasetError(f"{folder / f} does not hold CIFAR images and labels ({e})") from None
    classes = list(_read_cifar_batch(folder / spec["meta"])[spec["names"]])
    y = np.concatenate(labels)
    if y.min(initial=0) < 0 or y.max(initial=0) >= info.num_classes:
        raise DatasetError(f"{folder}: labels outside 0..{info.num_classes - 1}")
    return ArrayDataset(np.ascontiguousarray(np.concatenate(images)), y, classes, info)


def _load_imagenet(split: str, root: Path, download: bool, info: DatasetInfo):
    from noisymix.data.imagefolder import load_imagefolder

    return load_imagefolder(root, split, info)


_LOADERS: dict[str, Callable] = {
    "digits": _load_digits,
    "digits04": _load_digits,
    "digits59": _load_digits,
    "fashion-mnist": _load_fashion,
    "cifar10": _load_cifar,
    "cifar100": _load_cifar,
    "imagenet": _load_imagenet,
}
