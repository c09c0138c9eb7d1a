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


def rank_and_world(device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size); joins the torchrun process group on first use.

    The backend follows the training device (NCCL for CUDA, gloo for CPU), so that
    ``--device cpu`` works under torchrun on a GPU machine too.
    """
    if not is_distributed():
        return 0, 1
    if not torch.distributed.is_initialized():
        cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
        backend = "nccl" if cuda else "gloo"
        if backend == "nccl" and "LOCAL_RANK" in os.environ:
            # NCCL collectives (barrier) run on the current device: without this every rank
            # would use cuda:0 beside its own model on cuda:LOCAL_RANK.
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
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
