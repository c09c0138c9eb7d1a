"""PreActResNet-18 (He et al. 2016, arXiv:1603.05027), the CIFAR net of NoisyMix/NFM.

Two variants share the code:

- ``preactresnet18`` is the network of the official NoisyMix code
  (erichson/NoisyMix ``src/cifar_models/preresnet.py``): every block adds its residual to the
  *pre-activated* input relu(bn1(x)) (the 1×1 projection, where there is one, takes that same
  pre-activated input), and the net has no BN-ReLU after the last stage: conv1 → layer1..4 →
  global average pool → linear. Weight-compatible with the official checkpoints through
  ``noisymix.models.load_official_state_dict``.
- ``preactresnet18_textbook`` is the textbook pre-activation net: identity shortcuts carry x
  itself and a final BN-ReLU precedes the pooling (one extra BatchNorm, ``bn``).

``width`` scales every stage's channels (1.0 = the paper's 64-128-256-512). The pooling is
global (the official ``avg_pool2d(out, 4)`` is global for the 32-px inputs it is used with).
"""

from __future__ import annotations

from torch import nn

from noisymix.models.keymap import KeyMap


class PreActBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int, preact_identity: bool = True) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                         if stride != 1 or cin != cout else None)
        self.preact_identity = preact_identity  # official: identity skip is relu(bn1(x))
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = self.relu(self.bn1(x))
        if self.shortcut is not None:
            skip = self.shortcut(out)
        else:
            skip = out if self.preact_identity else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + skip


# official state-dict key → ours: the head is ``linear`` there, ``fc`` here; projection
# shortcuts are ``shortcut.0`` (inside an nn.Sequential) there, a bare conv ``shortcut`` here.
_OFFICIAL_KEYS = KeyMap([("^linear.", "^fc."), (".shortcut.0.", ".shortcut.")])


class PreActResNet(nn.Module):
    """``official=True``: the official NoisyMix layout; ``False``: the textbook one."""

    def __init__(self, num_blocks=(2, 2, 2, 2), num_classes: int = 10, width: float = 1.0,
                 official: bool = True):
        super().__init__()
        self.official = official
        self.official_keys = _OFFICIAL_KEYS if official else None
        widths = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        cin = widths[0]
        stages = []
        for i, (w, n) in enumerate(zip(widths, num_blocks)):
            blocks = []
            for j in range(n):
                blocks.append(PreActBlock(cin, w, 2 if (i > 0 and j == 0) else 1,
                                          preact_identity=official))
                cin = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = None if official else nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):  # (B, 3, H, W) normalised → (B, classes)
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        if self.bn is not None:
            out = self.relu(self.bn(out))
        return self.fc(self.pool(out).flatten(1))


def preactresnet18(num_classes: int = 10, width: float = 1.0) -> PreActResNet:
    """The official NoisyMix PreActResNet-18."""
    return PreActResNet((2, 2, 2, 2), num_classes, width, official=True)


def preactresnet18_textbook(num_classes: int = 10, width: float = 1.0) -> PreActResNet:
    """Textbook PreActResNet-18 (identity skips carry x; final BN-ReLU); no official weights."""
    return PreActResNet((2, 2, 2, 2), num_classes, width, official=False)
