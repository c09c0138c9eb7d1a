"""``create_model(arch, num_classes, width, mean, std)``: every architecture by name."""

from __future__ import annotations

from typing import Callable

from torch import nn

from noisymix.models.preactresnet import preactresnet18, preactresnet18_textbook
from noisymix.models.wideresnet import WideResNet, ZagoruykoWideResNet
from noisymix.models.wrap import Normalized


def _resnet50(num_classes: int, width: float) -> nn.Module:
    """torchvision's ResNet-50; width ≠ 1 rebuilds its stages with torchvision's own blocks."""
    from torchvision.models import resnet50
    from torchvision.models.resnet import Bottleneck

    net = resnet50(weights=None, num_classes=num_classes)
    if width != 1.0:
        c = [max(1, int(round(64 * width * m))) for m in (1, 2, 4, 8)]
        net.inplanes = c[0]
        net.conv1 = nn.Conv2d(3, c[0], 7, 2, 3, bias=False)
        net.bn1 = nn.BatchNorm2d(c[0])
        net.layer1 = net._make_layer(Bottleneck, c[0], 3)
        net.layer2 = net._make_layer(Bottleneck, c[1], 4, stride=2)
        net.layer3 = net._make_layer(Bottleneck, c[2], 6, stride=2)
        net.layer4 = net._make_layer(Bottleneck, c[3], 3, stride=2)
        net.fc = nn.Linear(c[3] * Bottleneck.expansion, num_classes)
    return net


def _alexnet(num_classes: int, width: float) -> nn.Module:
    from torchvision.models import alexnet

    net = alexnet(weights=None, num_classes=num_classes)
    if width != 1.0:
        # not in paper: a narrow AlexNet for smoke-scale fixture weights only (the state-dict
        # keys stay torchvision's; channels 64/192/384/256/256 and hidden 4096 scale by width)
        c = [max(1, int(round(k * width))) for k in (64, 192, 384, 256, 256, 4096)]
        for i, (cin, cout) in zip((0, 3, 6, 8, 10), zip([3, *c[:4]], c[:5])):
            old = net.features[i]
            net.features[i] = nn.Conv2d(cin, cout, old.kernel_size, old.stride, old.padding)
        net.classifier[1] = nn.Linear(c[4] * 6 * 6, c[5])
        net.classifier[4] = nn.Linear(c[5], c[5])
        net.classifier[6] = nn.Linear(c[5], num_classes)
    return net


# The paper's nets first (the official NoisyMix code's, weight-compatible with its checkpoints:
# preactresnet18, and wrn28_4 = its ``wideresnet28``, which the paper calls "Wide-ResNet-28x2"),
# then textbook variants under explicit names (no official weights).
_ARCHS: dict[str, tuple[Callable[[int, float], nn.Module], list[str]]] = {
    "preactresnet18": (lambda n, w: preactresnet18(n, w), ["layer1", "layer2", "layer3"]),
    "wrn28_4": (lambda n, w: WideResNet(28, 4, n, w, dropout=0.1), ["layer1", "layer2", "layer3"]),
    "resnet50": (_resnet50, ["layer1", "layer2", "layer3"]),
    # AlexNet: evaluated only (the mCE / mFR normaliser); no residual stages to mix at
    "alexnet": (lambda n, w: _alexnet(n, w), []),
    "preactresnet18_textbook": (lambda n, w: preactresnet18_textbook(n, w),
                                ["layer1", "layer2", "layer3"]),
    "wrn28_2_zagoruyko": (lambda n, w: ZagoruykoWideResNet(28, 2, n, w),
                          ["block1", "block2", "block3"]),
}


def list_archs() -> list[str]:
    return list(_ARCHS)


def create_model(arch: str, num_classes: int, width: float = 1.0,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)) -> Normalized:
    """Build ``arch`` with ``num_classes`` outputs, input normalisation and mixing stages."""
    if arch not in _ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(_ARCHS)}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    build, stages = _ARCHS[arch]
    return Normalized(build(num_classes, width), mean, std, stages)
