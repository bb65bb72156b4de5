"""The 6N+2-layer CIFAR-style ResNets of the MLF paper (Feng et al. 2022) and its Table 2 baselines.

``conv3x3(C_in -> w) - tdBN - SN``, three stages of N blocks of widths ``w, 2w, 4w`` (the first block of stages 2 and 3
strided), global average pooling, and a non-spiking readout. Depth ``6N+2`` in {14, 20, 32, 44, 68}. Three blocks:

- ``ds`` (spiking DS-ResNet, activation before addition)::

      out = SN(tdBN(conv3x3(SN(tdBN(conv3x3(x)))))) + shortcut(x),   shortcut = x  or  SN(tdBN(conv1x1_s(x)))

  The sum is not re-thresholded: it is a count tensor, and identity shortcuts let counts accumulate along a stage.
- ``spiking`` (Spiking ResNet, activation after addition)::

      out = SN(tdBN(conv3x3(SN(tdBN(conv3x3(x))))) + shortcut(x)),   shortcut = x  or  tdBN(conv1x1_s(x))

- ``resnet_snn`` (the tdBN paper's block): as ``spiking`` but with a tdBN on the shortcut either way, and
  ``alpha = 1/sqrt(2)`` on the two tdBNs that meet at the addition.

SN is an MLF unit with ``levels`` levels (``levels=1``: the plain STBP LIF, as in both baselines). The tdBN threshold
is ``Vth_1`` and its eps sits outside the square root, as in the MLF reference code (``bn_eps_inside_sqrt`` switches).
"""

import math
from functools import partial

from torch import nn

from . import DEPTHS
from .layers import DirectEncoder, PerStep, PooledReadout
from .neurons import MLF
from .norm import ThresholdDependentBatchNorm

WIDTHS = {"small": 16, "middle": 32, "large": 64}
BLOCKS = ("ds", "spiking", "resnet_snn")
ENCODINGS = ("direct", "frames")


def resolve_width(width) -> int:
    """``small``/``middle``/``large`` -> 16/32/64; an int passes through."""
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"width must be an int or one of {tuple(WIDTHS)}, got {width!r}")
        return WIDTHS[width]
    if int(width) < 1:
        raise ValueError(f"width must be positive, got {width}")
    return int(width)


def make_encoder(encoding: str, T: int, in_channels: int, input_bn: bool) -> nn.Sequential:
    """Direct encoding repeats the image over ``T`` steps; event frames arrive as ``[T, B, C, H, W]`` already.

    ``input_bn`` adds the non-affine BN on the raw input of the DVS reference code (host-side preprocessing)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    layers = [DirectEncoder(T)] if encoding == "direct" else []
    if input_bn:
        layers.append(PerStep(nn.BatchNorm2d(in_channels, affine=False)))
    return nn.Sequential(*layers)


def conv(cin: int, cout: int, kernel: int, stride: int = 1) -> PerStep:
    return PerStep(nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False))


class DSBlock(nn.Module):
    """Spiking dormant-suppressed block: activation before addition, count output."""

    def __init__(self, cin, cout, stride, neuron, norm):
        super().__init__()
        self.conv1, self.bn1, self.sn1 = conv(cin, cout, 3, stride), norm(cout), neuron()
        self.conv2, self.bn2, self.sn2 = conv(cout, cout, 3), norm(cout), neuron()
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), norm(cout), neuron())

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        return out + self.shortcut(x)


class AfterAdditionBlock(nn.Module):
    """Activation after addition (Spiking ResNet; with ``shortcut_bn`` and ``alpha`` the tdBN ResNet-SNN block)."""

    def __init__(self, cin, cout, stride, neuron, norm, shortcut_bn=False, alpha=1.0):
        super().__init__()
        self.conv1, self.bn1, self.sn1 = conv(cin, cout, 3, stride), norm(cout), neuron()
        self.conv2, self.bn2 = conv(cout, cout, 3), norm(cout, alpha=alpha)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride), norm(cout, alpha=alpha))
        elif shortcut_bn:
            self.shortcut = norm(cout, alpha=alpha)
        else:
            self.shortcut = nn.Identity()
        self.sn2 = neuron()

    def forward(self, x):
        out = self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))
        return self.sn2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Stem, three stages of residual blocks, global average pooling and readout (see the module docstring)."""

    def __init__(self, block, blocks_per_stage, width, in_channels, num_classes, T, encoding, input_bn, neuron, norm):
        super().__init__()
        self.encoder = make_encoder(encoding, T, in_channels, input_bn)
        self.stem = nn.Sequential(conv(in_channels, width, 3), norm(width), neuron())
        stages, cin = [], width
        for index, cout in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for b in range(blocks_per_stage):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(block(cin, cout, stride, neuron, norm))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = PooledReadout(cin, num_classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(self.encoder(x))))


def builder(kind: str, depth: int):
    """The builder of ``{mlf_dsresnet,spiking_resnet,resnet_snn}<depth>``; its keyword defaults are the paper's."""
    if kind not in BLOCKS or depth not in DEPTHS:
        raise ValueError(f"no CIFAR ResNet {kind}{depth}")
    blocks_per_stage = (depth - 2) // 6
    multi_level = kind == "ds"

    def build(in_channels=3, num_classes=10, T=4, width="large", levels=3 if multi_level else 1, vth1=0.6,
              spacing=1.0, decay=0.25, bn_eps=1e-5, bn_eps_inside_sqrt=False, encoding="direct", input_bn=False):
        if not multi_level and levels != 1:
            raise ValueError(f"the {kind} baseline uses single-level neurons (levels=1), got levels={levels}")
        neuron = partial(MLF, levels, vth1, spacing, decay)
        norm = partial(ThresholdDependentBatchNorm, threshold=vth1, eps=bn_eps, eps_inside_sqrt=bn_eps_inside_sqrt)
        if kind == "ds":
            block = DSBlock
        else:
            block = partial(AfterAdditionBlock, shortcut_bn=kind == "resnet_snn",
                            alpha=1 / math.sqrt(2) if kind == "resnet_snn" else 1.0)
        return CifarResNet(block, blocks_per_stage, resolve_width(width), in_channels, num_classes, T, encoding,
                           input_bn, neuron, norm)

    build.__name__ = f"{kind}{depth}"
    build.__doc__ = f"{kind} ResNet-{depth} ({blocks_per_stage} blocks per stage); see snncompile.models.cifar_resnets."
    return build
