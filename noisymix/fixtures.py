"""Tiny fixture datasets and benchmark releases in the official on-disk layouts, plus a mirror.

Every pipeline profile must run end to end on CPU at smoke scale with no network. The
``prepare`` stage "downloads" each dataset / release from a local mirror (``file://`` URLs)
through the project's real download → checksum → safe-extract code; this module writes that
mirror: for each name the archive(s) the official download gives (same file names, same
member layout, same array dtypes and shapes), only with a handful of small synthetic images.

Layouts reproduced (see ``noisymix.benchmarks.releases`` / ``readers`` and SPEC §4–5):

* ``cifar10`` / ``cifar100``: ``cifar-10-python.tar.gz`` → ``cifar-10-batches-py/``
  ``{data_batch_1..5, test_batch, batches.meta}``; ``cifar-100-python.tar.gz`` →
  ``cifar-100-python/{train, test, meta}``: pickles (protocol 3) of dicts with str keys
  (``data`` uint8 (N, 3072) channel-major, ``labels`` / ``fine_labels`` + ``coarse_labels``,
  ``filenames``, ``batch_label``), as torchvision reads them (``encoding="latin1"``).
* ``fashion-mnist``: the four gzip'd IDX files (magic 0x00000803 images, 0x00000801 labels).
* ``imagenet``: no official download; ``imagenet.tar`` → ``imagenet/{train,val}/<wnid>/*.JPEG``
  over exactly the 200 ImageNet-R wnids (``IMAGENET_R_WNIDS``), so the ImageNet-R mask works.
* ``cifar10-c`` / ``cifar100-c``: ``CIFAR-10-C.tar`` / ``CIFAR-100-C.tar`` → the folder with
  the 19 ``<corruption>.npy`` uint8 (5·N, 32, 32, 3) (severity 1 block first) and
  ``labels.npy`` (5·N,) (the N test labels repeated per severity, as the release).
* ``cifar10-p``: ``CIFAR-10-P.tar`` → ``CIFAR-10-P/<perturbation>.npy`` uint8
  (N, frames, 32, 32, 3) for the 14 perturbations with the frame counts of
  ``noisymix.perturbations.frame_count(name, "cifar")``; no ``labels.npy`` (the release has
  none; the stability metrics do not need labels). The release's numbered variants
  (``gaussian_noise_2`` ...) are not produced.
* ``imagenet-c``: ``{blur,digital,extra,noise,weather}.tar`` holding
  ``<corruption>/<1..5>/<wnid>/<file>.JPEG`` for the corruptions of each archive's ``provides``.
* ``imagenet-p``: ``{blur,digital,noise,weather}.tar`` holding ``<perturbation>/<wnid>/*.mp4``.
  Which perturbation is in which official archive is not documented; the split here
  (``IMAGENET_P_GROUPS``) is our guess, and nothing depends on it.
* ``zoo-<entry>`` (every entry of ``noisymix.zoo``): ``<entry>.pth``, a ``torch.save`` of a
  tiny state dict of the entry's architecture (``zoo_width``, default 1/16 of the channels,
  one output per fixture ImageNet class), wrapped as the release wraps it where we know how
  (AugMix: ``{"epoch", "state_dict"}`` with DataParallel's ``module.``; Salman et al.:
  ``module.model.`` plus the ``module.normalizer.`` buffers): the stand-in that `noisymix
  import --mirror` reads instead of the published file at smoke scale (conv/linear biases
  zeroed so that predictions depend on the image). Weights are drawn with
  a seeded generator (``torch.manual_seed`` inside ``fork_rng``); ``torch.save`` into memory
  has no timestamps, so the files are byte-reproducible too.
* ``imagenet-r``: ``imagenet-r.tar`` → ``imagenet-r/<wnid>/<style>_<i>.jpg`` for all 200
  wnids (1 image each, varying sizes: the evaluator resizes; ≥100 wnid folders are what
  ``noisymix.robustness.detect_layout`` recognises as ImageNet-R).

The "corrupted" / "perturbed" images are not real corruptions: clean fixture images with a
visible change that grows with severity / frame index. Images are structured (a class colour
and a class-dependent stripe pattern plus noise) so that a model can learn a little; every
dataset draws from its own ``numpy.random.default_rng([seed, crc32(name)])`` stream (no global
RNG), and the class appearance depends only on ``seed`` and the number of classes, so
ImageNet-C/-P/-R images look like the ImageNet fixture's classes and CIFAR-10-C/-P use the
CIFAR-10 fixture's test images.

Archives are byte-reproducible for a given seed and sizes: members sorted, mtime 0, uid/gid 0,
no user/group names, fixed modes, gzip header mtime 0 and no file name; JPEG/mp4 encoders are
deterministic. ``mirror.json`` is written last and atomically:

``{"format": "noisymix-mirror/1", "seed": 0, "per_class": 2, "image_size": 32,
"datasets": {"cifar10": [{"filename": "cifar-10-python.tar.gz",
"path": "files/cifar10/cifar-10-python.tar.gz", "md5": ..., "sha256": ..., "size": ...}]}}``

``path`` is relative to the folder of ``mirror.json``; files live under ``files/<name>/``
because ImageNet-C and ImageNet-P both have a ``blur.tar`` (etc.).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import shutil
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from noisymix import vocab
from noisymix.io import atomic_path, write_json
from noisymix.vocab import ALL_CORRUPTIONS, NOISE_PERTURBATIONS

__all__ = ["FIXTURE_NAMES", "IMAGENET_P_GROUPS", "MIRROR_FORMAT", "write_fixtures"]

# Every dataset (digits04/digits59 are views of digits, not datasets of their own) and release.
def _zoo_names() -> tuple[str, ...]:
    from noisymix.zoo import ZOO

    return tuple(f"zoo-{name}" for name in ZOO)


FIXTURE_NAMES = (tuple(d for d in vocab.DATASETS if d not in ("digits04", "digits59"))
                 + vocab.RELEASES + _zoo_names())
ZOO_FIXTURE_WIDTH = 0.0625  # params.yaml smoke.width: the width the smoke profile imports at
MIRROR_FORMAT = "noisymix-mirror/1"

# Not documented by the release (Zenodo 3565846 lists four tars without their contents); a
# guess by kind, like ImageNet-C's grouping. Readers only see the extracted folder.
IMAGENET_P_GROUPS = {
    "blur.tar": ("motion_blur", "zoom_blur", "gaussian_blur"),
    "digital.tar": ("translate", "rotate", "tilt", "scale", "shear"),
    "noise.tar": ("gaussian_noise", "shot_noise", "speckle_noise"),
    "weather.tar": ("snow", "brightness", "spatter"),
}

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR100_FINE = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)
CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)

CIFAR_C_N = {"cifar10-c": 10, "cifar100-c": 20}  # clean test images per severity block
CIFAR_P_N = 6  # sequences per perturbation
IMAGENET_C_WNIDS = 5  # classes (1 val image each) in the ImageNet-C fixture
IMAGENET_P_WNIDS = 3  # classes (1 video each) in the ImageNet-P fixture
IMAGENET_P_FRAMES = 6  # frames per video (the release has ~31; any >= 2 works for the metrics)
JPEG_QUALITY = 90


# --------------------------------------------------------------------------- image generator


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _images(rng: np.random.Generator, labels: np.ndarray, num_classes: int, seed: int,
            size: int | tuple[int, int] = 32) -> np.ndarray:
    """uint8 (N, H, W, 3): class colour + class stripe pattern (angle, frequency) + noise.

    The class appearance comes from ``default_rng([seed, num_classes])`` only, so every fixture
    with the same classes draws the same-looking classes; per-image phase/noise from ``rng``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    cls_rng = np.random.default_rng([seed, num_classes, 7])
    colour = cls_rng.uniform(50, 205, (num_classes, 3))
    stripe = cls_rng.uniform(-1, 1, (num_classes, 3))  # per-channel stripe weight
    angle = cls_rng.uniform(0, np.pi, num_classes)
    freq = cls_rng.uniform(1.0, 4.0, num_classes)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, n)
    a, f = angle[labels], freq[labels]
    arg = (xx[None] * np.cos(a)[:, None, None] + yy[None] * np.sin(a)[:, None, None])
    wave = np.sin(2 * np.pi * f[:, None, None] * arg + phase[:, None, None])  # (N, H, W)
    img = colour[labels][:, None, None, :] + 60 * wave[..., None] * stripe[labels][:, None, None]
    img = img + rng.normal(0, 12, (n, h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _degrade(rng: np.random.Generator, x: np.ndarray, level: float, kind: int) -> np.ndarray:
    """A visible change of strength ``level`` (0: none) — not a real corruption."""
    y = x.astype(np.float32)
    if kind % 3 == 0:  # noise
        y = y + rng.normal(0, 1, y.shape) * 12 * level
    elif kind % 3 == 1:  # contrast loss towards grey
        y = 128 + (y - 128) * (1 - 0.15 * level)
    else:  # brightening plus a little noise
        y = y + 15 * level + rng.normal(0, 1, y.shape) * 3 * level
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


# --------------------------------------------------------------------------------- archives


def _tarinfo(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if size is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def _write_tar(path: Path, members: dict[str, bytes], gz: bool = False) -> None:
    """Reproducible tar (gzip'd with ``gz``): parent folders as entries, everything sorted."""
    dirs = {str(p) for name in members for p in Path(name).parents if str(p) != "."}
    entries = sorted([(d, None) for d in dirs] + list(members.items()), key=lambda e: e[0])
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        zf = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if gz else None
        try:
            with tarfile.open(fileobj=zf or raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
                for name, data in entries:
                    if data is None:
                        tf.addfile(_tarinfo(name, None))
                    else:
                        tf.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
        finally:
            if zf is not None:
                zf.close()


def _write_gzip(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zf:
            zf.write(data)


# ------------------------------------------------------------------------------- datasets


def _cifar_arrays(name: str, seed: int, per_class: int):
    """(train images, train labels, test images, test labels) of the CIFAR fixture ``name``.

    CIFAR-10: 5 training batches of ``per_class`` images per class each (shuffled within the
    batch), ``per_class`` test images per class; CIFAR-100: ``per_class`` training and 1 test
    image per class. Test labels are ``0, 1, ..., K-1, 0, 1, ...`` (so the first K test images
    hold one image of each class; the -C/-P fixtures take their first N).
    """
    k = 10 if name == "cifar10" else 100
    rng = _rng(seed, name)
    batches = 5 if k == 10 else 1
    ytr = np.concatenate([rng.permutation(np.tile(np.arange(k), per_class))
                          for _ in range(batches)])
    yte = np.tile(np.arange(k), per_class if k == 10 else 1)
    xtr = _images(rng, ytr, k, seed)
    xte = _images(rng, yte, k, seed)
    return xtr, ytr, xte, yte


def _cifar_rows(x: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) → (N, 3072): the release's channel-major (R plane, G plane, B plane)."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))


def _pickle(obj) -> bytes:
    # The release's files are Python 2 protocol-2 pickles whose array bytes are py2 ``str``.
    # Python 3 cannot write that: its protocol 2 wraps bytes in ``_codecs.encode``, which the
    # allow-listed unpickler (noisymix.data.registry) rightly refuses. Protocol 3 writes bytes
    # natively and names the same globals as the release (numpy ``_reconstruct``, ``ndarray``,
    # ``dtype``); torchvision (``encoding="latin1"``) reads both alike.
    return pickle.dumps(obj, protocol=3)


def _make_cifar10(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    xtr, ytr, xte, yte = _cifar_arrays("cifar10", seed, per_class)
    members = {}
    for b, idx in enumerate(np.array_split(np.arange(len(ytr)), 5), start=1):
        members[f"cifar-10-batches-py/data_batch_{b}"] = _pickle({
            "batch_label": f"training batch {b} of 5",
            "labels": [int(v) for v in ytr[idx]],
            "data": _cifar_rows(xtr[idx]),
            "filenames": [f"fixture_{b}_{i}.png" for i in idx],
        })
    members["cifar-10-batches-py/test_batch"] = _pickle({
        "batch_label": "testing batch 1 of 1",
        "labels": [int(v) for v in yte],
        "data": _cifar_rows(xte),
        "filenames": [f"fixture_test_{i}.png" for i in range(len(yte))],
    })
    members["cifar-10-batches-py/batches.meta"] = _pickle({
        "num_cases_per_batch": int(len(ytr) // 5), "label_names": list(CIFAR10_CLASSES),
        "num_vis": 3072,
    })
    members["cifar-10-batches-py/readme.html"] = b"<p>noisymix fixture, not CIFAR-10</p>\n"
    path = d / "cifar-10-python.tar.gz"
    _write_tar(path, members, gz=True)
    return [path]


def _make_cifar100(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    xtr, ytr, xte, yte = _cifar_arrays("cifar100", seed, per_class)
    # Coarse labels: 5 fine classes per superclass by index (NOT the official mapping; nothing
    # in noisymix reads them).
    members = {}
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        members[f"cifar-100-python/{split}"] = _pickle({
            "filenames": [f"fixture_{split}_{i}.png" for i in range(len(y))],
            "batch_label": f"{'training' if split == 'train' else 'testing'} batch 1 of 1",
            "fine_labels": [int(v) for v in y],
            "coarse_labels": [int(v) // 5 for v in y],
            "data": _cifar_rows(x),
        })
    members["cifar-100-python/meta"] = _pickle({
        "fine_label_names": list(CIFAR100_FINE), "coarse_label_names": list(CIFAR100_COARSE),
    })
    path = d / "cifar-100-python.tar.gz"
    _write_tar(path, members, gz=True)
    return [path]


def _idx(arr: np.ndarray) -> bytes:
    """IDX bytes: 0x0000, type 0x08 (uint8), ndim, big-endian dims, data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return (struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            + arr.tobytes())


def _make_fashion(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    rng = _rng(seed, "fashion-mnist")
    paths = []
    for prefix, per in (("train", 3 * per_class), ("t10k", per_class)):
        y = np.tile(np.arange(10), per)
        y = y[rng.permutation(len(y))].astype(np.uint8)
        x = _images(rng, y, 10, seed, 28).mean(axis=-1)  # grey, like the release
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        for kind, data in (("images-idx3-ubyte", _idx(x)), ("labels-idx1-ubyte", _idx(y))):
            path = d / f"{prefix}-{kind}.gz"
            _write_gzip(path, data)
            paths.append(path)
    return paths


def _imagenet_wnids(n: int | None = None) -> list[str]:
    from noisymix.benchmarks.readers import IMAGENET_R_WNIDS

    wnids = list(IMAGENET_R_WNIDS)
    if n is None:
        return wnids
    step = len(wnids) // n  # spread over the list
    return [wnids[i * step] for i in range(n)]


def _wnid_images(rng, wnids: list[str], per: int, seed: int, size) -> np.ndarray:
    """(len(wnids)*per, H, W, 3), class = position in the 200 ImageNet(-R) fixture classes."""
    allw = _imagenet_wnids()
    labels = np.repeat([allw.index(w) for w in wnids], per)
    return _images(rng, labels, len(allw), seed, size)


def _val_name(i: int, ext: str = "JPEG") -> str:
    return f"ILSVRC2012_val_{i + 1:08d}.{ext}"


def _make_imagenet(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    rng = _rng(seed, "imagenet")
    wnids = _imagenet_wnids()
    members = {}
    xtr = _wnid_images(rng, wnids, per_class, seed, image_size)
    xva = _wnid_images(rng, wnids, 1, seed, image_size)
    for c, w in enumerate(wnids):
        for j in range(per_class):
            members[f"imagenet/train/{w}/{w}_{j}.JPEG"] = _jpeg(xtr[c * per_class + j])
        members[f"imagenet/val/{w}/{_val_name(c)}"] = _jpeg(xva[c])
    path = d / "imagenet.tar"
    _write_tar(path, members)
    return [path]


def _make_cifar_c(name: str):
    def make(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
        from noisymix.benchmarks.releases import RELEASES

        clean = "cifar10" if name == "cifar10-c" else "cifar100"
        _, _, xte, yte = _cifar_arrays(clean, seed, per_class)
        n = CIFAR_C_N[name]
        x, y = xte[:n], yte[:n]
        rng = _rng(seed, name)
        rel = RELEASES[name]
        folder = rel.dirname
        members = {}
        for k, c in enumerate(ALL_CORRUPTIONS):
            blocks = [_degrade(rng, x, s, k) for s in range(1, 6)]
            members[f"{folder}/{c}.npy"] = _npy(np.concatenate(blocks))
        members[f"{folder}/labels.npy"] = _npy(np.tile(y, 5).astype(np.int64))
        path = d / rel.files[0].filename
        _write_tar(path, members)
        return [path]

    return make


def _sequence(rng, x: np.ndarray, p: str, frames: int) -> np.ndarray:
    """(N, frames, H, W, 3): frame 0 clean, then a change growing with the frame index."""
    from noisymix.perturbations import GEOMETRIC_PERTURBATIONS

    out = np.empty((len(x), frames, *x.shape[1:]), np.uint8)
    for i in range(frames):
        if i == 0:
            out[:, 0] = x
        elif p in NOISE_PERTURBATIONS:  # fresh noise of one strength every frame
            out[:, i] = _degrade(rng, x, 1.0, 0)
        elif p in GEOMETRIC_PERTURBATIONS:
            out[:, i] = np.roll(x, shift=i, axis=2)
        else:
            out[:, i] = _degrade(rng, x, 3.0 * i / frames, 2)
    return out


def _make_cifar10_p(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    from noisymix.benchmarks.releases import RELEASES
    from noisymix.perturbations import ALL_PERTURBATIONS, frame_count

    _, _, xte, _ = _cifar_arrays("cifar10", seed, per_class)
    x = xte[:CIFAR_P_N]
    rng = _rng(seed, "cifar10-p")
    rel = RELEASES["cifar10-p"]
    members = {f"{rel.dirname}/{p}.npy": _npy(_sequence(rng, x, p, frame_count(p, "cifar")))
               for p in ALL_PERTURBATIONS}
    path = d / rel.files[0].filename
    _write_tar(path, members)
    return [path]


def _make_imagenet_c(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    from noisymix.benchmarks.releases import RELEASES

    rng = _rng(seed, "imagenet-c")
    wnids = _imagenet_wnids(IMAGENET_C_WNIDS)
    x = _wnid_images(rng, wnids, 1, seed, image_size)
    allw = _imagenet_wnids()
    paths = []
    for f in RELEASES["imagenet-c"].files:
        members = {}
        for c in f.provides:
            k = ALL_CORRUPTIONS.index(c)
            for s in range(1, 6):
                xs = _degrade(rng, x, s, k)
                for j, w in enumerate(wnids):
                    members[f"{c}/{s}/{w}/{_val_name(allw.index(w))}"] = _jpeg(xs[j])
        path = d / f.filename
        _write_tar(path, members)
        paths.append(path)
    return paths


def _mp4(frames: np.ndarray, tmpdir: Path) -> bytes:
    """mp4v (MPEG-4 part 2) video of RGB uint8 (F, H, W, 3) frames, via OpenCV/FFmpeg."""
    import cv2

    h, w = frames.shape[1:3]
    path = tmpdir / "v.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    if not writer.isOpened():
        raise RuntimeError(
            "this OpenCV build cannot write mp4v (MPEG-4) videos, which the ImageNet-P fixture "
            "needs; install an opencv-python wheel with FFmpeg support")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    data = path.read_bytes()
    path.unlink()
    if not data:
        raise RuntimeError("OpenCV wrote an empty mp4v video; its FFmpeg backend is broken")
    return data


def _make_imagenet_p(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    from noisymix.benchmarks.releases import RELEASES

    size = image_size + image_size % 2  # MPEG-4 needs even frame sizes
    rng = _rng(seed, "imagenet-p")
    wnids = _imagenet_wnids(IMAGENET_P_WNIDS)
    allw = _imagenet_wnids()
    x = _wnid_images(rng, wnids, 1, seed, size)
    groups = {f.filename for f in RELEASES["imagenet-p"].files}
    if groups != set(IMAGENET_P_GROUPS):
        raise RuntimeError(f"imagenet-p archives {sorted(groups)} differ from the fixture's "
                           f"{sorted(IMAGENET_P_GROUPS)}; update IMAGENET_P_GROUPS")
    paths = []
    tmpdir = Path(tempfile.mkdtemp(prefix="noisymix-mp4-"))
    try:
        for f in RELEASES["imagenet-p"].files:
            members = {}
            for p in IMAGENET_P_GROUPS[f.filename]:
                seqs = _sequence(rng, x, p, IMAGENET_P_FRAMES)
                for j, w in enumerate(wnids):
                    members[f"{p}/{w}/{_val_name(allw.index(w), 'mp4')}"] = _mp4(seqs[j], tmpdir)
            path = d / f.filename
            _write_tar(path, members)
            paths.append(path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return paths


def _make_imagenet_r(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
    from noisymix.benchmarks.releases import RELEASES

    rng = _rng(seed, "imagenet-r")
    wnids = _imagenet_wnids()
    styles = ("art", "cartoon", "deviantart", "embroidery", "graffiti", "painting", "sketch")
    members = {}
    rel = RELEASES["imagenet-r"]
    for c, w in enumerate(wnids):
        # Renditions come in all sizes; vary them (the evaluator resizes and centre-crops).
        hw = (image_size + int(rng.integers(0, image_size // 2 + 1)),
              image_size + int(rng.integers(0, image_size // 2 + 1)))
        img = _wnid_images(rng, [w], 1, seed, hw)[0]
        img = (img // 64 * 64 + 32).astype(np.uint8)  # posterised: a "rendition"
        style = styles[c % len(styles)]
        members[f"{rel.dirname}/{w}/{style}_{c}.jpg"] = _jpeg(img)
    path = d / rel.files[0].filename
    _write_tar(path, members)
    return [path]


def _make_zoo(entry: str, width: float):
    def make(d: Path, seed: int, per_class: int, image_size: int) -> list[Path]:
        import torch

        from noisymix.models import create_model
        from noisymix.zoo import get_entry

        e = get_entry(entry)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(f"{seed}:{entry}".encode()))
            net = create_model(e.arch, len(_imagenet_wnids()), width).net
            # zero conv/linear biases: at random init they, not the image, decide the argmax
            # (AlexNet's flip probabilities would all be 0 and could not normalise mFR)
            for mod in net.modules():
                if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and mod.bias is not None:
                    torch.nn.init.zeros_(mod.bias)
            state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
        if entry == "resnet50-augmix":  # google-research/augmix imagenet.py saves this
            obj = {"epoch": 180, "state_dict": {f"module.{k}": v for k, v in state.items()}}
        elif entry == "resnet50-adversarial-linf":  # madrylab robustness AttackerModel
            obj = {f"module.model.{k}": v for k, v in state.items()}
            obj["module.normalizer.new_mean"] = torch.zeros(3, 1, 1)
            obj["module.normalizer.new_std"] = torch.ones(3, 1, 1)
        else:
            obj = state
        buf = io.BytesIO()
        torch.save(obj, buf)
        path = d / f"{entry}.pth"
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(buf.getvalue())
        return [path]

    return make


_MAKERS = {
    "fashion-mnist": _make_fashion,
    "cifar10": _make_cifar10,
    "cifar100": _make_cifar100,
    "imagenet": _make_imagenet,
    "cifar10-c": _make_cifar_c("cifar10-c"),
    "cifar100-c": _make_cifar_c("cifar100-c"),
    "cifar10-p": _make_cifar10_p,
    "imagenet-c": _make_imagenet_c,
    "imagenet-p": _make_imagenet_p,
    "imagenet-r": _make_imagenet_r,
}


def _entry(path: Path, base: Path) -> dict:
    h_md5, h_sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h_md5.update(block)
            h_sha.update(block)
    return {"filename": path.name, "path": path.relative_to(base).as_posix(),
            "md5": h_md5.hexdigest(), "sha256": h_sha.hexdigest(), "size": path.stat().st_size}


def write_fixtures(out: str | Path, names: Iterable[str], *, seed: int = 0,
                   per_class: int = 2, image_size: int = 32,
                   zoo_width: float = ZOO_FIXTURE_WIDTH) -> Path:
    """Write archives for `names` under out/files/ and the index out/mirror.json (written last, atomically); return its path.

    Each name's files go to ``out/files/<name>/<official file name>``. ``digits`` needs nothing
    (bundled with scikit-learn) and is skipped. An existing ``mirror.json`` made with the same
    seed, ``per_class`` and ``image_size`` keeps its other datasets (so names can be added one
    call at a time); otherwise it is replaced. ``per_class``: images per class per CIFAR-10
    training batch (CIFAR-100: per class in train; Fashion-MNIST: 3× that in train, that many
    in test; ImageNet: per class in train); ``image_size``: side of the ImageNet-style images
    (CIFAR / Fashion-MNIST keep their official 32 / 28 px); ``zoo_width``: channel multiplier
    of the ``zoo-*`` weight files.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in FIXTURE_NAMES]
    if unknown:
        raise ValueError(f"unknown fixture name(s) {unknown}; choose from: "
                         f"{', '.join(FIXTURE_NAMES)}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    out = Path(out)
    mirror = out / "mirror.json"
    header = {"format": MIRROR_FORMAT, "seed": int(seed), "per_class": int(per_class),
              "image_size": int(image_size), "zoo_width": float(zoo_width)}
    datasets: dict[str, list[dict]] = {}
    if mirror.is_file():
        try:
            old = json.loads(mirror.read_text())
        except (OSError, ValueError):
            old = {}
        if all(old.get(k) == v for k, v in header.items()):
            datasets = {k: v for k, v in old.get("datasets", {}).items()
                        if all((out / e["path"]).is_file() for e in v)}
    for name in names:
        if name == "digits":
            continue
        d = out / "files" / name
        d.mkdir(parents=True, exist_ok=True)
        make = (_make_zoo(name[4:], float(zoo_width)) if name.startswith("zoo-")
                else _MAKERS[name])
        paths = make(d, int(seed), int(per_class), int(image_size))
        datasets[name] = [_entry(p, out) for p in paths]
    write_json(mirror, {**header, "datasets": dict(sorted(datasets.items()))})
    return mirror
