"""Official robustness benchmark releases: registry, verified download, readers.

See ``releases`` (CIFAR-10/100-C, CIFAR-10-P, ImageNet-C/-P/-R with published checksums) and
``readers`` (memory-mapped / lazy readers of the official on-disk layouts, which generated
sets share). Hendrycks & Dietterich, arXiv:1903.12261; Hendrycks et al., arXiv:2006.16241.
"""

from noisymix.benchmarks.readers import (  # noqa: F401
    IMAGENET_R_WNIDS,
    CifarC,
    CifarP,
    ImageNetC,
    ImageNetP,
    ImageNetR,
    imagenet_r_mask,
    iter_batches,
)
from noisymix.benchmarks.releases import (  # noqa: F401
    RELEASES,
    fetch_release,
    get_release,
    list_releases,
)
