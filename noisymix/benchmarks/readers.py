"""Memory-mapped / lazy readers for the official (and generated) robustness benchmark sets.

Layouts (Hendrycks & Dietterich, arXiv:1903.12261, github.com/hendrycks/robustness; ImageNet-R:
Hendrycks et al., arXiv:2006.16241, github.com/hendrycks/imagenet-r):

* CIFAR-10-C / CIFAR-100-C: ``<corruption>.npy`` uint8 (5·N, H, W, 3), severity 1 block
  first, and ``labels.npy`` ((5·N,) in the release: the N test labels repeated per severity).
* CIFAR-10-P: ``<perturbation>.npy`` uint8 (N, frames, H, W, 3), optional ``labels.npy`` (N,).
* ImageNet-C: ``<corruption>/<severity>/<wnid>/<file>`` JPEGs (already 224×224).
* ImageNet-P: ``<perturbation>/<wnid>/<file>.mp4`` videos.
* ImageNet-R: ``<wnid>/<file>`` for 200 wnids; evaluate with logits restricted to those
  classes (``imagenet_r_mask``), as the reference eval does.

The references misalign CIFAR-C labels when several corruptions are loaded together (each
corruption takes ``labels[:n]`` of the concatenated array) and add an extra resize/crop to
ImageNet-C; here labels are sliced per severity block and images come back as decoded, uint8
HWC, with no resize.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from noisymix.corruptions.base import SEVERITIES
from noisymix.data.imagefolder import load_rgb
from noisymix.errors import InputError
from noisymix.vocab import ALL_CORRUPTIONS, ALL_PERTURBATIONS

__all__ = [
    "IMAGENET_R_WNIDS",
    "CifarC",
    "CifarP",
    "ImageFiles",
    "ImageNetC",
    "ImageNetP",
    "ImageNetR",
    "VideoFiles",
    "check_labels",
    "decode_image",
    "decode_video",
    "imagenet_r_mask",
    "iter_batches",
]

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# The 200 ImageNet-R classes, sorted (= the order of ImageFolder on imagenet-r/ and of the
# boolean mask over the sorted 1000 wnids in hendrycks/imagenet-r eval.py, `imagenet_r_wnids`).
IMAGENET_R_WNIDS: tuple[str, ...] = (
    "n01443537", "n01484850", "n01494475", "n01498041", "n01514859", "n01518878", "n01531178",
    "n01534433", "n01614925", "n01616318", "n01630670", "n01632777", "n01644373", "n01677366",
    "n01694178", "n01748264", "n01770393", "n01774750", "n01784675", "n01806143", "n01820546",
    "n01833805", "n01843383", "n01847000", "n01855672", "n01860187", "n01882714", "n01910747",
    "n01944390", "n01983481", "n01986214", "n02007558", "n02009912", "n02051845", "n02056570",
    "n02066245", "n02071294", "n02077923", "n02085620", "n02086240", "n02088094", "n02088238",
    "n02088364", "n02088466", "n02091032", "n02091134", "n02092339", "n02094433", "n02096585",
    "n02097298", "n02098286", "n02099601", "n02099712", "n02102318", "n02106030", "n02106166",
    "n02106550", "n02106662", "n02108089", "n02108915", "n02109525", "n02110185", "n02110341",
    "n02110958", "n02112018", "n02112137", "n02113023", "n02113624", "n02113799", "n02114367",
    "n02117135", "n02119022", "n02123045", "n02128385", "n02128757", "n02129165", "n02129604",
    "n02130308", "n02134084", "n02138441", "n02165456", "n02190166", "n02206856", "n02219486",
    "n02226429", "n02233338", "n02236044", "n02268443", "n02279972", "n02317335", "n02325366",
    "n02346627", "n02356798", "n02363005", "n02364673", "n02391049", "n02395406", "n02398521",
    "n02410509", "n02423022", "n02437616", "n02445715", "n02447366", "n02480495", "n02480855",
    "n02481823", "n02483362", "n02486410", "n02510455", "n02526121", "n02607072", "n02655020",
    "n02672831", "n02701002", "n02749479", "n02769748", "n02793495", "n02797295", "n02802426",
    "n02808440", "n02814860", "n02823750", "n02841315", "n02843684", "n02883205", "n02906734",
    "n02909870", "n02939185", "n02948072", "n02950826", "n02951358", "n02966193", "n02980441",
    "n02992529", "n03124170", "n03272010", "n03345487", "n03372029", "n03424325", "n03452741",
    "n03467068", "n03481172", "n03494278", "n03495258", "n03498962", "n03594945", "n03602883",
    "n03630383", "n03649909", "n03676483", "n03710193", "n03773504", "n03775071", "n03888257",
    "n03930630", "n03947888", "n04086273", "n04118538", "n04133789", "n04141076", "n04146614",
    "n04147183", "n04192698", "n04254680", "n04266014", "n04275548", "n04310018", "n04325704",
    "n04347754", "n04389033", "n04409515", "n04465501", "n04487394", "n04522168", "n04536866",
    "n04552348", "n04591713", "n07614500", "n07693725", "n07695742", "n07697313", "n07697537",
    "n07714571", "n07714990", "n07718472", "n07720875", "n07734744", "n07742313", "n07745940",
    "n07749582", "n07753275", "n07753592", "n07768694", "n07873807", "n07880968", "n07920052",
    "n09472597", "n09835506", "n10565667", "n12267677",
)


def _canonical(names: set[str], order: Sequence[str]) -> list[str]:
    """``names`` in the order of ``order`` (numbered variants after their base), others last.

    The CIFAR-10-P release also has numbered variants such as ``gaussian_noise_2``; those sort
    right after their base name.
    """

    def key(n: str) -> tuple[int, str]:
        base = n.rsplit("_", 1)[0] if n.rsplit("_", 1)[-1].isdigit() else n
        return (order.index(base) if base in order else len(order), n)

    return sorted(names, key=key)


def _require_dir(root: Path, what: str, release: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{what} folder {root} does not exist. Get the official release with "
            f"noisymix.benchmarks.fetch_release({release!r}, <data root>) or generate one "
            f"with `noisymix corrupt` / `noisymix perturb`, then point to that folder."
        )
    return root


def _subdirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _load_npy(path: Path, what: str, listing: Sequence[str]) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing ({what}); present: {', '.join(listing) or 'nothing'}. "
            f"Re-fetch or re-generate the set."
        )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)  # nothing read until sliced
    except (ValueError, OSError, EOFError) as e:  # truncated / not an .npy file / unreadable
        raise InputError(f"{path} is damaged or not an .npy array ({e}); delete it and "
                         f"re-fetch or re-generate the set") from e


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an .npy file's header alone (a truncated body does not matter)."""
    try:
        with open(path, "rb") as f:
            fmt = np.lib.format
            major, _ = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
        return tuple(shape), np.dtype(dtype)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path} is damaged or not an .npy array ({e}); delete it and "
                         f"re-fetch or re-generate the set") from e


def check_labels(y: np.ndarray, path: Path, num_classes: int | None) -> np.ndarray:
    """``y`` as int64 if it holds class indices 0..num_classes-1; else ``InputError``."""
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{path} holds {y.dtype} labels; expected integer class indices")
    y = np.asarray(y, dtype=np.int64)
    if y.size and y.min() < 0:
        raise InputError(f"{path} holds negative labels (min {y.min()}); expected class "
                         f"indices >= 0")
    if num_classes is not None and y.size and y.max() >= num_classes:
        raise InputError(f"{path} holds label {y.max()}, out of range for the model's "
                         f"{num_classes} classes (0..{num_classes - 1}); is it the benchmark "
                         f"of another dataset?")
    return y


# ----------------------------------------------------------------------------- CIFAR -C / -P


class CifarC:
    """CIFAR-10-C / CIFAR-100-C folder: ``<corruption>.npy`` (5·N, H, W, 3) + ``labels.npy``.

    ``severities``: the severity of each block of N images, in file order (1..5 as released;
    a generated set records its own in ``manifest.json``)."""

    def __init__(self, root: Path, severities: Sequence[int] = SEVERITIES):
        self.root = _require_dir(root, "CIFAR-C", "cifar10-c")
        self.severities = tuple(int(s) for s in severities)

    @property
    def corruptions(self) -> list[str]:
        """Corruptions present, canonical order (15 test, 4 extra, then any others sorted)."""
        names = {p.stem for p in self.root.glob("*.npy")} - {"labels"}
        return _canonical(names, ALL_CORRUPTIONS)

    def images(self, corruption: str) -> np.ndarray:
        """All severities of one corruption, memory-mapped uint8 (5·N, H, W, 3)."""
        x = _load_npy(self.root / f"{corruption}.npy", f"corruption {corruption!r}",
                      self.corruptions)
        k = len(self.severities)
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] % k:
            raise InputError(
                f"{self.root / (corruption + '.npy')} has shape {x.shape} dtype {x.dtype}; "
                f"expected uint8 ({k}*N, H, W, 3), one block of N images per severity"
            )
        return x

    def labels(self) -> np.ndarray:
        """``labels.npy`` as stored: (5·N,) in the release, (N,) also accepted."""
        y = _load_npy(self.root / "labels.npy", "labels", self.corruptions)
        if y.ndim != 1:
            raise InputError(f"{self.root / 'labels.npy'} has shape {y.shape}; expected 1-D")
        return y

    def load(self, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        """(images memmap view uint8 (N, H, W, 3), labels int64 (N,)) of one severity block."""
        if severity not in self.severities:
            raise ValueError(f"severity must be one of {self.severities}, got {severity}")
        x = self.images(corruption)
        y = self.labels()
        k = len(self.severities)
        n = x.shape[0] // k
        i = self.severities.index(severity)
        block = slice(i * n, (i + 1) * n)
        if len(y) == k * n:
            # The release repeats the N labels per severity; slice the same block as the
            # images so the pairing is right whatever the file holds.
            yb = y[block]
        elif len(y) == n:
            yb = y
        else:
            raise InputError(
                f"{self.root / 'labels.npy'} has {len(y)} labels but {corruption}.npy has "
                f"{x.shape[0]} images ({k} x {n}); expected {k * n} or {n} labels"
            )
        return x[block], np.asarray(yb)


class CifarP:
    """CIFAR-10-P folder: ``<perturbation>.npy`` uint8 (N, frames, H, W, 3), ``labels.npy``."""

    def __init__(self, root: Path):
        self.root = _require_dir(root, "CIFAR-P", "cifar10-p")

    @property
    def perturbations(self) -> list[str]:
        names = {p.stem for p in self.root.glob("*.npy")} - {"labels"}
        return _canonical(names, ALL_PERTURBATIONS)

    def load(self, name: str) -> np.ndarray:
        """Memory-mapped uint8 (N, frames, H, W, 3) sequences of one perturbation."""
        x = _load_npy(self.root / f"{name}.npy", f"perturbation {name!r}", self.perturbations)
        if x.dtype != np.uint8 or x.ndim != 5 or x.shape[-1] != 3:
            raise InputError(
                f"{self.root / (name + '.npy')} has shape {x.shape} dtype {x.dtype}; expected "
                f"uint8 (N, frames, H, W, 3)"
            )
        y = self.labels
        if y is not None and len(y) != x.shape[0]:
            raise InputError(f"{self.root / 'labels.npy'} has {len(y)} labels but {name}.npy "
                             f"has {x.shape[0]} sequences")
        return x

    @property
    def labels(self) -> np.ndarray | None:
        """(N,) labels as stored, or ``None`` when the folder has no ``labels.npy``."""
        path = self.root / "labels.npy"
        if not path.is_file():
            return None
        y = _load_npy(path, "labels", self.perturbations)
        if y.ndim != 1:
            raise InputError(f"{path} has shape {y.shape}; expected 1-D")
        return np.asarray(y)


# ------------------------------------------------------------------------- image/video files


def decode_image(path: Path) -> torch.Tensor:
    """uint8 (H, W, 3) RGB tensor exactly as decoded (no resize, no crop)."""
    return torch.from_numpy(np.array(load_rgb(str(path)), dtype=np.uint8))


def decode_video(path: Path) -> torch.Tensor:
    """uint8 (frames, H, W, 3) RGB tensor of every frame of a video (cv2 / FFmpeg)."""
    import cv2  # imported lazily: only the -P video reader needs it

    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        if not cap.isOpened():
            raise ValueError(f"cannot open video {path}")
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise InputError(f"video {path} has no decodable frames (damaged download?)")
    return torch.from_numpy(np.stack(frames))


def _scan(folder: Path, classes: Sequence[str] | None, exts: tuple[str, ...]):
    """(samples [(path, class index)], classes) for a ``<wnid>/<file>`` tree."""
    wnids = _subdirs(folder)
    if not wnids:
        raise FileNotFoundError(f"{folder} has no class (wnid) folders")
    classes = list(classes) if classes is not None else wnids
    index = {w: i for i, w in enumerate(classes)}
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise InputError(f"{folder}: class folders {unknown[:5]} are not in the class list "
                         f"({len(classes)} classes); is it the benchmark of another dataset?")
    samples = [
        (p, index[w])
        for w in wnids
        for p in sorted((folder / w).iterdir())
        if p.is_file() and p.suffix.lower() in exts
    ]
    if not samples:
        raise FileNotFoundError(f"{folder} holds no files with extensions {exts}")
    return samples, classes


class ImageFiles(torch.utils.data.Dataset):
    """Dataset over ``samples``: item -> (uint8 (H, W, 3) as decoded, class index)."""

    def __init__(self, samples: list[tuple[Path, int]], classes: list[str]):
        self.samples = samples
        self.classes = classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, target = self.samples[i]
        return decode_image(path), target


class VideoFiles(ImageFiles):
    """Dataset over videos: item -> (uint8 (frames, H, W, 3) RGB, class index)."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, target = self.samples[i]
        return decode_video(path), target


# ------------------------------------------------------------------------ ImageNet -C/-P/-R


class ImageNetC:
    """ImageNet-C tree ``<corruption>/<severity>/<wnid>/<file>``.

    ``classes``: the sorted wnid list of the clean set the model was trained on (class index =
    position in it); default: the wnid folders found under each corruption/severity.
    """

    def __init__(self, root: Path, classes: Sequence[str] | None = None):
        self.root = _require_dir(root, "ImageNet-C", "imagenet-c")
        self.classes = list(classes) if classes is not None else None

    @property
    def corruptions(self) -> list[str]:
        return _canonical(set(_subdirs(self.root)), ALL_CORRUPTIONS)

    def load(self, corruption: str, severity: int) -> ImageFiles:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
        folder = self.root / corruption / str(severity)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} is missing; corruptions present: {', '.join(self.corruptions)}"
            )
        return ImageFiles(*_scan(folder, self.classes, IMAGE_EXTENSIONS))


class ImageNetP:
    """ImageNet-P tree ``<perturbation>/<wnid>/<file>.mp4`` (decoded with OpenCV)."""

    def __init__(self, root: Path, classes: Sequence[str] | None = None):
        self.root = _require_dir(root, "ImageNet-P", "imagenet-p")
        self.classes = list(classes) if classes is not None else None

    @property
    def perturbations(self) -> list[str]:
        return _canonical(set(_subdirs(self.root)), ALL_PERTURBATIONS)

    def load(self, perturbation: str) -> VideoFiles:
        folder = self.root / perturbation
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} is missing; perturbations present: {', '.join(self.perturbations)}"
            )
        return VideoFiles(*_scan(folder, self.classes, (".mp4", ".avi", ".mkv")))


class ImageNetR(ImageFiles):
    """ImageNet-R folder of 200 ``<wnid>/`` folders; targets index ``IMAGENET_R_WNIDS``.

    Evaluate with ``logits[:, imagenet_r_mask(classes_1000)]`` so that column i is
    ``IMAGENET_R_WNIDS[i]``, the class this dataset's target i names.
    """

    def __init__(self, root: Path):
        root = _require_dir(root, "ImageNet-R", "imagenet-r")
        samples, _ = _scan(root, IMAGENET_R_WNIDS, IMAGE_EXTENSIONS)
        super().__init__(samples, list(IMAGENET_R_WNIDS))
        self.root = root


def imagenet_r_mask(classes_1000: Sequence[str]) -> torch.Tensor:
    """LongTensor (200,): positions of ``IMAGENET_R_WNIDS`` in the model's 1000-class list."""
    pos = {w: i for i, w in enumerate(classes_1000)}
    missing = [w for w in IMAGENET_R_WNIDS if w not in pos]
    if missing:
        raise ValueError(
            f"{len(missing)} ImageNet-R classes are not in the class list "
            f"(e.g. {missing[:3]}); pass the 1000 ImageNet wnids the model was trained on"
        )
    return torch.tensor([pos[w] for w in IMAGENET_R_WNIDS], dtype=torch.long)


# -------------------------------------------------------------------------------- batching


class _Mapped(torch.utils.data.Dataset):
    # Module-level (not a closure) so that DataLoader workers can pickle it.
    def __init__(self, base, transform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return self.transform(x), y


def _stack(batch):
    xs, ys = zip(*batch)
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(
            f"images of different sizes {sorted(shapes)[:3]} in one batch; pass a transform "
            f"(e.g. resize/crop) to iter_batches, or use batch_size=1"
        )
    return torch.stack(xs), torch.as_tensor(ys, dtype=torch.long)


def iter_batches(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (stacked images, LongTensor labels) in dataset order (decoding in workers).

    Without ``transform`` images come back uint8 (B, H, W, 3) (frames dim first for videos)
    and must share a size (ImageNet-C does: 224×224).
    """
    ds = _Mapped(dataset, transform) if transform is not None else dataset
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_stack
    )
    yield from loader
