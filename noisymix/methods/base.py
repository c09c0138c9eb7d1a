"""The one contract every training scheme honours: ``scheme(model, x, y) -> loss``.

``x`` is a float batch in [0, 1], shape (B, 3, H, W), on the model's device, after the
standard crop/flip augmentation; the model normalises it itself (its first named stage is
``normalize``). All randomness comes from ``scheme.generator(device)``, a ``torch.Generator``
on the batch's device seeded from the run seed, so runs are reproducible on CPU and GPU.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from noisymix.errors import UsageError
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
        raise UsageError(
            f"unknown method {name!r}; choose one of: {', '.join(list_schemes())}"
        ) from None


def create_scheme(name: str, seed: int = 0, **hparams) -> "Scheme":
    """Build a scheme by name; unknown names and invalid hyper-parameters are errors."""
    return scheme_class(name)(seed=seed, **check_hparams(name, hparams))


# --- hyper-parameter declarations ------------------------------------------------------------
# Each scheme declares its hyper-parameters once: the names and types are its dataclass fields,
# the allowed values its ``LIMITS``. The same declarations check `noisymix train --param`, a
# scheme built in Python, and params.yaml (noisymix.config; the schema's hparams_* entries
# mirror them, which tests/hostile/test_training.py checks).


@dataclasses.dataclass(frozen=True)
class Limit:
    """Allowed values of one hyper-parameter (its type is the field's annotation).

    Bounds apply to a number, or to every item of a tuple; ``also`` lists values allowed
    outside them (e.g. depth −1 = random); ``choices`` the values of a string.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    also: tuple = ()
    choices: tuple = ()
    hint: str = ""  # added to the error: what to do instead

    def allows(self, v: Any) -> bool:
        if v in self.also:
            return True
        if self.choices:
            return v in self.choices
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le))

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(repr, self.choices))
        lo = (f"[{self.ge:g}" if self.ge is not None else
              f"({self.gt:g}" if self.gt is not None else None)
        if lo is not None and self.le is not None:
            text = f"in {lo}, {self.le:g}]"
        elif lo is not None:
            text = f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}"
        else:
            text = f"<= {self.le:g}" if self.le is not None else "any value"
        return text + "".join(f" or {a!r}" for a in self.also)


_KIND = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
         tuple: "a non-empty list of integers"}


def _kinds(cls: type) -> dict[str, type]:
    """{field: bool | int | float | str | tuple} from the dataclass annotations."""
    hints = typing.get_type_hints(cls)
    return {f.name: typing.get_origin(hints[f.name]) or hints[f.name]
            for f in dataclasses.fields(cls) if f.name != "seed"}


def _check_value(cls: type, key: str, value: Any, kind: type) -> Any:
    """``value`` of hyper-parameter ``key`` checked against its type and limits (normalised:
    lists become tuples, integral floats of integer fields ints); raises ``UsageError``."""
    where = f"{cls.name if cls.name != '?' else cls.__name__} hyper-parameter {key}={value!r}"
    limit = cls.LIMITS.get(key, Limit())

    def number(v: Any, integer: bool) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        if not math.isfinite(v):
            return None
        if integer:
            return int(v) if float(v).is_integer() else None
        return v

    if kind is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where}: must be {_KIND[bool]}")
        return value
    if kind is str:
        if not isinstance(value, str) or not limit.allows(value):
            raise UsageError(f"{where}: must be {limit.describe()}")
        return value
    if kind is tuple:
        items = value if isinstance(value, (list, tuple)) else None
        out = [number(v, True) for v in items] if items else None
        if not out or None in out:
            raise UsageError(f"{where}: must be {_KIND[tuple]}")
        bad = [v for v in out if not limit.allows(v)]
        if bad:
            raise UsageError(f"{where}: every item must be {limit.describe()}"
                             + (f" ({limit.hint})" if limit.hint else ""))
        return tuple(out)
    v = number(value, kind is int)
    if v is None:
        raise UsageError(f"{where}: must be {_KIND[kind]}")
    if not limit.allows(v):
        raise UsageError(f"{where} is out of range: must be {limit.describe()}"
                         + (f" ({limit.hint})" if limit.hint else ""))
    return v


def check_hparams(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` of scheme ``name`` checked (names, types, ranges) and normalised."""
    cls = scheme_class(name)
    kinds = _kinds(cls)
    unknown = set(hparams) - set(kinds)
    if unknown:
        raise UsageError(
            f"method {name!r} has no hyper-parameter(s) {sorted(unknown)}; "
            f"it takes {sorted(kinds) or 'none'}"
        )
    return {k: _check_value(cls, k, v, kinds[k]) for k, v in hparams.items()}


def hparams_schema(name: str) -> dict:
    """The JSON Schema of scheme ``name``'s overrides, as params.schema.yaml holds it.

    ``patternProperties``, not ``properties``: overrides take the scheme's own defaults, and
    an engine that fills in schema defaults (Snakemake, noisymix.config) must not copy every
    hyper-parameter into the train commands.
    """
    cls = scheme_class(name)
    kinds = _kinds(cls)
    props = {}
    for key, kind in kinds.items():
        limit = cls.LIMITS.get(key, Limit())
        if kind is bool:
            props[key] = {"description": _KIND[bool], "type": "boolean"}
            continue
        if kind is str:
            props[key] = ({"description": limit.describe(), "enum": list(limit.choices)}
                          if limit.choices else {"description": _KIND[str], "type": "string"})
            continue
        bounds: dict[str, Any] = {}
        for attr, word in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum")):
            if getattr(limit, attr) is not None:
                bounds[word] = getattr(limit, attr)
        if limit.also and bounds:
            bounds = {"anyOf": [{"enum": list(limit.also)}, bounds]}
        item = {"type": "integer" if kind in (int, tuple) else "number", **bounds}
        if kind is tuple:
            item = {"type": "array", "minItems": 1, "items": item}
        props[key] = {"description": _KIND[kind] + (f" {limit.describe()}" if bounds else ""),
                      **item}
    return {"description": "scheme hyper-parameters (defaults: the scheme's module in "
                           "noisymix/methods), passed as `noisymix train --param key=value`",
            "type": "object", "default": {},
            "propertyNames": {"enum": sorted(props)},
            "patternProperties": {f"^{k}$": v for k, v in sorted(props.items())}}


@dataclasses.dataclass(eq=False)
class Scheme:
    """Base class: subclasses are dataclasses whose fields are their hyper-parameters."""

    name: ClassVar[str] = "?"
    # allowed values of the hyper-parameters (fields); a field without an entry is checked
    # for its type only
    LIMITS: ClassVar[dict[str, Limit]] = {}
    seed: int = 0

    def __post_init__(self) -> None:
        cls = type(self)
        for key, kind in _kinds(cls).items():
            setattr(self, key, _check_value(cls, key, getattr(self, key), kind))
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
