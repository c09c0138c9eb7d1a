"""Hostile inputs, part 2: training and fine-tuning (issue 10, items 3, 5, 6, 7, 12).

Values are checked where they enter (flags, --param, params.yaml, checkpoint metadata) before
any folder is created; a run folder is locked while written and never mixes two
configurations; a diverging run stops with the last good state kept; weights and JSON get the
same file mode. Rows first (the CLI as a user types it), then unit tests where a row is
awkward (a monkeypatched loss, a lock held by another process, params.yaml at parse time).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from noisymix.checkpoint import read_metadata
from tests.hostile.runner import Case, copy_tree, run_case

# the shared fixture run's exact command (tests/hostile/conftest.py), less --out
T = ["train", "--dataset", "digits", "--width", "0.0625", "--method", "erm", "--epochs", "1",
     "--batch-size", "32", "--train-subset", "64", "--num-workers", "0", "--device", "cpu",
     "--no-progress"]
FT = ["finetune", "--dataset", "digits04", "--epochs", "1", "--batch-size", "32",
      "--train-subset", "32", "--device", "cpu", "--no-progress"]


def _with(argv: list[str], **flags) -> list[str]:
    """``argv`` with ``--flag value`` replaced or added (``foo_bar=`` → ``--foo-bar``)."""
    out = list(argv)
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if flag in out:
            out[out.index(flag) + 1] = str(value)
        else:
            out += [flag, str(value)]
    return out


def _run_copy(tmp: Path, fx: dict) -> Path:
    return copy_tree(Path(fx["run"]), tmp / "run")


def _lie(tmp: Path, fx: dict, name: str = "lie", drop: tuple = (), **changes) -> Path:
    """A copy of the fixture checkpoint whose header metadata says ``changes``."""
    meta = {**read_metadata(fx["ckpt"]), **changes}
    for k in drop:
        meta.pop(k, None)
    path = tmp / f"{name}.safetensors"
    save_file(load_file(str(fx["ckpt"])), str(path), metadata={"noisymix": json.dumps(meta)})
    return path


def _state(tmp: Path, data: bytes) -> None:
    (tmp / "r").mkdir()
    (tmp / "r" / "train_state.safetensors").write_bytes(data)


def _truncated(tmp: Path, fx: dict) -> None:
    data = Path(fx["ckpt"]).read_bytes()
    _state(tmp, data[: len(data) // 2])


def _modes_match(tmp: Path, fx: dict, out: str) -> None:
    umask = os.umask(0)
    os.umask(umask)
    want = 0o666 & ~umask
    for name in ("model.safetensors", "model.json", "metrics.jsonl"):
        mode = stat.S_IMODE((tmp / "r" / name).stat().st_mode)
        assert mode == want, f"{name}: {oct(mode)}, not {oct(want)}"
    assert not list((tmp / "r").glob(".noisymix.lock"))


def _config(tmp: Path, fx: dict, out: str, **expect) -> None:
    meta = json.loads((tmp / "run" / "model.json").read_text())
    assert meta["config"]["lr"] == 0.05, meta["config"]


_HELD: dict[str, int] = {}


def _hold_lock(tmp: Path, fx: dict) -> None:
    import fcntl

    (tmp / "r").mkdir()
    fd = os.open(tmp / "r" / ".noisymix.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"4242\n")
    _HELD[str(tmp)] = fd


def _release_lock(tmp: Path, fx: dict, out: str) -> None:
    os.close(_HELD.pop(str(tmp)))
    assert "4242" in out


def _symlinked_lock(tmp: Path, fx: dict) -> None:
    (tmp / "r").mkdir()
    (tmp / "victim").write_text("precious\n")
    (tmp / "r" / ".noisymix.lock").symlink_to(tmp / "victim")


def _typo_params(tmp: Path, fx: dict, key: str = "add_lvl", value=0.1) -> None:
    import yaml

    data = yaml.safe_load(Path("params.yaml").read_text())
    data["profiles"]["quick"]["method_params"]["noisymix"] = {key: value}
    (tmp / "params.yaml").write_text(yaml.safe_dump(data))


R = "{tmp}/r"
CASES = [
    # --- values (item 6): refused before any folder exists ---------------------------------
    Case("lr-nan", _with(T, lr="nan", out=R), 2, ("--lr", "nan"), absent=(R,)),
    Case("lr-negative", _with(T, lr="-0.1", out=R), 2, ("--lr",), absent=(R,)),
    Case("lr-inf", _with(T, lr="inf", out=R), 2, ("--lr", "finite"), absent=(R,)),
    Case("width-zero", _with(T, width=0, out=R), 2, ("--width",), absent=(R,)),
    Case("width-huge", _with(T, width="1e6", out=R), 2, ("--width",), absent=(R,)),
    Case("weight-decay-negative", _with(T, weight_decay="-1e-4", out=R), 2,
         ("--weight-decay",), absent=(R,)),
    Case("epochs-zero", _with(T, epochs=0, out=R), 2, ("--epochs",), absent=(R,)),
    Case("batch-size-zero", _with(T, batch_size=0, out=R), 2, ("--batch-size",), absent=(R,)),
    Case("train-subset-zero", _with(T, train_subset=0, out=R), 2, ("--train-subset", ">= 1"),
         absent=(R,)),
    Case("seed-negative", _with(T, seed=-1, out=R), 2, ("--seed",), absent=(R,)),
    Case("param-alpha-negative", _with(T, method="mixup", param="alpha=-1", out=R), 2,
         ("--param", "alpha", "> 0"), absent=(R,)),
    Case("param-alpha-zero", _with(T, method="mixup", param="alpha=0", out=R), 2,
         ("alpha", "mix=false"), absent=(R,)),
    Case("param-jsd-maybe", _with(T, method="noisymix", param="jsd=maybe", out=R), 2,
         ("jsd", "true or false"), absent=(R,)),
    Case("param-sparse-level", _with(T, method="noisymix", param="sparse_level=5", out=R), 2,
         ("sparse_level", "[0, 1]"), absent=(R,)),
    Case("param-severity-negative", _with(T, method="augmix", param="severity=-4", out=R), 2,
         ("severity", "[1, 10]"), absent=(R,)),
    Case("param-depth-zero", _with(T, method="augmix", param="depth=0", out=R), 2,
         ("depth", "-1"), absent=(R,)),
    Case("param-mix-layers-negative", _with(T, method="nfm", param="mix_layers=[-1]", out=R),
         2, ("mix_layers",), absent=(R,)),
    Case("param-prob-above-one", _with(T, method="cutmix", param="prob=1.5", out=R), 2,
         ("prob",), absent=(R,)),
    Case("param-loss-type", _with(T, method="puzzlemix", param="loss_type=mse", out=R), 2,
         ("loss_type", "bce"), absent=(R,)),
    Case("param-nan", _with(T, method="nfm", param="add_level=.nan", out=R), 2,
         ("add_level", "finite"), absent=(R,)),
    Case("param-typo", _with(T, method="noisymix", param="add_lvl=0.1", out=R), 2,
         ("add_lvl", "add_level"), absent=(R,)),
    Case("param-for-erm", _with(T, param="alpha=1", out=R), 2, ("erm", "alpha"), absent=(R,)),
    Case("finetune-gamma-zero", _with(FT, ckpt="{ckpt}", gamma=0, out=R), 2, ("--gamma",),
         absent=(R,)),
    Case("finetune-gamma-above-one", _with(FT, ckpt="{ckpt}", gamma=2, out=R), 2,
         ("--gamma",), absent=(R,)),
    Case("finetune-milestones-decreasing",
         _with(FT, ckpt="{ckpt}", epochs=9, milestones="6,3", out=R), 2,
         ("--milestones", "increasing"), absent=(R,)),
    Case("finetune-milestones-negative",
         _with(FT, ckpt="{ckpt}", epochs=9, milestones="-3,6", out=R), 2, ("--milestones",),
         absent=(R,)),
    Case("finetune-milestone-past-the-end",
         _with(FT, ckpt="{ckpt}", epochs=9, milestones="3,12", out=R), 2, ("--milestones",),
         absent=(R,)),
    Case("finetune-lr-nan", _with(FT, ckpt="{ckpt}", lr="nan", out=R), 2, ("--lr",),
         absent=(R,)),
    Case("params-yaml-typo", ["dvc-yaml", "--params", "{tmp}/params.yaml", "--check"], 2,
         ("method_params.noisymix", "add_lvl", "add_level"), setup=_typo_params),
    Case("params-yaml-out-of-range", ["dvc-yaml", "--params", "{tmp}/params.yaml", "--check"],
         2, ("method_params.noisymix.sparse_level", "[0, 1]"),
         setup=lambda tmp, fx: _typo_params(tmp, fx, "sparse_level", 5)),
    # --- devices (item 7) --------------------------------------------------------------------
    Case("device-gpu7", _with(T, device="gpu7", out=R), 2, ("--device", "gpu7"), absent=(R,)),
    Case("device-cuda-index", _with(T, device="cuda:99", out=R), 2, ("--device", "cuda:99"),
         absent=(R,)),
    # --- output locations (items 7, 12) ------------------------------------------------------
    Case("out-is-a-file", _with(T, out="{tmp}/f"), 2, ("--out",), unchanged=("{tmp}/f",),
         setup=lambda tmp, fx: (tmp / "f").write_text("keep me\n")),
    Case("out-under-a-file", _with(T, out="{tmp}/f/r"), 2, ("--out", "not a folder"),
         unchanged=("{tmp}/f",), setup=lambda tmp, fx: (tmp / "f").write_text("keep me\n")),
    Case("out-on-read-only-fs", _with(T, out="/sys/noisymix-hostile/r"), 2, ("--out",),
         absent=("/sys/noisymix-hostile",)),
    Case("missing-dataset-leaves-no-folder",
         _with(T, dataset="cifar10", data_root="{tmp}/nodata", out="{tmp}/a/b/r"), 1,
         ("cifar10",), absent=("{tmp}/a",)),
    Case("modes-match", _with(T, out=R), 0, check=_modes_match),
    # --- divergence (item 5) -----------------------------------------------------------------
    Case("lr-1e30-diverges", _with(T, lr="1e30", out=R), 1,
         ("training diverged", "non-finite loss at step", "--lr"), absent=(R,)),
    # --- one run per folder (items 3, 5) -----------------------------------------------------
    Case("other-config-refused", _with(T, lr=0.05, out="{tmp}/run"), 1,
         ("already holds a run of another configuration", "--force", "--out"),
         setup=_run_copy, unchanged=("{tmp}/run",)),
    Case("same-config-returns-at-once", _with(T, out="{tmp}/run"), 0, setup=_run_copy,
         unchanged=("{tmp}/run",)),
    Case("force-trains-anew", _with(T, lr=0.05, out="{tmp}/run") + ["--force"], 0,
         setup=_run_copy, check=_config),
    Case("finetune-into-a-train-run-refused", _with(FT, ckpt="{ckpt}", out="{tmp}/run"), 1,
         ("another configuration",), setup=_run_copy, unchanged=("{tmp}/run",)),
    Case("busy-folder", _with(T, out=R), 1, ("being written by another process", "--out"),
         setup=_hold_lock, check=_release_lock),
    Case("lock-file-is-a-symlink", _with(T, out=R), 1, ("symbolic link",),
         setup=_symlinked_lock, unchanged=("{tmp}/victim",)),
    Case("garbage-train-state", _with(T, out=R), 1, ("train_state.safetensors", "--force"),
         setup=lambda tmp, fx: _state(tmp, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"),
         unchanged=(R,)),
    Case("truncated-train-state", _with(T, out=R), 1, ("train_state.safetensors", "delete it"),
         setup=_truncated, unchanged=(R,)),
    Case("truncated-train-state-forced", _with(T, out=R) + ["--force"], 0, setup=_truncated,
         absent=(f"{R}/train_state.safetensors",)),
    Case("damaged-model-json", _with(T, out="{tmp}/run"), 1, ("model.json", "damaged"),
         setup=lambda tmp, fx: (_run_copy(tmp, fx) / "model.json").write_text("{"),
         unchanged=("{tmp}/run",)),
    # --- checkpoint metadata that lies (item 7) ----------------------------------------------
    Case("ckpt-unknown-arch-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors", "unknown arch"),
         setup=lambda tmp, fx: _lie(tmp, fx, arch="resnet9000")),
    Case("ckpt-class-count-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors", "does not match its weights"),
         setup=lambda tmp, fx: _lie(tmp, fx, num_classes=1000,
                                    classes=[str(i) for i in range(1000)])),
    Case("ckpt-classes-list-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors", "classes"),
         setup=lambda tmp, fx: _lie(tmp, fx, num_classes=3)),
    Case("ckpt-width-1e6-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors",), setup=lambda tmp, fx: _lie(tmp, fx, width=1e6)),
    Case("ckpt-width-4-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors", "does not match its weights"),
         setup=lambda tmp, fx: _lie(tmp, fx, width=4.0)),
    Case("ckpt-std-zero-eval", ["eval", "--ckpt", "{tmp}/lie.safetensors"], 1,
         ("lie.safetensors", "std"), setup=lambda tmp, fx: _lie(tmp, fx, std=[0, 0, 0])),
    Case("ckpt-lies-finetune", _with(FT, ckpt="{tmp}/lie.safetensors", out=R), 1,
         ("lie.safetensors", "does not match its weights"), absent=(R,),
         setup=lambda tmp, fx: _lie(tmp, fx, width=2.0)),
    Case("ckpt-unknown-arch-finetune", _with(FT, ckpt="{tmp}/lie.safetensors", out=R), 1,
         ("lie.safetensors", "unknown arch"), absent=(R,),
         setup=lambda tmp, fx: _lie(tmp, fx, arch="resnet9000")),
    Case("ckpt-truncated-finetune", _with(FT, ckpt="{tmp}/cut.safetensors", out=R), 1,
         ("cut.safetensors",), absent=(R,),
         setup=lambda tmp, fx: (tmp / "cut.safetensors").write_bytes(
             Path(fx["ckpt"]).read_bytes()[:5000])),
]
if not torch.cuda.is_available():
    CASES.append(Case("device-cuda-without-gpu", _with(T, device="cuda", out=R), 2,
                      ("--device", "cuda", "not available"), absent=(R,)))
if os.geteuid() != 0:  # root writes into read-only folders anyway
    CASES.append(Case("out-read-only", _with(T, out="{tmp}/ro/r"), 2, ("--out", "writable"),
                      setup=lambda tmp, fx: (tmp / "ro").mkdir(mode=0o555),
                      absent=("{tmp}/ro/r",)))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile(case, tmp_path, fx):
    run_case(case, tmp_path, fx)


# --- unit tests ---------------------------------------------------------------------------


def _cfg(**kw):
    from noisymix.train import TrainConfig

    base = dict(dataset="digits", width=0.0625, method="erm", epochs=2, batch_size=32,
                train_subset=64, seed=0, device="cpu", num_workers=0, progress=False)
    return TrainConfig(**{**base, **kw})


def test_divergence_stops_with_the_last_good_state(tmp_path, monkeypatch):
    from noisymix.errors import DivergenceError
    from noisymix.methods.erm import ERM
    from noisymix.train import train

    real, calls = ERM.loss, []

    def nan_in_epoch_2(self, model, x, y):
        calls.append(1)
        loss = real(self, model, x, y)
        return loss * float("nan") if len(calls) == 4 else loss  # epoch 2, step 2

    monkeypatch.setattr(ERM, "loss", nan_in_epoch_2)
    out = tmp_path / "r"
    with pytest.raises(DivergenceError, match=r"non-finite loss at step 2 of 2 of epoch 2;.*"
                                              r"\(epoch 1\) stays in"):
        train(_cfg(), out)
    assert not (out / "model.safetensors").exists() and not (out / "model.json").exists()
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] \
        == [1]
    from noisymix.checkpoint import state_info

    assert state_info(out / "train_state.safetensors")["epoch"] == 1
    assert not (out / ".noisymix.lock").exists()
    monkeypatch.setattr(ERM, "loss", real)  # the kept state resumes
    meta = train(_cfg(), out)
    assert meta["epochs"] == 2 and [r["epoch"] for r in meta["train_metrics"]] == [1, 2]


def test_divergence_in_the_first_epoch_leaves_no_folder(tmp_path, monkeypatch):
    from noisymix.errors import DivergenceError
    from noisymix.methods.erm import ERM
    from noisymix.train import train

    real = ERM.loss
    monkeypatch.setattr(ERM, "loss", lambda self, m, x, y: real(self, m, x, y) * float("inf"))
    with pytest.raises(DivergenceError, match="step 1 of 2 of epoch 1.*no state was kept"):
        train(_cfg(), tmp_path / "a" / "r")
    assert not (tmp_path / "a").exists()


def test_non_finite_weights_stop_the_run(tmp_path, monkeypatch):
    from noisymix.errors import DivergenceError
    from noisymix.methods.erm import ERM
    from noisymix.train import train

    real = ERM.loss

    def poison(self, model, x, y):  # a NaN in BN statistics: the train-mode loss stays finite
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        bn.running_mean.fill_(float("nan"))
        return real(self, model, x, y)

    monkeypatch.setattr(ERM, "loss", poison)
    with pytest.raises(DivergenceError, match="non-finite weights at the end of epoch 1"):
        train(_cfg(epochs=1), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_lock_held_by_another_process(tmp_path):
    from noisymix.errors import BusyError
    from noisymix.train import train

    out = tmp_path / "r"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys\n"
         f"fd = os.open({str(out / '.noisymix.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BusyError, match=rf"{out}.*another process \(pid {holder.pid}\)"):
            train(_cfg(epochs=1), out)
        assert sorted(p.name for p in out.iterdir()) == [".noisymix.lock"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert train(_cfg(epochs=1), out)["epochs"] == 1  # free again
    assert not (out / ".noisymix.lock").exists()


def test_two_configs_never_mix_and_resume_still_works(tmp_path):
    from noisymix.checkpoint import CheckpointError, save_state
    from noisymix.train import train

    out = tmp_path / "r"
    a, b = _cfg(epochs=1), _cfg(epochs=1, lr=0.05)
    # a state of configuration a (as a crash leaves it) refuses b, and lets a resume
    save_state(out / "train_state.safetensors", {"config_hash": a.config_hash(), "epoch": 0,
                                                 "model": {}, "optimizer": {}})
    with pytest.raises(CheckpointError, match=r"train_state.safetensors: config hash"):
        train(b, out)
    shutil.rmtree(out)
    train(a, out)
    before = (out / "model.json").read_text()
    with pytest.raises(CheckpointError, match="--force"):
        train(b, out)
    assert (out / "model.json").read_text() == before
    # a model whose JSON is gone still names its configuration (safetensors header)
    (out / "model.json").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: config hash"):
        train(b, out)
    assert train(b, out, force=True)["config"]["lr"] == 0.05


def test_labels_out_of_range_are_refused(tmp_path, monkeypatch):
    import dataclasses

    import noisymix.train as train_mod
    from noisymix.data import load_dataset
    from noisymix.errors import InputError

    real = load_dataset("digits", "train")
    bad = dataclasses.replace(real, labels=real.labels.copy())
    bad.labels[3] = 10
    monkeypatch.setattr(train_mod, "load_dataset", lambda *a, **k: bad)
    with pytest.raises(InputError, match=r"labels span 0\.\.10 .* 10 classes"):
        train_mod.train(_cfg(epochs=1, train_subset=None), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_finetune_from_a_checkpoint_without_config_hash(tmp_path, fx):
    """Imported checkpoints (noisymix import) carry no config hash: the file's sha256 counts."""
    from noisymix.finetune import finetune

    src = _lie(tmp_path, fx, name="imported", drop=("config_hash", "classes", "config"))
    meta = finetune(src, "digits04", tmp_path / "ft", epochs=1, batch_size=32, train_subset=32,
                    device="cpu", progress=False)
    assert len(meta["source"]["config_hash"]) == 16


@pytest.mark.parametrize("method", ["erm", "mixup", "cutmix", "puzzlemix", "noisymix"])
def test_schema_mirrors_the_scheme_declarations(method):
    """params.schema.yaml's hparams_* entries are the schemes' declarations (paste the
    printed YAML into the schema after changing a scheme's fields or LIMITS)."""
    import yaml

    from noisymix.config import load_schema
    from noisymix.methods import list_schemes
    from noisymix.methods.base import hparams_schema

    schema = load_schema()
    refs = schema["$defs"]["profile"]["properties"]["method_params"]["properties"]
    assert set(refs) == set(list_schemes())
    for name in list_schemes():
        have = schema["$defs"][refs[name]["$ref"].rsplit("/", 1)[-1]]
        want = hparams_schema(name)
        assert have == want, f"{name}:\n" + yaml.safe_dump(want, sort_keys=False)


def test_schema_width_bound_is_the_cli_one():
    from noisymix.config import load_schema
    from noisymix.train import MAX_WIDTH

    schema = load_schema()
    assert schema["$defs"]["profile"]["properties"]["width"]["maximum"] == MAX_WIDTH
    assert schema["properties"]["smoke"]["properties"]["width"]["maximum"] == MAX_WIDTH


def test_every_numeric_hyper_parameter_has_limits():
    import dataclasses

    from noisymix.methods import list_schemes, scheme_class

    for name in list_schemes():
        cls = scheme_class(name)
        for f in dataclasses.fields(cls):
            if f.name != "seed" and not isinstance(f.default, bool):
                assert f.name in cls.LIMITS, f"{name}.{f.name} has no Limit"
            if f.name in cls.LIMITS and f.default is not dataclasses.MISSING:
                default = f.default
                assert all(cls.LIMITS[f.name].allows(v) for v in (
                    default if isinstance(default, tuple) else (default,))), (name, f.name)


def test_params_yaml_fails_at_parse_time(tmp_path):
    """A typo'd or out-of-range hyper-parameter fails where Snakemake validates params.yaml
    (the Snakefile's validate(), before any job), and noisymix.config's load, torch-free."""
    import yaml

    from noisymix.config import SCHEMA_PATH, ConfigError, load_config

    for key, value, words in (("add_lvl", 0.1, "add_lvl"), ("sparse_level", 5, "sparse_level"),
                              ("jsd", "maybe", "jsd"), ("alpha", float("nan"), "alpha")):
        _typo_params(tmp_path, {}, key, value)
        with pytest.raises(ConfigError, match=words):
            load_config(tmp_path / "params.yaml", check_hparams=False)
        if value == value:  # JSON Schema cannot see NaN; noisymix.config can
            from snakemake.exceptions import WorkflowError
            from snakemake.utils import validate

            with pytest.raises(WorkflowError):
                validate(copy.deepcopy(yaml.safe_load((tmp_path / "params.yaml").read_text())),
                         str(SCHEMA_PATH))


def test_scheme_values_checked_when_built_in_python():
    from noisymix.errors import UsageError
    from noisymix.methods import create_scheme

    with pytest.raises(UsageError, match="alpha=-1"):
        create_scheme("mixup", alpha=-1)
    s = create_scheme("noisymix", mix_layers=[0, 2], severity=3.0)
    assert s.mix_layers == (0, 2) and s.severity == 3 and isinstance(s.severity, int)


def test_cli_force_flag_is_documented():
    from noisymix.cli import main

    r = CliRunner().invoke(main, ["train", "--help"])
    assert "--force" in r.output
