"""Fine-tuning for transfer (Table 5): new head, all layers trained, resumable, recorded."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from noisymix.checkpoint import CheckpointError, load_model
from noisymix.finetune import default_milestones, finetune, head_name, load_backbone
from noisymix.models import create_model
from noisymix.train import TrainConfig, train

ARCH, WIDTH = "preactresnet18", 0.0625


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("src")
    cfg = TrainConfig(dataset="digits", arch=ARCH, width=WIDTH, method="erm", epochs=1,
                      batch_size=32, lr=0.05, train_subset=256, device="cpu", progress=False)
    meta = train(cfg, out)
    return out / "model.safetensors", meta


def test_load_backbone_copies_all_but_head_and_normalisation(source):
    path, meta = source
    src = load_file(str(path))
    torch.manual_seed(123)
    model = create_model(ARCH, 7, WIDTH, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    fresh_head = model.net.fc.weight.detach().clone()
    info = load_backbone(model, path)
    assert head_name(model) == "net.fc" and model.net.fc.weight.shape[0] == 7
    assert torch.equal(model.net.fc.weight, fresh_head)
    state = model.state_dict()
    copied = [k for k in src if not k.startswith(("net.fc.", "normalize."))]
    assert copied and all(torch.equal(state[k], src[k]) for k in copied)
    assert state["normalize.mean"].flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert info["source"]["config_hash"] == meta["config_hash"]
    assert info["method"] == "erm"
    with pytest.raises(CheckpointError, match="does not fit"):
        load_backbone(create_model(ARCH, 10, 2 * WIDTH), path)


def test_default_milestones():
    assert default_milestones(150) == (50, 100)
    assert default_milestones(3) == (1, 2)
    assert default_milestones(1) == ()


def test_finetune_digits_to_fashion_mnist(source, tmp_path):
    from noisymix.cli import main
    from noisymix.data import DatasetError, load_dataset
    from noisymix.evaluate import accuracy, iter_batches, predict_logits

    try:
        test = load_dataset("fashion-mnist", "test")
    except DatasetError:
        pytest.skip("fashion-mnist is not installed (Debian package dataset-fashion-mnist)")
    path, src_meta = source
    out = tmp_path / "ft"
    args = ["finetune", "--ckpt", str(path), "--dataset", "fashion-mnist", "--train-subset",
            "512", "--epochs", "3", "--lr", "0.1", "--milestones", "2", "--batch-size", "64", "--seed", "0",
            "--device", "cpu", "--no-progress", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["dataset"] == "fashion-mnist" and meta["num_classes"] == 10
    assert meta["source"] == {**meta["source"], "config_hash": src_meta["config_hash"],
                              "dataset": "digits", "method": "erm", "checkpoint": str(path)}
    assert meta["config"]["init_from"] == src_meta["config_hash"]
    assert meta["config"]["lr_milestones"] == [2] and meta["config"]["method"] == "erm"
    assert [round(r["lr"], 8) for r in meta["train_metrics"]] == [0.1, 0.01, 0.01]

    model, _ = load_model(out / "model.safetensors")
    assert model.net.fc.out_features == len(test.classes) == 10
    # every layer was trained: the first conv moved away from the source's
    src = load_file(str(path))
    assert not torch.equal(model.state_dict()["net.conv1.weight"], src["net.conv1.weight"])
    logits = predict_logits(model, iter_batches(test.images[:500], 250, torch.device("cpu")))
    assert accuracy(logits, test.labels[:500]) > 0.2  # chance is 0.10 (measured: 0.32)

    # a rerun finds the finished model and returns at once
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and json.loads((out / "model.json").read_text()) == meta


def test_transfer_transforms_give_224_px_batches_like_torchvision():
    """The official transfer code: RandomResizedCrop(224) + flip for training, Resize(256) +
    CenterCrop(224) for testing; CIFAR's 32 px are upsampled."""
    from torchvision.transforms import v2

    from noisymix.augment import random_resized_crop_flip, resize_center_crop

    x = torch.rand(6, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    y = random_resized_crop_flip(x, 224, g)
    assert y.shape == (6, 3, 224, 224)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    # the whole image at ratio 1 is a plain bilinear resize, flipped or not
    whole = random_resized_crop_flip(x, 224, g, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    plain = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear",
                                            align_corners=False)
    for a, b in zip(whole, plain):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, b.flip(-1), atol=1e-5)
    # box widths as torchvision draws them: a horizontal ramp's 16-px crop spans the box
    # width less half an output pixel at each side (× 15/16); oracle: torchvision's sampler
    ramp = torch.linspace(0, 1, 256).expand(2000, 3, 256, 256).contiguous()
    crops = random_resized_crop_flip(ramp, 16, g)
    spans = crops.amax((1, 2, 3)) - crops.amin((1, 2, 3))
    widths = [v2.RandomResizedCrop.get_params(ramp[0], [0.08, 1.0], [3 / 4, 4 / 3])[3] / 256
              for _ in range(4000)]
    assert abs(float(spans.mean()) - sum(widths) / len(widths) * 15 / 16) < 0.02
    test = resize_center_crop(x, 224)
    ref = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(x)
    assert test.shape == (6, 3, 224, 224) and torch.allclose(test, ref, atol=1e-5)


def test_finetune_at_another_size_is_evaluated_through_the_test_transform(tmp_path):
    from noisymix.checkpoint import read_metadata
    from noisymix.robustness import evaluate

    src = tmp_path / "src"
    train(TrainConfig(dataset="digits04", width=0.0625, method="erm", epochs=1,
                      train_subset=64, batch_size=32, progress=False), src)
    meta = finetune(src / "model.safetensors", "digits59", tmp_path / "ft", epochs=1,
                    batch_size=16, train_subset=32, image_size=40, progress=False)
    assert meta["input_size"] == 40 and meta["config"]["image_size"] == 40
    assert read_metadata(tmp_path / "ft" / "model.safetensors")["input_size"] == 40
    rows = evaluate(tmp_path / "ft" / "model.safetensors", ["clean"], device="cpu", limit=16)
    assert (rows.query("metric == 'accuracy'").n_images == 16).all()
