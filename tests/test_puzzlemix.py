"""PuzzleMix: mask/λ bookkeeping, graph-cut optimality, transport, loss and reproducibility.

Images are real: sklearn's bundled 8×8 handwritten digits, upscaled to 32×32 and tinted into
three channels. Models are a two-conv net (no BatchNorm, so train and eval modes agree).
"""

import itertools

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.nn import functional as F

from noisymix.methods import create_scheme
from noisymix.methods.puzzlemix_ops import (
    graph_terms,
    graphcut_masks,
    label_prior,
    label_values,
    move_blocks,
    pool_saliency,
    puzzle_mix,
    soft_bce,
    transport_plan,
)
from noisymix.models import wrap_model


def digits(n: int, offset: int = 0):
    d = load_digits()
    img = torch.tensor(d.images[offset : offset + n], dtype=torch.float32).unsqueeze(1) / 16
    img = F.interpolate(img, size=32, mode="bilinear", align_corners=False)
    tint = torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    x = (0.1 + 0.8 * img * tint).clamp(0, 1)
    return x, torch.tensor(d.target[offset : offset + n], dtype=torch.long)


class TinyNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return wrap_model(TinyNet(), mean=(0.4, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                      stages=["conv1", "conv2"])


def test_registry_defaults():
    s = create_scheme("puzzlemix")
    assert (s.alpha, s.n_labels, s.beta, s.gamma, s.eta, s.neigh_size) == (1.0, 3, 1.2, 0.5, 0.2, 4)
    assert (s.transport, s.t_size, s.t_eps, s.clean_lam, s.adv_p) == (True, 4, 0.8, 0.0, 0.0)
    with pytest.raises(ValueError):
        create_scheme("puzzlemix", t_epsilon=1.0)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_mask_shapes_ratio_and_sources_without_transport(n):
    x, _ = digits(5)
    g = torch.Generator().manual_seed(n)
    sal = torch.rand(5, 32, 32, generator=g)
    perm = torch.tensor([3, 0, 4, 1, 2])
    mixed, ratio, mask = puzzle_mix(x, sal, perm, 0.3, n, transport=False)
    assert mixed.shape == x.shape and mask.shape == (5, 1, 32, 32) and ratio.shape == (5,)
    assert set(mask.unique().tolist()) <= {0.0, 0.5, 1.0}
    torch.testing.assert_close(ratio, mask.mean((1, 2, 3)))
    # constant on each graph-cut block
    b = 32 // n
    blocks = mask.reshape(5, 1, n, b, n, b)
    assert torch.equal(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks))
    # every pixel is x, x[perm] or their even blend, as the mask says
    torch.testing.assert_close(mixed, mask * x + (1 - mask) * x[perm])
    whole = (mask != 0.5).expand_as(x)
    from_x = (mixed == x) & whole
    from_p = (mixed == x[perm]) & whole
    assert bool((from_x | from_p)[whole].all())


def brute_force_energy(keep, drop, edge_v, edge_h, prior, labels):
    """Energy of every labelling in ``labels`` (L, n, n) for binary labels (mask 1 − label)."""
    m = 1.0 - labels.double()
    unary = (m * keep + (1 - m) * drop).sum((1, 2))
    unary = unary + torch.tensor(prior)[labels.long()].sum((1, 2))
    dv = (labels[:, 1:, :] != labels[:, :-1, :]).double()
    dh = (labels[:, :, 1:] != labels[:, :, :-1]).double()
    return unary + (dv * edge_v).sum((1, 2)) + (dh * edge_h).sum((1, 2))


def test_binary_graphcut_is_the_exact_minimum():
    # With two labels the energy is submodular, so gco's answer must be the global minimum;
    # checked against all 2^16 labellings of a 4×4 grid.
    n = 4
    x, _ = digits(3, offset=10)
    g = torch.Generator().manual_seed(1)
    sal = torch.rand(3, 32, 32, generator=g) ** 4  # peaky, so the optimum is not trivial
    perm = torch.tensor([2, 0, 1])
    s = pool_saliency(sal, 32 // n)
    keep, drop, ev, eh = graph_terms(s, x, perm, n, 4, beta=1.2 * 40, gamma=0.5)
    prior = label_prior(0.35, 2, 0.2, n)
    mask = graphcut_masks(keep, drop, ev, eh, prior, 2)[:, 0]
    all_labels = torch.tensor(list(itertools.product([0, 1], repeat=n * n))).view(-1, n, n)
    for b in range(3):
        energies = brute_force_energy(keep[b].double(), drop[b].double(), ev[b].double(),
                                      eh[b].double(), prior, all_labels)
        got = brute_force_energy(keep[b].double(), drop[b].double(), ev[b].double(),
                                 eh[b].double(), prior, (1 - mask[b]).round().long()[None])
        # gco works on energies truncated to 1/(1000·n²); allow that rounding on 40 terms
        assert float(got) <= float(energies.min()) + 40 / (1000 * n * n)


def test_graphcut_keeps_each_images_salient_region():
    # Flat images (no colour term); x0 is salient only top-left, x1 only bottom-right.
    x = torch.full((2, 3, 32, 32), 0.5)
    sal = torch.full((2, 32, 32), 1e-4)
    sal[0, :16, :16] = 1.0
    sal[1, 16:, 16:] = 1.0
    perm = torch.tensor([1, 0])
    _, ratio, mask = puzzle_mix(x, sal, perm, 0.5, 4, transport=False)
    assert bool((mask[0, 0, :16, :16] == 1).all())  # x0's salient quadrant is shown from x0
    assert bool((mask[0, 0, 16:, 16:] == 0).all())  # and x1's salient quadrant from x1
    assert bool((mask[1, 0, 16:, 16:] == 1).all())
    assert bool((mask[1, 0, :16, :16] == 0).all())
    assert 0.2 < float(ratio[0]) < 0.8


def test_transport_moves_salient_block_into_mask():
    img = torch.arange(4.0).view(1, 1, 2, 2).repeat_interleave(4, 2).repeat_interleave(4, 3)
    img = img.expand(1, 3, 8, 8).contiguous()
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # only the top-left block is shown
    sal = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])  # the salient block is bottom-right
    plan = transport_plan(mask, sal, eps=0.1)
    assert bool((plan.sum(-1) <= 1).all()) and bool((plan.sum(-2) <= 1).all())
    assert plan[0, 3, 0] == 1
    moved = move_blocks(img, plan, 4)
    assert bool((moved[:, :, :4, :4] == 3).all())
    # with a large distance cost nothing moves
    still = move_blocks(img, transport_plan(mask, sal, eps=10.0), 4)
    assert torch.equal(still[:, :, :4, :4], img[:, :, :4, :4])


def test_transported_mix_is_made_of_source_blocks():
    x, _ = digits(5, offset=20)
    g = torch.Generator().manual_seed(5)
    sal = torch.rand(5, 32, 32, generator=g) ** 3
    perm = torch.tensor([1, 2, 3, 4, 0])
    mixed, ratio, mask = puzzle_mix(x, sal, perm, 0.5, 2, n_labels=2, t_size=4, t_eps=0.1)
    torch.testing.assert_close(ratio, mask.mean((1, 2, 3)))

    def blocks(img):  # (B, C, 32, 32) -> (B, 64, C*16) 4x4 blocks
        return img.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).reshape(5, 64, -1)

    out, src1, src2 = blocks(mixed), blocks(x), blocks(x[perm])
    m = blocks(mask)[..., 0]  # mask value per block (constant on 4x4 blocks)
    for b in range(5):
        for j in range(64):
            src = src1[b] if m[b, j] == 1 else src2[b]
            assert bool((out[b, j] == src).all(-1).any()), (b, j)


def test_soft_bce_matches_torch_bce_on_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 10, generator=g) * 3
    target = torch.rand(6, 10, generator=g)
    target = target / target.sum(1, keepdim=True)
    ref = nn.BCELoss()(torch.softmax(logits, 1), target)
    torch.testing.assert_close(soft_bce(logits, target), ref, rtol=1e-5, atol=1e-6)


def test_saliency_is_rms_gradient_of_normalised_input():
    model = tiny_model()
    x, y = digits(4)
    sal, _, clean = create_scheme("puzzlemix")._saliency(model, x, y)
    z = model.normalize(x).detach().requires_grad_(True)
    (gz,) = torch.autograd.grad(F.cross_entropy(model.net(z), y), z)
    torch.testing.assert_close(sal, gz.pow(2).mean(1).sqrt())
    assert clean is None
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("batch", [5, 7])
def test_loss_finite_differentiable_odd_batch(batch):
    model = tiny_model()
    x, y = digits(batch)
    scheme = create_scheme("puzzlemix", seed=batch)
    for _ in range(2):
        loss = scheme(model, x, y)
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert all(p.grad is None for p in model.parameters())  # saliency left no grads
        grads = torch.autograd.grad(loss, list(model.parameters()))
        assert all(torch.isfinite(gr).all() for gr in grads)
        assert any(gr.abs().sum() > 0 for gr in grads)


def test_clean_lam_adds_the_scaled_clean_loss():
    # No BatchNorm: train/eval agree and the saliency (normalised per image) is unchanged by
    # the clean-loss scale, so the two losses differ exactly by 2·clean_lam·CE/K.
    model = tiny_model()
    x, y = digits(6)
    base = create_scheme("puzzlemix", seed=4)(model, x, y)
    with_clean = create_scheme("puzzlemix", seed=4, clean_lam=1.0)(model, x, y)
    ce = F.cross_entropy(model(x), y)
    torch.testing.assert_close(with_clean - base, 2 * ce / 10, rtol=1e-4, atol=1e-5)


def test_deterministic_for_a_seed():
    model = tiny_model()
    x, y = digits(4)

    def losses(seed):
        scheme = create_scheme("puzzlemix", seed=seed)
        return [float(scheme(model, x, y).detach()) for _ in range(2)]

    assert losses(3) == losses(3)
    assert losses(3) != losses(9)


def test_adversarial_noise_path_runs():
    model = tiny_model()
    x, y = digits(5)
    loss = create_scheme("puzzlemix", seed=1, adv_p=1.0)(model, x, y)
    assert torch.isfinite(loss)


def test_loss_falls_under_sgd():
    model = tiny_model(1)
    x, y = digits(12, offset=100)
    # BCE averages over the 10 classes, so its gradients are ~10x smaller than CE's
    opt = torch.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)

    def probe():  # a fresh scheme: the same draws (grid, perm, λ) every time
        loss = create_scheme("puzzlemix", seed=11, transport=False)(model, x, y)
        return float(loss.detach()), float(F.cross_entropy(model(x), y).detach())

    before, ce_before = probe()
    scheme = create_scheme("puzzlemix", seed=0)
    for _ in range(10):
        opt.zero_grad()
        scheme(model, x, y).backward()
        opt.step()
    after, ce_after = probe()
    assert after < before - 0.003, (before, after)
    assert ce_after < ce_before, (ce_before, ce_after)


def test_rejects_images_that_do_not_split_into_blocks():
    with pytest.raises(ValueError):
        create_scheme("puzzlemix")(tiny_model(), torch.rand(2, 3, 28, 28), torch.tensor([0, 1]))


def test_label_values_and_prior_follow_lambda():
    assert label_values(3) == [1.0, 0.5, 0.0]
    lo = label_prior(0.9, 3, 0.2, 4)
    assert lo[0] < lo[1] < lo[2]  # λ = 0.9 favours showing x
