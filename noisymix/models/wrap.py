"""Normalisation wrapper and named mixing stages.

Every model noisymix trains is ``Normalized(net, mean, std)``: inputs are images in [0, 1],
the first submodule ``normalize`` standardises them, and ``mixing_stages`` names where feature
mixing may happen: stage 0 is the output of ``normalize`` (the normalised input, where the
official code mixes and noises at k = 0), stage i the output of residual stage i. Feature
mixing is done by forward hooks on these names, so it applies to any torchvision model.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1]
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class Normalized(nn.Module):
    """``net`` preceded by input normalisation; ``mixing_stages`` lists hookable stage names."""

    def __init__(self, net: nn.Module, mean, std, stages: Sequence[str]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self.mixing_stages = ["normalize", *(f"net.{s}" for s in stages)]
        for name in self.mixing_stages:
            self.get_submodule(name)  # fail early on a wrong stage name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


class Resized(nn.Module):
    """``model`` behind the official test transform of a model trained at ``size`` (transfer
    at 224 px): inputs of another size go through Resize(size·8/7) + CenterCrop(size)."""

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        self.model, self.size = model, int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from noisymix.augment.basic import resize_center_crop

        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = resize_center_crop(x, self.size)
        return self.model(x)


def default_stages(net: nn.Module) -> list[str]:
    """Residual stages of common torchvision-style nets: layer1..layer3 or block1..block3."""
    names = {n for n, _ in net.named_children()}
    for prefix in ("layer", "block", "stage"):
        found = [f"{prefix}{i}" for i in (1, 2, 3) if f"{prefix}{i}" in names]
        if len(found) == 3:
            return found
    raise ValueError(
        f"cannot find three residual stages in {type(net).__name__} (children: "
        f"{sorted(names)}); pass stages=[...] naming the submodules after which to mix"
    )


def wrap_model(net: nn.Module, mean=(0.5,) * 3, std=(0.5,) * 3,
               stages: Sequence[str] | None = None) -> Normalized:
    """Wrap any classifier (e.g. a stock torchvision ResNet) for use with noisymix schemes."""
    return Normalized(net, mean, std, stages if stages is not None else default_stages(net))


def mixing_stages(model: nn.Module) -> list[str]:
    stages = getattr(model, "mixing_stages", None)
    if stages is None:
        raise ValueError(f"{type(model).__name__} has no mixing_stages; wrap it with "
                         f"noisymix.models.wrap_model(net)")
    return list(stages)
