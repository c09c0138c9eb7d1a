"""Device selection: ``auto`` means the GPU leased to this job, else any CUDA GPU, else CPU."""

from __future__ import annotations

import os

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device} requested but CUDA is not available; "
                               f"use --device cpu")
        return dev
    # Before any CUDA call: with several GPUs (or NOISYMIX_GPUS set) this job leases one and
    # sees it as cuda:0 (Snakemake assigns no GPU ids itself; see noisymix.gpu).
    from noisymix.gpu import ensure_lease

    ensure_lease()
    if torch.cuda.is_available():
        local_rank = os.environ.get("LOCAL_RANK")
        return torch.device(f"cuda:{int(local_rank)}" if local_rank is not None else "cuda")
    return torch.device("cpu")
