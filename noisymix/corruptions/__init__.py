"""Common corruptions (-C): 15 test + 4 extra, severities 1–5, ``cifar`` and ``imagenet`` presets.

Importing this package registers every corruption function (see ``base`` for the contract).
"""

from noisymix.corruptions.base import (  # noqa: F401
    ALL_CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    NOISE_CORRUPTIONS,
    PRESETS,
    SEVERITIES,
    TEST_CORRUPTIONS,
    corrupt,
    get_corruption,
    image_streams,
    list_corruptions,
    register_corruption,
)

import importlib as _importlib

# Each family module registers its corruptions on import; tolerate families still missing
# only while they are being written (list_corruptions() shows what is available).
for _family in ("noise", "blur", "weather", "digital"):
    _importlib.import_module(f"noisymix.corruptions.{_family}")
