"""Hostile inputs, part 2: benchmark folders (issue 10, items 1, 2, 8 and 10).

Generators (`corrupt`, `perturb`): a rerun with other settings is refused (one line naming the
folder and the setting, folder unchanged) unless --force, which rebuilds only its own files; a
rerun with the same settings resumes; a killed run leaves no visible temporary and no
manifest. `eval`: a folder is read through its manifest.json; an incomplete or damaged set is
refused unless --allow-subset, which labels it; bad files (truncated arrays, labels out of
range, negative or float labels, images of another size, a bad manifest) are named.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from noisymix.vocab import TEST_CORRUPTIONS
from tests.hostile.runner import Case, _digest, run_case

# the fixture's -C and -P commands (tests/hostile/conftest.py), with the output left open
C_ARGS = ["corrupt", "--dataset", "digits", "--limit", "16", "--corruptions",
          "gaussian_noise,fog", "--severities", "1,2,3,4,5", "--device", "cpu", "--no-progress"]
P_ARGS = ["perturb", "--dataset", "digits", "--limit", "4", "--perturbations",
          "gaussian_noise,translate", "--device", "cpu", "--no-progress"]
EVAL = ["eval", "--ckpt", "{ckpt}", "--device", "cpu", "--out", "{tmp}/r.parquet",
        "--json", "{tmp}/r.json"]
NO_RESULTS = ("{tmp}/r.parquet", "{tmp}/r.json")


def _with(args: list[str], **flags) -> list[str]:
    """``args`` with ``--flag value`` replaced (or added)."""
    out = list(args)
    for k, v in flags.items():
        flag = "--" + k.replace("_", "-")
        if flag in out:
            out[out.index(flag) + 1] = v
        else:
            out += [flag, v]
    return out


def _copy(key: str, dst: str = "c", then=None):
    def setup(tmp: Path, fx: dict) -> None:
        shutil.copytree(fx[key], tmp / dst)
        if then is not None:
            then(tmp / dst, fx)
    return setup


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _rewrite_manifest(folder: Path, **changes) -> None:
    """A manifest as the generator would have written it for the folder's files now."""
    from noisymix.io import write_manifest

    info = {k: v for k, v in _manifest(folder).items() if k != "files"}
    write_manifest(folder, **{**info, **changes})


def _full_c(dst: str = "c15", names=TEST_CORRUPTIONS, severities=(1, 2, 3, 4, 5),
            manifest: bool = True, then=None):
    """A consistent -C folder of ``names`` × ``severities`` from the fixture's fog blocks."""
    def setup(tmp: Path, fx: dict) -> None:
        out = tmp / dst
        shutil.copytree(fx["cbench"], out)
        fog = np.load(out / "fog.npy")
        n = len(fog) // 5
        blocks = np.concatenate([fog[(s - 1) * n:s * n] for s in severities])
        for f in out.glob("*.npy"):
            if f.name != "labels.npy":
                f.unlink()
        for c in names:
            np.save(out / f"{c}.npy", blocks)
        lab = np.load(out / "labels.npy")[:n]
        np.save(out / "labels.npy", np.tile(lab, len(severities)))
        if manifest:
            _rewrite_manifest(out, corruptions=list(names), severities=list(severities))
        else:
            (out / "manifest.json").unlink()
        if then is not None:
            then(out, fx)
            if manifest:
                _rewrite_manifest(out)
    return setup


def _labels(values):
    def change(folder: Path, fx: dict) -> None:
        lab = np.load(folder / "labels.npy")
        np.save(folder / "labels.npy", values(lab))
    return change


def _small_images(folder: Path, fx: dict) -> None:
    for f in folder.glob("*.npy"):
        if f.name != "labels.npy":
            np.save(f, np.ascontiguousarray(np.load(f)[:, :16, :16]))


def _truncate(name: str, by: int = 100):
    def change(folder: Path, fx: dict) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:-by])
    return change


def _flip_byte(name: str):
    def change(folder: Path, fx: dict) -> None:
        data = bytearray((folder / name).read_bytes())
        data[-1] ^= 0xFF
        (folder / name).write_bytes(bytes(data))
    return change


def _image_tree(root: Path) -> Path:
    """An ImageFolder tree of 32x32 PNGs with the digits model's class names."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("0", "1"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                root / cls / f"{i}.png")
    return root


def _folder_c(seed: int = 0, interrupted: bool = False):
    def setup(tmp: Path, fx: dict) -> None:
        from noisymix.corruptions.writer import corrupt_image_folder

        _image_tree(tmp / "imgs")
        corrupt_image_folder(tmp / "imgs", tmp / "fc", preset="cifar",
                             corruptions=["gaussian_noise"], severities=(1, 2), seed=seed,
                             image_format="png", progress=False)
        if interrupted:  # as a killed run leaves it: the settings record, no manifest
            m = _manifest(tmp / "fc")
            del m["files"]
            (tmp / "fc" / ".manifest.pending.json").write_text(json.dumps(m))
            (tmp / "fc" / "manifest.json").unlink()
    return setup


_KILL = """
import os, sys
import noisymix.corruptions.writer as w
real, calls = w.corrupt, [0]
def dying(*a, **k):  # SIGKILL-like: no finally blocks, no cleanup, mid-file
    calls[0] += 1
    if calls[0] == 7:
        os._exit(9)
    return real(*a, **k)
w.corrupt = dying
from noisymix.cli import main
main(sys.argv[1:])
"""


def _killed_corrupt(tmp: Path, fx: dict) -> None:
    """`corrupt` killed inside its second file (fog, severity 2)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", _KILL, *C_ARGS, "--out", str(tmp / "c")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 9, r.stdout + r.stderr
    assert (tmp / "c" / "gaussian_noise.npy").is_file() and not (tmp / "c" / "fog.npy").exists()


def _visible(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts))


# ----------------------------------------------------------------------------- checks


def _names(out: str, folder: Path) -> None:
    assert f"{folder} was built with" in " ".join(out.split()), out


def _rebuilt_with_seed_1(tmp: Path, fx: dict, out: str) -> None:
    c = tmp / "c"
    m = _manifest(c)
    assert m["seed"] == 1 and set(m["files"]) == {"fog.npy", "gaussian_noise.npy", "labels.npy"}
    assert (c / "fog.npy").read_bytes() != (fx["cbench"] / "fog.npy").read_bytes()
    assert not list(c.glob(".*.tmp")) and not (c / ".manifest.pending.json").exists()


def _same_as_fixture(tmp: Path, fx: dict, out: str) -> None:
    assert _digest(tmp / "c") == _digest(fx["cbench"])  # byte-identical, manifest included


def _after_kill(tmp: Path, fx: dict, out: str) -> None:
    from click.testing import CliRunner

    from noisymix.cli import main

    c = tmp / "c"
    assert not [f for f in _visible(c) if f.endswith(".tmp")]  # temporaries are dot-files
    assert not (c / "manifest.json").exists()
    r = CliRunner().invoke(main, [*C_ARGS, "--out", str(c)])  # the same command: resumes
    assert r.exit_code == 0, r.output
    assert not list(c.rglob("*.tmp"))  # the dead run's hidden temporary is cleaned up too
    _same_as_fixture(tmp, fx, out)


def _folder_manifest(tmp: Path, fx: dict, out: str) -> None:
    m = _manifest(tmp / "fc")
    assert (m["kind"], m["layout"], m["severities"]) == ("corruptions", "imagenet", [1, 2])
    assert set(m["files"]) == {f"gaussian_noise/{s}/{c}/{i}.jpg"  # JPEG q85, as released
                               for s in (1, 2) for c in ("0", "1") for i in (0, 1)}
    assert m["source"]["folder"].endswith("imgs") and len(m["source"]["sha256"]) == 64


def _results(tmp: Path) -> tuple[pd.DataFrame, dict]:
    return pd.read_parquet(tmp / "r.parquet"), json.loads((tmp / "r.json").read_text())


def _c_subset(tmp: Path, fx: dict, out: str) -> None:
    df, flat = _results(tmp)
    assert df.subset.all() and set(df.benchmark_kind) == {"-c"}
    ra = df[df.metric == "robust_accuracy"]
    assert len(ra) == 1 and ra.corruption_set.item().startswith("subset:")
    assert "c_robust_accuracy" not in flat and "c_subset_robust_accuracy" in flat
    assert "SUBSET" in out


def _c_full(tmp: Path, fx: dict, out: str) -> None:
    df, flat = _results(tmp)
    assert not df.subset.any() and set(df.benchmark) == {"c"}  # a folder named just "c"
    assert df[df.metric == "robust_accuracy"].corruption_set.item() == "test15"
    assert set(flat) >= {"c_robust_accuracy", "c_robust_accuracy_no_noise", "c_rms"}


def _without_frost(tmp: Path, fx: dict, out: str) -> None:
    df, _ = _results(tmp)
    assert "frost" not in set(df.corruption) and df.subset.all()


def _with_frost(tmp: Path, fx: dict, out: str) -> None:
    df, _ = _results(tmp)
    assert "frost" in set(df.corruption) and not df.subset.any()


def _p_subset(tmp: Path, fx: dict, out: str) -> None:
    df, flat = _results(tmp)
    assert df.subset.all() and set(df.benchmark_kind) == {"-p"}
    assert df[df.metric == "mfr"].corruption_set.item() == "subset:gaussian_noise,translate"
    assert "p_mfr" not in flat and "p_subset_mfr" in flat


# ----------------------------------------------------------------------------- the table

C_OUT = [*C_ARGS, "--out", "{tmp}/c"]
P_OUT = [*P_ARGS, "--out", "{tmp}/p"]

CASES = [
    # 1. stale benchmarks: other settings into an existing folder are refused, folder unchanged
    Case("corrupt-rerun-other-seed", _with(C_OUT, seed="1"), 2, ("--seed 0, not 1", "--force"),
         _copy("cbench"), unchanged=("{tmp}/c",),
         check=lambda tmp, fx, out: _names(out, tmp / "c")),
    Case("corrupt-rerun-other-preset", _with(C_OUT, preset="imagenet"), 2,
         ("--preset cifar, not imagenet",), _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("corrupt-rerun-other-limit", _with(C_OUT, limit="8"), 2, ("--limit 16, not 8",),
         _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("corrupt-rerun-other-names", _with(C_OUT, corruptions="fog"), 2,
         ("--corruptions gaussian_noise,fog, not fog",), _copy("cbench"),
         unchanged=("{tmp}/c",)),
    Case("corrupt-rerun-other-severities", _with(C_OUT, severities="1,2"), 2,
         ("--severities 1,2,3,4,5, not 1,2",), _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("corrupt-rerun-other-source", _with(C_OUT, split="train"), 2,
         ("--split test, not train",), _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("perturb-rerun-other-seed", _with(P_OUT, seed="5"), 2, ("--seed 0, not 5", "--force"),
         _copy("pbench", "p"), unchanged=("{tmp}/p",)),
    Case("perturb-into-a-c-folder", [*P_ARGS, "--out", "{tmp}/c", "--force"], 2,
         ("corruptions benchmark", "another --out"), _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("corrupt-files-without-manifest", C_OUT, 2, ("no manifest.json", "--force"),
         _copy("cbench", then=lambda d, fx: (d / "manifest.json").unlink()),
         unchanged=("{tmp}/c",)),
    Case("corrupt-rerun-bad-manifest", C_OUT, 1, ("manifest.json", "not valid json"),
         _copy("cbench", then=lambda d, fx: (d / "manifest.json").write_text("{oops")),
         unchanged=("{tmp}/c",)),
    # ... --force rebuilds: only this verb's files go, a user's file stays
    Case("corrupt-force-rebuilds", [*_with(C_OUT, seed="1"), "--force"], 0, (),
         _copy("cbench", then=lambda d, fx: ((d / "notes.txt").write_text("mine"),
                                             (d / ".fog.npy.dead.tmp").write_bytes(b"x"))),
         unchanged=("{tmp}/c/notes.txt",), check=_rebuilt_with_seed_1),
    # ... the same settings resume (nothing to do: byte-identical, manifest included)
    Case("corrupt-rerun-same-settings", C_OUT, 0, (), _copy("cbench"), unchanged=("{tmp}/c",)),
    Case("corrupt-resume-rebuilds-a-deleted-file", C_OUT, 0, (),
         _copy("cbench", then=lambda d, fx: (d / "fog.npy").unlink()), check=_same_as_fixture),
    # 10. a killed run: no visible temporary, no manifest; eval refuses; the rerun finishes
    Case("corrupt-killed-then-eval", [*EVAL, "--benchmark", "{tmp}/c"], 1,
         ("unfinished", "rerun the same command"), _killed_corrupt, absent=NO_RESULTS,
         check=_after_kill),
    # `corrupt --folder` (ImageNet-C layout) describes itself too
    Case("corrupt-folder-writes-manifest",
         ["corrupt", "--folder", "{tmp}/imgs", "--corruptions", "gaussian_noise",
          "--severities", "1,2", "--device", "cpu", "--no-progress", "--out", "{tmp}/fc"], 0,
         (), lambda tmp, fx: _image_tree(tmp / "imgs"), check=_folder_manifest),
    Case("corrupt-folder-rerun-other-seed",
         ["corrupt", "--folder", "{tmp}/imgs", "--corruptions", "gaussian_noise",
          "--severities", "1,2", "--seed", "2", "--device", "cpu", "--out", "{tmp}/fc"], 2,
         ("--seed 0, not 2",), _folder_c(), unchanged=("{tmp}/fc",)),
    Case("corrupt-folder-and-dataset",
         ["corrupt", "--folder", "{tmp}", "--dataset", "digits", "--out", "{tmp}/x"], 2,
         ("--folder",), absent=("{tmp}/x",)),
    Case("eval-interrupted-folder-layout", [*EVAL, "--benchmark", "{tmp}/fc"], 1,
         ("unfinished",), _folder_c(interrupted=True), unchanged=("{tmp}/fc",),
         absent=NO_RESULTS),
    # values that name nothing before: refused at the flag
    Case("corrupt-limit-zero", _with(C_OUT, limit="0"), 2, ("--limit",), absent=("{tmp}/c",)),
    Case("corrupt-severities-x", _with(C_OUT, severities="x"), 2, ("severit", "x"),
         absent=("{tmp}/c",)),

    # 2. incomplete benchmarks: refused unless --allow-subset, which labels them
    Case("eval-c-2-of-15", [*EVAL, "--benchmark", "{cbench}"], 1,
         ("2 of the 15 test corruptions", "--allow-subset"), unchanged=("{cbench}",),
         absent=NO_RESULTS),
    Case("eval-c-2-of-15-allow-subset", [*EVAL, "--benchmark", "{cbench}", "--allow-subset"], 0,
         (), unchanged=("{cbench}",), check=_c_subset),
    Case("eval-c-14-of-15", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("14 of the 15 test corruptions", "frost"), _full_c(names=[
             c for c in TEST_CORRUPTIONS if c != "frost"]), absent=NO_RESULTS),
    Case("eval-c-file-missing", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("frost.npy is missing", "--allow-subset"), lambda tmp, fx: (
             _full_c()(tmp, fx), (tmp / "c15" / "frost.npy").unlink()), absent=NO_RESULTS),
    Case("eval-c-size-differs", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("frost.npy", "bytes, manifest.json says"), lambda tmp, fx: (
             _full_c()(tmp, fx), _truncate("frost.npy")(tmp / "c15", fx)),
         unchanged=("{tmp}/c15",), absent=NO_RESULTS),
    Case("eval-c-sha256-differs", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("frost.npy", "sha256"), lambda tmp, fx: (
             _full_c()(tmp, fx), _flip_byte("frost.npy")(tmp / "c15", fx)),
         unchanged=("{tmp}/c15",), absent=NO_RESULTS),
    Case("eval-c-sha256-differs-no-verify",
         [*EVAL, "--benchmark", "{tmp}/c15", "--no-verify"], 0, (), lambda tmp, fx: (
             _full_c()(tmp, fx), _flip_byte("frost.npy")(tmp / "c15", fx)), check=_with_frost),
    Case("eval-c-damaged-allow-subset", [*EVAL, "--benchmark", "{tmp}/c15", "--allow-subset"],
         0, (), lambda tmp, fx: (_full_c()(tmp, fx), _truncate("frost.npy")(tmp / "c15", fx)),
         check=_without_frost),
    Case("eval-c-missing-severities", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("severities 1,2 of 1..5", "--allow-subset"), _full_c(severities=(1, 2)),
         absent=NO_RESULTS),
    Case("eval-c-full-in-a-folder-named-c", [*EVAL, "--benchmark", "{tmp}/c"], 0, (),
         _full_c("c"), check=_c_full),
    Case("eval-p-2-of-10", [*EVAL, "--benchmark", "{pbench}"], 1,
         ("2 of the 10 test perturbations", "--allow-subset"), unchanged=("{pbench}",),
         absent=NO_RESULTS),
    Case("eval-p-2-of-10-allow-subset", [*EVAL, "--benchmark", "{pbench}", "--allow-subset"],
         0, (), check=_p_subset),

    # 8. bad files are named
    Case("eval-truncated-npy-no-manifest", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("fog.npy", "damaged"), lambda tmp, fx: (
             _full_c(manifest=False)(tmp, fx), _truncate("fog.npy", 5000)(tmp / "c15", fx)),
         unchanged=("{tmp}/c15",), absent=NO_RESULTS),
    Case("eval-labels-out-of-range", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("labels.npy", "out of range", "10 classes"), _full_c(then=_labels(lambda y: y + 10)),
         absent=NO_RESULTS),
    Case("eval-negative-labels", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("labels.npy", "negative"), _full_c(then=_labels(lambda y: y.astype(np.int64) - 1)),
         absent=NO_RESULTS),
    Case("eval-float-labels", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("labels.npy", "float"), _full_c(then=_labels(lambda y: y.astype(np.float32))),
         absent=NO_RESULTS),
    Case("eval-wrong-image-size", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("16x16", "32x32"), _full_c(then=_small_images), absent=NO_RESULTS),
    Case("eval-manifest-not-json", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("manifest.json", "not valid json"), lambda tmp, fx: (
             _full_c()(tmp, fx), (tmp / "c15" / "manifest.json").write_text("{oops")),
         absent=NO_RESULTS),
    Case("eval-manifest-path-outside", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("manifest.json", "relative path"), lambda tmp, fx: (
             _full_c()(tmp, fx), _edit_manifest(tmp / "c15", lambda m: m["files"].update(
                 {"../../etc/passwd": {"bytes": 1, "sha256": "0" * 64}}))),
         absent=NO_RESULTS),
    Case("eval-manifest-without-format", [*EVAL, "--benchmark", "{tmp}/c15"], 1,
         ("manifest.json", "predates"), lambda tmp, fx: (
             _full_c()(tmp, fx), _edit_manifest(tmp / "c15", lambda m: m.pop("format"))),
         absent=NO_RESULTS),
]


def _edit_manifest(folder: Path, change) -> None:
    m = _manifest(folder)
    change(m)
    (folder / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile(case, tmp_path, fx):
    run_case(case, tmp_path, fx)


def test_every_case_has_a_unique_id():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
