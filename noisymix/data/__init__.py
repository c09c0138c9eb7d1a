"""Dataset registry: every training/evaluation set as uint8 NHWC arrays (or an ImageFolder).

``load_dataset(name, split)`` is the only entry point the rest of the library uses.
"""

from noisymix.data.registry import (  # noqa: F401
    ArrayDataset,
    DatasetError,
    DatasetInfo,
    dataset_info,
    list_datasets,
    load_dataset,
)
