"""Wide-ResNet-28 nets for CIFAR.

- ``WideResNet`` (arch ``wrn28_4``) is the network of the official NoisyMix code
  (erichson/NoisyMix ``src/cifar_models/wide_resnet.py``, ``wideresnet28`` =
  ``Wide_ResNet(depth=28, widen_factor=4, dropout_rate=0.1)``), which the paper calls
  "Wide-ResNet-28x2": every convolution has a bias; a block is
  conv1(relu(bn1(x))) → dropout → conv2(relu(bn2(·))) with the stride on conv2, plus x itself
  or a biased 1×1 projection of x (not of the pre-activated input); after the three stages
  come BN-ReLU, global average pooling and the linear head. The final BN keeps the official
  ``momentum=0.9`` (PyTorch's convention: running stats move 90 % towards each batch).
  Weight-compatible with the official checkpoints via ``load_official_state_dict``.
- ``ZagoruykoWideResNet`` (arch ``wrn28_2_zagoruyko``) is the textbook WRN-28-k of Zagoruyko &
  Komodakis 2016 (arXiv:1605.07146): bias-free convolutions, stride on conv1, projection of the
  pre-activated input, no dropout by default; at k = 2 it has 1.5 M parameters (WRN-28-4
  above: 5.9 M at 100 classes). It has no official NoisyMix weights.

``width`` multiplies the stage widths 16-16k-32k-64k on top of k (for narrow CPU runs).
"""

from __future__ import annotations

from torch import nn

from noisymix.models.keymap import KeyMap


def _widths(k: int, width: float) -> list[int]:
    return [max(1, int(round(c * width))) for c in (16, 16 * k, 32 * k, 64 * k)]


def _depth_blocks(depth: int) -> int:
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4, got {depth}")
    return (depth - 4) // 6


class WideBasic(nn.Module):
    """The official NoisyMix block (biased convs, dropout between them, stride on conv2)."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=True)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=True)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=True)
                         if stride != 1 or cin != cout else None)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.dropout(self.conv1(self.relu(self.bn1(x))))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


# official state-dict key → ours: the head is ``linear`` there, ``fc`` here; the final BN is
# ``bn1`` there, ``bn`` here; projections are ``shortcut.0`` there, a bare conv here.
_OFFICIAL_KEYS = KeyMap([("^linear.", "^fc."), ("^bn1.", "^bn."), (".shortcut.0.", ".shortcut.")])


def _stages(block: type[nn.Module], widths: list[int], n: int,
            dropout: float) -> tuple[list[nn.Sequential], int]:
    """The three stages of n blocks (stride 2 at the first block of stages 2 and 3) and the
    channels they end with."""
    cin, stages = widths[0], []
    for i, w in enumerate(widths[1:]):
        stages.append(nn.Sequential(*(block(cin if j == 0 else w, w,
                                            2 if (i > 0 and j == 0) else 1, dropout)
                                      for j in range(n))))
        cin = w
    return stages, cin


class WideResNet(nn.Module):
    """Official NoisyMix Wide-ResNet (depth 28, k 4, dropout 0.1 for ``wrn28_4``)."""

    official_keys = _OFFICIAL_KEYS

    def __init__(self, depth: int = 28, k: int = 4, num_classes: int = 10, width: float = 1.0,
                 dropout: float = 0.1):
        super().__init__()
        n = _depth_blocks(depth)
        widths = _widths(k, width)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=True)
        stages, cin = _stages(WideBasic, widths, n, dropout)
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(cin, momentum=0.9)  # as the official code (Torch7 habit)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):  # (B, 3, H, W) normalised → (B, classes)
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(self.pool(self.relu(self.bn(out))).flatten(1))


class ZagoruykoBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.relu = nn.ReLU()
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = self.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + skip


class ZagoruykoWideResNet(nn.Module):
    """Textbook WRN-depth-k (Zagoruyko & Komodakis); stages ``block1..3``."""

    official_keys = None

    def __init__(self, depth: int = 28, k: int = 2, num_classes: int = 10, width: float = 1.0,
                 dropout: float = 0.0):
        super().__init__()
        n = _depth_blocks(depth)
        widths = _widths(k, width)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        stages, cin = _stages(ZagoruykoBlock, widths, n, dropout)
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):  # (B, 3, H, W) normalised → (B, classes)
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(self.pool(self.relu(self.bn(out))).flatten(1))
