"""Benchmark manifests (noisymix.manifest, noisymix.io.write_manifest) and how the writers and
``eval`` use them: settings recorded, reruns checked, files listed and verified."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from noisymix import manifest as mf
from noisymix.errors import InputError, UsageError
from noisymix.io import held_folder, write_manifest


def _settings(**kw) -> dict:
    base = dict(kind="corruptions", layout="cifar", names=["fog"], n_images=4,
                source={"dataset": "digits", "split": "test", "sha256": "a" * 64},
                preset="cifar", seed=0, limit=4, severities=[1, 2, 3, 4, 5])
    base.update(kw)
    return mf.generator_settings(**base)


def _owned(rel: str) -> bool:
    return rel.endswith(".npy")


# ------------------------------------------------------------------------------ listing


def test_list_files_skips_dot_files_and_the_manifest(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"1")
    (tmp_path / "sub" / "x").mkdir(parents=True)
    (tmp_path / "sub" / "x" / "b.png").write_bytes(b"22")
    (tmp_path / ".a.npy.x1y2.tmp").write_bytes(b"partial")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.npy").write_bytes(b"3")
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / mf.PENDING).write_text("{}")
    assert mf.list_files(tmp_path) == ["a.npy", "sub/x/b.png"]


def test_write_manifest_records_sizes_and_sha256(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"abc")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "e.png").write_bytes(b"xyz" * 1000)
    (tmp_path / "notes.txt").write_text("a user's")
    path = write_manifest(tmp_path, include=lambda r: r != "notes.txt", kind="corruptions")
    m = json.loads(path.read_text())
    assert m["format"] == mf.FORMAT and m["kind"] == "corruptions" and m["noisymix_version"]
    assert m["files"] == {
        "a.npy": {"bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
        "d/e.png": {"bytes": 3000, "sha256": hashlib.sha256(b"xyz" * 1000).hexdigest()}}
    assert not list(tmp_path.glob(".*.tmp"))


def test_array_sha256_is_the_bytes_in_c_order(tmp_path):
    a = np.arange(3 * 70 * 5, dtype=np.uint8).reshape(3 * 70, 5)
    np.save(tmp_path / "a.npy", a)
    want = hashlib.sha256(a.tobytes()).hexdigest()
    assert mf.array_sha256(a) == want == mf.array_sha256(np.load(tmp_path / "a.npy", mmap_mode="r"))
    assert mf.array_sha256(np.asfortranarray(a)) == want


# ------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("text, words", [
    ("{oops", "not valid JSON"),
    ("[1, 2]", "not an object"),
    (json.dumps({"kind": "corruptions"}), "predates"),
    (json.dumps({"format": "noisymix-benchmark/99"}), "format"),
])
def test_bad_records_are_named(tmp_path, text, words):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(InputError, match=words) as e:
        mf.read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(e.value)


@pytest.mark.parametrize("change, words", [
    (lambda m: m.update(kind="noise"), "kind"),
    (lambda m: m.update(layout="tiff"), "layout"),
    (lambda m: m.update(corruptions=[]), "non-empty list"),
    (lambda m: m.update(severities=[0, 6]), "severities"),
    (lambda m: m.update(n_images=0), "n_images"),
    (lambda m: m.update(files=[]), "'files'"),
    (lambda m: m["files"].update({"../x.npy": {"bytes": 1, "sha256": "0" * 64}}), "relative"),
    (lambda m: m["files"].update({"/etc/x": {"bytes": 1, "sha256": "0" * 64}}), "relative"),
    (lambda m: m["files"].update({"x.npy": {"bytes": -1, "sha256": "0" * 64}}), "bytes"),
    (lambda m: m["files"].update({"x.npy": {"bytes": 1, "sha256": "zz"}}), "sha256"),
])
def test_manifest_fields_are_checked(tmp_path, change, words):
    m = {**_settings(), "files": {}}
    change(m)
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InputError, match=words):
        mf.read_manifest(tmp_path)


def test_check_files_sizes_always_sha256_on_request(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"abc")
    (tmp_path / "b.npy").write_bytes(b"abc")
    files = {"a.npy": {"bytes": 3, "sha256": hashlib.sha256(b"abd").hexdigest()},
             "b.npy": {"bytes": 4, "sha256": "0" * 64},
             "c.npy": {"bytes": 1, "sha256": "0" * 64}}
    assert mf.check_files(tmp_path, files, sha256=False) == {
        "b.npy": "is 3 bytes, manifest.json says 4", "c.npy": "is missing"}
    assert "sha256" in mf.check_files(tmp_path, files, sha256=True)["a.npy"]


# ----------------------------------------------------------------------------- settings


def test_difference_names_the_first_setting_that_differs():
    a = _settings()
    assert mf.difference(a, _settings()) is None
    assert mf.difference(a, _settings(seed=3))[1:] == ("--seed", "0", "3")
    assert mf.difference(a, _settings(seed=3, preset="imagenet"))[1] == "--preset"
    d = mf.difference(a, _settings(source={"dataset": "digits", "split": "test",
                                           "sha256": "b" * 64}))
    assert d[0] == "source.sha256" and d[2].startswith("aaaaaaaaaaaa")
    # the input file's path is provenance, not a setting: a moved file is the same source
    assert mf.difference(a, _settings(source={**a["source"], "input": "/elsewhere.npy"})) is None


def test_prepare_output_fresh_rerun_other_force(tmp_path):
    out = tmp_path / "b"
    s = _settings()
    assert mf.prepare_output(out, s, _owned) is None
    assert json.loads((out / mf.PENDING).read_text())["seed"] == 0  # recorded before outputs
    (out / "fog.npy").write_bytes(b"old")
    assert mf.prepare_output(out, s, _owned) is None  # interrupted: same settings resume
    with pytest.raises(UsageError, match=r"b was built with --seed 0, not 1 \(\.manifest"):
        mf.prepare_output(out, _settings(seed=1), _owned)
    mf.finish(out, s, None, True, _owned)
    assert not (out / mf.PENDING).exists() and set(mf.read_manifest(out)["files"]) == {"fog.npy"}
    previous = mf.prepare_output(out, s, _owned)  # complete: same settings, nothing to do
    assert previous is not None and previous["files"]["fog.npy"]["bytes"] == 3
    with pytest.raises(UsageError, match=r"--seed 0, not 1 \(manifest.json\).*--force"):
        mf.prepare_output(out, _settings(seed=1), _owned)
    # --force removes only owned files (and empty folders they leave), then starts over
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x.npy").write_bytes(b"1")
    (out / ".fog.npy.zz.tmp").write_bytes(b"partial")
    assert mf.prepare_output(out, _settings(seed=1), _owned, force=True) is None
    assert sorted(p.name for p in out.iterdir()) == [mf.PENDING, "notes.txt"]


def test_prepare_output_refuses_unknown_files_and_other_kinds(tmp_path):
    (tmp_path / "fog.npy").write_bytes(b"x")
    with pytest.raises(UsageError, match="fog.npy but no manifest.json"):
        mf.prepare_output(tmp_path, _settings(), _owned)
    mf.prepare_output(tmp_path, _settings(), _owned, force=True)
    assert not (tmp_path / "fog.npy").exists()
    p = _settings(kind="perturbations", perturbations=["fog"])
    with pytest.raises(UsageError, match="corruptions benchmark.*another --out"):
        mf.prepare_output(tmp_path, p, _owned, force=True)  # never removes another kind
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(UsageError, match="is a file"):  # the folder lock checks --out first
        with held_folder(f):
            mf.prepare_output(f, _settings(), _owned)


# ----------------------------------------------------------------------------- writers


def test_corrupt_arrays_records_its_settings(tmp_path, digits_test):
    from noisymix.corruptions.writer import corrupt_arrays

    x, y = digits_test.images[:10], digits_test.labels[:10]
    corrupt_arrays(x, tmp_path, "cifar", ["fog", "gaussian_noise"], severities=(2, 1),
                   seed=7, labels=y, progress=False, limit=3, source={"dataset": "digits"})
    m = mf.read_manifest(tmp_path)
    assert (m["kind"], m["layout"], m["preset"], m["seed"], m["limit"], m["n_images"]) == (
        "corruptions", "cifar", "cifar", 7, 3, 3)
    assert m["corruptions"] == ["gaussian_noise", "fog"]  # canonical order
    assert m["severities"] == [2, 1]  # file order: block 0 is severity 2
    assert m["source"]["dataset"] == "digits"
    want = hashlib.sha256(np.ascontiguousarray(x[:3]).tobytes()).hexdigest()
    assert m["source"]["sha256"] == want
    assert set(m["files"]) == {"fog.npy", "gaussian_noise.npy", "labels.npy"}
    assert np.load(tmp_path / "fog.npy").shape == (6, 32, 32, 3)
    with pytest.raises(UsageError, match="source images"):  # other images, same flags
        corrupt_arrays(x[3:], tmp_path, "cifar", ["fog", "gaussian_noise"], severities=(2, 1),
                       seed=7, labels=y[3:], progress=False, limit=3,
                       source={"dataset": "digits"})


def test_perturb_arrays_resumes_and_refuses(tmp_path, digits_test, monkeypatch):
    import noisymix.perturbations.writer as pw

    x = digits_test.images[:3]
    pw.perturb_arrays(x, tmp_path, "cifar", ["translate"], seed=1, progress=False)
    before = (tmp_path / "manifest.json").read_bytes()
    monkeypatch.setattr(pw, "perturb", lambda *a, **k: pytest.fail("recomputed"))
    pw.perturb_arrays(x, tmp_path, "cifar", ["translate"], seed=1, progress=False)
    assert (tmp_path / "manifest.json").read_bytes() == before
    with pytest.raises(UsageError, match="--seed 1, not 2"):
        pw.perturb_arrays(x, tmp_path, "cifar", ["translate"], seed=2, progress=False)
    with pytest.raises(UsageError, match="--limit"):
        pw.perturb_arrays(x, tmp_path / "z", "cifar", ["translate"], limit=0, progress=False)
    assert not (tmp_path / "z").exists()


# --------------------------------------------------------------------------------- eval


def test_open_benchmark_reads_the_manifest(tmp_path, digits_test):
    from noisymix.corruptions.writer import corrupt_arrays
    from noisymix.robustness import open_benchmark

    x, y = digits_test.images[:4], digits_test.labels[:4]
    corrupt_arrays(x, tmp_path / "b", "cifar", ["fog"], severities=(3,), labels=y,
                   progress=False)
    with pytest.raises(InputError, match="1 of the 15 test corruptions"):
        open_benchmark(str(tmp_path / "b"))
    b = open_benchmark(str(tmp_path / "b"), allow_subset=True)
    assert (b.layout, b.kind, b.names, b.severities, b.subset) == ("c", "-c", ("fog",), (3,), True)
    # a folder without a manifest (a release) is read by its layout, as before
    (tmp_path / "b" / "manifest.json").unlink()
    b = open_benchmark(str(tmp_path / "b"), allow_subset=True)
    assert (b.layout, b.names, b.severities, b.subset) == ("c", ("fog",), (1, 2, 3, 4, 5), True)


def test_flat_metrics_use_the_kind_column_not_the_name():
    from noisymix.robustness import COLUMNS, flat_metrics

    def row(benchmark, kind, metric, value, corruption="all", cset="", subset=False):
        r = dict.fromkeys(COLUMNS, "")
        r.update(benchmark=benchmark, benchmark_kind=kind, metric=metric, value=value,
                 corruption=corruption, severity=0, corruption_set=cset, subset=subset)
        return r

    df = pd.DataFrame([
        row("clean", "clean", "accuracy", 0.9, ""),
        row("c", "-c", "robust_accuracy", 0.5, cset="test15"),          # a folder named "c"
        row("c", "-c", "robust_accuracy", 0.4, cset="all19"),
        row("my-p-set-c", "-p", "mfr", 0.1),                             # a misleading name
        row("x", "-p", "mfr", 0.2, cset="subset:translate", subset=True),
        row("fgsm", "fgsm", "fgsm_accuracy", 0.3, "eps=0.03"),
    ], columns=COLUMNS)
    assert flat_metrics(df) == {"clean_accuracy": 0.9, "c_robust_accuracy": 0.5,
                                "c_robust_accuracy_all19": 0.4, "p_mfr": 0.1,
                                "p_subset_mfr": 0.2, "fgsm_accuracy": 0.3}


def test_open_benchmark_checks_an_imagenet_c_tree(tmp_path):
    from PIL import Image

    from noisymix.corruptions.writer import corrupt_image_folder
    from noisymix.robustness import open_benchmark

    for cls in ("a", "b"):
        (tmp_path / "in" / cls).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "in" / cls / "0.png")
    corrupt_image_folder(tmp_path / "in", tmp_path / "c", "cifar", ["contrast"],
                         severities=(1, 2), image_format="png", progress=False)
    b = open_benchmark(str(tmp_path / "c"), allow_subset=True)
    assert (b.layout, b.names, b.severities, b.subset) == ("c-folder", ("contrast",), (1, 2), True)
    (tmp_path / "c" / "contrast" / "2" / "b" / "0.png").unlink()
    with pytest.raises(InputError, match=r"contrast/2/b/0.png is missing"):
        open_benchmark(str(tmp_path / "c"))
    with pytest.raises(InputError, match="none of the 15 test corruptions"):
        open_benchmark(str(tmp_path / "c"), allow_subset=True)  # its one corruption is damaged
