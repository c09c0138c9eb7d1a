"""torch.distributed glue: ``noisymix train`` under torchrun trains one model on many devices.

Each rank sees every world-th image of an epoch's shuffled order and its own scheme/augment
generators; gradients are averaged by DistributedDataParallel. Without torchrun this is a
no-op single process.
"""

from __future__ import annotations

import os

import torch
from torch import nn


def is_distributed() -> bool:
    return "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def rank_and_world() -> tuple[int, int]:
    if not is_distributed():
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier() -> None:
    if is_distributed() and torch.distributed.is_initialized():
        torch.distributed.barrier()
