"""Checkpoints as safetensors + JSON: never pickled, never unpickled.

- ``model.safetensors`` holds the weights; ``model.json`` (beside it, also embedded in the
  safetensors header) holds arch, width, classes, dataset, normalisation, method and every
  hyper-parameter, seed, epochs, library versions, git commit and a config hash.
- The resumable training state (weights, optimiser buffers, scheduler, generator states) is a
  nested dict flattened into tensors + a JSON skeleton in one safetensors file.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from noisymix.errors import NoisymixError
from noisymix.io import atomic_path, write_json

_TENSOR = "__tensor__"


class CheckpointError(NoisymixError, RuntimeError):
    """A checkpoint is missing, incomplete or not a noisymix checkpoint."""


# Run-to-run noise (wall-clock timings) stays out of the weights file so that the same training
# gives a byte-identical checkpoint: workflow engines compare checkpoints by checksum.
VOLATILE_KEYS = ("train_metrics",)


def save_model(path: str | Path, model: torch.nn.Module, metadata: dict) -> None:
    """Write ``path`` (safetensors) and ``path.with_suffix('.json')`` atomically.

    The JSON holds all metadata; the safetensors header the same less ``VOLATILE_KEYS``.
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in _plain(model).state_dict().items()}
    header = {k: v for k, v in metadata.items() if k not in VOLATILE_KEYS}
    with atomic_path(path) as tmp:
        _save_file(state, tmp, {"noisymix": json.dumps(header, default=str, sort_keys=True)})
    write_json(path.with_suffix(".json"), metadata)


def _save_file(tensors: dict[str, torch.Tensor], tmp: Path, metadata: dict[str, str]) -> None:
    """``save_file`` into ``atomic_path``'s temporary file, keeping the mode it was given:
    safetensors replaces the file with a new 0600 one, which would make weights private while
    the JSON beside them is not."""
    mode = tmp.stat().st_mode & 0o777
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.chmod(mode)


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata as written (see ``checked_metadata`` before building from it)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 — any parse failure means "not a checkpoint"
        raise CheckpointError(f"{path} is not a safetensors file, or is damaged ({e})") from None
    if "noisymix" not in meta:
        raise CheckpointError(f"{path} has no noisymix metadata; was it written by noisymix?")
    try:
        out = json.loads(meta["noisymix"])
    except ValueError as e:
        raise CheckpointError(f"{path}: its noisymix metadata is not JSON ({e})") from None
    if not isinstance(out, dict):
        raise CheckpointError(f"{path}: its noisymix metadata is not a JSON object")
    return out


def checked_metadata(path: str | Path) -> dict:
    """``read_metadata``, checked before anything is built from it: the architecture is a
    registered one, the class count, width and normalisation are plausible, and the model
    they describe has exactly the tensor names and shapes of the file's header (the model is
    built on the meta device: no memory is allocated, whatever the metadata claims)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found")
    st = path.stat()
    # a fine-tuning reads its source several times (config hash, backbone, metadata)
    return copy.deepcopy(_checked(str(path), st.st_ino, st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _checked(name: str, *version: int) -> dict:
    from noisymix.models import create_model, list_archs

    path = Path(name)
    meta = read_metadata(path)

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: its metadata {what}; the file is damaged or was not "
                               f"written by this noisymix")

    arch, n, width = meta.get("arch"), meta.get("num_classes"), meta.get("width")
    if arch not in list_archs():
        raise bad(f"names an unknown arch {arch!r} (known: {', '.join(list_archs())})")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise bad(f"has num_classes {n!r}, not a positive integer")
    if "classes" in meta and (not isinstance(meta["classes"], list)
                              or len(meta["classes"]) != n):
        raise bad(f"lists {len(meta['classes']) if isinstance(meta['classes'], list) else '?'} "
                  f"classes but num_classes is {n}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or \
            not math.isfinite(width) or width <= 0:
        raise bad(f"has width {width!r}, not a positive number")
    for key in ("mean", "std"):
        v = meta.get(key)
        if not (isinstance(v, list) and len(v) == 3 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in v)) or (key == "std" and min(v) <= 0):
            raise bad(f"has {key} {v!r}, not 3 finite numbers" + (" > 0" if key == "std" else ""))
    try:
        with safe_open(str(path), framework="pt") as f:
            header = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path} is damaged ({e})") from None
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in
                        create_model(arch, n, float(width), meta["mean"], meta["std"])
                        .state_dict().items()}
    except (RuntimeError, ValueError, OverflowError) as e:
        raise bad(f"describes a model that cannot be built ({arch} × {width}, {n} classes: "
                  f"{str(e).splitlines()[0][:120]})") from None
    missing = sorted(set(expected) - set(header))
    extra = sorted(set(header) - set(expected))
    shapes = sorted(k for k in set(expected) & set(header) if expected[k] != header[k])
    if missing or extra or shapes:
        detail = "; ".join(x for x in (
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {extra[:3]}" if extra else "",
            ", ".join(f"{k} is {list(header[k])}, not {list(expected[k])}"
                      for k in shapes[:2])) if x)
        raise bad(f"({arch} × {width}, {n} classes) does not match its weights: {detail}")
    return meta


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model described by the checkpoint's metadata and load its weights."""
    from noisymix.models import create_model

    meta = checked_metadata(path)
    model = create_model(meta["arch"], meta["num_classes"], float(meta["width"]),
                         meta["mean"], meta["std"])
    try:
        weights = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path} is damaged ({e})") from None
    model.load_state_dict(weights)
    return model.to(device).eval(), meta


def _plain(model: torch.nn.Module) -> torch.nn.Module:
    from noisymix.methods.hooks import _unwrap

    return _unwrap(model)


# --- nested state <-> safetensors ----------------------------------------------------------


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = prefix or "root"
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        return {"__dict__": [[_flatten(k, f"{prefix}.k{i}", tensors),
                              _flatten(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if "__dict__" in obj:
            return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_unflatten(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_state(path: str | Path, state: dict) -> None:
    """Atomically write a nested dict of tensors and plain values (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    with atomic_path(path) as tmp:
        _save_file(tensors, Path(tmp), {"skeleton": json.dumps(skeleton)})


def _state_error(path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} {why}; delete it (or pass --force) to start the run over")


def state_info(path: str | Path) -> dict:
    """A training state's plain values (config hash, epoch), its tensors left unread."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        info = _unflatten(json.loads(meta["skeleton"]), _Absent())
    except Exception as e:  # noqa: BLE001 — truncated, foreign, or not safetensors at all
        raise _state_error(path, f"is damaged or not a noisymix training state ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("config_hash"), str):
        raise _state_error(path, "is not a noisymix training state")
    return info


def load_state(path: str | Path) -> dict:
    info = state_info(path)
    try:
        state = _unflatten(json.loads(_skeleton(path)), load_file(str(path)))
    except Exception as e:  # noqa: BLE001
        raise _state_error(path, f"is damaged ({e})") from None
    if not isinstance(info.get("epoch"), int) or info["epoch"] < 0:
        raise _state_error(path, f"records epoch {info.get('epoch')!r}")
    return state


def _skeleton(path: str | Path) -> str:
    with safe_open(str(path), framework="pt") as f:
        return (f.metadata() or {})["skeleton"]


class _Absent(dict):
    """Tensor lookup for ``state_info``: every tensor reads as None."""

    def __missing__(self, key):
        return None
