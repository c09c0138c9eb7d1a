"""Feature mixing through forward hooks on named stages (no hand-edited ``forward``).

``transform_at(model, k, fn)`` runs ``fn`` on the output of ``model.mixing_stages[k]``
during the next forward pass, which is how manifold mixup, NFM and NoisyMix reach hidden
layers of any wrapped model, torchvision ones included.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

from noisymix.models.wrap import mixing_stages


@contextlib.contextmanager
def transform_at(
    model: nn.Module, k: int, fn: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Replace the output h of stage k by fn(h) for forwards inside the ``with`` block."""
    stages = mixing_stages(_unwrap(model))
    if not 0 <= k < len(stages):
        raise ValueError(f"mixing stage {k} out of range 0..{len(stages) - 1}")
    module = _unwrap(model).get_submodule(stages[k])
    handle = module.register_forward_hook(lambda _m, _inp, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


def _unwrap(model: nn.Module) -> nn.Module:
    """The wrapped model inside DistributedDataParallel / torch.compile wrappers."""
    for attr in ("module", "_orig_mod"):
        if hasattr(model, attr) and isinstance(getattr(model, attr), nn.Module):
            return _unwrap(getattr(model, attr))
    return model


def num_stages(model: nn.Module) -> int:
    return len(mixing_stages(_unwrap(model)))
