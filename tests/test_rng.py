"""Counter-based per-item streams (noisymix.rng.Streams): exact hash, batch invariance, the
distributions, and that corruptions, perturbations and AugMix draw once per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import noisymix.rng as rng_mod
from noisymix.augment.augmentations import augmix
from noisymix.corruptions import corrupt, list_corruptions
from noisymix.perturbations import ALL_PERTURBATIONS, perturb
from noisymix.rng import Streams, mix64, mix64_int


def test_mix64_matches_the_integer_oracle():
    vals = [0, 1, 2, 12345678901234567, (1 << 63) - 1, -1, -(1 << 63), -987654321]
    got = [v & ((1 << 64) - 1) for v in mix64(torch.tensor(vals)).tolist()]
    assert got == [mix64_int(v) for v in vals]
    # SplitMix64's published first output for seed 0 (state advanced by the golden gamma)
    assert mix64_int(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("draw", ["rand", "randn", "rand64", "randint", "poisson", "gamma"])
def test_draws_depend_on_the_item_only(draw, monkeypatch):
    def run(indices, block):
        monkeypatch.setattr(rng_mod, "_BLOCK", block)
        s = Streams.for_items(7, "test", 2, indices=indices)
        s.rand(3)  # an earlier draw: the counter, not the batch, positions the next one
        if draw == "rand":
            return s.rand((3, 9, 9))
        if draw == "randn":
            return s.randn((3, 9, 9))
        if draw == "rand64":
            return s.rand(40, torch.float64)
        if draw == "randint":
            return s.randint(-4, 4, (5, 2))
        if draw == "poisson":
            idx = torch.tensor(indices, dtype=torch.float32)[:, None]
            rate = (idx * 30 + torch.arange(30)) % 23 * 1.5  # the item's own rates
            return s.poisson(rate)
        return s.gamma(0.7, 6)

    full = run(list(range(10)), 1 << 40)
    assert torch.equal(run(list(range(4, 10)), 1 << 40), full[4:])
    assert torch.equal(run(list(range(10)), 50), full)  # CPU cache blocking changes nothing
    assert not torch.equal(full[0], full[1])


def test_uniform_and_normal_distributions():
    s = Streams.for_items(0, "dist", indices=range(64))
    u = s.rand(4096).flatten().double().numpy()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    n = s.randn(4096).flatten().double().numpy()
    assert stats.kstest(n, "norm").pvalue > 1e-3
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    # neighbouring items and positions are uncorrelated
    m = s.randn(2048)
    assert abs(float(torch.corrcoef(m[:2])[0, 1])) < 0.1
    assert abs(float(np.corrcoef(n[:-1], n[1:])[0, 1])) < 0.01
    k = s.randint(0, 7, 4096).flatten().numpy()
    assert stats.chisquare(np.bincount(k, minlength=7)).pvalue > 1e-3


@pytest.mark.parametrize("lam", [0.0, 0.3, 4.0, 9.99, 37.5, 400.0])
def test_poisson_matches_its_pmf(lam):
    k = Streams.for_items(1, "poisson", indices=range(50)).poisson(torch.full((50, 2000), lam))
    k = k.flatten().long().numpy()
    if lam == 0:
        assert (k == 0).all()
        return
    lo, hi = int(stats.poisson.ppf(1e-3, lam)), int(stats.poisson.ppf(1 - 1e-3, lam))
    obs = np.bincount(np.clip(k, lo, hi) - lo, minlength=hi - lo + 1)
    cdf = stats.poisson.cdf(np.arange(lo, hi + 1), lam)
    exp = np.diff(np.concatenate([[0.0], cdf[:-1], [1.0]])) * len(k)
    assert stats.chisquare(obs, exp).pvalue > 1e-4
    assert abs(k.mean() - lam) < 4 * (lam / len(k)) ** 0.5


@pytest.mark.parametrize("shape_k", [0.3, 1.0, 4.0])
def test_gamma_beta_dirichlet(shape_k):
    s = Streams.for_items(2, "gamma", indices=range(100))
    g = s.gamma(shape_k, 400).flatten().numpy()
    assert stats.kstest(g, "gamma", args=(shape_k,)).pvalue > 1e-3
    d = s.dirichlet(shape_k, 3)
    assert torch.allclose(d.sum(1), torch.ones(100, dtype=d.dtype))
    b = s.beta(shape_k, shape_k, 50).flatten().numpy()
    assert stats.kstest(b, "beta", args=(shape_k, shape_k)).pvalue > 1e-3


def _images(n, size=16):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


class _NoGenerator:
    def __init__(self, *a, **k):
        raise AssertionError("a torch.Generator was created")


def _count_draws(monkeypatch):
    calls = []
    orig = Streams._draw

    def counted(self, *a, **k):
        calls.append("draw")
        return orig(self, *a, **k)

    monkeypatch.setattr(Streams, "_draw", counted)
    monkeypatch.setattr(torch, "Generator", _NoGenerator)  # no per-image generator may be made
    return calls


@pytest.mark.parametrize("name", list_corruptions())
def test_corruptions_are_batch_invariant_with_constant_draws(name, monkeypatch):
    x = _images(9, 32)
    calls = _count_draws(monkeypatch)
    full = corrupt(x, name, 4, "cifar", seed=5)
    n_full = len(calls)
    calls.clear()
    part = corrupt(x[6:], name, 4, "cifar", seed=5, indices=range(6, 9))
    assert torch.equal(part, full[6:])
    assert len(calls) == n_full


@pytest.mark.parametrize("name", ALL_PERTURBATIONS)
def test_perturbations_are_batch_invariant_with_constant_draws(name, monkeypatch):
    x = _images(5, 32)
    calls = _count_draws(monkeypatch)
    full = perturb(x, name, "cifar", seed=2)
    n_full = len(calls)
    calls.clear()
    part = perturb(x[3:], name, "cifar", seed=2, indices=range(3, 5))
    assert torch.equal(part, full[3:])
    assert len(calls) == n_full


def test_augmix_is_batch_invariant_with_constant_draws(monkeypatch):
    x = torch.from_numpy(_images(12)).permute(0, 3, 1, 2).float() / 255
    calls = _count_draws(monkeypatch)
    full = augmix(x, Streams.for_items(3, "augmix", indices=range(12)))
    n_full = len(calls)
    calls.clear()
    part = augmix(x[5:], Streams.for_items(3, "augmix", indices=range(5, 12)))
    assert torch.allclose(part, full[5:], atol=1e-6)
    assert len(calls) == n_full
