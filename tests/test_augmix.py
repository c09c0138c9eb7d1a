"""Batched AugMix (noisymix.augment.augmentations) against PIL, the reference's image backend.

Oracle: the reference (google-research/augmix, augmentations.py) applies each op with PIL
(ImageOps / Image.transform / Image.rotate / ImageEnhance) to uint8 images; we apply the same
op with the same concrete parameter to the same uint8 images and compare pixel values.

Images: real ones — sklearn digits (8×8) upscaled to 32×32, tinted differently per channel
over a vertical gradient so that the three channels and their histograms differ, and
Fashion-MNIST test images (28×28, tinted the same way) when /usr/share/datasets/fashion-mnist
is present.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

import noisymix.augment.augmentations as am
from noisymix.rng import Streams
from noisymix.augment.augmentations import (
    ALL_OPS,
    OPS,
    apply_op,
    augmix,
    level_to_magnitude,
    sample_plan,
)

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
TINTS = torch.tensor([[1.0, 0.25, 0.1], [0.3, 0.9, 0.2], [0.15, 0.45, 0.85], [0.8, 0.7, 0.3]])


def _tint(gray: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1] → (N, 3, H, W) RGB: per-image channel tint over a gradient."""
    n, _, h, _ = gray.shape
    ramp = torch.linspace(0, 1, h).view(1, 1, h, 1)
    col = TINTS[torch.arange(n) % len(TINTS)].view(n, 3, 1, 1)
    return (0.1 + 0.15 * ramp * col.flip(1) + 0.75 * gray * col).clamp(0, 1)


def _digits(n: int = 6, size: int = 32) -> torch.Tensor:
    from sklearn.datasets import load_digits

    g = torch.tensor(load_digits().images[:n] / 16.0, dtype=torch.float32)[:, None]
    g = torch.nn.functional.interpolate(g, size=size, mode="bilinear", align_corners=False)
    return _tint(g.clamp(0, 1))


def _fashion(n: int = 6) -> torch.Tensor:
    with gzip.open(FASHION, "rb") as f:
        raw = f.read(16 + n * 28 * 28)
    g = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    return _tint(torch.tensor(g / 255.0, dtype=torch.float32))


IMAGE_SETS = {"digits": _digits}
if FASHION.exists():
    IMAGE_SETS["fashion"] = _fashion


@pytest.fixture(scope="module", params=["digits", "fashion"])
def images(request) -> torch.Tensor:
    if request.param not in IMAGE_SETS:
        pytest.skip(f"{FASHION} not present")
    return IMAGE_SETS[request.param]()


def _pil_op(op: str, im: Image.Image, m: float) -> Image.Image:
    """The reference's PIL calls, with the concrete parameter m instead of a level."""
    size = im.size
    affine = {
        "shear_x": (1, m, 0, 0, 1, 0),
        "shear_y": (1, 0, 0, m, 1, 0),
        "translate_x": (1, 0, m, 0, 1, 0),
        "translate_y": (1, 0, 0, 0, 1, m),
    }
    if op == "autocontrast":
        return ImageOps.autocontrast(im)
    if op == "equalize":
        return ImageOps.equalize(im)
    if op == "posterize":
        return ImageOps.posterize(im, int(m))
    if op == "solarize":
        return ImageOps.solarize(im, int(m))
    if op == "rotate":
        return im.rotate(m, resample=Image.BILINEAR)
    if op in affine:
        return im.transform(size, Image.AFFINE, affine[op], resample=Image.BILINEAR)
    return getattr(ImageEnhance, op.capitalize())(im).enhance(m)


# Several parameters per op, negative signs included; the reference's ranges at severity 3
# plus the extremes of severity 10 and a few non-integer / off-grid values.
PARAMS = {
    "autocontrast": [0.0],
    "equalize": [0.0],
    "posterize": [1, 3, 4, 8],
    "solarize": [0, 128, 180, 256],
    "rotate": [-30, -8, -1, 4, 17.5, 90],
    "shear_x": [-0.3, -0.09, 0.03, 0.27],
    "shear_y": [-0.21, 0.15, 0.3],
    "translate_x": [-10, -3, 2.5, 7],
    "translate_y": [-9, 1, 4.25],
    "color": [0.1, 0.64, 1.3, 1.9],
    "contrast": [0.1, 0.7, 1.9],
    "brightness": [0.1, 0.5, 1.9],
    "sharpness": [0.1, 0.55, 1.9],
}


@pytest.mark.parametrize("op", ALL_OPS)
def test_op_matches_pil(op, images):
    u8 = torch.round(images * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for m in PARAMS[op]:
        # float64 magnitudes: PIL takes Python floats, and a float32 shear of 0.3 is a
        # different shear (it moves ~1.6% of pixels by one level).
        ours = apply_op(images, op, torch.full((len(images),), float(m), dtype=torch.float64))
        assert ours.shape == images.shape and ours.dtype == torch.float32
        ours = torch.round(ours * 255).to(torch.int64).permute(0, 2, 3, 1).numpy()
        ref = np.stack([np.asarray(_pil_op(op, Image.fromarray(a), m)) for a in u8])
        diff = np.abs(ours - ref.astype(np.int64))
        if op == "rotate":
            # rotate's matrix goes through cos/sin, whose last bit may differ between libms;
            # PIL truncates, so such a bit can flip a pixel by one level.
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (op, m)
        else:
            # everything else is the same integer / float64 / float32 arithmetic as PIL's
            assert diff.max() == 0, (op, m, diff.max(), (diff > 0).mean())


def test_per_sample_parameters_and_quantisation():
    """Each image gets its own magnitude; inputs off the uint8 grid are rounded first."""
    x = _digits(4)
    mags = torch.tensor([-7.0, 0.0, 3.0, 9.0])
    batched = apply_op(x, "rotate", mags)
    for i in range(4):
        assert torch.equal(batched[i : i + 1], apply_op(x[i : i + 1], "rotate", mags[i : i + 1]))
    xq = torch.round(x * 255) / 255
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) - 0.5
    jitter = (xq + 0.9 * noise / 255).clamp(0, 1)  # stays within half a level of xq
    assert not torch.equal(jitter, xq)
    assert torch.equal(apply_op(jitter, "equalize"), apply_op(xq, "equalize"))


def test_level_to_magnitude_matches_reference_formulas():
    gen = torch.Generator().manual_seed(1)
    level = 0.1 + 9.9 * torch.rand(5000, generator=gen, dtype=torch.float64)
    neg = torch.rand(5000, generator=gen) > 0.5
    ref = {
        "rotate": lambda v: int(v * 30 / 10),
        "posterize": lambda v: 4 - int(v * 4 / 10),
        "solarize": lambda v: 256 - int(v * 256 / 10),
        "translate_x": lambda v: int(v * (32 / 3) / 10),
        "shear_y": lambda v: v * 0.3 / 10,
        "contrast": lambda v: v * 1.8 / 10 + 0.1,
    }
    for op, f in ref.items():
        got = level_to_magnitude(op, level, neg, (32, 32))
        want = torch.tensor([f(v) for v in level.tolist()], dtype=torch.float64)
        if op in ("rotate", "translate_x", "shear_y"):
            want = torch.where(neg, -want, want)
        assert torch.allclose(got, want, rtol=0, atol=1e-12), op


def test_vectorised_magnitudes_equal_per_op_map():
    """augmix maps the levels of all applications at once (ops gathered per application);
    each must equal level_to_magnitude of its own op bit for bit."""
    gen = torch.Generator().manual_seed(2)
    for ops in (OPS, ALL_OPS):
        choice = torch.randint(0, len(ops), (3, 400), generator=gen)
        level = 0.1 + 9.9 * torch.rand((3, 400), generator=gen, dtype=torch.float64)
        neg = torch.rand((3, 400), generator=gen) > 0.5
        mags = am._magnitudes(ops, choice, level, neg, (28, 36))
        for k, op in enumerate(ops):
            sel = choice == k
            assert torch.equal(mags[sel], level_to_magnitude(op, level[sel], neg[sel], (28, 36)))


@pytest.mark.parametrize("all_ops", [False, True])
def test_fused_chains_equal_grouped_chains(all_ops):
    """The GPU engine (every kind of op on every chain, identities where a chain's op is of
    another kind) gives the CPU engine's chains (each op on the chains that chose it, checked
    against PIL above) bit for bit; run here on the CPU, at severities 3 and 10."""
    ops = ALL_OPS if all_ops else OPS
    x = _digits(12, size=20)[:, :, :, 2:]  # 20×18: unequal sides
    for severity in (3, 10):
        plan = sample_plan(Streams.for_items(severity, "fused", indices=range(12)),
                           severity=severity, n_ops=len(ops))
        choice, n = plan["choice"], plan["choice"].shape[1]
        mags = am._magnitudes(ops, choice, plan["level"], plan["negate"], (20, 18))
        steps = torch.arange(len(choice)).view(-1, 1)
        key = torch.where(plan["depths"].view(1, n) > steps, choice, len(ops))
        q = am._quantise(x)
        assert torch.equal(am._chains_fused(q, ops, key, mags),
                           am._chains_grouped(q, ops, key, mags))


def test_memory_format_does_not_matter():
    """Channels-last (or NHWC-permuted) batches, as the GPU training loop passes them, give
    the same pixels as contiguous ones, and augmix keeps the input's memory format."""
    x = _digits(4)
    cl = x.contiguous(memory_format=torch.channels_last)
    for op in ALL_OPS:
        m = torch.full((4,), float(PARAMS[op][-1]), dtype=torch.float64)
        assert torch.equal(apply_op(cl, op, m), apply_op(x, op, m)), op
    out = augmix(cl, torch.Generator().manual_seed(1), all_ops=True)
    assert torch.equal(out, augmix(x, torch.Generator().manual_seed(1), all_ops=True))
    assert out.is_contiguous(memory_format=torch.channels_last)


def _record_ops(monkeypatch):
    """Wrap the op dispatcher to log (op, magnitudes) of every batched application."""
    log = []
    real = am._apply_u8

    def spy(q, op, mag):
        log.append((op, mag.clone()))
        return real(q, op, mag)

    monkeypatch.setattr(am, "_apply_u8", spy)
    return log


@pytest.mark.parametrize("bsz", [1, 5, 7])
def test_augmix_shape_range_odd_batches(bsz):
    x = _digits(bsz)
    out = augmix(x, torch.Generator().manual_seed(bsz))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().amax(dim=(1, 2, 3)).min() > 0  # every image was changed


def test_augmix_determinism_and_seeds():
    x = _digits(6)
    a = augmix(x, torch.Generator().manual_seed(3))
    b = augmix(x, torch.Generator().manual_seed(3))
    c = augmix(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 1e-3


def test_levels_are_sampled_not_fixed(monkeypatch):
    """Rotation angles at severity 3: int(U(0.1, 3)·3) ∈ {0..8}, both signs, spread out —
    not all at the maximum (the old timm bug)."""
    log = _record_ops(monkeypatch)
    x = _digits(8, size=12).repeat(16, 1, 1, 1)  # 128 images
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        augmix(x, gen, severity=3)
    deg = torch.cat([m for op, m in log if op == "rotate"])
    assert len(deg) > 200
    counts = Counter(int(d) for d in deg.abs())
    assert set(counts) <= set(range(9)) and set(range(1, 9)) <= set(counts)
    assert max(counts.values()) / len(deg) < 0.25  # ≈ 1/8.7 each if uniform
    assert 0.4 < (deg < 0).float().mean() < 0.6
    # |deg| ≈ 3·U(0.1, 3) truncated: mean ≈ 3.85
    assert 3.3 < deg.abs().double().mean() < 4.4


def test_op_choice_and_depth_distribution(monkeypatch):
    log = _record_ops(monkeypatch)
    x = _digits(8, size=12).repeat(32, 1, 1, 1)  # 256 images → 768 chains
    augmix(x, torch.Generator().manual_seed(5))
    counts = Counter()
    for op, m in log:
        counts[op] += len(m)
    assert set(counts) == set(OPS)
    total = sum(counts.values())
    # depth ~ U{1,2,3}: mean 2 ops per chain (sd of the total ≈ 0.82·√768 ≈ 23)
    assert abs(total - 2 * 768) < 120
    for op in OPS:  # uniform choice: expected total/9 ≈ 171, sd ≈ 12.4
        assert abs(counts[op] - total / 9) < 60, (op, counts[op])

    log.clear()
    augmix(x[:10], torch.Generator().manual_seed(5), depth=2, width=4)
    assert sum(len(m) for _, m in log) == 2 * 4 * 10


def test_all_ops_toggles_enhance_ops(monkeypatch):
    log = _record_ops(monkeypatch)
    x = _digits(8, size=12).repeat(8, 1, 1, 1)
    augmix(x, torch.Generator().manual_seed(6), all_ops=False)
    assert {op for op, _ in log} <= set(OPS)
    log.clear()
    augmix(x, torch.Generator().manual_seed(6), all_ops=True)
    used = {op for op, _ in log}
    assert {"color", "contrast", "brightness", "sharpness"} <= used
    factors = torch.cat([m for op, m in log if op == "color"])
    assert factors.min() >= 0.1 + 0.18 * 0.1 - 1e-9 and factors.max() <= 0.1 + 0.18 * 3 + 1e-9


def test_mixing_formula(monkeypatch):
    """With every op replaced by 'make white', each chain is white, so
    out = (1 − m)·x + m for each image: recover m and check it is Beta(1, 1) = U(0, 1)."""
    monkeypatch.setattr(am, "_apply_u8", lambda q, op, mag: torch.full_like(q, 255.0))
    x = _digits(8, size=12).repeat(32, 1, 1, 1) * 0.8  # keep x < 1 so m is identifiable
    out = augmix(x, torch.Generator().manual_seed(7))
    m = ((out - x) / (1 - x)).flatten(1)
    assert torch.allclose(m, m[:, :1].expand_as(m), atol=1e-5)  # one m per image
    m = m[:, 0]
    assert abs(m.mean().item() - 0.5) < 0.06 and abs(m.var().item() - 1 / 12) < 0.025
    assert 0.15 < (m < 0.25).float().mean() < 0.35  # uniform: P(m < 0.25) = 0.25

    # identity ops: the mix of unchanged chains returns the (uint8-grid) input itself
    monkeypatch.setattr(am, "_apply_u8", lambda q, op, mag: q)
    xq = torch.round(x * 255) / 255
    assert torch.allclose(augmix(xq, torch.Generator().manual_seed(8)), xq, atol=1e-6)


def test_alpha_changes_mixing():
    """Small α concentrates Dirichlet weights on one chain and m near 0 or 1."""
    x = _digits(8, size=12).repeat(16, 1, 1, 1)
    far = (augmix(x, torch.Generator().manual_seed(9), alpha=0.05) - x).abs().mean((1, 2, 3))
    # with Beta(0.05, 0.05), m ≈ 0 for about half the images: those stay ≈ x
    assert (far < 1e-3).float().mean() > 0.25
    assert math.isfinite(far.sum().item())


@pytest.mark.parametrize("all_ops", [False, True])
def test_augmix_end_to_end_matches_pil_loop(all_ops):
    """Replay augmix's own random draws (sample_plan with the same seed) through a per-image
    PIL loop written like the reference's ``aug``; the batched result must agree."""
    ops = ALL_OPS if all_ops else OPS
    x = _digits(5)
    bsz, width = len(x), 3
    out = augmix(x, torch.Generator().manual_seed(11), all_ops=all_ops)
    plan = sample_plan(Streams.from_generator(torch.Generator().manual_seed(11), bsz),
                       n_ops=len(ops))
    u8 = torch.round(x * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for b in range(bsz):
        mix = np.zeros((32, 32, 3))
        for j in range(width):
            row = j * bsz + b
            im = Image.fromarray(u8[b])
            for step in range(int(plan["depths"][row])):
                op = ops[int(plan["choice"][step, row])]
                lv = float(plan["level"][step, row])
                neg = bool(plan["negate"][step, row])
                # the reference's level → parameter maps, written out independently
                m = {
                    "rotate": int(lv * 30 / 10),
                    "shear_x": lv * 0.3 / 10,
                    "shear_y": lv * 0.3 / 10,
                    "translate_x": int(lv * (32 / 3) / 10),
                    "translate_y": int(lv * (32 / 3) / 10),
                    "posterize": 4 - int(lv * 4 / 10),
                    "solarize": 256 - int(lv * 256 / 10),
                }.get(op, lv * 1.8 / 10 + 0.1)
                if neg and op in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y"):
                    m = -m
                im = _pil_op(op, im, m)
            mix += float(plan["ws"][b, j]) * np.asarray(im, dtype=np.float64) / 255
        mb = float(plan["m"][b])
        ref = (1 - mb) * x[b].permute(1, 2, 0).double().numpy() + mb * mix
        np.testing.assert_allclose(out[b].permute(1, 2, 0).numpy(), ref, atol=2e-6)
