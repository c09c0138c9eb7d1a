import pytest
import torch
import torchvision

from noisymix.methods.hooks import transform_at
from noisymix.models import create_model, list_archs, mixing_stages, wrap_model


@pytest.mark.parametrize("arch", list_archs())
def test_archs_forward_with_width(arch):
    model = create_model(arch, 7, width=0.0625)
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 7)
    assert mixing_stages(model)[0] == "normalize" and len(mixing_stages(model)) == 4


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
