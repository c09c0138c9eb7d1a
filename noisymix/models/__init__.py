"""Architectures with a width knob, wrapped so that they normalise their own input and expose
named mixing stages (see ``noisymix.models.wrap``); official NoisyMix weights load with
``load_official_state_dict`` (see ``noisymix.models.keymap``)."""

from noisymix.models.keymap import load_official_state_dict, official_state_dict  # noqa: F401
from noisymix.models.registry import create_model, list_archs  # noqa: F401
from noisymix.models.wrap import Normalized, mixing_stages, wrap_model  # noqa: F401
