"""Hostile inputs, part 3: infrastructure — GPU leases, archives and downloads, releases, the
rules' shell commands, corrupt images, `prepare`'s source and the name choices (issue 10,
items 4, 7, 9, 11, 12 and "help that tells").

CLI cases are rows (command, exit status, words, what must stay unchanged); the archive and
quoting checks that have no natural command are unit tests beside them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shlex
import socket
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from noisymix.data.download import EntryExistsError, UnsafeArchiveError, extract
from noisymix.vocab import ARCHS, DATASETS, RELEASES, SCHEMES
from tests.hostile.runner import Case, run_case

pytestmark = pytest.mark.timeout(300)


# ------------------------------------------------------------------------------- helpers


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: connecting to it is refused at once
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tar(path: Path, members) -> Path:
    """members: (name, bytes) files, (name, "->", target) symlinks, (name, "=>", target) hard
    links, (name, "/") folders, written in this order."""
    with tarfile.open(path, "w") as tf:
        for m in members:
            info = tarfile.TarInfo(m[0])
            if len(m) == 3:
                info.type = tarfile.SYMTYPE if m[1] == "->" else tarfile.LNKTYPE
                info.linkname = m[2]
                tf.addfile(info)
            elif m[1] == "/":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def _jpeg_tree(root: Path, broken: str | None = None) -> None:
    """root/imagenet/{train,val}/<wnid>/ with two small JPEGs per class; ``broken`` (a path
    relative to root) is cut in half, as an interrupted copy leaves it."""
    for split in ("train", "val"):
        for c, wnid in enumerate(("n01440764", "n01443537")):
            d = root / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((32, 32, 3), 60 * c + 20 * i, np.uint8)).save(
                    d / f"{wnid}_{i}.JPEG")
    if broken is not None:
        f = root / broken
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A local mirror (`noisymix fixtures`) of cifar10 and imagenet."""
    from noisymix.fixtures import write_fixtures

    return write_fixtures(tmp_path_factory.mktemp("mirror"), ["cifar10", "imagenet"])


@pytest.fixture
def clean_gpu_env(monkeypatch):
    for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "NOISYMIX_GPU_LEASED", "LOCAL_RANK",
              "TORCHELASTIC_RUN_ID", "NOISYMIX_GPUS", "NOISYMIX_GPU_LOCK_DIR"):
        monkeypatch.setenv(k, "")  # recorded, so that teardown also undoes what a lease sets
        monkeypatch.delenv(k)
    return monkeypatch


# ----------------------------------------------------------------- names: choices and help


def _one_error_line(tmp, fx, out):
    # (the runner's output holds stderr twice: click's mixed output, then stderr alone)
    assert len({ln for ln in out.splitlines() if ln.strip()}) == 1, out


CHOICE_CASES = [
    Case("train-unknown-method", ["train", "--dataset", "digits", "--method", "mixupp",
                                  "--out", "{tmp}/r"], 2, ("--method", "mixupp", *SCHEMES),
         absent=("{tmp}/r",)),
    Case("train-unknown-arch", ["train", "--dataset", "digits", "--arch", "resnet5",
                                "--out", "{tmp}/r"], 2, ("--arch", "resnet5", *ARCHS),
         absent=("{tmp}/r",)),
    Case("finetune-unknown-dataset", ["finetune", "--ckpt", "{tmp}/m.safetensors", "--dataset",
                                      "cifar11", "--epochs", "1", "--out", "{tmp}/r"], 2,
         ("--dataset", "cifar11", *DATASETS), absent=("{tmp}/r",)),
    Case("corrupt-unknown-dataset", ["corrupt", "--dataset", "digit", "--out", "{tmp}/c"], 2,
         ("--dataset", "digit", "digits"), absent=("{tmp}/c",)),
    Case("corrupt-unknown-preset", ["corrupt", "--dataset", "digits", "--preset", "mnist",
                                    "--out", "{tmp}/c"], 2, ("--preset", "cifar", "imagenet"),
         absent=("{tmp}/c",)),
    Case("prepare-unknown-name", ["prepare", "--dataset", "cifar10c", "--out", "{tmp}/m.json"],
         2, ("--dataset", "cifar10c", "cifar10-c", "digits"), absent=("{tmp}/m.json",)),
    Case("eval-unknown-benchmark", ["eval", "--ckpt", "{tmp}/m.safetensors", "--benchmark",
                                    "cifar10c"], 2, ("--benchmark", "cifar10c", "clean",
                                                     "cifar10-c", "folder")),
    Case("fetch-unknown-release", ["fetch", "nope"], 2, ("unknown release", "nope", *RELEASES),
         check=_one_error_line),
]


@pytest.mark.parametrize("case", CHOICE_CASES, ids=str)
def test_names_are_choices(case, tmp_path):
    run_case(case, tmp_path, {})


@pytest.mark.parametrize("verb, words", [
    ("train", (*SCHEMES, *ARCHS, *DATASETS)),
    ("finetune", DATASETS),
    ("corrupt", ("cifar|imagenet", *DATASETS)),
    ("perturb", ("cifar|imagenet", *DATASETS)),
    ("prepare", (*DATASETS, *RELEASES)),
    ("eval", ("clean", *RELEASES, "FOLDER")),
])
def test_help_lists_the_choices(verb, words, tmp_path):
    out = run_case(Case(f"{verb}-help", [verb, "--help"], 0), tmp_path, {})
    text = " ".join(out.split())
    for w in words:
        assert w in text, f"{verb} --help does not list {w}"


def test_names_complete_in_the_shell():
    from click.shell_completion import ShellComplete

    from noisymix.cli import main

    def complete(args, incomplete):
        return [c.value for c in ShellComplete(main, {}, "noisymix", "_X").get_completions(
            args, incomplete)]

    assert complete(["train", "--method"], "no") == ["noisymix"]
    assert set(complete(["eval", "--benchmark"], "cifar")) >= {"cifar10-c", "cifar100-c",
                                                               "cifar10-p"}


# ------------------------------------------------------------------------ releases, fetch


def _offline(monkeypatch):
    from noisymix.benchmarks import releases

    rel = releases.RELEASES["cifar10-c"]
    url = f"http://127.0.0.1:{_closed_port()}/CIFAR-10-C.tar"
    files = (dataclasses.replace(rel.files[0], url=url),)
    monkeypatch.setitem(releases.RELEASES, "cifar10-c", dataclasses.replace(rel, files=files))


def test_fetch_offline_is_one_line(tmp_path, monkeypatch):
    _offline(monkeypatch)
    case = Case("fetch-offline", ["fetch", "cifar10-c", "--data-root", "{tmp}/data"], 1,
                ("cifar10-c", "cannot reach", "manually", "CIFAR-10-C.tar"),
                absent=("{tmp}/data/CIFAR-10-C",), check=_one_error_line)
    run_case(case, tmp_path, {})


def _placed_by_hand(tmp, fx):
    d = tmp / "data" / "downloads" / "cifar10-c"
    d.mkdir(parents=True)
    (d / "CIFAR-10-C.tar").write_bytes(b"my own copy, not the published one")


def _moved_aside(tmp, fx, out):
    d = tmp / "data" / "downloads" / "cifar10-c"
    aside = [p for p in d.iterdir() if p.name.startswith("CIFAR-10-C.tar.bad-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b"my own copy, not the published one"
    assert aside[0].name in out


def test_fetch_bad_manual_archive_is_moved_aside(tmp_path, monkeypatch):
    _offline(monkeypatch)  # verification fails before any network access
    case = Case("fetch-bad-manual-archive", ["fetch", "cifar10-c", "--data-root", "{tmp}/data"],
                1, ("not the published file", "moved aside", "not deleted"),
                setup=_placed_by_hand, check=_moved_aside)
    run_case(case, tmp_path, {})


def _own_imagenet(tmp, fx):
    d = tmp / "data" / "imagenet" / "train" / "n01440764"
    d.mkdir(parents=True)
    (d / "mine.JPEG").write_bytes(b"the user's own ImageNet")


def test_prepare_never_replaces_an_existing_dataset(tmp_path, mirror):
    # The mirror's imagenet.tar extracts to <root>/imagenet; a user's folder there stays.
    case = Case("prepare-existing-entry",
                ["prepare", "--dataset", "imagenet", "--download", "--mirror", str(mirror),
                 "--data-root", "{tmp}/data", "--out", "{tmp}/m.json"], 1,
                ("already exists", "imagenet", "nothing was changed"),
                setup=_own_imagenet, unchanged=("{tmp}/data/imagenet",),
                absent=("{tmp}/m.json",), check=_one_error_line)
    run_case(case, tmp_path, {})


def _source_named(mirror):
    def check(tmp, fx, out):
        marker = json.loads((tmp / "m.json").read_text())
        assert marker["source"] == f"mirror {mirror}"
        assert marker["folder"] == str(tmp / "data" / "cifar10" / "cifar-10-batches-py")
        assert f"source: mirror {mirror}" in " ".join(out.split())
    return check


def test_prepare_names_its_source(tmp_path, mirror):
    case = Case("prepare-source", ["prepare", "--dataset", "cifar10", "--download", "--mirror",
                                   str(mirror), "--data-root", "{tmp}/data",
                                   "--out", "{tmp}/m.json"], 0, ("cifar10 ready",),
                check=_source_named(mirror))
    run_case(case, tmp_path, {})
    # Without a download the source is the folder that already held the data.
    from noisymix.cli.pipeline import prepare_dataset

    info = prepare_dataset("cifar10", tmp_path / "data")
    assert info["source"] == info["folder"] == str(tmp_path / "data/cifar10/cifar-10-batches-py")
    assert prepare_dataset("digits", tmp_path / "data")["source"].startswith("sklearn")


# ------------------------------------------------------------------------ a corrupt JPEG


def test_corrupt_jpeg_in_an_image_folder_names_the_file(tmp_path):
    broken = "imagenet/train/n01443537/n01443537_1.JPEG"
    case = Case("train-corrupt-jpeg",
                ["train", "--dataset", "imagenet", "--data-root", "{tmp}/data", "--arch",
                 "preactresnet18", "--width", "0.0625", "--method", "erm", "--epochs", "1",
                 "--batch-size", "4", "--num-workers", "1", "--device", "cpu", "--no-progress",
                 "--out", "{tmp}/run"], 1,
                ("n01443537_1.JPEG", "not a readable image", "remove or replace"),
                setup=lambda tmp, fx: _jpeg_tree(tmp / "data", broken),
                unchanged=("{tmp}/data",), absent=("{tmp}/run/model.safetensors",),
                check=_one_error_line)
    run_case(case, tmp_path, {})


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_jpeg_error_survives_loader_workers(tmp_path, workers):
    import torch

    from noisymix.data.imagefolder import UnreadableImageError, load_imagefolder
    from noisymix.data.registry import dataset_info
    from noisymix.errors import InputError

    _jpeg_tree(tmp_path, "imagenet/val/n01440764/n01440764_0.JPEG")
    ds = load_imagefolder(tmp_path, "test", dataset_info("imagenet"))
    loader = torch.utils.data.DataLoader(ds.torch_dataset(train=False, image_size=32),
                                         batch_size=4, num_workers=workers)
    with pytest.raises(InputError) as e:
        list(loader)
    assert isinstance(e.value, UnreadableImageError)
    msg = str(e.value)
    assert "n01440764_0.JPEG is not a readable image" in msg
    assert "\n" not in msg and "Traceback" not in msg and "DataLoader" not in msg


# --------------------------------------------------------------------------- GPU leases


def _planted_link(tmp, fx):
    locks = tmp / "locks"
    locks.mkdir(mode=0o700)
    (tmp / "victim.txt").write_text("precious")
    (locks / "gpu0.lock").symlink_to(tmp / "victim.txt")


def _open_lock_dir(tmp, fx):
    (tmp / "locks").mkdir()
    os.chmod(tmp / "locks", 0o755)


CORRUPT_AUTO = ["corrupt", "--dataset", "digits", "--limit", "4", "--corruptions", "fog",
                "--severities", "1", "--device", "auto", "--no-progress", "--out", "{tmp}/c"]


@pytest.mark.parametrize("case", [
    Case("lease-planted-symlink", CORRUPT_AUTO, 1, ("gpu0.lock", "symbolic link", "remove it"),
         setup=_planted_link, unchanged=("{tmp}/victim.txt",), absent=("{tmp}/c",),
         check=_one_error_line),
    Case("lease-open-lock-dir", CORRUPT_AUTO, 1, ("locks", "mode 0755", "chmod 700"),
         setup=_open_lock_dir, absent=("{tmp}/c", "{tmp}/locks/gpu0.lock"),
         check=_one_error_line),
], ids=str)
def test_lease_refuses_unsafe_lock_files(case, tmp_path, clean_gpu_env):
    clean_gpu_env.setenv("NOISYMIX_GPUS", "0")
    clean_gpu_env.setenv("NOISYMIX_GPU_LOCK_DIR", str(tmp_path / "locks"))
    run_case(case, tmp_path, {})
    assert os.environ.get("CUDA_VISIBLE_DEVICES") is None  # nothing leased


# -------------------------------------------------------------------------------- archives


@pytest.mark.parametrize("links", [False, True])
def test_link_pair_cannot_point_outside(tmp_path, links):
    # Each link is inside on its own; together ds/a -> ds/b/.. -> (dest)/.. is outside.
    archive = _tar(tmp_path / "pair.tar", [("ds", "/"), ("ds/a", "->", "b/.."),
                                           ("ds/b", "->", "..")])
    with pytest.raises(UnsafeArchiveError, match="resolves outside"):
        extract(archive, tmp_path / "dest", links=links)
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("members, why", [
    ([("ds/x", "->", "y/../../.."), ("ds/y", "/")], "points outside"),
    ([("ds/l", "->", "m"), ("ds/m", "->", "../..")], "points outside"),
    ([("ds/l", "->", "m/../.."), ("ds/m", "->", ".")], "resolves outside"),
    ([("ds/loop", "->", "loop2"), ("ds/loop2", "->", "loop")], "resolves outside"),
    ([("ds/up", "->", ".."), ("ds/h", "=>", "ds/up/../x")], "resolves outside"),
    ([("ds/l", "->", "."), ("ds/sub/../l/x", b"x")], "under the symlink"),
    ([("ds/l", "->", "sub"), ("ds/l", b"replaces the link")], "name of a symlink"),
])
def test_link_tricks_refused(tmp_path, members, why):
    archive = _tar(tmp_path / "evil.tar", members)
    with pytest.raises(UnsafeArchiveError, match=why):
        extract(archive, tmp_path / "dest", links=True)
    assert not (tmp_path / "dest").exists()


def test_links_refused_unless_allowed(tmp_path):
    archive = _tar(tmp_path / "l.tar", [("ds/f", b"data"), ("ds/alias", "->", "f")])
    with pytest.raises(UnsafeArchiveError, match="hold no links"):
        extract(archive, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert extract(archive, tmp_path / "b", links=True) == [tmp_path / "b" / "ds"]
    assert (tmp_path / "b/ds/alias").read_bytes() == b"data"
    from noisymix.benchmarks.releases import RELEASES as REGISTRY

    assert not any(r.links for r in REGISTRY.values())  # no official release holds links


def test_extract_replaces_only_what_it_placed(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "two.tar", [("A/x", b"a"), ("B/y", b"b")])
    dest = tmp_path / "dest"
    (dest / "C").mkdir(parents=True)  # a neighbour: never touched
    (dest / "C" / "keep").write_text("keep")
    real = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies between the two renames
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        extract(archive, dest)
    monkeypatch.setattr(os, "replace", real)
    assert (dest / "A/x").exists() and not (dest / "B").exists()
    # The rerun recognises A as its own (journal, same inode) and replaces it.
    assert extract(archive, dest) == [dest / "A", dest / "B"]
    assert sorted(p.name for p in dest.iterdir()) == ["A", "B", "C"]
    assert (dest / "C/keep").read_text() == "keep"
    # A same-named entry it did not place is refused before anything is written.
    with pytest.raises(EntryExistsError, match="already exists"):
        extract(archive, dest)
    assert (dest / "A/x").read_bytes() == b"a"


def test_manual_archive_moved_aside_keeps_each_copy(tmp_path):
    from noisymix.data.download import DownloadError, download

    dest = tmp_path / "f.tar"
    names = set()
    for i in range(2):
        dest.write_bytes(b"same wrong bytes")
        with pytest.raises(DownloadError, match="moved aside"):
            download("file:///nonexistent", dest, md5="0" * 32, progress=False)
        names = {p.name for p in tmp_path.iterdir()}
    assert len([n for n in names if n.startswith("f.tar.bad-")]) == 2  # second got "-1"


# ------------------------------------------------------------------- rules: shell quoting


HOSTILE = {"alpha": "0.2 $(touch PWNED)", "note": "it's a `test`; rm -rf ~", "mix": "[0,1]",
           "star": "*", "dollar": "${HOME}"}
HOSTILE_ROOT = "my data ${USER}/$(id)"


@pytest.fixture
def hostile_profile(monkeypatch):
    """The quick profile with hostile hyper-parameter values and data root."""
    from noisymix.config import Profile, load_config

    root = Path(__file__).resolve().parents[2]
    monkeypatch.setattr(Profile, "scheme_params",
                        lambda self, method, cell=None: dict(HOSTILE))
    monkeypatch.setattr(Profile, "data_root", property(lambda self: HOSTILE_ROOT))
    return load_config(root / "params.yaml", "quick")


def test_rule_commands_pass_hostile_values_verbatim(tmp_path, hostile_profile):
    from noisymix.pipeline.plan import build_plan

    jobs = [j for j in build_plan(hostile_profile) if j.rule in ("train", "train_ablation")]
    assert jobs
    want = [f"{k}={v}" for k, v in HOSTILE.items()]
    for job in jobs:
        argv = shlex.split(job.cmd)
        got = [argv[i + 1] for i, a in enumerate(argv) if a == "--param"]
        assert got == want, job.cmd
        assert argv[argv.index("--data-root") + 1] == HOSTILE_ROOT
    # Through a real shell: the values arrive as single arguments and nothing runs.
    cmd = jobs[0].cmd.replace("noisymix ", "printf '%s\\0' ", 1)
    out = subprocess.run(["sh", "-c", cmd], cwd=tmp_path, capture_output=True, check=True)
    args = out.stdout.decode().split("\0")
    assert all(w in args for w in want) and HOSTILE_ROOT in args
    assert not (tmp_path / "PWNED").exists()


def test_dvc_stages_carry_hostile_values_verbatim(tmp_path, hostile_profile):
    # DVC interpolates ${...} in stage fields: the generated dvc.yaml escapes it, and DVC's own
    # parser reads back exactly the command Snakemake runs
    from dvc.repo import Repo

    from noisymix.pipeline.dvc import dvc_yaml
    from noisymix.pipeline.plan import build_plan

    profile = hostile_profile
    jobs = {j.name: j for j in build_plan(profile)}
    Repo.init(str(tmp_path), no_scm=True)
    (tmp_path / "dvc.yaml").write_text(dvc_yaml(profile))
    stages = {s.name: s for s in Repo(str(tmp_path)).index.stages}
    train = [n for n, j in jobs.items() if j.rule == "train"]
    assert train and all(stages[n].cmd == jobs[n].cmd for n in train)
    assert "${HOME}" in stages[train[0]].cmd and HOSTILE_ROOT in stages[train[0]].cmd
