"""Tests for noisymix.metrics against independent, loop-based implementations of the
published formulas (Hendrycks & Dietterich arXiv:1903.12261; Hendrycks et al. calibration
tools; Guo et al. 2017) on hand-made cases.

Data: hand-made arrays, seeded random tables, and for FGSM scikit-learn's bundled digits
(real 8×8 images, classes 0 and 1, upscaled to 32×32×3 by pixel repetition; offline).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from torch import nn

from noisymix.metrics import (
    ALEXNET_ERR,
    ALEXNET_ERR_BY_SEVERITY,
    NOISE_CORRUPTIONS,
    TEST_CORRUPTIONS,
    aurra,
    confidence_and_correct,
    corruption_error,
    expected_calibration_error,
    fgsm_accuracy,
    flip_probability,
    is_noise_perturbation,
    mce,
    mfr,
    mt5d,
    rms_calibration_error,
    robust_accuracy,
    top5_distance,
    unnormalized_mce,
    zipf_distance,
)

# ----------------------------------------------------------------------------- corruption


def test_alexnet_constants_are_severity_means():
    assert list(ALEXNET_ERR) == list(TEST_CORRUPTIONS)
    assert len(TEST_CORRUPTIONS) == 15
    for c in TEST_CORRUPTIONS:
        per_sev = ALEXNET_ERR_BY_SEVERITY[c]
        assert len(per_sev) == 5
        assert sum(per_sev) / 5 == pytest.approx(ALEXNET_ERR[c], abs=1e-6)


def test_test_corruption_list_matches_generators():
    try:
        from noisymix.corruptions import NOISE_CORRUPTIONS as gen_noise
        from noisymix.corruptions import TEST_CORRUPTIONS as gen_test
    except Exception as exc:  # generators are written elsewhere; only compare when present
        pytest.skip(f"noisymix.corruptions not importable: {exc}")
    assert tuple(gen_test) == TEST_CORRUPTIONS
    assert set(gen_noise) == set(NOISE_CORRUPTIONS)


def test_corruption_error_hand_made():
    errs = [0.1, 0.2, 0.3, 0.4, 0.5]  # Σ = 1.5
    # published scalar = AlexNet mean error 0.5 → denominator 5 · 0.5 = 2.5
    assert corruption_error(errs, 0.5) == pytest.approx(0.6)
    assert corruption_error(errs, [0.5] * 5) == pytest.approx(0.6)
    assert corruption_error(errs, [0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(1.0)
    # Σ/Σ form and AugMix's mean/constant form agree with the real per-severity table
    for c in TEST_CORRUPTIONS:
        assert corruption_error(errs, ALEXNET_ERR_BY_SEVERITY[c]) == pytest.approx(
            corruption_error(errs, ALEXNET_ERR[c]), rel=1e-5
        )
    with pytest.raises(ValueError):
        corruption_error(errs, [0.5] * 4)


def test_mce_against_loop_oracle():
    rng = np.random.default_rng(0)
    table = {c: list(rng.uniform(0.05, 0.95, size=5)) for c in TEST_CORRUPTIONS}
    table["speckle_noise"] = [1.0] * 5  # extra corruption: must be ignored
    # AugMix's formula, written out: CE_c = 100 · mean_s(err) / ALEXNET_ERR_c; mCE = mean_c
    oracle = 0.0
    for c in TEST_CORRUPTIONS:
        oracle += 100 * (sum(table[c]) / 5) / ALEXNET_ERR[c] / 15
    assert 100 * mce(table) == pytest.approx(oracle, rel=1e-12)
    # scaled copies of AlexNet's errors give CE = k for every corruption
    k = 0.7
    scaled = {c: [k * e for e in ALEXNET_ERR_BY_SEVERITY[c]] for c in TEST_CORRUPTIONS}
    assert mce(scaled) == pytest.approx(k)
    assert mce(scaled, ALEXNET_ERR_BY_SEVERITY) == pytest.approx(k)
    # unnormalised: plain mean over corruptions of mean over severities
    means = [np.mean(table[c]) for c in TEST_CORRUPTIONS]
    assert unnormalized_mce(table) == pytest.approx(np.mean(means))
    del table["fog"]
    with pytest.raises(KeyError):
        mce(table)


def test_robust_accuracy_with_and_without_noise():
    acc = {}
    for c in TEST_CORRUPTIONS:
        if c in NOISE_CORRUPTIONS:
            acc[c] = [0.3, 0.2, 0.1, 0.0, -0.1]  # mean 0.1 (values only need to be numbers)
        else:
            acc[c] = [0.9, 0.8, 0.7, 0.6, 0.5]  # mean 0.7
    acc["spatter"] = [0.0] * 5  # extra: ignored
    out = robust_accuracy(acc)
    assert out["robust_acc"] == pytest.approx((3 * 0.1 + 12 * 0.7) / 15)
    assert out["robust_acc_no_noise"] == pytest.approx(0.7)
    # loop oracle on random numbers: mean over the 75 (corruption, severity) cells
    rng = np.random.default_rng(1)
    acc = {c: list(rng.uniform(size=5)) for c in TEST_CORRUPTIONS}
    cells = [a for c in TEST_CORRUPTIONS for a in acc[c]]
    cells_nn = [a for c in TEST_CORRUPTIONS if "noise" not in c for a in acc[c]]
    out = robust_accuracy(acc)
    assert len(cells) == 75 and len(cells_nn) == 60
    assert out["robust_acc"] == pytest.approx(sum(cells) / 75)
    assert out["robust_acc_no_noise"] == pytest.approx(sum(cells_nn) / 60)


# ----------------------------------------------------------------------------- stability


def _pairs(n, noise, difficulty):
    """(reference, current) frame pairs as the reference walks them: strided sub-sequences
    x[i::d], consecutive within each, or every frame against the first for noise."""
    step = 1 if noise else difficulty
    pairs = []
    for i in range(step):
        prev = i
        for j in range(i + step, n, step):
            pairs.append((prev, j))
            if not noise:
                prev = j
    return pairs


def _fp_oracle(preds, noise, difficulty=1):
    per_video = []
    for vid in preds:
        flips = [int(vid[a] != vid[b]) for a, b in _pairs(len(vid), noise, difficulty)]
        per_video.append(sum(flips) / len(flips))
    return sum(per_video) / len(per_video)


def _rank_oracle(logits, noise, difficulty, mode):
    """Top-5 / Zipf distance from 1-based ordinal ranks, one pair at a time."""
    m, n, C = logits.shape
    top5_slots = np.cumsum([0] + [1] * 5 + [0] * max(C - 6, 0))  # cumulative top-5 count
    total = 0.0
    for vid in logits:
        ranks = [rankdata(-frame, method="ordinal").astype(int) for frame in vid]  # class→rank
        dists = []
        for a, b in _pairs(n, noise, difficulty):
            ref_classes = np.argsort(ranks[a])  # classes in the reference frame's order
            sigma = ranks[b][ref_classes]  # their 1-based ranks in frame b
            if mode == "top5":
                d = sum(abs(top5_slots[k] - top5_slots[sigma[k] - 1]) for k in range(5))
            else:
                d = sum(abs(1 / k - 1 / sigma[k - 1]) / k for k in range(1, C + 1))
            dists.append(d)
        total += np.mean(dists) / m
    return total


def test_flip_probability_hand_made():
    preds = torch.tensor([[0, 0, 1, 1, 0], [2, 2, 2, 2, 2]])
    # consecutive: 2 flips in the first video, 0 in the second → 2 / (2 · 4)
    assert flip_probability(preds, noise=False) == pytest.approx(0.25)
    # against the first frame: frames 2..5 vs 0 → [0, 1, 1, 0] → 2 flips
    assert flip_probability(preds, noise=True) == pytest.approx(0.25)
    preds = torch.tensor([[0, 1, 1, 1, 1]])
    assert flip_probability(preds, noise=False) == pytest.approx(1 / 4)
    assert flip_probability(preds, noise=True) == pytest.approx(4 / 4)
    preds = torch.tensor([[3, 4, 3, 4, 3, 4]])
    assert flip_probability(preds, noise=False) == pytest.approx(1.0)
    assert flip_probability(preds, noise=True) == pytest.approx(3 / 5)
    assert flip_probability(preds, noise=False, difficulty=2) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "noise,difficulty", [(False, 1), (True, 1), (False, 2), (False, 3), (True, 3)]
)
def test_flip_probability_matches_loop(noise, difficulty):
    g = torch.Generator().manual_seed(2)
    preds = torch.randint(0, 3, (7, 10), generator=g)
    assert flip_probability(preds, noise, difficulty) == pytest.approx(
        _fp_oracle(preds.tolist(), noise, difficulty), abs=1e-12
    )


def test_top5_distance_hand_made():
    base = torch.arange(10, 0, -1).double()  # class c has rank c (0-based)

    def seq(*frames):
        return torch.stack([base] + list(frames))[None]  # (1, n, 10)

    swap01 = base.clone()
    swap01[[0, 1]] = swap01[[1, 0]]
    assert top5_distance(seq(swap01), noise=False) == pytest.approx(2.0)  # |0−1| + |1−0|
    drop4 = base.clone()
    drop4[4] = -5.0  # class 4 falls to rank 9, clipped to 5: |4 − 5|
    assert top5_distance(seq(drop4), noise=False) == pytest.approx(1.0)
    reverse = -base  # top-5 classes now at ranks 9..5 → 5+4+3+2+1
    assert top5_distance(seq(reverse), noise=False) == pytest.approx(15.0)
    swap56 = base.clone()
    swap56[[5, 6]] = swap56[[6, 5]]  # change outside the top 5: no distance
    assert top5_distance(seq(swap56), noise=False) == pytest.approx(0.0)
    # sequence base → swap01 → swap01: consecutive pairs give 2 and 0; vs first: 2 and 2
    assert top5_distance(seq(swap01, swap01), noise=False) == pytest.approx(1.0)
    assert top5_distance(seq(swap01, swap01), noise=True) == pytest.approx(2.0)


@pytest.mark.parametrize("noise,difficulty", [(False, 1), (True, 1), (False, 2)])
@pytest.mark.parametrize("num_classes", [6, 10])
def test_ranking_distances_match_loop(noise, difficulty, num_classes):
    g = torch.Generator().manual_seed(3)
    # small integer logits: many ties, which must be broken by class index as rankdata does
    logits = torch.randint(0, 4, (5, 6, num_classes), generator=g).double()
    got = top5_distance(logits, noise, difficulty)
    assert got == pytest.approx(_rank_oracle(logits.numpy(), noise, difficulty, "top5"), abs=1e-12)
    assert got > 0
    got = zipf_distance(logits, noise, difficulty)
    assert got == pytest.approx(_rank_oracle(logits.numpy(), noise, difficulty, "zipf"), abs=1e-12)


def test_mfr_and_mt5d():
    fp = {"gaussian_noise": 0.2, "rotate": 0.1}
    assert mfr(fp) == pytest.approx(0.15)  # CIFAR: unnormalised
    assert mfr(fp, {"gaussian_noise": 0.4, "rotate": 0.4}) == pytest.approx((0.5 + 0.25) / 2)
    assert mt5d({"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 2.0}) == pytest.approx(1.0)
    with pytest.raises(KeyError):
        mfr(fp, {"rotate": 0.1})
    assert is_noise_perturbation("shot_noise") and not is_noise_perturbation("tilt")


# ----------------------------------------------------------------------------- calibration


def _rms_oracle(conf, corr, beta, skip_last):
    idx = sorted(range(len(conf)), key=lambda i: conf[i])
    conf = [conf[i] for i in idx]
    corr = [corr[i] for i in idx]
    n = len(conf)
    bounds = [[i * beta, (i + 1) * beta] for i in range(n // beta)]
    bounds[-1][1] = n
    if skip_last:
        bounds = bounds[:-1]
    total = 0.0
    for lo, hi in bounds:
        gap = sum(conf[lo:hi]) / (hi - lo) - sum(corr[lo:hi]) / (hi - lo)
        total += (hi - lo) / n * gap**2
    return math.sqrt(total)


def _ece_oracle(conf, corr, n_bins):
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        members = [i for i, c in enumerate(conf) if lo < c <= hi]
        if members:
            acc = sum(corr[i] for i in members) / len(members)
            avg = sum(conf[i] for i in members) / len(members)
            ece += abs(avg - acc) * len(members) / len(conf)
    return ece


def test_rms_calibration_hand_made_and_skip_last_bin():
    # 100 samples at confidence 0.2, 10 right (gap 0.1); 150 at 0.9, 90 right (gap 0.3).
    conf = [0.2] * 100 + [0.9] * 150
    corr = [1] * 10 + [0] * 90 + [1] * 90 + [0] * 60
    perm = torch.randperm(250, generator=torch.Generator().manual_seed(4))
    conf_t = torch.tensor(conf)[perm]
    corr_t = torch.tensor(corr)[perm]  # order must not matter... beyond ties in a bin
    full = math.sqrt(100 / 250 * 0.1**2 + 150 / 250 * 0.3**2)
    assert rms_calibration_error(conf_t, corr_t) == pytest.approx(full)
    # the reference's loop drops the last (most confident) bin
    skipped = rms_calibration_error(conf_t, corr_t, skip_last_bin=True)
    assert skipped == pytest.approx(math.sqrt(100 / 250 * 0.1**2))
    # fewer samples than one bin: one bin, |mean conf − accuracy|
    assert rms_calibration_error([0.9, 0.8], [1, 0]) == pytest.approx(abs(0.85 - 0.5))


@pytest.mark.parametrize("skip_last", [False, True])
@pytest.mark.parametrize("n", [100, 357, 1000])
def test_rms_calibration_matches_loop(n, skip_last):
    rng = np.random.default_rng(n)
    conf = rng.uniform(0.1, 1.0, size=n)  # continuous: no ties
    corr = (rng.uniform(size=n) < conf**2).astype(int)
    conf_t, corr_t = torch.from_numpy(conf), torch.from_numpy(corr)
    got = rms_calibration_error(conf_t, corr_t, skip_last_bin=skip_last)
    assert got == pytest.approx(_rms_oracle(list(conf), list(corr), 100, skip_last), abs=1e-12)


def test_ece_hand_made_and_loop():
    # 10 bins: 0.05 and 0.1 in (0, 0.1] (upper edge included), 0.95 and 0.99 in (0.9, 1]
    conf = [0.05, 0.1, 0.95, 0.99]
    corr = [0, 1, 1, 1]
    hand = 0.5 * abs(0.075 - 0.5) + 0.5 * abs(0.97 - 1.0)
    assert expected_calibration_error(conf, corr, n_bins=10) == pytest.approx(hand)
    # float32 confidences: the float32 0.1 sits on the float32 edge, so the same bins
    f32 = torch.tensor(conf, dtype=torch.float32)
    got = expected_calibration_error(f32, torch.tensor(corr), n_bins=10)
    assert got == pytest.approx(hand, abs=1e-6)
    assert expected_calibration_error([0.5, 0.5], [1, 0]) == pytest.approx(0.0)
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.1, 1.0, size=500)
    corr = (rng.uniform(size=500) < conf).astype(int)
    for n_bins in (15, 7):
        assert expected_calibration_error(conf, corr, n_bins) == pytest.approx(
            _ece_oracle(list(conf), list(corr), n_bins), abs=1e-12
        )


def test_aurra_hand_made():
    # most confident first: correct, wrong, correct, correct → accuracies 1, 1/2, 2/3, 3/4
    conf = [0.7, 0.9, 0.6, 0.8]
    corr = [1, 1, 1, 0]
    assert aurra(conf, corr) == pytest.approx((1 + 1 / 2 + 2 / 3 + 3 / 4) / 4)
    # perfect ranking (right answers most confident) beats the reversed ranking
    good = aurra([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0])
    bad = aurra([0.9, 0.8, 0.3, 0.2], [0, 0, 1, 1])
    assert good == pytest.approx((1 + 1 + 2 / 3 + 2 / 4) / 4)
    assert bad == pytest.approx((0 + 0 + 1 / 3 + 2 / 4) / 4)
    assert aurra([0.5, 0.4], [1, 1]) == pytest.approx(1.0)


def test_confidence_and_correct():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    conf, correct = confidence_and_correct(logits, torch.tensor([0, 0, 0]))
    assert conf[0].item() == pytest.approx(1 / (1 + math.exp(-2)))
    assert correct.tolist() == [True, False, True]


# ----------------------------------------------------------------------------- FGSM


def _digits_01():
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = d.target <= 1
    x = torch.tensor(d.images[keep] / 16.0, dtype=torch.float32)  # (N, 8, 8) in [0, 1]
    x = x.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None].expand(-1, 3, -1, -1)
    return x.contiguous(), torch.tensor(d.target[keep], dtype=torch.long)


class _LinearNet(nn.Module):
    """Normalise inside, then one linear layer on the flattened image (2 classes)."""

    def __init__(self, v: torch.Tensor, offset: float):
        super().__init__()
        self.fc = nn.Linear(v.numel(), 2)
        with torch.no_grad():  # logit_1 − logit_0 = v · z + offset, z = (x − 0.5) / 0.5
            self.fc.weight.copy_(torch.stack([-v.flatten() / 2, v.flatten() / 2]))
            self.fc.bias.copy_(torch.tensor([-offset / 2, offset / 2]))

    def forward(self, x):
        return self.fc(((x - 0.5) / 0.5).flatten(1))


def test_fgsm_on_linear_model_matches_hand_computation():
    x, y = _digits_01()
    # nearest-class-mean classifier: v ∝ μ1 − μ0 in normalised units, threshold at midpoint
    z = (x - 0.5) / 0.5
    mu0, mu1 = z[y == 0].mean(0), z[y == 1].mean(0)
    v = mu1 - mu0
    v = v / v.abs().sum() * 20  # moderate logits: softmax gradients do not underflow
    offset = -(v * (mu0 + mu1) / 2).sum().item()
    model = _LinearNet(v, offset).train()
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, len(y), 64)]

    def hand_accuracy(eps):
        # Here ∇_x CE ∝ −(2y − 1)·v, so FGSM moves each pixel by −eps·(2y − 1)·sign(v).
        xs = x.double().flatten(1)
        s = (2 * y.double() - 1)[:, None]
        x_adv = (xs - eps * s * torch.sign(v.double().flatten())).clamp(0, 1)
        margin = ((2 * x_adv - 1) * v.double().flatten()).sum(1) + offset
        return ((margin > 0).long() == y).double().mean().item()

    clean = hand_accuracy(0.0)
    assert clean > 0.95
    with torch.no_grad():
        model_clean = (model(x).argmax(1) == y).double().mean().item()
    accs = []
    for eps in (0.0, 0.01, 0.03, 0.1, 0.3, 1.0):
        acc = fgsm_accuracy(model, batches, eps)
        assert acc == pytest.approx(hand_accuracy(eps), abs=1.5 / len(y))
        accs.append(acc)
    assert accs[0] == pytest.approx(model_clean, abs=1e-12)  # eps = 0 is the clean accuracy
    assert all(a >= b for a, b in zip(accs, accs[1:]))  # never raised by a larger eps
    assert accs[-1] < 0.5 * clean  # and it does bite
    # the attack leaves the model alone: no parameter gradients, mode restored
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_fgsm_eps_zero_is_clean_accuracy_with_batchnorm():
    g = torch.Generator().manual_seed(6)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    model.eval()
    x = torch.rand(20, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (20,), generator=g)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).double().mean().item()
    model.train()
    assert fgsm_accuracy(model, [(x[:8], y[:8]), (x[8:], y[8:])], 0.0) == pytest.approx(clean)
    assert model.training
    with pytest.raises(ValueError):
        fgsm_accuracy(model, [], 0.1)
