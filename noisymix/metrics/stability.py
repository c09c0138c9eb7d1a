"""Perturbation-stability metrics (-P): flip probability, mFR, top-5 distance, mT5D.

Definitions from Hendrycks & Dietterich, arXiv:1903.12261 §3, as computed by the reference
code hendrycks/robustness ``ImageNet-P/test.py`` (``flip_prob``, ``ranking_dist``, ``dist``)
and ``ImageNet-P/cifar-p-eval.py``; re-derived here as batched tensor code.

Frame pairs. A sequence has n frames x_1..x_n. For the noise perturbations (gaussian, shot,
speckle noise: every frame is an independent noisy copy) each frame j ≥ 2 is compared with
x_1; for all others frame j is compared with frame j − d, where d is the ImageNet-P
"difficulty" (1 for CIFAR-P and the standard ImageNet-P; the reference walks the d strided
sub-sequences ``x[i::d]``, which are exactly the pairs (j − d, j)). A metric is the mean over
pairs within a sequence, then over sequences; all sequences have the same length here, so
that is the plain mean over all pairs: FP = 1/(m(n−1)) Σ_i Σ_j 1[f(x_ij) ≠ f(x_i,ref(j))].

Top-5 distance (the reference's ``dist(sigma, 'top5')``): let t_1..t_5 be the top-5 classes
of the reference frame (by logit, ties by class index as ``scipy.stats.rankdata(ordinal)``)
and r_k the 0-based rank of t_k in the compared frame. Then
    d = Σ_{k=0}^{4} | k − min(r_k, 5) |,
i.e. the reference's ``|cumsum_top5[k] − cumsum_top5[σ(k) − 1]|`` with the cumulative count of
top-5 slots, which saturates at 5. It is 0 iff the top-5 list is unchanged *in order*.
Zipf distance (``mode='zipf'``): Σ_{k=1}^{C} |1/k − 1/σ(k)| / k with σ(k) the 1-based rank in
the compared frame of the reference frame's k-th class.

mFR / mT5D for ImageNet-P divide each perturbation's FP / T5D by AlexNet's before averaging;
CIFAR-P tables report the plain mean (SPEC §4).
"""

from __future__ import annotations

from typing import Mapping

import torch

from noisymix.vocab import NOISE_PERTURBATIONS  # noqa: F401  (re-exported by noisymix.metrics)


def is_noise_perturbation(name: str) -> bool:
    """The reference's rule: a perturbation is 'noise' iff its name contains 'noise'."""
    return "noise" in name


def _pair_indices(n: int, noise: bool, difficulty: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference frame, compared frame) indices along the frame axis, each shape (P,)."""
    if n < 2:
        raise ValueError(f"need at least 2 frames, got {n}")
    if noise:
        cur = torch.arange(1, n)
        return torch.zeros_like(cur), cur
    if not 1 <= difficulty < n:
        raise ValueError(f"difficulty must be in [1, {n - 1}], got {difficulty}")
    cur = torch.arange(difficulty, n)
    return cur - difficulty, cur


def flip_probability(preds: torch.Tensor, noise: bool, difficulty: int = 1) -> float:
    """Flip probability of predictions ``preds`` (m sequences, n frames), int, shape (m, n)."""
    preds = torch.as_tensor(preds)
    if preds.ndim != 2:
        raise ValueError(f"preds must be (m, n), got {tuple(preds.shape)}")
    ref, cur = _pair_indices(preds.shape[1], noise, difficulty)
    ref, cur = ref.to(preds.device), cur.to(preds.device)
    flips = preds[:, cur] != preds[:, ref]  # (m, P)
    return flips.double().mean().item()


def _ranks(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """order[..., r] = class at 0-based rank r; rank[..., c] = 0-based rank of class c.

    Sorting −logits stably reproduces ``rankdata(-logits, method='ordinal')`` (ties broken by
    class index), which the reference uses.
    """
    order = torch.argsort(-logits, dim=-1, stable=True)
    rank = torch.empty_like(order)
    positions = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    rank.scatter_(-1, order, positions)
    return order, rank


def _ranking_distances(
    logits: torch.Tensor, noise: bool, difficulty: int, mode: str
) -> torch.Tensor:
    """Distance per (sequence, pair), shape (m, P), for logits (m, n, C)."""
    logits = torch.as_tensor(logits)
    if logits.ndim != 3:
        raise ValueError(f"logits must be (m, n, C), got {tuple(logits.shape)}")
    m, n, num_classes = logits.shape
    ref, cur = _pair_indices(n, noise, difficulty)
    ref, cur = ref.to(logits.device), cur.to(logits.device)
    order, rank = _ranks(logits)
    if mode == "top5":
        # not in paper: with fewer than 5 classes the reference crashes; use top-min(5, C).
        k = min(5, num_classes)
        top_ref = order[:, ref, :k]  # (m, P, k) classes of the reference frame
        r = torch.gather(rank[:, cur, :], -1, top_ref)  # (m, P, k) their ranks now
        slots = torch.arange(k, device=logits.device)
        return (slots - r.clamp(max=k)).abs().sum(-1).double()
    if mode == "zipf":
        sigma = torch.gather(rank[:, cur, :], -1, order[:, ref, :]).double() + 1  # 1-based
        k = torch.arange(1, num_classes + 1, device=logits.device, dtype=torch.float64)
        return ((1 / k - 1 / sigma).abs() / k).sum(-1)
    raise ValueError(f"mode must be 'top5' or 'zipf', got {mode!r}")


def top5_distance(logits: torch.Tensor, noise: bool, difficulty: int = 1) -> float:
    """Mean top-5 distance over sequences and frame pairs; logits shape (m, n, C)."""
    return _ranking_distances(logits, noise, difficulty, "top5").mean().item()


def zipf_distance(logits: torch.Tensor, noise: bool, difficulty: int = 1) -> float:
    """Mean Zipf distance (the reference's ``mode='zipf'``); logits shape (m, n, C)."""
    return _ranking_distances(logits, noise, difficulty, "zipf").mean().item()


def _normalised_mean(values: Mapping[str, float], alexnet: Mapping[str, float] | None) -> float:
    if not values:
        raise ValueError("no perturbations given")
    if alexnet is None:
        ratios = [float(v) for v in values.values()]
    else:
        missing = [p for p in values if p not in alexnet]
        if missing:
            raise KeyError(f"no AlexNet value for {missing}")
        ratios = [float(v) / float(alexnet[p]) for p, v in values.items()]
    return sum(ratios) / len(ratios)


def mfr(
    fp_by_perturbation: Mapping[str, float], alexnet_fp: Mapping[str, float] | None = None
) -> float:
    """Mean flip rate: mean over perturbations of FP / FP_AlexNet.

    With ``alexnet_fp=None`` it is the unnormalised mean flip probability that CIFAR-P tables
    report. The AlexNet flip probabilities are not in the reference code (they come from
    running AlexNet on ImageNet-P), so the caller must supply them for ImageNet-P.
    """
    return _normalised_mean(fp_by_perturbation, alexnet_fp)


def mt5d(
    t5d_by_perturbation: Mapping[str, float], alexnet_t5d: Mapping[str, float] | None = None
) -> float:
    """Mean top-5 distance over perturbations, optionally normalised by AlexNet's (ImageNet-P)."""
    return _normalised_mean(t5d_by_perturbation, alexnet_t5d)
