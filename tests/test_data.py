from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from noisymix.data import DatasetError, dataset_info, load_dataset
from noisymix.data.registry import FASHION_MNIST_SYSTEM_DIR


def test_digits_split_is_fixed_and_disjoint():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert tr.images.shape[1:] == (32, 32, 3) and tr.images.dtype == np.uint8
    assert len(tr) + len(te) == 1797 and len(te) == 449
    assert np.array_equal(load_dataset("digits", "test").labels, te.labels)
    assert set(np.unique(te.labels)) == set(range(10))
    # the three channels are equal (grey), the digit strokes reach full intensity
    assert np.array_equal(tr.images[..., 0], tr.images[..., 2]) and tr.images.max() == 255


@pytest.mark.skipif(not FASHION_MNIST_SYSTEM_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_padded_to_32():
    te = load_dataset("fashion-mnist", "test")
    assert te.images.shape == (10000, 32, 32, 3)
    assert te.images[:, :2].max() == 0 and te.images[:, :, -2:].max() == 0  # zero border
    assert np.bincount(te.labels).tolist() == [1000] * 10


def test_unknown_dataset_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'.*cifar10"):
        load_dataset("cifar11")


def test_missing_cifar_names_the_fix(tmp_path):
    with pytest.raises(DatasetError, match="noisymix prepare --dataset cifar10 --download"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_missing_fashion_names_the_fix(tmp_path, monkeypatch):
    import noisymix.data.registry as reg

    monkeypatch.setattr(reg, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "test", root=tmp_path)


def _write_cifar_fixture(root: Path, n: int = 6) -> None:
    """A CIFAR-10 python-pickle fixture in torchvision's layout (md5s checked by torchvision)."""
    import hashlib
    import pickle

    import torchvision

    base = root / "cifar10" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = {}
    for name, _ in torchvision.datasets.CIFAR10.train_list + torchvision.datasets.CIFAR10.test_list:
        data = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                "labels": rng.integers(0, 10, n).tolist()}
        (base / name).write_bytes(pickle.dumps(data))
        files[name] = hashlib.md5((base / name).read_bytes()).hexdigest()
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    return files


def test_cifar_loader_reads_official_layout(tmp_path):
    _write_cifar_fixture(tmp_path)
    tr = load_dataset("cifar10", "train", root=tmp_path)
    te = load_dataset("cifar10", "test", root=tmp_path)
    assert tr.images.shape == (30, 32, 32, 3) and te.images.shape == (6, 32, 32, 3)
    assert tr.info.mean == (0.5, 0.5, 0.5) and tr.classes == [str(i) for i in range(10)]
    # channel-major rows (R plane, G plane, B plane) become HWC pixels
    import pickle

    raw = pickle.loads((tmp_path / "cifar10/cifar-10-batches-py/test_batch").read_bytes())
    np.testing.assert_array_equal(te.images[2, 0, 1], raw["data"][2, [1, 1025, 2049]])


def test_cifar_loader_refuses_code_in_a_pickle(tmp_path):
    """A batch that would run code when unpickled is refused, not executed."""
    import pickle

    _write_cifar_fixture(tmp_path)

    class Evil:
        def __reduce__(self):
            return (exec, ("open('pwned', 'w').write('x')",))

    path = tmp_path / "cifar10/cifar-10-batches-py/data_batch_3"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DatasetError, match="data_batch_3.*builtins.exec is not allowed"):
        load_dataset("cifar10", "train", root=tmp_path)
    assert not Path("pwned").exists()


def test_imagenet_folder_fixture(tmp_path):
    for split in ("train", "val"):
        for wnid in ("n01440764", "n01443537"):
            d = tmp_path / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(d / f"{i}.JPEG")
    ds = load_dataset("imagenet", "test", root=tmp_path)
    assert ds.classes == ["n01440764", "n01443537"] and len(ds) == 4
    x, y = ds.torch_dataset(train=False)[0]
    assert tuple(x.shape) == (3, 224, 224) and y == 0
    assert dataset_info("imagenet").mean[0] == pytest.approx(0.485)
    with pytest.raises(DatasetError, match="--data-root"):
        load_dataset("imagenet", "train", root=tmp_path / "missing")
