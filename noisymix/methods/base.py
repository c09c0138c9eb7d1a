"""The one contract every training scheme honours: ``scheme(model, x, y) -> loss``.

``x`` is a float batch in [0, 1], shape (B, 3, H, W), on the model's device, after the
standard crop/flip augmentation; the model normalises it itself (its first named stage is
``normalize``). All randomness comes from ``scheme.generator(device)``, a ``torch.Generator``
on the batch's device seeded from the run seed, so runs are reproducible on CPU and GPU.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar

import torch
from torch import nn

from noisymix.rng import sample_beta  # noqa: F401  (re-exported for schemes)

_REGISTRY: dict[str, type["Scheme"]] = {}


def register_scheme(name: str) -> Callable[[type["Scheme"]], type["Scheme"]]:
    """Class decorator: make a scheme constructible by name through ``create_scheme``."""

    def wrap(cls: type["Scheme"]) -> type["Scheme"]:
        if name in _REGISTRY:
            raise ValueError(f"scheme {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_schemes() -> list[str]:
    return sorted(_REGISTRY)


def scheme_class(name: str) -> type["Scheme"]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; choose one of: {', '.join(list_schemes())}"
        ) from None


def create_scheme(name: str, seed: int = 0, **hparams) -> "Scheme":
    """Build a scheme by name; unknown names and unknown hyper-parameters are errors."""
    cls = scheme_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(hparams) - fields
    if unknown:
        raise ValueError(
            f"method {name!r} has no hyper-parameter(s) {sorted(unknown)}; "
            f"it takes {sorted(fields - {'seed'})}"
        )
    return cls(seed=seed, **hparams)


@dataclasses.dataclass(eq=False)
class Scheme:
    """Base class: subclasses are dataclasses whose fields are their hyper-parameters."""

    name: ClassVar[str] = "?"
    seed: int = 0

    def __post_init__(self) -> None:
        self._generators: dict[str, torch.Generator] = {}

    def generator(self, device: torch.device | str) -> torch.Generator:
        """This scheme's generator on ``device`` (one per device type, seeded from ``seed``)."""
        device = torch.device(device)
        key = str(device)
        if key not in self._generators:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._generators[key] = g
        return self._generators[key]

    def hparams(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "seed"}

    # Generator states travel with the training state so that a resumed run continues the
    # same random stream.
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: g.get_state() for k, g in self._generators.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            self.generator(key).set_state(value.cpu() if value.device.type != "cpu" else value)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(model, x, y)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def mixed_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, y_perm: torch.Tensor, lam: float | torch.Tensor
) -> torch.Tensor:
    """λ·CE(y) + (1−λ)·CE(y[perm]); ``lam`` may be a scalar or a per-sample (B,) tensor."""
    ce = nn.functional.cross_entropy
    if isinstance(lam, torch.Tensor) and lam.ndim == 1:
        a = ce(logits, y, reduction="none")
        b = ce(logits, y_perm, reduction="none")
        return (lam * a + (1 - lam) * b).mean()
    return lam * ce(logits, y) + (1 - lam) * ce(logits, y_perm)
