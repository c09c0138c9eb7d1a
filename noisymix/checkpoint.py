"""Checkpoints as safetensors + JSON: never pickled, never unpickled.

- ``model.safetensors`` holds the weights; ``model.json`` (beside it, also embedded in the
  safetensors header) holds arch, width, classes, dataset, normalisation, method and every
  hyper-parameter, seed, epochs, library versions, git commit and a config hash.
- The resumable training state (weights, optimiser buffers, scheduler, generator states) is a
  nested dict flattened into tensors + a JSON skeleton in one safetensors file.
"""

from __future__ import annotations

import json
import subprocess
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
        save_file(state, str(tmp), metadata={"noisymix": json.dumps(header, default=str,
                                                                    sort_keys=True)})
    write_json(path.with_suffix(".json"), metadata)


def read_metadata(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 — any parse failure means "not a checkpoint"
        raise CheckpointError(f"{path} is not a safetensors file ({e})") from None
    if "noisymix" not in meta:
        raise CheckpointError(f"{path} has no noisymix metadata; was it written by noisymix?")
    return json.loads(meta["noisymix"])


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model described by the checkpoint's metadata and load its weights."""
    from noisymix.models import create_model

    meta = read_metadata(path)
    model = create_model(meta["arch"], meta["num_classes"], meta["width"],
                         meta["mean"], meta["std"])
    model.load_state_dict(load_file(str(path)))
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
        save_file(tensors, str(tmp), metadata={"skeleton": json.dumps(skeleton)})


def load_state(path: str | Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "skeleton" not in meta:
        raise CheckpointError(f"{path} is not a noisymix training state")
    return _unflatten(json.loads(meta["skeleton"]), load_file(str(path)))
