"""The separable Gaussian filter against scipy, on both its direct and its wide (matrix) path."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from noisymix.corruptions.blur import _is_wide, gaussian_filter


@pytest.mark.parametrize("sigma", [1.5, 3.0, 9.0, 30.0])  # r = 6, 12 (wide on 40 rows), 36, 120 (wide)
@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
def test_matches_scipy(sigma, mode):
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 40, 56))
    ours = gaussian_filter(torch.from_numpy(x).float(), sigma, mode=mode).double().numpy()
    ref = ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode=mode, truncate=4.0)
    assert np.abs(ours - ref).max() < 2e-6
    r = int(4 * sigma + 0.5)
    assert (_is_wide(40, r), _is_wide(56, r)) == {1.5: (False, False), 3.0: (True, False)}.get(sigma, (True, True))
