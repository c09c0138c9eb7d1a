"""Pure tensor helpers for PuzzleMix (Kim, Choo & Song, ICML 2020, arXiv:2009.06962).

Reference implementation: github.com/snu-mllab/PuzzleMix (``mixup.py``: ``mixup_graph``,
``graphcut_multi``, ``neigh_penalty``, ``mask_transport``, ``transport_image``). Everything here
is batched torch code that runs on any device, except ``graphcut_masks``, which solves one small
grid graph per image on the CPU with the ``gco`` package (gco-wrapper), as the reference does.

Conventions: images are (B, C, W, W) floats in [0, 1] (PuzzleMix's grids are square); a *mask*
is the weight of the original image x at each site, the shuffled partner x[perm] gets 1 − mask;
``n`` blocks per side means a grid of n×n blocks of W/n pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

LOG_EPS = 1e-8  # inside the log of the label prior, as the reference


def pool_saliency(saliency: torch.Tensor, size: int) -> torch.Tensor:
    """Per-image block saliency that sums to 1: (B, W, W) → (B, W/size, W/size)."""
    pooled = F.avg_pool2d(saliency.unsqueeze(1), size).squeeze(1)
    total = pooled.flatten(1).sum(1).view(-1, 1, 1)
    # not in reference: guard against an all-zero gradient (it would give NaN costs).
    return pooled / total.clamp_min(1e-12)


def _boundary_penalty(upper: torch.Tensor, lower: torch.Tensor, k: int):
    """Mean |colour jump| across block borders when ``upper``/``lower`` fill adjacent blocks.

    ``upper``, ``lower``: (B, C, P, P) images pooled to P = n·k cells (k cells per block).
    Returns vertical-edge costs (B, n−1, n) (block row r above row r+1) and horizontal-edge
    costs (B, n, n−1) (block column c left of c+1), averaged over channels and border cells.
    """
    dv = (upper[:, :, :-1, :] - lower[:, :, 1:, :])[:, :, k - 1 :: k, :]  # last cell row of a block
    dh = (upper[:, :, :, :-1] - lower[:, :, :, 1:])[:, :, :, k - 1 :: k]
    dv = F.avg_pool2d(dv.abs().mean(1, keepdim=True), (1, k)).squeeze(1)
    dh = F.avg_pool2d(dh.abs().mean(1, keepdim=True), (k, 1)).squeeze(1)
    return dv, dh


def graph_terms(sal: torch.Tensor, x: torch.Tensor, perm: torch.Tensor, n: int,
                neigh_size: int, beta: float, gamma: float):
    """Unary and edge costs of the PuzzleMix labelling energy on an n×n block grid.

    ``sal``: (B, n, n) block saliency of x (sums to 1); ``x``: (B, C, W, W) in [0, 1].
    Returns ``keep`` (B, n, n), the cost of showing x at a block (= the partner's saliency that
    is lost), ``drop`` (B, n, n), the cost of showing x[perm], and the label-change edge
    weights ``edge_v`` (B, n−1, n) and ``edge_h`` (B, n, n−1), β included.

    The data-smoothness term (γ) depends on which image fills each side of an edge; as in the
    reference it is split into a unary part (the mean over the other side's choice) and a part
    that is paid only when the two labels differ.
    """
    width = x.shape[-1]
    block = width // n
    neigh = min(neigh_size, block)
    k = block // neigh
    beta = beta / n / 16  # reference normalisation of β by the grid size
    pooled = F.avg_pool2d(x, neigh)  # (B, C, W/neigh, W/neigh)
    imgs = (pooled[perm], pooled)  # index 0: partner x[perm], 1: x
    pv = {}
    ph = {}
    for a in (0, 1):  # a: image in the upper / left block, b: in the lower / right block
        for b in (0, 1):
            dv, dh = _boundary_penalty(imgs[a], imgs[b], k)
            pv[a, b] = beta * gamma * dv
            ph[a, b] = beta * gamma * dh
    keep = sal[perm].clone()  # showing x loses the partner's saliency
    drop = sal.clone()
    # unary halves of the smoothness term: upper/left site choosing x (1) or x[perm] (0)
    keep[:, :-1, :] += (pv[1, 0] + pv[1, 1]) / 2
    drop[:, :-1, :] += (pv[0, 1] + pv[0, 0]) / 2
    keep[:, 1:, :] += (pv[0, 1] + pv[1, 1]) / 2
    drop[:, 1:, :] += (pv[1, 0] + pv[0, 0]) / 2
    keep[:, :, :-1] += (ph[1, 0] + ph[1, 1]) / 2
    drop[:, :, :-1] += (ph[0, 1] + ph[0, 0]) / 2
    keep[:, :, 1:] += (ph[0, 1] + ph[1, 1]) / 2
    drop[:, :, 1:] += (ph[1, 0] + ph[0, 0]) / 2
    edge_v = (pv[1, 0] + pv[0, 1] - pv[1, 1] - pv[0, 0]) / 2 + beta
    edge_h = (ph[1, 0] + ph[0, 1] - ph[1, 1] - ph[0, 0]) / 2 + beta
    return keep, drop, edge_v, edge_h


def label_values(n_labels: int) -> list[float]:
    """Mask value of each graph-cut label: label i shows x with weight 1 − i/(n_labels − 1)."""
    return [1.0 - i / (n_labels - 1) for i in range(n_labels)]


def label_prior(lam: float, n_labels: int, eta: float, n: int) -> list[float]:
    """Per-block cost −η/n²·log P(label | λ) with P binomial: the reference's priors for
    n_labels = 2, 3, 4 (−log λ², −log 2λ(1−λ), −log (1−λ)² for 3) for any label count."""
    m = n_labels - 1
    probs = [math.comb(m, i) * lam ** (m - i) * (1 - lam) ** i for i in range(n_labels)]
    return [-eta * math.log(p + LOG_EPS) / n**2 for p in probs]


def graphcut_masks(keep: torch.Tensor, drop: torch.Tensor, edge_v: torch.Tensor,
                   edge_h: torch.Tensor, prior: list[float], n_labels: int) -> torch.Tensor:
    """Minimum-energy masks by alpha-beta swap (gco), one grid graph per image.

    Energy of a labelling with mask values m_s: Σ_s [m_s·keep_s + (1−m_s)·drop_s + prior]
    + Σ_edges w_e·(i_s − i_t)²/(n_labels−1)². Returns (B, 1, n, n) masks on keep's device.
    """
    import gco  # the C++ GCO solver; imported here so the rest of noisymix does not need it

    batch, n, _ = keep.shape
    device = keep.device
    m = n_labels - 1
    values = torch.tensor(label_values(n_labels), dtype=torch.float64)
    # Integer energies as the reference: scale by 1000·n² and truncate. The extra factor m²
    # lets the smooth cost be the integer matrix (i − j)².
    # not in reference: the reference passes float (i−j)²/m² smooth costs, which recent
    # gco-wrapper versions rescale with their own (coarser, overflow-prone) float precision.
    scale = 1000.0 * n**2 * m**2
    vals = values.view(1, 1, 1, -1)
    keep, drop = keep.double().cpu().unsqueeze(-1), drop.double().cpu().unsqueeze(-1)
    unary = vals * keep + (1 - vals) * drop
    unary = unary + torch.tensor(prior, dtype=torch.float64)
    unary = (scale * unary).to(torch.int32).numpy()  # (B, n, n, n_labels), truncation as ref.
    # not in reference: clamp at 0 (never active for γ ≤ 1, where the data term is < β).
    w_v = (scale / m**2 * edge_v.double().cpu()).clamp_min(0).to(torch.int32).numpy()
    w_h = (scale / m**2 * edge_h.double().cpu()).clamp_min(0).to(torch.int32).numpy()
    idx = np.arange(n_labels)
    smooth = ((idx[:, None] - idx[None, :]) ** 2).astype(np.int32)
    labels = np.stack([
        gco.cut_grid_graph(unary[b], smooth, w_v[b], w_h[b], algorithm="swap").reshape(n, n)
        for b in range(batch)
    ])
    mask = values.float()[torch.from_numpy(labels).long()]
    return mask.unsqueeze(1).to(device)


def transport_cost(n: int, device) -> torch.Tensor:
    """(n², n²) squared distance between block centres of an n×n grid, over (n − 1)²."""
    r = torch.arange(n, device=device, dtype=torch.float32)
    rows, cols = r.repeat_interleave(n), r.repeat(n)
    d2 = (rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2
    return d2 / (n - 1) ** 2


def transport_plan(mask: torch.Tensor, sal: torch.Tensor, eps: float) -> torch.Tensor:
    """Reference's approximate block assignment moving salient blocks into the mask.

    ``mask``: (B, 1, n, n), ``sal``: (B, n, n). Returns a 0/1 plan (B, n², n²) with
    plan[b, i, j] = 1 when source block i moves to destination j; each row and column holds
    at most one 1.
    Moving i to j costs eps·dist²(i, j) − sal_i·[mask_j > 0]; n rounds of: every source takes its
    cheapest destination, each destination keeps its cheapest claimant, losers pay +1 there.
    """
    batch, _, n, _ = mask.shape
    shown = (mask > 0).float().reshape(batch, 1, n * n)
    cost = eps * transport_cost(n, mask.device) - sal.reshape(batch, n * n, 1) * shown
    win = torch.zeros_like(cost)
    for _ in range(n):
        plan = torch.zeros_like(cost).scatter_(-1, cost.argmin(-1, keepdim=True), 1.0)
        # reference quirk: unclaimed entries count as cost 0 in the contest, so a destination
        # whose claimants all have positive cost is won by nobody.
        champion = (plan * cost).transpose(-2, -1).contiguous().argmin(-1)  # (B, dst)
        win = torch.zeros_like(cost).scatter_(-2, champion.unsqueeze(-2), 1.0) * plan
        cost = cost + (plan - win)  # losers pay +1 for the destination they lost
    return win


def move_blocks(img: torch.Tensor, plan: torch.Tensor, size: int) -> torch.Tensor:
    """Apply a block plan (B, n², n²) to images (B, C, n·size, n·size)."""
    batch, ch, width, _ = img.shape
    n = width // size
    blocks = (img.reshape(batch, ch, n, size, n, size).permute(0, 2, 4, 1, 3, 5)
              .reshape(batch, n * n, ch * size * size))
    moved = plan.transpose(-2, -1) @ blocks  # (B, dst, C·size²)
    # not in reference: a destination no source won keeps its own block (the reference leaves
    # it 0 in normalised space, i.e. a mean-colour patch that comes from neither image).
    moved = moved + (1 - plan.sum(-2)).unsqueeze(-1) * blocks
    return (moved.reshape(batch, n, n, ch, size, size).permute(0, 3, 1, 4, 2, 5)
            .reshape(batch, ch, width, width))


def puzzle_mix(x: torch.Tensor, saliency: torch.Tensor, perm: torch.Tensor, lam: float,
               n: int, *, n_labels: int = 3, beta: float = 1.2, gamma: float = 0.5,
               eta: float = 0.2, neigh_size: int = 4, transport: bool = True,
               t_size: int = 4, t_eps: float = 0.8, noise: torch.Tensor | None = None,
               noise_on: tuple[bool, bool] = (False, False)):
    """Mix x (B, C, W, W) in [0, 1] with x[perm] on an n×n grid; ``saliency`` (B, W, W) ≥ 0.

    Returns ``mixed`` (B, C, W, W), ``ratio`` (B,) = the weight of x (the full-size mask's mean)
    and ``mask`` (B, 1, W, W). ``noise`` (B, C, W, W) is the adversarial perturbation added to
    x and/or x[perm] after the mask is found, per ``noise_on``.
    """
    batch, _, width, _ = x.shape
    block = width // n
    sal = pool_saliency(saliency, block)
    keep, drop, edge_v, edge_h = graph_terms(sal, x, perm, n, neigh_size, beta, gamma)
    mask = graphcut_masks(keep, drop, edge_v, edge_h, label_prior(lam, n_labels, eta, n), n_labels)
    x1, x2 = x, x[perm]
    if noise is not None and noise_on[0]:
        x1 = (x1 + noise).clamp(0, 1)
    if noise is not None and noise_on[1]:
        x2 = (x2 + noise[perm]).clamp(0, 1)
    if transport:
        size = block if t_size == -1 else min(t_size, block)  # -1: graph-cut resolution
        if size < block:
            mask = F.interpolate(mask, size=width // size)  # nearest, as the reference
            sal = pool_saliency(saliency, size)
        x1 = move_blocks(x1, transport_plan(mask, sal, t_eps), size)
        x2 = move_blocks(x2, transport_plan(1 - mask, sal[perm], t_eps), size)
    mask = F.interpolate(mask, size=width)
    ratio = mask.flatten(1).mean(1)
    return mask * x1 + (1 - mask) * x2, ratio, mask


def check_geometry(height: int, width: int, block_nums, neigh_size: int, t_size: int) -> None:
    """Raise if a (height, width) image cannot be cut into every grid PuzzleMix may draw."""
    if height != width:
        raise ValueError(f"PuzzleMix needs square images, got {height}x{width}")
    for n in block_nums:
        block = width // n
        ok = width % n == 0 and block % min(neigh_size, block) == 0
        ok = ok and (t_size == -1 or block % min(t_size, block) == 0)
        if not ok:
            raise ValueError(
                f"image width {width} does not split into {n}x{n} blocks with neigh_size "
                f"{neigh_size} and t_size {t_size}; use widths divisible by 16 (e.g. 32, 64)")


def soft_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference's soft-label loss: nn.BCELoss(softmax(logits), target), mean over B×K.

    Written with log-softmax for stability; logs are clamped at −100 as nn.BCELoss does.
    """
    logp = F.log_softmax(logits, dim=1)
    log1mp = torch.log(-torch.expm1(logp.clamp_max(-1e-12)))  # log(1 − p), finite as p → 1
    loss = -(target * logp.clamp_min(-100) + (1 - target) * log1mp.clamp_min(-100))
    return loss.mean()
