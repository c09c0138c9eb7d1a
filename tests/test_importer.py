"""noisymix import: public checkpoints → run folders, offline on local fixture weight files."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from noisymix.checkpoint import load_model
from noisymix.cli import main
from noisymix.errors import InputError
from noisymix.importer import import_checkpoint, read_state_dict
from noisymix.models import create_model
from noisymix.vocab import TEST_CORRUPTIONS
from noisymix.zoo import ZOO


def _official_file(tmp_path, arch="preactresnet18", classes=10, prefix="module."):
    torch.manual_seed(0)
    net = create_model(arch, classes, 1.0).net
    path = tmp_path / "release.pth"
    torch.save({"epoch": 90, "state_dict": {prefix + k: v for k, v in net.state_dict().items()}},
               path)
    return net, path


def test_file_round_trips_to_the_same_logits(tmp_path):
    net, path = _official_file(tmp_path)
    out = import_checkpoint(tmp_path / "run", file=path, arch="preactresnet18", num_classes=10,
                            method="augmix", source="https://example.org/release.pth")
    model, meta = load_model(out)
    x = torch.rand(4, 3, 32, 32)
    ref = net.eval()(model.normalize(x))
    assert torch.allclose(model(x), ref, atol=1e-5)
    info = json.loads((tmp_path / "run" / "model.json").read_text())["imported"]
    assert info["source"] == "https://example.org/release.pth"
    assert len(info["sha256"]) == 64 and info["checksum"].startswith("unverified")
    assert meta["method"] == "augmix" and meta["dataset"] == "imagenet"


def test_resnet50_release_layout_imports(tmp_path):
    net, path = _official_file(tmp_path, "resnet50", 1000, prefix="module.")
    out = import_checkpoint(tmp_path / "run", file=path, arch="resnet50")
    model, _ = load_model(out)
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(model(x), net.eval()(model.normalize(x)), atol=1e-4)


def test_wrong_checksum_is_refused_and_writes_nothing(tmp_path):
    _, path = _official_file(tmp_path)
    with pytest.raises(InputError, match="sha256"):
        import_checkpoint(tmp_path / "run", file=path, arch="preactresnet18", num_classes=10,
                          sha256="0" * 64)
    assert not (tmp_path / "run" / "model.safetensors").exists()


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PAYLOAD_RAN",))


def test_pickle_payload_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": _Payload()}))
    with pytest.raises(InputError, match="will not unpickle"):
        read_state_dict(path)
    assert not (tmp_path / "PAYLOAD_RAN").exists()


def test_wrong_arch_is_named(tmp_path):
    _, path = _official_file(tmp_path)
    with pytest.raises(InputError, match="does not fit arch 'resnet50'"):
        import_checkpoint(tmp_path / "run", file=path, arch="resnet50", num_classes=10)


def test_torchvision_entry_checks_the_published_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    cached.parent.mkdir(parents=True)
    _, path = _official_file(tmp_path, "resnet50", 1000, prefix="")
    cached.write_bytes(path.read_bytes())  # right layout, but not the published bytes
    with pytest.raises(InputError, match="0676ba61"):
        import_checkpoint(tmp_path / "run", entry="resnet50-torchvision", progress=False)


def test_cli_import_then_eval_like_a_trained_run(tmp_path):
    _, path = _official_file(tmp_path)
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["import", "--file", str(path), "--arch", "preactresnet18",
                                  "--num-classes", "10", "--out", str(run)])
    assert r.exit_code == 0, r.output
    cset = tmp_path / "c"
    r = CliRunner().invoke(main, ["corrupt", "--dataset", "digits", "--limit", "4", "--corruptions",
                                  ",".join(TEST_CORRUPTIONS), "--device", "cpu", "--out", str(cset)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", "--ckpt", str(run / "model.safetensors"),
                                  "--benchmark", str(cset), "--device", "cpu",
                                  "--out", str(tmp_path / "rows.parquet")])
    assert r.exit_code == 0, r.output
    rows = pd.read_parquet(tmp_path / "rows.parquet")
    assert set(rows.method) == {"imported"} and (rows.n_images > 0).all()
    r = CliRunner().invoke(main, ["import", "--entry", "resnet50-augmix", "--out", str(run)])
    assert r.exit_code == 2 and "--file" in r.output


def test_zoo_lists_checksum_status():
    assert ZOO["resnet50-torchvision"].sha256_prefix == "0676ba61"
    assert all(e.checksum_status for e in ZOO.values())
    assert {e.method for e in ZOO.values()} >= {"erm", "augmix", "sin", "adversarial",
                                                 "noisymix", "alexnet"}


# --- smoke scale: the zoo entries' stand-ins from the fixture mirror ---------------------------

def test_fixture_mirror_weights_import_for_every_zoo_entry_and_are_reproducible(tmp_path):
    from noisymix.fixtures import write_fixtures

    names = ["zoo-alexnet-torchvision", "zoo-resnet50-augmix", "zoo-resnet50-adversarial-linf"]
    mirror = write_fixtures(tmp_path / "a", names)
    again = write_fixtures(tmp_path / "b", names)
    assert json.loads(mirror.read_text())["datasets"] == json.loads(again.read_text())["datasets"]
    for entry in ("alexnet-torchvision", "resnet50-augmix", "resnet50-adversarial-linf"):
        out = tmp_path / "runs" / entry
        import_checkpoint(out, entry=entry, mirror=mirror, width=0.0625, num_classes=200)
        meta = json.loads((out / "model.json").read_text())
        assert meta["arch"] == ZOO[entry].arch and meta["width"] == 0.0625
        assert meta["imported"]["checksum"] == "verified (full sha256)"
        assert meta["imported"]["source"].startswith("mirror ")
        model, _ = load_model(out / "model.safetensors")
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 200)  # AlexNet needs >= 63 px


def test_mirror_file_with_another_checksum_is_refused(tmp_path):
    from noisymix.fixtures import write_fixtures

    mirror = write_fixtures(tmp_path / "m", ["zoo-resnet50-sin"])
    (f,) = (tmp_path / "m" / "files" / "zoo-resnet50-sin").glob("*.pth")
    f.write_bytes(f.read_bytes() + b"x")
    with pytest.raises(InputError, match="sha256"):
        import_checkpoint(tmp_path / "run", entry="resnet50-sin", mirror=mirror, width=0.0625,
                          num_classes=200)
    assert not (tmp_path / "run" / "model.safetensors").exists()
