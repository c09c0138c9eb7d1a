import math

import pytest
import torch
from torch.nn import functional as F

from noisymix.methods import (JensenShannonConsistency, create_scheme, inject_noise,
                              list_schemes, mixed_cross_entropy)
from noisymix.methods.cutmix import cutmix_box
from noisymix.models import create_model, wrap_model

SCHEMES = list_schemes()


def test_all_paper_schemes_registered():
    assert set(SCHEMES) == {"erm", "mixup", "manifold_mixup", "cutmix", "puzzlemix", "nfm",
                            "augmix", "noisymix"}


def test_unknown_method_and_param_are_clear_errors():
    with pytest.raises(ValueError, match="unknown method 'noisemix'.*noisymix"):
        create_scheme("noisemix")
    with pytest.raises(ValueError, match="no hyper-parameter.*'alhpa'"):
        create_scheme("mixup", alhpa=1.0)


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("batch", [1, 5, 7])
def test_scheme_loss_finite_and_differentiable_for_odd_batches(name, batch, tiny_model):
    scheme = create_scheme(name, seed=batch)
    x, y = torch.rand(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    loss = scheme(tiny_model, x, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in tiny_model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", SCHEMES)
def test_scheme_is_deterministic_for_a_seed(name, tiny_model):
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))
    tiny_model.eval()  # BN statistics fixed so only the scheme's randomness matters
    a = create_scheme(name, seed=3)(tiny_model, x, y)
    b = create_scheme(name, seed=3)(tiny_model, x, y)
    assert torch.equal(a, b)


def test_jsd_matches_direct_formula():
    torch.manual_seed(0)
    logits = [torch.randn(9, 5) for _ in range(3)]
    p = [F.softmax(z, 1) for z in logits]
    m = torch.clamp((p[0] + p[1] + p[2]) / 3, 1e-7, 1)
    # KL(p || m) = Σ p (log p − log m), averaged over the batch
    direct = sum((pi * (pi.log() - m.log())).sum(1).mean() for pi in p) / 3
    assert torch.allclose(JensenShannonConsistency(12.0)(*logits), 12 * direct, atol=1e-6)
    same = JensenShannonConsistency()(logits[0], logits[0], logits[0])
    assert abs(float(same)) < 1e-6


def test_additive_noise_scale_and_sparsity():
    g = torch.Generator().manual_seed(0)
    h = torch.zeros(20000)
    stds, zeros = [], []
    for _ in range(400):
        d = inject_noise(h, g, add_level=0.5, sparse_level=0.65)
        zeros.append(float((d == 0).float().mean()))
        nz = d[d != 0]
        stds.append(float(nz.std()))
    # std = add_level · b with b ~ Beta(2, 5): mean 2/7, var 10/392
    assert abs(sum(stds) / len(stds) - 0.5 * 2 / 7) < 0.01
    s = torch.tensor(stds) / 0.5
    assert abs(float(s.var()) - 10 / 392) < 0.006
    assert abs(sum(zeros) / len(zeros) - 0.65) < 0.005


def test_multiplicative_noise_scale_and_sparsity():
    g = torch.Generator().manual_seed(1)
    h = torch.ones(20000)
    ratio_means, zero_frac = [], []
    for _ in range(400):
        r = inject_noise(h, g, mult_level=0.5, sparse_level=0.3) - 1  # = mult noise
        assert float(r.abs().max()) <= 0.5 + 1e-6
        zero_frac.append(float((r == 0).float().mean()))
        nz = r[r != 0]
        ratio_means.append(float(nz.abs().mean()))  # = 0.5 · b · E|U(−1,1)| = 0.25 b
    assert abs(sum(ratio_means) / len(ratio_means) - 0.25 * 2 / 7) < 0.005
    assert abs(sum(zero_frac) / len(zero_frac) - 0.3) < 0.005


class _Capture(torch.nn.Module):
    """A model whose stage-0 output is recorded: Normalized(Capture → tiny conv net)."""

    def __init__(self):
        super().__init__()
        self.seen = None
        self.layer1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.layer2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.layer3 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 10)

    def forward(self, x):
        self.seen = x.detach().clone()
        h = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(h.mean((2, 3)))


def test_noisymix_additive_level_grows_with_view_index():
    net = _Capture()
    model = wrap_model(net, mean=(0.0,) * 3, std=(1.0,) * 3)
    scheme = create_scheme("noisymix", seed=0, augment=False, mix=False, mult_level=0.0,
                           sparse_level=0.0, mix_layers=(0,))
    x, y = torch.zeros(64, 3, 16, 16), torch.randint(0, 10, (64,))
    per_view = torch.zeros(3)
    for _ in range(300):
        scheme(model, x, y)
        per_view += torch.stack([v.std() for v in net.seen.chunk(3)])
    per_view /= 300
    # additive std of view v = add_level · v · b, E[b] = 2/7
    expected = torch.tensor([1.0, 2.0, 3.0]) * 0.5 * 2 / 7
    assert torch.allclose(per_view, expected, rtol=0.08)


def test_noisymix_shares_lambda_and_permutation_across_views():
    net = _Capture()
    model = wrap_model(net, mean=(0.0,) * 3, std=(1.0,) * 3)
    scheme = create_scheme("noisymix", seed=5, augment=False, noise=False, mix_layers=(0,))
    x = torch.rand(6, 3, 4, 4)
    scheme(model, x, torch.arange(6))
    views = net.seen.chunk(3)
    assert torch.equal(views[0], views[1]) and torch.equal(views[1], views[2])
    # each mixed row is λ x_i + (1−λ) x_perm(i) with one λ: solve from pixel values
    flat, mixed = x.flatten(1), views[0].flatten(1)
    lams = set()
    for i in range(6):
        if torch.allclose(mixed[i], flat[i]):
            continue  # perm(i) = i: the row is unchanged whatever λ is
        for j in range(6):
            d = flat[i] - flat[j]
            if j == i:
                continue
            lam = float(((mixed[i] - flat[j]) @ d) / (d @ d))
            if torch.allclose(lam * flat[i] + (1 - lam) * flat[j], mixed[i], atol=1e-5):
                lams.add(round(lam, 4))
    assert len(lams) == 1


def test_mixed_cross_entropy_label_mixing():
    logits = torch.randn(4, 3)
    y, yp = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 1, 0])
    lam = 0.3
    expected = lam * F.cross_entropy(logits, y) + (1 - lam) * F.cross_entropy(logits, yp)
    assert torch.allclose(mixed_cross_entropy(logits, y, yp, lam), expected)
    per_sample = torch.tensor([0.1, 0.5, 0.9, 1.0])
    manual = (per_sample * F.cross_entropy(logits, y, reduction="none")
              + (1 - per_sample) * F.cross_entropy(logits, yp, reduction="none")).mean()
    assert torch.allclose(mixed_cross_entropy(logits, y, yp, per_sample), manual)


def test_mixup_input_is_convex_combination():
    net = _Capture()
    model = wrap_model(net, mean=(0.0,) * 3, std=(1.0,) * 3)
    x = torch.rand(5, 3, 4, 4)
    create_scheme("mixup", seed=2)(model, x, torch.arange(5))
    mixed = net.seen.flatten(1)
    flat = x.flatten(1)
    for i in range(5):  # every mixed image lies on a segment between x_i and some x_j
        ok = False
        for j in range(5):
            d = flat[i] - flat[j]
            lam = 1.0 if j == i else float(((mixed[i] - flat[j]) @ d) / (d @ d))
            if torch.allclose(lam * flat[i] + (1 - lam) * flat[j], mixed[i], atol=1e-5):
                ok = 0 <= lam <= 1
        assert ok


def test_cutmix_box_area_matches_lambda():
    g = torch.Generator().manual_seed(0)
    for lam in (0.2, 0.5, 0.8):
        areas = []
        for _ in range(200):
            y0, x0, y1, x1 = cutmix_box(32, 32, lam, g)
            assert 0 <= y0 <= y1 <= 32 and 0 <= x0 <= x1 <= 32
            areas.append((y1 - y0) * (x1 - x0) / 1024)
        # clipping at the border only shrinks the box
        assert max(areas) <= (1 - lam) + 0.05
        assert sum(areas) / len(areas) > 0.4 * (1 - lam)


def test_cutmix_labels_weighted_by_pasted_area(tiny_model):
    scheme = create_scheme("cutmix", seed=0, prob=1.0)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    tiny_model.eval()
    loss = scheme(tiny_model, x, y)
    assert math.isfinite(float(loss))


def test_defaults_follow_the_paper():
    nm = create_scheme("noisymix")
    assert (nm.alpha, nm.mix_layers, nm.add_level, nm.mult_level, nm.sparse_level) == \
        (1.0, (0, 1, 2, 3), 0.5, 0.5, 0.65)
    assert (nm.severity, nm.width, nm.depth, nm.jsd_weight, nm.all_ops) == (3, 3, -1, 12.0, False)
    nfm = create_scheme("nfm")
    assert (nfm.alpha, nfm.add_level, nfm.mult_level, nfm.mix_layers) == (1.0, 0.4, 0.2, (0, 1, 2, 3))
    mm = create_scheme("manifold_mixup")
    assert (mm.alpha, mm.mix_layers) == (2.0, (0, 1, 2))
    assert create_scheme("mixup").alpha == 1.0
    cm = create_scheme("cutmix")
    assert (cm.beta, cm.prob) == (1.0, 0.5)


def test_scheme_runs_on_any_wrapped_torchvision_model():
    import torchvision

    model = wrap_model(torchvision.models.resnet18(num_classes=4))
    loss = create_scheme("nfm", seed=0)(model, torch.rand(3, 3, 32, 32), torch.tensor([0, 1, 3]))
    loss.backward()


def test_mix_layer_out_of_range_is_an_error():
    model = create_model("preactresnet18", 10, 0.0625)
    with pytest.raises(ValueError, match="out of range"):
        create_scheme("nfm", mix_layers=(4,))(model, torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
