import os

import pytest

os.environ.setdefault("CI", "1")  # no progress bars in test output


@pytest.fixture(scope="session")
def digits_test():
    from noisymix.data import load_dataset

    return load_dataset("digits", "test")


@pytest.fixture
def tiny_model():
    import torch

    from noisymix.models import create_model

    torch.manual_seed(0)
    return create_model("preactresnet18", 10, 0.125)
