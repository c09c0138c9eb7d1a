"""State dicts of the official NoisyMix code (erichson/NoisyMix) in noisymix models.

``load_official_state_dict(model, state_dict)`` loads the ``state_dict()`` of an official CIFAR
net (``preactresnet18`` or ``wideresnet28``), with or without the ``module.`` prefix that
``nn.DataParallel`` adds, into the matching noisymix model (``preactresnet18``, ``wrn28_4``),
bare or wrapped in ``Normalized`` (whose input normalisation has no official counterpart: the
official code normalises in its data transform, with mean = std = 0.5 as our default). The
load is strict: any missing, unexpected or mis-shaped key is refused with one line naming them.

The official checkpoints themselves are pickled whole ``DataParallel`` modules; unpickling them
needs the official classes and trusts the file, so this module takes tensors only.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from noisymix.models.wrap import Normalized


class KeyMap:
    """Renames between official and our state-dict keys.

    ``pairs`` are (official fragment, our fragment); a fragment starting with ``^`` matches at
    the start of a key only, any other fragment anywhere in it. Each pair applies once, in order.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        for a, b in pairs:
            if a.startswith("^") != b.startswith("^"):
                raise ValueError(f"anchor mismatch in key map pair {(a, b)}")
        self.pairs = list(pairs)

    @staticmethod
    def _apply(key: str, src: str, dst: str) -> str:
        if src.startswith("^"):
            return dst[1:] + key[len(src) - 1:] if key.startswith(src[1:]) else key
        return key.replace(src, dst)

    def to_ours(self, key: str) -> str:
        for official, ours in self.pairs:
            key = self._apply(key, official, ours)
        return key

    def to_official(self, key: str) -> str:
        for official, ours in self.pairs:
            key = self._apply(key, ours, official)
        return key


def _backbone(model: nn.Module) -> nn.Module:
    for attr in ("module", "_orig_mod"):  # DDP / DataParallel / torch.compile wrappers
        if isinstance(getattr(model, attr, None), nn.Module):
            return _backbone(getattr(model, attr))
    return model.net if isinstance(model, Normalized) else model


def _key_map(net: nn.Module) -> KeyMap:
    keys = getattr(net, "official_keys", None)
    if keys is None:
        raise ValueError(f"{type(net).__name__} has no official NoisyMix counterpart; official "
                         f"weights load into preactresnet18 and wrn28_4")
    return keys


def _names(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f", … ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_official_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load an official NoisyMix state dict into ``model`` (strict); returns ``model``."""
    net = _backbone(model)
    keys = _key_map(net)
    src = dict(state_dict)
    if src and all(k.startswith("module.") for k in src):
        src = {k[len("module."):]: v for k, v in src.items()}
    mapped = {keys.to_ours(k): (k, v) for k, v in src.items()}
    own = net.state_dict()
    missing = [keys.to_official(k) for k in own if k not in mapped]
    unexpected = [k for ours, (k, _) in mapped.items() if ours not in own]
    shapes = [f"{k} {tuple(v.shape)}≠{tuple(own[o].shape)}" for o, (k, v) in mapped.items()
              if o in own and tuple(v.shape) != tuple(own[o].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches (official≠ours): {_names(shapes)}")
    if problems:
        raise ValueError(f"official state dict does not fit {type(net).__name__}: "
                         + "; ".join(problems))
    net.load_state_dict({o: v for o, (_, v) in mapped.items()}, strict=True)
    return model


def official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights under the official code's key names (no ``module.`` prefix)."""
    net = _backbone(model)
    keys = _key_map(net)
    return {keys.to_official(k): v for k, v in net.state_dict().items()}
