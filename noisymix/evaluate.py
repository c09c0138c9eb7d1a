"""Evaluation of a checkpoint: batched, deterministic inference over uint8 image arrays.

Images are read in batches straight from (memory-mapped) uint8 NHWC arrays and normalised by
the model itself; no training transform is ever applied at test time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn



def iter_batches(images: np.ndarray, batch_size: int, device: torch.device
                 ) -> Iterator[torch.Tensor]:
    """uint8 (N, H, W, 3) (memmap ok) → float (B, 3, H, W) in [0, 1] batches on ``device``."""
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(np.array(images[start:start + batch_size]))  # copy out of the memmap
        if device.type == "cuda":
            chunk = chunk.pin_memory()
        chunk = chunk.to(device, non_blocking=True)
        yield chunk.permute(0, 3, 1, 2).float().div_(255)


@torch.inference_mode()
def predict_logits(model: nn.Module, batches: Iterable[torch.Tensor],
                   amp: bool = False) -> torch.Tensor:
    """Concatenated float32 logits (N, classes) on the CPU; ``amp``: the forward pass under
    bf16 autocast on CUDA (faster; logits quantised before softmax, ranking and calibration,
    so fp32 is the default)."""
    model.eval()
    device = next(model.parameters()).device
    use_amp = amp and device.type == "cuda"
    out = []
    for x in batches:
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def accuracy(logits: torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return float((logits.argmax(1) == labels).float().mean())


def clean_accuracy(ckpt: str | Path, data_root: str | None = None, device: str = "auto",
                   batch_size: int = 500) -> dict:
    """Top-1 accuracy of a checkpoint on its own dataset's test split."""
    from noisymix.robustness import evaluate

    rows = evaluate(ckpt, ["clean"], data_root=data_root, device=device, batch_size=batch_size)
    row = rows[rows.metric == "accuracy"].iloc[0]
    return {"dataset": row.dataset, "split": "test", "images": int(row.n_images),
            "accuracy": float(row.value)}
