import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from noisymix.checkpoint import CheckpointError, load_model, read_metadata, save_model
from noisymix.cli import main
from noisymix.methods import list_schemes
from noisymix.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", list_schemes())
def test_every_scheme_trains_one_epoch_on_digits(method, tmp_path):
    out = tmp_path / method
    res = _cli("train", "--dataset", "digits", "--arch", "preactresnet18", "--width", "0.125",
               "--method", method, "--epochs", "1", "--seed", "0", "--out", str(out))
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == method and meta["epochs"] == 1 and meta["num_classes"] == 10
    assert meta["arch"] == "preactresnet18" and meta["width"] == 0.125
    assert meta["mean"] == [0.5] * 3 and meta["dataset"] == "digits" and meta["seed"] == 0
    assert set(meta["versions"]) == {"noisymix", "torch", "torchvision"}
    assert len(meta["config_hash"]) == 16 and "git_commit" in meta
    assert meta["config"]["method_params"]  or method in ("erm",)
    assert not (out / "train_state.safetensors").exists()
    res = _cli("eval", "--ckpt", str(out / "model.safetensors"), "--json", str(out / "e.json"))
    assert res.exit_code == 0 and "clean" in res.output and "accuracy" in res.output
    assert 0 <= json.loads((out / "e.json").read_text())["clean_accuracy"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("method", list_schemes())
def test_training_loss_falls(method, tmp_path):
    cfg = TrainConfig(dataset="digits", width=0.125, method=method, epochs=4, batch_size=32,
                      lr=0.05, train_subset=256, seed=1, progress=False)
    losses = [r["loss"] for r in train(cfg, tmp_path)["train_metrics"]]
    # PuzzleMix keeps the reference's BCE(softmax) objective, averaged over the K classes:
    # its values and gradients are ~K times smaller than cross-entropy's, so it moves less.
    factor = 0.99 if method == "puzzlemix" else 0.95
    assert len(losses) == 4 and losses[-1] < factor * losses[0], losses
    assert all(b < a for a, b in zip(losses, losses[1:])) or method != "puzzlemix", losses


def test_checkpoint_round_trip(tmp_path, tiny_model):
    meta = {"arch": "preactresnet18", "width": 0.125, "num_classes": 10,
            "mean": [0.5] * 3, "std": [0.5] * 3, "dataset": "digits"}
    tiny_model.eval()
    save_model(tmp_path / "m.safetensors", tiny_model, meta)
    model, meta2 = load_model(tmp_path / "m.safetensors")
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(model(x), tiny_model(x))
    assert meta2 == meta == json.loads((tmp_path / "m.json").read_text())


def test_foreign_files_are_refused_not_unpickled(tmp_path):
    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(b"\x80\x04K\x01.")  # a pickle, not a safetensors file
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_metadata(bad)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(plain))
    with pytest.raises(CheckpointError, match="no noisymix metadata"):
        load_model(plain)
    res = CliRunner().invoke(main, ["eval", "--ckpt", str(tmp_path / "missing.safetensors")])
    assert res.exit_code == 1 and "not found" in res.output


@pytest.mark.parametrize("flag,value,msg", [  # click choices list what is allowed
    ("--method", "noisemix", "'noisemix' is not one of"),
    ("--arch", "resnet9000", "'resnet9000' is not one of"),
    ("--dataset", "mnist", "'mnist' is not one of"),
])
def test_cli_bad_names_are_one_clear_error(flag, value, msg, tmp_path):
    args = {"--dataset": "digits", "--method": "erm", "--arch": "preactresnet18", flag: value}
    cmd = ["train", "--epochs", "1", "--out", str(tmp_path)]
    for k, v in args.items():
        cmd += [k, v]
    res = CliRunner().invoke(main, cmd)
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output


def test_cli_missing_dataset_names_the_fix(tmp_path):
    res = CliRunner().invoke(main, ["train", "--dataset", "cifar10", "--epochs", "1",
                                    "--data-root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--download" in res.output


def test_changed_config_in_same_dir_is_refused(tmp_path):
    base = dict(dataset="digits", width=0.0625, method="erm", epochs=1, train_subset=64,
                batch_size=32, progress=False)
    train(TrainConfig(**base), tmp_path)
    assert train(TrainConfig(**base), tmp_path)["epochs"] == 1  # finished: returns at once
    with pytest.raises(CheckpointError, match="another configuration"):
        train(TrainConfig(**{**base, "lr": 0.05}), tmp_path)


def _train_cmd(out: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "noisymix", "train", "--dataset", "digits", "--width",
            "0.125", "--method", "noisymix", "--epochs", str(epochs), "--seed", "0",
            "--train-subset", "600", "--batch-size", "50", "--no-progress", "--out", str(out)]


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_and_matches_uninterrupted(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_train_cmd(ref, 3), env=env, check=True, capture_output=True)

    proc = subprocess.Popen(_train_cmd(run, 3), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "train_state.safetensors").exists():
        assert time.time() < deadline and proc.poll() is None, "no training state written"
        time.sleep(0.05)
    time.sleep(0.5)  # well inside epoch 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "model.safetensors").exists()
    lines_before = (run / "metrics.jsonl").read_text().splitlines()
    assert 1 <= len(lines_before) <= 2

    subprocess.run(_train_cmd(run, 3), env=env, check=True, capture_output=True)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_trains_on_an_imagefolder_tree(tmp_path):
    """The ImageNet path: ImageFolder decoding + RandomResizedCrop in the loader, NoisyMix on
    the device, torchvision ResNet-50 (narrow) — and deterministic eval on val/."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k, wnid in enumerate(("n01440764", "n01443537")):
            d = tmp_path / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for i in range(3):
                img = rng.integers(0, 80, (60, 70, 3), dtype=np.uint8) + 150 * k
                Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.JPEG")
    out = tmp_path / "run"
    cfg = TrainConfig(dataset="imagenet", arch="resnet50", width=0.0625, method="noisymix",
                      epochs=1, batch_size=4, data_root=str(tmp_path), num_workers=0,
                      progress=False)
    meta = train(cfg, out)
    assert meta["num_classes"] == 2 and meta["classes"] == ["n01440764", "n01443537"]
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406])
    from noisymix.evaluate import clean_accuracy

    res = clean_accuracy(out / "model.safetensors", data_root=str(tmp_path), device="cpu")
    assert res["images"] == 6 and 0 <= res["accuracy"] <= 1
