"""Training schemes: one module per scheme, all behind ``scheme(model, x, y) -> loss``.

>>> from noisymix.methods import create_scheme
>>> scheme = create_scheme("noisymix", seed=0)   # or erm, mixup, cutmix, ...
>>> loss = scheme(model, x, y)                    # x: float (B, 3, H, W) in [0, 1]
"""

import importlib

from noisymix.methods.base import (  # noqa: F401
    Limit,
    Scheme,
    check_hparams,
    create_scheme,
    list_schemes,
    mixed_cross_entropy,
    register_scheme,
    scheme_class,
)
from noisymix.methods.losses import JensenShannonConsistency  # noqa: F401
from noisymix.methods.noise import inject_noise  # noqa: F401
from noisymix.vocab import SCHEMES

# One module per scheme (noisymix/methods/<scheme>.py); importing it registers the scheme.
for _name in SCHEMES:
    importlib.import_module(f"noisymix.methods.{_name}")
