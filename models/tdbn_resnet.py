"""STBP-tdBN ResNets of Zheng et al. 2021 (AAAI): ResNet-19 (CIFAR-10) and ResNet-17 (DVS-Gesture).

Iterative LIF ``u = k_tau * u * (1 - o) + x``, ``o = [u > Vth]`` everywhere; every block is the tdBN basic block
(activation after addition, a tdBN on the shortcut either way, ``alpha = 1/sqrt(2)`` where two branches meet)::

    ResNet-19: conv3x3 w - [w] x3 - [2w] x3 (first strided) - [4w] x2 (first strided) - GAP - FC 256 (spiking) - FC classes
    ResNet-17: conv3x3 w - [w] x3 (first strided) - [2w] x4 (first strided) - avgpool /2 - FC 256 (spiking) - FC classes

``w`` = 128 (ResNet-19) or 64 (ResNet-17). The tdBN here is the paper's (eps inside the square root).
"""

import math
from functools import partial

from torch import nn

from .cifar_resnets import AfterAdditionBlock, conv, make_encoder
from .layers import PerStep, Readout
from .neurons import STBPLIF
from .norm import ThresholdDependentBatchNorm


class TdBNResNet(nn.Module):
    """Stem, stages of tdBN basic blocks, pooling, one spiking hidden FC and the readout."""

    def __init__(self, stages, width, in_channels, num_classes, T, encoding, input_bn, neuron, norm, pool, pooled_size,
                 hidden):
        super().__init__()
        self.encoder = make_encoder(encoding, T, in_channels, input_bn)
        self.stem = nn.Sequential(conv(in_channels, width, 3), norm(width), neuron())
        layers, cin = [], width
        for multiplier, count, stride in stages:
            cout = width * multiplier
            for b in range(count):
                layers.append(AfterAdditionBlock(cin, cout, stride if b == 0 else 1, neuron, norm, shortcut_bn=True,
                                                 alpha=1 / math.sqrt(2)))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.pool = PerStep(pool)
        self.flatten = PerStep(nn.Flatten())
        self.fc = PerStep(nn.Linear(cin * pooled_size, hidden))
        self.fc_sn = neuron()
        self.readout = Readout(hidden, num_classes)

    def forward(self, x):
        x = self.flatten(self.pool(self.blocks(self.stem(self.encoder(x)))))
        return self.readout(self.fc_sn(self.fc(x)))


def _parts(threshold, decay, width_surrogate, bn_eps, bn_eps_inside_sqrt):
    neuron = partial(STBPLIF, threshold, decay, width_surrogate)
    norm = partial(ThresholdDependentBatchNorm, threshold=threshold, eps=bn_eps, eps_inside_sqrt=bn_eps_inside_sqrt)
    return neuron, norm


def resnet19(in_channels=3, num_classes=10, T=4, width=128, hidden=256, threshold=0.5, decay=0.25, surrogate_width=1.0,
             bn_eps=1e-5, bn_eps_inside_sqrt=True, encoding="direct", input_bn=False):
    """STBP-tdBN ResNet-19 (CIFAR-10: 93.16 % at T=6, 92.92 % at T=4)."""
    neuron, norm = _parts(threshold, decay, surrogate_width, bn_eps, bn_eps_inside_sqrt)
    return TdBNResNet([(1, 3, 1), (2, 3, 2), (4, 2, 2)], int(width), in_channels, num_classes, T, encoding, input_bn,
                      neuron, norm, nn.AdaptiveAvgPool2d(1), 1, hidden)


def resnet17(in_channels=2, num_classes=11, T=40, width=64, hidden=256, image_size=128, threshold=0.5, decay=0.25,
             surrogate_width=1.0, bn_eps=1e-5, bn_eps_inside_sqrt=True, encoding="frames", input_bn=False):
    """STBP-tdBN ResNet-17 (DVS-Gesture: 96.87 % at T=40). ``image_size`` sets the input of the hidden FC."""
    if image_size % 8:
        raise ValueError(f"ResNet-17 halves the image three times: image_size must be a multiple of 8, got {image_size}")
    neuron, norm = _parts(threshold, decay, surrogate_width, bn_eps, bn_eps_inside_sqrt)
    pooled = (image_size // 8) ** 2
    return TdBNResNet([(1, 3, 2), (2, 4, 2)], int(width), in_channels, num_classes, T, encoding, input_bn, neuron, norm,
                      nn.AvgPool2d(2), pooled, hidden)
