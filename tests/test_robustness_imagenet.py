"""ImageNet-style benchmarks through noisymix eval: -C folder tree, -P videos, -R mask."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from noisymix.benchmarks.readers import IMAGENET_R_WNIDS
from noisymix.checkpoint import save_model
from noisymix.corruptions.writer import corrupt_image_folder
from noisymix.robustness import detect_layout, evaluate

WNIDS = ["n01440764", "n01443537"]


class _ColourNet(torch.nn.Module):
    """Predicts class 1 for bright images, class 0 for dark ones (any input size)."""

    def __init__(self, classes):
        super().__init__()
        self.layer1, self.layer2, self.layer3 = (torch.nn.Identity() for _ in range(3))
        self.w = torch.nn.Parameter(torch.zeros(len(classes)))
        self.w.data[1] = 1.0

    def forward(self, x):
        b = x.mean((1, 2, 3))[:, None]
        return b * self.w[None] * 10 - 5 * self.w[None] + 0 * x.sum()


def _ckpt(tmp_path, classes, monkeypatch):
    import noisymix.checkpoint as ck
    from noisymix.models import wrap_model

    model = wrap_model(_ColourNet(classes), mean=(0.0,) * 3, std=(1.0,) * 3)
    meta = {"arch": "colour", "width": 1.0, "num_classes": len(classes), "mean": [0.0] * 3,
            "std": [1.0] * 3, "dataset": "imagenet", "method": "erm", "seed": 0,
            "image_size": 64, "classes": classes}
    save_model(tmp_path / "m.safetensors", model, meta)
    real = ck.load_model

    def fake_load(path, device="cpu"):  # rebuild the toy architecture, then load weights
        from safetensors.torch import load_file
        m = wrap_model(_ColourNet(classes), mean=(0.0,) * 3, std=(1.0,) * 3)
        m.load_state_dict(load_file(str(path)))
        return m.to(device).eval(), ck.read_metadata(path)

    monkeypatch.setattr("noisymix.robustness.load_model", fake_load)
    del real
    return tmp_path / "m.safetensors"


def test_imagenet_c_folder_and_p_videos(tmp_path, monkeypatch):
    ckpt = _ckpt(tmp_path, WNIDS, monkeypatch)
    clean = tmp_path / "val"
    for k, w in enumerate(WNIDS):
        (clean / w).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((64, 80, 3), 40 + 170 * k, np.uint8)).save(clean / w / f"{i}.png")
    corrupt_image_folder(clean, tmp_path / "inc", preset="imagenet",
                         corruptions=["contrast", "brightness"], image_format="png", progress=False)
    assert detect_layout(tmp_path / "inc") == "c-folder"
    df = evaluate(ckpt, [str(tmp_path / "inc")], device="cpu", batch_size=4, allow_subset=True)
    assert df.subset.all() and set(df.benchmark_kind) == {"-c"}  # 2 of 15: a subset
    acc = df.query("metric == 'accuracy' and severity > 0")
    assert len(acc) == 10 and (acc.n_images == 6).all()
    # contrast pulls both classes to mid-grey at high severity; brightness makes all "bright"
    bright5 = acc.query("corruption == 'brightness' and severity == 5").value.item()
    assert bright5 == pytest.approx(0.5)
    # -P videos: a sequence whose brightness crosses the threshold flips once
    p = tmp_path / "inp" / "brightness"
    for k, w in enumerate(WNIDS):
        (p / w).mkdir(parents=True)
        vw = cv2.VideoWriter(str(p / w / "v.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
        for f in range(10):
            level = 40 + 18 * f if k == 0 else 220
            vw.write(np.full((64, 64, 3), level, np.uint8))
        vw.release()
    assert detect_layout(tmp_path / "inp") == "p-folder"
    df = evaluate(ckpt, [str(tmp_path / "inp")], device="cpu", allow_subset=True)
    fp = df.query("metric == 'flip_probability'").value.item()
    assert fp == pytest.approx((1 / 9 + 0) / 2)  # one flip in 9 transitions, then none


def test_imagenet_r_uses_the_200_class_mask(tmp_path, monkeypatch):
    others = [f"n9{i:07d}" for i in range(800)]
    classes = sorted(list(IMAGENET_R_WNIDS) + others)
    ckpt = _ckpt(tmp_path, classes, monkeypatch)
    root = tmp_path / "imagenet-r"
    for w in IMAGENET_R_WNIDS:
        (root / w).mkdir(parents=True)
        Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(root / w / "a.png")
    df = evaluate(ckpt, [str(root)], device="cpu", batch_size=50)
    row = df.query("metric == 'accuracy'")
    assert row.n_images.item() == 200 and row.benchmark.item() == "imagenet-r"
    # the net scores class index 1 of the *1000*-class list highest; restricted to the 200
    # classes the argmax is the ImageNet-R class at the mask position of that index, if any
    w1 = classes[1]
    expected = 1 / 200 if w1 in IMAGENET_R_WNIDS else 0.0
    assert row.value.item() == pytest.approx(expected)
