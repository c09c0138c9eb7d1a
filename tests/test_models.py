import pytest
import torch
import torchvision

from noisymix.methods.hooks import transform_at
from noisymix.models import create_model, list_archs, mixing_stages, wrap_model


@pytest.mark.parametrize("arch", [a for a in list_archs() if a != "alexnet"])
def test_archs_forward_with_width(arch):
    model = create_model(arch, 7, width=0.0625)
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 7)
    assert mixing_stages(model)[0] == "normalize" and len(mixing_stages(model)) == 4


def test_alexnet_is_torchvisions_and_evaluation_only():
    """AlexNet is imported (the mCE / mFR normaliser), never trained: torchvision's net at
    width 1, no mixing stages beyond the input; narrower only for fixture weight files."""
    from torchvision.models import alexnet

    model = create_model("alexnet", 10)
    ref = alexnet(weights=None, num_classes=10)
    assert [p.shape for p in model.net.parameters()] == [p.shape for p in ref.parameters()]
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 10)
    assert mixing_stages(model) == ["normalize"]
    small = create_model("alexnet", 10, width=0.0625)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters()) / 50


def test_width_scales_parameters():
    small = sum(p.numel() for p in create_model("preactresnet18", 10, 0.25).parameters())
    big = sum(p.numel() for p in create_model("preactresnet18", 10, 0.5).parameters())
    assert 3.5 < big / small < 4.5  # conv weights scale with width²


def test_resnet50_width_one_is_torchvision():
    ours = create_model("resnet50", 1000).net
    ref = torchvision.models.resnet50(weights=None)
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in ref.parameters()]


def test_unknown_arch_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown arch 'vgg'.*preactresnet18"):
        create_model("vgg", 10)


def test_hooks_reach_stock_torchvision_stages():
    model = wrap_model(torchvision.models.resnet18(num_classes=5))
    assert mixing_stages(model) == ["normalize", "net.layer1", "net.layer2", "net.layer3"]
    x = torch.rand(2, 3, 32, 32)
    model.eval()
    base = model(x)
    with transform_at(model, 2, lambda h: torch.zeros_like(h)):
        zeroed = model(x)
    after = model(x)  # the hook is gone again
    assert torch.allclose(base, after) and not torch.allclose(base, zeroed)
    # zeroing layer2's output makes the output independent of the input
    with transform_at(model, 2, lambda h: torch.zeros_like(h)):
        assert torch.allclose(model(torch.rand(2, 3, 32, 32)), zeroed, atol=1e-6)


def test_wrap_model_without_stages_is_a_clear_error():
    with pytest.raises(ValueError, match="stages="):
        wrap_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 2)))


# ------------------------------------------------------------------ official NoisyMix layouts
# Derived from erichson/NoisyMix (src/cifar_models/preresnet.py, src/cifar_models/wide_resnet.py):
# the keys and shapes its modules have, and its forward passes written out functionally, so that
# these tests check our nets against the official definitions, not against themselves.

import torch.nn.functional as F  # noqa: E402

from noisymix.models import load_official_state_dict, official_state_dict  # noqa: E402


def _bn(prefix, c):
    return {f"{prefix}weight": (c,), f"{prefix}bias": (c,), f"{prefix}running_mean": (c,),
            f"{prefix}running_var": (c,), f"{prefix}num_batches_tracked": ()}


def official_preact_layout(classes, width=1.0):
    """preresnet.py PreActResNet(PreActBlock, [2, 2, 2, 2]): bias-free convs, projection
    ``shortcut.0`` where stride ≠ 1 or channels change, head ``linear``, no final BN."""
    w = [int(c * width) for c in (64, 128, 256, 512)]
    keys = {"conv1.weight": (w[0], 3, 3, 3)}
    cin = w[0]
    for s in range(4):
        for b in range(2):
            p, cout, stride = f"layer{s + 1}.{b}.", w[s], 2 if s > 0 and b == 0 else 1
            keys |= _bn(p + "bn1.", cin)
            keys[p + "conv1.weight"] = (cout, cin, 3, 3)
            keys |= _bn(p + "bn2.", cout)
            keys[p + "conv2.weight"] = (cout, cout, 3, 3)
            if stride != 1 or cin != cout:
                keys[p + "shortcut.0.weight"] = (cout, cin, 1, 1)
            cin = cout
    keys |= {"linear.weight": (classes, cin), "linear.bias": (classes,)}
    return keys


def official_wrn_layout(classes, width=1.0, k=4, depth=28):
    """wide_resnet.py Wide_ResNet(28, 4, 0.1): biased convs, 4 wide_basic blocks per stage,
    ``shortcut.0`` (biased 1×1) where stride ≠ 1 or channels change; final ``bn1``; ``linear``.
    """
    w = [int(round(c * width)) for c in (16, 16 * k, 32 * k, 64 * k)]
    keys = {"conv1.weight": (w[0], 3, 3, 3), "conv1.bias": (w[0],)}
    cin = w[0]
    for s in range(3):
        for b in range((depth - 4) // 6):
            p, cout, stride = f"layer{s + 1}.{b}.", w[s + 1], 2 if s > 0 and b == 0 else 1
            keys |= _bn(p + "bn1.", cin)
            keys |= {p + "conv1.weight": (cout, cin, 3, 3), p + "conv1.bias": (cout,)}
            keys |= _bn(p + "bn2.", cout)
            keys |= {p + "conv2.weight": (cout, cout, 3, 3), p + "conv2.bias": (cout,)}
            if stride != 1 or cin != cout:
                keys |= {p + "shortcut.0.weight": (cout, cin, 1, 1), p + "shortcut.0.bias": (cout,)}
            cin = cout
    keys |= _bn("bn1.", cin)
    keys |= {"linear.weight": (classes, cin), "linear.bias": (classes,)}
    return keys


def random_state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7)
        elif key.endswith(("running_var", "bn1.weight", "bn2.weight")):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) > 1:
            fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
            sd[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.1
    return sd


def _bn_eval(h, sd, p):
    return F.batch_norm(h, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"],
                        sd[p + "bias"], False, 0.0, 1e-5)


def official_preact_forward(sd, x):
    """PreActResNet.forward of preresnet.py (eval mode, no mixing), on official keys."""
    h = F.conv2d(x, sd["conv1.weight"], padding=1)
    for s in range(4):
        for b in range(2):
            p, stride = f"layer{s + 1}.{b}.", 2 if s > 0 and b == 0 else 1
            a = F.relu(_bn_eval(h, sd, p + "bn1."))
            skip = (F.conv2d(a, sd[p + "shortcut.0.weight"], stride=stride)
                    if p + "shortcut.0.weight" in sd else a)  # relu(bn1(x)) on every shortcut
            o = F.conv2d(a, sd[p + "conv1.weight"], stride=stride, padding=1)
            o = F.conv2d(F.relu(_bn_eval(o, sd, p + "bn2.")), sd[p + "conv2.weight"], padding=1)
            h = o + skip
    h = F.avg_pool2d(h, 4).flatten(1)  # no BN-ReLU before pooling
    return F.linear(h, sd["linear.weight"], sd["linear.bias"])


def official_wrn_forward(sd, x):
    """Wide_ResNet.forward of wide_resnet.py (eval mode: dropout off, no mixing)."""
    h = F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], padding=1)
    for s in range(3):
        for b in range(4):
            p, stride = f"layer{s + 1}.{b}.", 2 if s > 0 and b == 0 else 1
            o = F.conv2d(F.relu(_bn_eval(h, sd, p + "bn1.")), sd[p + "conv1.weight"],
                         sd[p + "conv1.bias"], padding=1)
            o = F.conv2d(F.relu(_bn_eval(o, sd, p + "bn2.")), sd[p + "conv2.weight"],
                         sd[p + "conv2.bias"], stride=stride, padding=1)  # stride on conv2
            skip = (F.conv2d(h, sd[p + "shortcut.0.weight"], sd[p + "shortcut.0.bias"],
                             stride=stride) if p + "shortcut.0.weight" in sd else h)  # on x
            h = o + skip
    h = F.avg_pool2d(F.relu(_bn_eval(h, sd, "bn1.")), 8).flatten(1)
    return F.linear(h, sd["linear.weight"], sd["linear.bias"])


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_official_nets():
    # preresnet.py PreActResNet18 (bias-free convs, no final BN), 10 classes:
    #   conv1 3·64·9 = 1,728
    #   layer1: 2 × (BN 2·64 + 2 convs 2·64·64·9) = 2 × 73,984 = 147,968
    #   layer2: (BN 128 + 64·128·9 + BN 256 + 128·128·9 + 1×1 64·128) = 229,760
    #           + (256 + 147,456 + 256 + 147,456) = 295,424          → 525,184
    #   layer3: 918,272 + 1,180,672 = 2,098,944; layer4: 3,671,552 + 4,720,640 = 8,392,192
    #   linear 512·10 + 10 = 5,130                       total 11,171,146 (100 classes: +46,170)
    assert n_params(create_model("preactresnet18", 10)) == 11_171_146
    assert n_params(create_model("preactresnet18", 100)) == 11_217_316
    # textbook variant: + the final BN(512), 2·512 = 1,024
    assert n_params(create_model("preactresnet18_textbook", 10)) == 11_172_170
    # wide_resnet.py wideresnet28 = Wide_ResNet(28, widen 4, dropout 0.1), biased convs,
    # 100 classes:
    #   conv1 3·16·9 + 16 = 448
    #   layer1 (64): 47,456 (first block, 1×1 16→64: 1,088) + 3 × 74,112 = 269,792
    #   layer2 (128): 230,144 + 3 × 295,680 = 1,117,184
    #   layer3 (256): 919,040 + 3 × 1,181,184 = 4,462,592
    #   bn1 2·256 = 512; linear 256·100 + 100 = 25,700      total 5,876,228 (≈ 5.9 M)
    assert n_params(create_model("wrn28_4", 100)) == 5_876_228
    assert n_params(create_model("wrn28_4", 10)) == 5_876_228 - 90 * 257
    # the textbook WRN-28-2 (Zagoruyko & Komodakis) the project used before: 1.5 M
    assert n_params(create_model("wrn28_2_zagoruyko", 100)) == 1_479_220


@pytest.mark.parametrize("arch,layout", [("preactresnet18", official_preact_layout),
                                         ("wrn28_4", official_wrn_layout)])
def test_layers_have_the_official_keys_and_shapes(arch, layout):
    ours = {k: tuple(v.shape) for k, v in official_state_dict(create_model(arch, 100)).items()}
    assert ours == layout(100)


def test_stage_outputs_have_the_official_shapes():
    x = torch.rand(2, 3, 32, 32)
    for arch, shapes in (("preactresnet18", [(64, 32, 32), (128, 16, 16), (256, 8, 8)]),
                         ("wrn28_4", [(64, 32, 32), (128, 16, 16), (256, 8, 8)])):
        model = create_model(arch, 10).eval()
        assert mixing_stages(model) == ["normalize", "net.layer1", "net.layer2", "net.layer3"]
        seen = []
        for k in (1, 2, 3):
            with transform_at(model, k, lambda h: seen.append(tuple(h.shape[1:])) or h):
                model(x)
        assert seen == shapes


def test_wrn28_4_has_the_official_dropout_biases_and_bn_momentum():
    net = create_model("wrn28_4", 10).net
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 12 and all(d.p == 0.1 for d in drops)
    assert all(m.bias is not None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert net.bn.momentum == 0.9


@pytest.mark.parametrize("arch,layout,forward", [
    ("preactresnet18", official_preact_layout, official_preact_forward),
    ("wrn28_4", official_wrn_layout, official_wrn_forward)])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_state_dict_loads_with_the_official_function(arch, layout, forward, prefix):
    width = 0.25  # narrow for CPU; the layouts scale the official channel counts the same way
    sd = random_state(layout(7, width), seed=3)
    model = create_model(arch, 7, width)
    load_official_state_dict(model, {prefix + k: v for k, v in sd.items()})
    back = official_state_dict(model)
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        ours, ref = model(x), forward(sd, (x - 0.5) / 0.5)  # official inputs: mean = std = 0.5
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_official_load_is_strict_and_says_which_keys():
    sd = random_state(official_preact_layout(10, 0.125))
    model = create_model("preactresnet18", 10, 0.125)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = dict(sd)
    del bad["layer2.0.shortcut.0.weight"]
    bad["bn.weight"] = torch.ones(64)  # the textbook net's final BN
    with pytest.raises(ValueError) as err:
        load_official_state_dict(model, bad)
    msg = str(err.value)
    assert "\n" not in msg
    assert "missing keys: layer2.0.shortcut.0.weight" in msg and "unexpected keys: bn.weight" in msg
    bad = dict(sd, **{"linear.weight": torch.zeros(3, 64)})
    with pytest.raises(ValueError,
                       match=r"shape mismatches.*linear\.weight \(3, 64\)≠\(10, 64\)"):
        load_official_state_dict(model, bad)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched
    with pytest.raises(ValueError, match="no official NoisyMix counterpart"):
        load_official_state_dict(create_model("preactresnet18_textbook", 10, 0.125), sd)
