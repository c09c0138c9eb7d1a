"""The fixture mirror (noisymix.fixtures): every archive round-trips through the project's real
download → checksum → safe-extract code and opens with the project's readers; archives are
byte-reproducible for a seed. All offline (file:// URLs)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from noisymix.benchmarks import (
    IMAGENET_R_WNIDS,
    RELEASES,
    CifarC,
    CifarP,
    ImageNetC,
    ImageNetP,
    ImageNetR,
    fetch_release,
    imagenet_r_mask,
)
from noisymix.corruptions.base import ALL_CORRUPTIONS
from noisymix.data import load_dataset
from noisymix.data.download import download, extract
from noisymix.fixtures import FIXTURE_NAMES, IMAGENET_P_GROUPS, MIRROR_FORMAT, write_fixtures
from noisymix.perturbations import ALL_PERTURBATIONS, frame_count
from noisymix.robustness import detect_layout

pytestmark = pytest.mark.timeout(120)

RELEASE_NAMES = ("cifar10-c", "cifar100-c", "cifar10-p", "imagenet-c", "imagenet-p",
                 "imagenet-r")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("mirror")
    t0 = time.perf_counter()
    path = write_fixtures(out, FIXTURE_NAMES, seed=0)
    seconds = time.perf_counter() - t0
    print(f"\nwrite_fixtures(all names): {seconds:.2f} s")
    assert path == out / "mirror.json"
    index = json.loads(path.read_text())
    index["_base"] = out
    index["_seconds"] = seconds
    return index


def _entries(mirror: dict, name: str) -> list[dict]:
    return mirror["datasets"][name]


def _fetch(mirror: dict, name: str, dest: Path) -> list[Path]:
    """download() each mirror file of ``name`` (verified) into ``dest``; return the paths."""
    paths = []
    for e in _entries(mirror, name):
        src = mirror["_base"] / e["path"]
        paths.append(download(src.as_uri(), dest / e["filename"], sha256=e["sha256"],
                              md5=e["md5"], expected_size=e["size"], progress=False))
    return paths


def _release(mirror: dict, name: str):
    """RELEASES[name] with every file's url/checksums/size replaced by the mirror's."""
    by_file = {e["filename"]: e for e in _entries(mirror, name)}
    rel = RELEASES[name]
    assert set(by_file) == {f.filename for f in rel.files}
    files = tuple(
        dataclasses.replace(f, url=(mirror["_base"] / by_file[f.filename]["path"]).as_uri(),
                            md5=by_file[f.filename]["md5"],
                            sha256=by_file[f.filename]["sha256"],
                            size=by_file[f.filename]["size"])
        for f in rel.files
    )
    return dataclasses.replace(rel, files=files)


# ------------------------------------------------------------------------------ the index


def test_mirror_index(mirror):
    assert mirror["format"] == MIRROR_FORMAT and mirror["seed"] == 0
    assert set(mirror["datasets"]) == set(FIXTURE_NAMES) - {"digits"}
    for name, entries in mirror["datasets"].items():
        for e in entries:
            f = mirror["_base"] / e["path"]
            assert not Path(e["path"]).is_absolute() and f.is_file()
            assert f.name == e["filename"] and f.stat().st_size == e["size"]
            data = f.read_bytes()
            assert hashlib.md5(data).hexdigest() == e["md5"]
            assert hashlib.sha256(data).hexdigest() == e["sha256"]
        if name in RELEASES:  # the official archive names
            assert sorted(e["filename"] for e in entries) == sorted(
                f.filename for f in RELEASES[name].files)
    assert [e["filename"] for e in _entries(mirror, "cifar10")] == ["cifar-10-python.tar.gz"]
    assert [e["filename"] for e in _entries(mirror, "cifar100")] == ["cifar-100-python.tar.gz"]
    assert [e["filename"] for e in _entries(mirror, "imagenet")] == ["imagenet.tar"]
    assert mirror["_seconds"] < 30  # < 10 s on an idle 2-core machine


def test_archives_are_plain_and_reproducible_members(mirror):
    for name, entries in mirror["datasets"].items():
        for e in entries:
            if not e["filename"].endswith((".tar", ".tar.gz")):
                continue
            with tarfile.open(mirror["_base"] / e["path"]) as tf:
                members = tf.getmembers()
            names = [m.name for m in members]
            assert names == sorted(names)
            assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == ""
                       for m in members)
            assert all(m.isfile() or m.isdir() for m in members)


# ------------------------------------------------------------------------ clean datasets


def _patch_torchvision_md5(monkeypatch, cls, folder: Path) -> None:
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})


@pytest.mark.parametrize("name, n_train, n_test, k", [("cifar10", 100, 20, 10),
                                                      ("cifar100", 200, 100, 100)])
def test_cifar_archive_is_torchvisions_layout(mirror, tmp_path, monkeypatch, name, n_train,
                                              n_test, k):
    import torchvision

    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    (archive,) = _fetch(mirror, name, tmp_path / "dl")
    assert archive.name == cls.filename  # the name torchvision downloads
    root = tmp_path / "data" / name
    assert extract(archive, root) == [root / cls.base_folder]
    _patch_torchvision_md5(monkeypatch, cls, root / cls.base_folder)
    tr = cls(str(root), train=True, download=False)
    te = cls(str(root), train=False, download=False)
    assert tr.data.shape == (n_train, 32, 32, 3) and te.data.shape == (n_test, 32, 32, 3)
    assert np.bincount(tr.targets).tolist() == [n_train // k] * k
    assert np.bincount(te.targets).tolist() == [n_test // k] * k
    assert len(tr.classes) == k and tr.classes[0] == ("airplane" if k == 10 else "apple")
    # Through the project's loader too (what training uses).
    ds = load_dataset(name, "test", root=tmp_path / "data")
    np.testing.assert_array_equal(ds.images, te.data)
    # Images are structured: same-class images are closer than different-class ones.
    x = tr.data.reshape(len(tr.data), -1).astype(np.float32)
    y = np.asarray(tr.targets)
    means = np.stack([x[y == c].mean(0) for c in range(k)])
    dist = ((x[:, None] - means[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == y).mean() > 0.9
    if name == "cifar10":  # 5 training batches of per_class images per class each
        import pickle

        with open(root / cls.base_folder / "data_batch_3", "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (20, 3072)
        assert np.bincount(batch["labels"]).tolist() == [2] * 10


def test_fashion_mnist_idx_files(mirror, tmp_path, monkeypatch):
    import noisymix.data.registry as reg

    paths = _fetch(mirror, "fashion-mnist", tmp_path / "data" / "fashion-mnist")
    assert sorted(p.name for p in paths) == sorted(reg.FASHION_MNIST_FILES)
    for p in paths:
        with gzip.open(p) as f:
            magic = f.read(4)
        assert magic == (b"\x00\x00\x08\x03" if "images" in p.name else b"\x00\x00\x08\x01")
    d = tmp_path / "data" / "fashion-mnist"
    xtr = reg._read_idx(d / "train-images-idx3-ubyte.gz")
    ytr = reg._read_idx(d / "train-labels-idx1-ubyte.gz")
    assert xtr.shape == (60, 28, 28) and ytr.shape == (60,)
    assert np.bincount(ytr).tolist() == [6] * 10
    monkeypatch.setattr(reg, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    te = load_dataset("fashion-mnist", "test", root=tmp_path / "data")
    assert te.images.shape == (20, 32, 32, 3) and te.labels.tolist().count(3) == 2


def test_imagenet_folder_has_the_200_imagenet_r_classes(mirror, tmp_path):
    (archive,) = _fetch(mirror, "imagenet", tmp_path / "dl")
    root = tmp_path / "data"
    assert extract(archive, root) == [root / "imagenet"]
    tr = load_dataset("imagenet", "train", root=root)
    va = load_dataset("imagenet", "test", root=root)
    assert tr.classes == va.classes == list(IMAGENET_R_WNIDS)
    assert len(tr) == 400 and len(va) == 200
    assert imagenet_r_mask(va.classes).tolist() == list(range(200))
    x, y = va.torch_dataset(train=False, image_size=32)[0]
    assert tuple(x.shape) == (3, 32, 32) and y == 0


# ------------------------------------------------------------------------------ releases


@pytest.mark.parametrize("name, clean, n", [("cifar10-c", "cifar10", 10),
                                            ("cifar100-c", "cifar100", 20)])
def test_cifar_c_release(mirror, tmp_path, monkeypatch, name, clean, n):
    import torchvision

    root = tmp_path / "data"
    folder = fetch_release(name, root, release=_release(mirror, name), progress=False)
    assert folder == root / RELEASES[name].dirname
    assert not (root / "downloads" / name / RELEASES[name].files[0].filename).exists()
    ds = CifarC(folder)
    assert ds.corruptions == list(ALL_CORRUPTIONS)
    assert detect_layout(folder) == "c"
    assert ds.labels().shape == (5 * n,)
    x3, y3 = ds.load("fog", 3)
    assert x3.shape == (n, 32, 32, 3) and x3.dtype == np.uint8 and y3.dtype == np.int64
    # Same images and labels as the clean test set's first n, changed more at each severity.
    cls = torchvision.datasets.CIFAR10 if clean == "cifar10" else torchvision.datasets.CIFAR100
    (archive,) = _fetch(mirror, clean, tmp_path / "dl")
    extract(archive, tmp_path / clean)
    _patch_torchvision_md5(monkeypatch, cls, tmp_path / clean / cls.base_folder)
    te = cls(str(tmp_path / clean), train=False)
    np.testing.assert_array_equal(y3, te.targets[:n])
    for c in ("gaussian_noise", "contrast", "saturate"):
        diffs = [np.abs(ds.load(c, s)[0].astype(int) - te.data[:n]).mean() for s in range(1, 6)]
        assert 0 < diffs[0] < diffs[-1]
    # A second call finds it complete (marker) and does nothing.
    assert fetch_release(name, root, release=_release(mirror, name), progress=False) == folder


def test_cifar10_p_release(mirror, tmp_path):
    root = tmp_path / "data"
    folder = fetch_release("cifar10-p", root, release=_release(mirror, "cifar10-p"),
                           progress=False)
    ds = CifarP(folder)
    assert ds.perturbations == list(ALL_PERTURBATIONS)
    assert detect_layout(folder) == "p"
    assert ds.labels is None  # as the release
    for p in ALL_PERTURBATIONS:
        x = ds.load(p)
        assert x.shape == (6, frame_count(p, "cifar"), 32, 32, 3) and x.dtype == np.uint8
        assert not np.array_equal(x[:, 0], x[:, -1])  # frames change
    provided = {Path(p).name for p in RELEASES["cifar10-p"].files[0].provides}
    assert provided <= {f.name for f in folder.iterdir()}


def test_imagenet_c_release(mirror, tmp_path):
    root = tmp_path / "data"
    rel = _release(mirror, "imagenet-c")
    # One archive at a time works (as `fetch --files noise.tar`), then the rest.
    fetch_release("imagenet-c", root, files=["noise.tar"], release=rel, progress=False)
    assert sorted(p.name for p in (root / "ImageNet-C").iterdir() if p.is_dir()) == [
        "gaussian_noise", "impulse_noise", "shot_noise"]
    folder = fetch_release("imagenet-c", root, release=rel, progress=False)
    ic = ImageNetC(folder, classes=IMAGENET_R_WNIDS)
    assert ic.corruptions == list(ALL_CORRUPTIONS)
    assert detect_layout(folder) == "c-folder"
    ds = ic.load("fog", 3)
    assert len(ds) == 5
    img, target = ds[0]
    assert img.dtype == torch.uint8 and tuple(img.shape) == (32, 32, 3)
    assert IMAGENET_R_WNIDS[target] == ds.samples[0][0].parent.name
    assert all(p.suffix == ".JPEG" for p, _ in ds.samples)
    for f in rel.files:  # each archive holds exactly its `provides`
        with tarfile.open(mirror["_base"] / "files" / "imagenet-c" / f.filename) as tf:
            tops = {Path(m.name).parts[0] for m in tf.getmembers()}
        assert tops == set(f.provides)


def test_imagenet_p_release(mirror, tmp_path):
    root = tmp_path / "data"
    folder = fetch_release("imagenet-p", root, release=_release(mirror, "imagenet-p"),
                           progress=False)
    ip = ImageNetP(folder, classes=IMAGENET_R_WNIDS)
    assert ip.perturbations == list(ALL_PERTURBATIONS)
    assert sorted(p for g in IMAGENET_P_GROUPS.values() for p in g) == sorted(ALL_PERTURBATIONS)
    assert detect_layout(folder) == "p-folder"
    for p in ("gaussian_noise", "translate", "brightness"):
        ds = ip.load(p)
        assert len(ds) == 3
        video, target = ds[0]
        assert video.dtype == torch.uint8 and video.shape[1:] == (32, 32, 3)
        assert video.shape[0] >= 5
        assert IMAGENET_R_WNIDS[target] == ds.samples[0][0].parent.name
        assert (video[0].float() - video[-1].float()).abs().mean() > 2  # frames change


def test_imagenet_r_release(mirror, tmp_path):
    root = tmp_path / "data"
    folder = fetch_release("imagenet-r", root, release=_release(mirror, "imagenet-r"),
                           progress=False)
    assert folder == root / "imagenet-r"
    ds = ImageNetR(folder)
    assert detect_layout(folder) == "r"
    assert len(ds) == 200 and [t for _, t in ds.samples] == list(range(200))
    img, t = ds[7]
    assert img.dtype == torch.uint8 and img.shape[-1] == 3 and min(img.shape[:2]) >= 32
    assert all(p.suffix == ".jpg" for p, _ in ds.samples)


# ------------------------------------------------------------------------- reproducibility


def test_same_seed_same_bytes_other_seed_differs(mirror, tmp_path):
    again = json.loads(write_fixtures(tmp_path / "a", FIXTURE_NAMES, seed=0).read_text())
    assert again["datasets"] == mirror["datasets"]  # every sha256/md5/size identical
    other = json.loads(write_fixtures(tmp_path / "b", ["cifar10", "imagenet-p"],
                                      seed=1).read_text())
    assert other["seed"] == 1
    for name in ("cifar10", "imagenet-p"):
        assert {e["sha256"] for e in other["datasets"][name]}.isdisjoint(
            {e["sha256"] for e in mirror["datasets"][name]})


def test_names_merge_unknown_refused_digits_skipped(tmp_path):
    out = tmp_path / "m"
    write_fixtures(out, ["digits"])
    assert json.loads((out / "mirror.json").read_text())["datasets"] == {}
    write_fixtures(out, ["fashion-mnist"])
    index = json.loads(write_fixtures(out, ["cifar10"]).read_text())
    assert set(index["datasets"]) == {"fashion-mnist", "cifar10"}  # same settings: merged
    index = json.loads(write_fixtures(out, ["cifar10"], seed=3).read_text())
    assert set(index["datasets"]) == {"cifar10"}  # other seed: replaced
    with pytest.raises(ValueError, match="unknown fixture name.*imagenet-a"):
        write_fixtures(out, ["imagenet-a"])
    assert not list(out.glob(".*.tmp"))  # no temporary files left


def test_cli_verb(tmp_path):
    from click.testing import CliRunner

    from noisymix.cli.fixtures import COMMANDS, fixtures

    assert COMMANDS == [fixtures]
    res = CliRunner().invoke(fixtures, ["--name", "fashion-mnist", "--name", "digits",
                                        "--seed", "2", "--out", str(tmp_path / "mir")])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(tmp_path / "mir" / "mirror.json")
    index = json.loads((tmp_path / "mir" / "mirror.json").read_text())
    assert index["seed"] == 2 and list(index["datasets"]) == ["fashion-mnist"]
    bad = CliRunner().invoke(fixtures, ["--name", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
