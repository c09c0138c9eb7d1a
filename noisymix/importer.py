"""``noisymix import``: a public checkpoint → a noisymix run folder that every evaluation verb
and every table treats like a trained run (``model.safetensors`` + ``model.json`` with the
source, licence and checksum).

Sources: a zoo entry (``noisymix.zoo``: torchvision weights or a published file), or a plain
state-dict file. ``mirror`` (smoke scale, tests) takes an entry's file and sha256 from a local
mirror index of `noisymix fixtures` (name ``zoo-<entry>``) instead of its published URL.
``dataset`` + ``data_root`` record the class list (the folder names of the ImageNet the model
is evaluated on, whose sorted wnids are torchvision's class order) and input size, which the
ImageNet-R class mask and the evaluation transform read, exactly as for a trained run. Files are read with ``torch.load(weights_only=True)`` — tensors and plain
containers only; a pickle that would run code is refused, never executed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from noisymix.checkpoint import save_model
from noisymix.errors import InputError, UsageError
from noisymix.zoo import ZooEntry, get_entry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_PREFIXES = ("module.", "model.", "net.")  # DataParallel, RobustBench wrappers, ours


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, without running any pickled code.

    Accepts a bare state dict or one under ``state_dict``/``model``; strips the wrapper
    prefixes ``module.`` / ``model.`` and drops normalisation buffers kept beside the net."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — any refusal by the safe unpickler
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a plain state-dict file; noisymix loads only tensors "
                         f"(weights_only) and will not unpickle it ({first[:160]})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InputError(f"{path}: holds no state dict (a mapping of names to tensors)")
    out = {}
    for k, v in obj.items():
        while k.startswith(_PREFIXES):
            k = k.split(".", 1)[1]
        if k.startswith(("normalize.", "normalizer.")) or k in ("mu", "sigma", "mean", "std"):
            continue
        out[k] = v
    return out


def mirror_file(index: str | os.PathLike, entry: str) -> tuple[Path, str, str]:
    """(path, sha256, url) of zoo entry ``entry``'s stand-in in a fixture mirror index."""
    from urllib.parse import unquote, urlparse

    from noisymix.benchmarks.releases import mirror_files

    (f,) = mirror_files(index, f"zoo-{entry}")
    return Path(unquote(urlparse(f.url).path)), f.sha256, f"{f.source}: {f.filename}"


def _torchvision_file(entry: ZooEntry, progress: bool) -> tuple[Path, str]:
    """Fetch (or find in torch's hub cache) a torchvision weights file; check its prefix."""
    import torchvision.models as tvm

    enum_name, member = entry.source.split(":", 1)[1].split(".")
    url = getattr(getattr(tvm, enum_name), member).url
    cache = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not cache.exists():
        from noisymix.data.download import download

        download(url, cache, progress=progress)
    return cache, url


def import_checkpoint(out_dir: str | os.PathLike, *, entry: str | None = None,
                      file: str | os.PathLike | None = None, arch: str | None = None,
                      method: str | None = None, source: str | None = None,
                      sha256: str | None = None, num_classes: int | None = None,
                      width: float = 1.0, dataset: str | None = None,
                      data_root: str | os.PathLike | None = None,
                      mirror: str | os.PathLike | None = None,
                      progress: bool = True) -> Path:
    """Write ``out_dir/model.safetensors`` (+ ``model.json``) from a zoo entry or a file.

    ``file`` overrides where a zoo entry's weights come from (a browser download); a
    ``sha256`` given, or published by the entry, must match the file. Returns the weights
    path. The model is rebuilt with the noisymix arch and loaded strictly, so a file of
    another architecture is refused with the names that do not fit.
    """
    from noisymix.models import create_model

    if entry is None and file is None:
        raise UsageError("give a zoo entry (--entry) or a checkpoint file (--file)")
    e = get_entry(entry) if entry else None
    arch = arch or (e.arch if e else None)
    if arch is None:
        raise UsageError("--arch is required when importing a file without --entry")
    method = method or (e.method if e else "imported")
    url = source or (e.source if e else None)
    expected = sha256 or (e.sha256 if e else None)
    prefix = e.sha256_prefix if e else None
    classes, image_size = None, None
    if dataset is not None:
        from noisymix.data import dataset_info, load_dataset

        classes = list(load_dataset(dataset, "train", data_root).classes)
        image_size = dataset_info(dataset).image_size
        if num_classes is None:  # the folder's classes (1000 for ImageNet; fixtures: 200)
            num_classes = len(classes)
    num_classes = num_classes or 1000
    if mirror is not None:
        if e is None:
            raise UsageError("--mirror needs --entry (the mirror holds zoo entries' files)")
        path, expected, url = mirror_file(mirror, e.name)
        prefix = None  # the mirror's file stands in for the published one: its own sha256
    elif file is not None:
        path = Path(file)
    elif e is not None and e.source.startswith("torchvision:"):
        path, url = _torchvision_file(e, progress)
    else:
        raise UsageError(f"{e.name} is a browser download ({e.source}); save it and pass "
                         f"--file PATH")
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    digest = _sha256(path)
    if expected and digest != expected.lower():
        raise InputError(f"{path}: sha256 is {digest}, expected {expected}; not the published "
                         f"file (re-download it)")
    if prefix and not digest.startswith(prefix):
        raise InputError(f"{path}: sha256 {digest[:16]}… does not start with the published "
                         f"{prefix}; not the published file (delete it and re-run)")
    state = read_state_dict(path)
    if classes is not None and len(classes) != num_classes:
        raise InputError(f"{dataset} has {len(classes)} classes but the model is imported with "
                         f"{num_classes} outputs")
    model = create_model(arch, num_classes, width, IMAGENET_MEAN, IMAGENET_STD)
    missing, unexpected = _load(model.net, state)
    if missing or unexpected:
        raise InputError(f"{path}: does not fit arch {arch!r} × width {width:g} with "
                         f"{num_classes} classes (missing or misshapen {missing[:4]}, "
                         f"unexpected {unexpected[:4]}); pass the right --arch / --width")
    meta = {
        "arch": arch, "width": float(width), "num_classes": num_classes,
        "dataset": dataset or "imagenet",
        **({"classes": classes, "image_size": image_size} if classes is not None else {}),
        "method": method, "seed": 0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "imported": {
            "entry": e.name if e else None, "source": url, "file": path.name,
            "sha256": digest, "licence": e.licence if e else None,
            "reference": e.reference if e else None,
            "checksum": ("verified (full sha256)" if expected else
                         f"verified prefix {prefix}" if prefix else
                         "unverified: no checksum published"),
        },
    }
    out = Path(out_dir) / "model.safetensors"
    save_model(out, model, meta)
    return out


def _load(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        return missing + bad, unexpected
    net.load_state_dict(state, strict=True)
    return [], []
