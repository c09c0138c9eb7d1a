"""Calibration metrics: RMS calibration error, ECE and AURRA.

- RMS calibration error with adaptive bins: Hendrycks, Mazeika, Dietterich, "Deep Anomaly
  Detection with Outlier Exposure", arXiv:1812.04606 (reference: hendrycks/outlier-exposure
  ``utils/calibration_tools.py``, ``calib_err(p='2', beta=100)``), used by AugMix
  (arXiv:1912.02781) and NoisyMix (arXiv:2202.01263).
- ECE with equal-width bins: Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural
  Networks", arXiv:1706.04599; bins (lo, hi] as in the NoisyMix ``evaluate_robustness.py``
  ``_ECELoss`` (n_bins=15).
- AURRA, area under the response-rate / accuracy curve: Hendrycks et al., "Natural
  Adversarial Examples", arXiv:1907.07174 (reference: hendrycks/natural-adv-examples
  ``calibration_tools.py``, ``aurra``).

``confidence``: shape (N,), the classifier's confidence in its prediction (max softmax
probability), in [0, 1]. ``correct``: shape (N,), 1/True where the prediction was right.
Results are fractions (×100 for tables).
"""

from __future__ import annotations

import torch


def _as_pair(confidence, correct, keep_dtype: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat (N,) tensors; float64 unless ``keep_dtype`` and ``confidence`` is a float tensor.

    Non-tensor input (lists, NumPy) becomes float64 directly, never via float32.
    """
    if isinstance(confidence, torch.Tensor):
        conf = confidence.detach().reshape(-1)
        if not (keep_dtype and conf.is_floating_point()):
            conf = conf.double()
    else:
        conf = torch.as_tensor(confidence, dtype=torch.float64).reshape(-1)
    corr = torch.as_tensor(correct).detach().reshape(-1).to(conf.device).double()
    if conf.numel() != corr.numel():
        raise ValueError(f"{conf.numel()} confidences but {corr.numel()} correctness values")
    if conf.numel() == 0:
        raise ValueError("empty input")
    return conf, corr


def _bin_sums(bin_id: torch.Tensor, n_bins: int, conf: torch.Tensor, corr: torch.Tensor):
    """Per-bin sample count, Σ confidence and Σ correct, each shape (n_bins,), float64."""
    count = torch.zeros(n_bins, dtype=torch.float64, device=conf.device)
    count.index_add_(0, bin_id, torch.ones_like(conf))
    sum_conf = torch.zeros_like(count).index_add_(0, bin_id, conf)
    sum_corr = torch.zeros_like(count).index_add_(0, bin_id, corr)
    return count, sum_conf, sum_corr


def confidence_and_correct(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max softmax probability and correctness from logits (N, C) and labels (N,)."""
    probs = torch.softmax(logits.double(), dim=1)
    conf, pred = probs.max(dim=1)
    return conf, pred == labels.to(pred.device)


def rms_calibration_error(
    confidence, correct, bin_size: int = 100, skip_last_bin: bool = False
) -> float:
    """RMS calibration error over adaptive bins of ``bin_size`` samples sorted by confidence.

    Bins: after sorting by confidence, floor(N / bin_size) bins of ``bin_size`` samples, the
    last one absorbing the remainder (N mod bin_size). Error = sqrt(Σ_b (|B_b|/N) ·
    (mean conf_b − mean correct_b)²).

    ``skip_last_bin=True`` reproduces the reference, whose loop stops one bin early and so
    drops the highest-confidence bin (while still dividing by the full N).
    """
    conf, corr = _as_pair(confidence, correct)
    n = conf.numel()
    order = torch.argsort(conf, stable=True)  # reference: np.argsort, ties in unspecified order
    conf, corr = conf[order], corr[order]
    # not in paper: with N < bin_size the reference crashes (no bins); use one bin of N.
    n_bins = max(n // bin_size, 1)
    bin_id = (torch.arange(n, device=conf.device) // bin_size).clamp(max=n_bins - 1)
    count, sum_conf, sum_corr = _bin_sums(bin_id, n_bins, conf, corr)
    sq_gap = (sum_conf / count - sum_corr / count) ** 2
    # not in reference: every bin counts by default; the reference drops the last (SPEC §9).
    weights = count / n
    if skip_last_bin:
        # reference quirk: the highest-confidence bin is never counted (SPEC §9).
        weights = weights.clone()
        weights[-1] = 0.0
    return (weights * sq_gap).sum().sqrt().item()


def expected_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """ECE = Σ_b (|B_b|/N)·|acc_b − conf_b| over ``n_bins`` equal-width bins (lo, hi] of [0, 1].

    A confidence of exactly 0 (which a softmax never gives) goes to the first bin.
    """
    conf, corr = _as_pair(confidence, correct, keep_dtype=True)
    # Interior edges built like the reference (linspace in the confidences' own dtype) so
    # that values on an edge land in the same bin (a float32 0.1 equals the float32 edge);
    # bucketize(right=False) gives i with edges[i-1] < x <= edges[i].
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype, device=conf.device)[1:-1]
    bin_id = torch.bucketize(conf, edges, right=False)
    conf = conf.double()
    _, sum_conf, sum_corr = _bin_sums(bin_id, n_bins, conf, corr)
    gap = (sum_conf - sum_corr).abs()  # = count · |mean conf − mean acc|, 0 for empty bins
    return (gap.sum() / conf.numel()).item()


def aurra(confidence, correct) -> float:
    """Area under the response-rate / accuracy curve.

    Answer the k most confident samples (k = 1..N); the accuracy among them is the curve at
    response rate k/N; AURRA is its mean over k, as in the reference.
    """
    conf, corr = _as_pair(confidence, correct)
    # The reference reverses an ascending argsort; with a stable sort that puts, among equal
    # confidences, the later sample first, which we keep.
    order = torch.argsort(conf, stable=True).flip(0)
    answered = torch.arange(1, conf.numel() + 1, device=conf.device)
    accuracy_at_k = torch.cumsum(corr[order], 0) / answered
    return accuracy_at_k.mean().item()
