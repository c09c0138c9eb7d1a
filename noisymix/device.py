"""Device selection: ``auto`` means the GPU leased to this job, else any CUDA GPU, else CPU."""

from __future__ import annotations

import os

import torch

from noisymix.errors import UsageError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; one that this machine lacks is a
    ``UsageError`` naming --device, raised before any work starts."""
    if str(device) != "auto":
        return _explicit(str(device))
    # Before any CUDA call: with several GPUs (or NOISYMIX_GPUS set) this job leases one and
    # sees it as cuda:0 (Snakemake assigns no GPU ids itself; see noisymix.gpu).
    from noisymix.gpu import ensure_lease

    ensure_lease()
    if torch.cuda.is_available():
        local_rank = os.environ.get("LOCAL_RANK")
        return torch.device(f"cuda:{int(local_rank)}" if local_rank is not None else "cuda")
    return torch.device("cpu")


def _explicit(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N"
                         ) from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise UsageError(f"--device {name}: CUDA is not available on this machine; use "
                             f"--device cpu (or auto)")
        if dev.index is not None and dev.index >= n:
            raise UsageError(f"--device {name}: this machine has {n} CUDA device(s), "
                             f"cuda:0..cuda:{n - 1}")
        return dev
    if dev.type == "mps" and torch.backends.mps.is_available():
        return dev
    raise UsageError(f"--device {name}: not available here; use auto, cpu, cuda or cuda:N")
