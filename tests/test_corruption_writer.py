"""Writers of the CIFAR-10-C (.npy) and ImageNet-C (folder) layouts.

Images: scikit-learn digits upscaled to 32×32×3 (real, offline) and tiny PNG folders of them.
"""

import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import noisymix.corruptions.writer as writer
from noisymix.corruptions import corrupt
from noisymix.corruptions.writer import corrupt_arrays, corrupt_image_folder

NAMES = ["gaussian_noise", "zoom_blur"]


def digits(n: int, h: int = 32, w: int = 32) -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    g = [cv2.resize((im / 16 * 255).astype(np.uint8), (w, h)) for im in d.images[:n]]
    return np.stack([np.stack([a, a[::-1], 255 - a], -1) for a in g]), d.target[:n]


def test_layout_dtype_labels(tmp_path):
    x, y = digits(6)
    out = corrupt_arrays(x, tmp_path, "cifar", NAMES, seed=2, batch_size=4, labels=y, progress=False)
    assert set(out) == {*NAMES, "labels"}
    for nm in NAMES:
        a = np.load(tmp_path / f"{nm}.npy")
        assert a.dtype == np.uint8 and a.shape == (30, 32, 32, 3)
        for s in range(1, 6):  # severity-1 block first, each block = corrupt() of the set
            np.testing.assert_array_equal(a[(s - 1) * 6 : s * 6], corrupt(x, nm, s, "cifar", 2).numpy())
    lab = np.load(tmp_path / "labels.npy")
    assert lab.dtype == np.uint8 and lab.shape == (30,)
    np.testing.assert_array_equal(lab, np.tile(y, 5))
    assert not list(tmp_path.glob("*.tmp"))


def test_severity_subset_order_and_batch_invariance(tmp_path):
    x, _ = digits(5)
    corrupt_arrays(x, tmp_path / "a", "cifar", ["shot_noise"], severities=(3, 1), batch_size=2, progress=False)
    corrupt_arrays(x, tmp_path / "b", "cifar", ["shot_noise"], severities=(3, 1), batch_size=256, progress=False)
    a = np.load(tmp_path / "a" / "shot_noise.npy")
    np.testing.assert_array_equal(a, np.load(tmp_path / "b" / "shot_noise.npy"))
    np.testing.assert_array_equal(a[:5], corrupt(x, "shot_noise", 3, "cifar").numpy())
    np.testing.assert_array_equal(a[5:], corrupt(x, "shot_noise", 1, "cifar").numpy())


def test_memmap_input(tmp_path):
    x, _ = digits(4)
    mm = np.lib.format.open_memmap(tmp_path / "in.npy", mode="w+", dtype=np.uint8, shape=x.shape)
    mm[:] = x
    mm.flush()
    corrupt_arrays(np.load(tmp_path / "in.npy", mmap_mode="r"), tmp_path / "o", "cifar",
                   ["gaussian_noise"], progress=False)
    corrupt_arrays(x, tmp_path / "p", "cifar", ["gaussian_noise"], progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "gaussian_noise.npy"),
                                  np.load(tmp_path / "p" / "gaussian_noise.npy"))


def test_interrupted_write_leaves_no_final_file_and_resumes(tmp_path, monkeypatch):
    x, _ = digits(4)
    calls = {"n": 0}
    real = writer.corrupt

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 7:  # dies inside the second file
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(writer, "corrupt", flaky)
    with pytest.raises(KeyboardInterrupt):
        corrupt_arrays(x, tmp_path, "cifar", NAMES, progress=False)
    assert (tmp_path / "gaussian_noise.npy").exists()
    assert not (tmp_path / "zoom_blur.npy").exists()  # no partial file under its name
    assert not list(tmp_path.glob("*.tmp"))  # temporaries are hidden dot-files (or gone)
    assert not (tmp_path / "manifest.json").exists()  # unfinished: no manifest
    first = np.load(tmp_path / "gaussian_noise.npy")
    mtime = os.stat(tmp_path / "gaussian_noise.npy").st_mtime_ns

    calls["n"] = -1000
    corrupt_arrays(x, tmp_path, "cifar", NAMES, progress=False)
    assert os.stat(tmp_path / "gaussian_noise.npy").st_mtime_ns == mtime  # skipped
    np.testing.assert_array_equal(np.load(tmp_path / "gaussian_noise.npy"), first)
    assert np.load(tmp_path / "zoom_blur.npy").shape == (20, 32, 32, 3)
    assert not list(tmp_path.glob("*.tmp"))
    # everything done: no corruption is computed again
    monkeypatch.setattr(writer, "corrupt", lambda *a, **k: pytest.fail("recomputed"))
    corrupt_arrays(x, tmp_path, "cifar", NAMES, progress=False)


def test_mismatched_existing_file_is_an_error(tmp_path):
    from noisymix.errors import UsageError

    x, _ = digits(4)
    np.save(tmp_path / "zoom_blur.npy", np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(UsageError, match="no manifest.json"):  # files of unknown settings
        corrupt_arrays(x, tmp_path, "cifar", ["zoom_blur"], progress=False)


def test_bad_arguments(tmp_path):
    x, _ = digits(2)
    with pytest.raises(ValueError):
        corrupt_arrays(x, tmp_path, "cifar", ["not_a_corruption"], progress=False)
    with pytest.raises(ValueError):
        corrupt_arrays(x, tmp_path, "cifar", severities=(0,), progress=False)
    with pytest.raises(ValueError):
        corrupt_arrays(x.astype(np.float32), tmp_path, "cifar", progress=False)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_image_folder_layout(tmp_path, fmt):
    x, _ = digits(5, 40, 36)
    big, _ = digits(1, 48, 64)
    src = tmp_path / "in"
    files = [("n001", "b.png", x[0]), ("n001", "a.png", x[1]), ("n002", "c.JPEG", big[0]),
             ("n002", "d.png", x[2])]
    for cls, name, im in files:
        (src / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(src / cls / name, format="PNG" if name.endswith("png") else "JPEG", quality=100)
    (src / "n002" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    corrupt_image_folder(src, out, "imagenet", ["gaussian_noise"], severities=(1, 2), seed=4,
                         batch_size=8, image_format=fmt, progress=False)
    order = sorted((c, n) for c, n, _ in files)  # seed index = sorted position
    for idx, (cls, name) in enumerate(order):
        arr = np.asarray(Image.open(src / cls / name).convert("RGB"))
        stem = os.path.splitext(name)[0]
        oname = stem + ".png" if fmt == "png" else (name if name.endswith("JPEG") else stem + ".jpg")
        for s in (1, 2):
            p = out / "gaussian_noise" / str(s) / cls / oname
            got = np.asarray(Image.open(p).convert("RGB"))
            assert got.shape == arr.shape  # size kept
            want = corrupt(arr[None], "gaussian_noise", s, "imagenet", 4, [idx]).numpy()[0]
            if fmt == "png":
                np.testing.assert_array_equal(got, want)
            else:  # the same image through JPEG quality 85
                buf = io.BytesIO()
                Image.fromarray(want).save(buf, format="JPEG", quality=85, optimize=True)
                np.testing.assert_array_equal(got, np.asarray(Image.open(buf)))
    assert not list(out.rglob("*.tmp"))
    n_files = len(list(out.rglob("*.*")))
    assert n_files == 8 + 1  # and manifest.json, which lists the 8 under relative paths
    import json
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert len(listed) == 8 and all(k.startswith("gaussian_noise/") for k in listed)
    # rerun: everything exists, nothing recomputed
    import noisymix.corruptions.writer as w
    real = w.corrupt
    try:
        w.corrupt = lambda *a, **k: pytest.fail("recomputed")
        corrupt_image_folder(src, out, "imagenet", ["gaussian_noise"], severities=(1, 2), seed=4,
                             image_format=fmt, progress=False)
    finally:
        w.corrupt = real


def test_a_held_folder_refuses_a_second_writer(tmp_path):
    # one writer per benchmark folder: a second one (here the same process through another
    # open file, as flock sees it) is refused before it touches anything — in particular the
    # first writer's temporaries, which a lone rerun would remove as stale
    from click.testing import CliRunner

    from noisymix.cli import main
    from noisymix.errors import BusyError
    from noisymix.io import LOCK_FILE, held_folder
    from noisymix.perturbations.writer import perturb_arrays

    x, y = digits(4)
    out = tmp_path / "c"
    with held_folder(out):
        (out / ".gaussian_noise.npy.abc.tmp").write_bytes(b"being written")
        with pytest.raises(BusyError, match="being written by another process"):
            corrupt_arrays(x, out, "cifar", NAMES, progress=False)
        with pytest.raises(BusyError, match="being written by another process"):
            perturb_arrays(x, out, "cifar", ["gaussian_noise"], progress=False)
        np.save(tmp_path / "x.npy", x)
        res = CliRunner().invoke(main, ["corrupt", "--input", str(tmp_path / "x.npy"),
                                        "--out", str(out), "--no-progress"])
        assert res.exit_code == 1 and "another process" in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
        assert (out / ".gaussian_noise.npy.abc.tmp").exists()
        (out / ".gaussian_noise.npy.abc.tmp").unlink()
    corrupt_arrays(x, out, "cifar", NAMES, progress=False)  # released: it writes
    assert sorted(p.name for p in out.iterdir()) == ["gaussian_noise.npy", "manifest.json",
                                                    "zoom_blur.npy"]
    assert not (out / LOCK_FILE).exists()
