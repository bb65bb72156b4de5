"""SEW ResNets of Fang et al. 2021 (NeurIPS), with SpikingJelly-style neurons and plain BN applied per timestep.

A SEW block computes ``O = g(A, S)`` with ``A = SN(F(S))`` and ``g`` one of ``ADD`` (``A + S``, counts), ``AND``
(``A * S``) and ``IAND`` (``(1 - A) * S``). ``F`` is ``conv-BN-SN-conv-BN`` (basic) or
``conv1x1-BN-SN-conv3x3-BN-SN-conv1x1-BN`` (bottleneck). In a downsample block the shortcut is ``SN(BN(conv1x1_s2(S)))``.

- ``sew_resnet{18,34,50}``: torchvision's ResNet layout, every ReLU a spiking neuron, every block a SEW block;
  ImageNet stem ``conv7x7 64 s2 - BN - SN - maxpool3x3 s2`` (``stem="cifar"``: ``conv3x3 s1 - BN - SN``, no pooling).
- ``sew_7bnet`` (DVS-Gesture): ``c32k3s1-BN-PLIF-{SEW block(c32)-MPk2s2}*7-FC11``. With ``ADD`` its max pooling acts
  on counts.
"""

from functools import partial

from torch import nn

from .cifar_resnets import make_encoder
from .layers import PerStep, PooledReadout, Readout, SEWConnect
from .neurons import IFNode, LIFNode, PLIFNode

NEURONS = ("IF", "LIF", "PLIF")
LAYOUTS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def make_neuron(kind: str, tau: float, v_threshold: float):
    """A factory of SpikingJelly-style neurons: ``IF``, ``LIF`` (fixed ``tau``) or ``PLIF`` (``tau`` learned)."""
    if kind == "IF":
        return partial(IFNode, v_threshold)
    if kind == "LIF":
        return partial(LIFNode, tau, True, v_threshold)
    if kind == "PLIF":
        return partial(PLIFNode, tau, True, v_threshold)
    raise ValueError(f"neuron must be one of {NEURONS}, got {kind!r}")


def conv_bn(cin, cout, kernel, stride=1):
    return [PerStep(nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)),
            PerStep(nn.BatchNorm2d(cout))]


class SEWBlock(nn.Module):
    """A basic or bottleneck SEW block (see the module docstring)."""

    def __init__(self, cin, planes, stride, neuron, connect, bottleneck=False):
        super().__init__()
        expansion = 4 if bottleneck else 1
        cout = planes * expansion
        if bottleneck:
            layers = [*conv_bn(cin, planes, 1), neuron(), *conv_bn(planes, planes, 3, stride), neuron(),
                      *conv_bn(planes, cout, 1)]
        else:
            layers = [*conv_bn(cin, planes, 3, stride), neuron(), *conv_bn(planes, cout, 3)]
        self.residual = nn.Sequential(*layers, neuron())
        self.downsample = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(*conv_bn(cin, cout, 1, stride), neuron())
        self.connect = SEWConnect(connect)
        self.out_channels = cout

    def forward(self, x):
        return self.connect(self.residual(x), self.downsample(x))


class SEWResNet(nn.Module):
    """Stem, four stages of SEW blocks, global average pooling and the readout."""

    def __init__(self, bottleneck, layers, width, in_channels, num_classes, T, encoding, stem, neuron, connect):
        super().__init__()
        self.encoder = make_encoder(encoding, T, in_channels, False)
        if stem == "imagenet":
            self.stem = nn.Sequential(*conv_bn(in_channels, width, 7, 2), neuron(),
                                      PerStep(nn.MaxPool2d(3, 2, padding=1)))
        elif stem == "cifar":
            self.stem = nn.Sequential(*conv_bn(in_channels, width, 3), neuron())
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        stages, cin = [], width
        for index, count in enumerate(layers):
            blocks = []
            for b in range(count):
                block = SEWBlock(cin, width * 2 ** index, 2 if index > 0 and b == 0 else 1, neuron, connect, bottleneck)
                blocks.append(block)
                cin = block.out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = PooledReadout(cin, num_classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(self.encoder(x))))


def builder(depth: int):
    """The builder of ``sew_resnet<depth>``; its keyword defaults are the paper's ImageNet setting (IF, T=4)."""
    bottleneck, layers = LAYOUTS[depth][0] == "bottleneck", LAYOUTS[depth][1]

    def build(in_channels=3, num_classes=1000, T=4, width=64, connect="ADD", neuron="IF", tau=2.0, v_threshold=1.0,
              stem="imagenet", encoding="direct"):
        return SEWResNet(bottleneck, layers, int(width), in_channels, num_classes, T, encoding, stem,
                         make_neuron(neuron, tau, v_threshold), connect)

    build.__name__ = f"sew_resnet{depth}"
    build.__doc__ = f"SEW ResNet-{depth} ({LAYOUTS[depth][0]} blocks {layers})."
    return build


class SEW7BNet(nn.Module):
    """``c{w}k3s1-BN-SN-{SEW block(c{w})-MPk2s2}*blocks-FC`` (7B-Net for DVS-Gesture when blocks=7)."""

    def __init__(self, blocks, width, in_channels, num_classes, T, encoding, image_size, neuron, connect):
        super().__init__()
        self.encoder = make_encoder(encoding, T, in_channels, False)
        self.stem = nn.Sequential(*conv_bn(in_channels, width, 3), neuron())
        stages = []
        for _ in range(blocks):
            stages += [SEWBlock(width, width, 1, neuron, connect), PerStep(nn.MaxPool2d(2, 2))]
        self.stages = nn.Sequential(*stages)
        self.flatten = PerStep(nn.Flatten())
        self.readout = Readout(width * (image_size >> blocks) ** 2, num_classes)

    def forward(self, x):
        return self.readout(self.flatten(self.stages(self.stem(self.encoder(x)))))


def sew_7bnet(in_channels=2, num_classes=11, T=16, width=32, blocks=7, image_size=128, connect="ADD", neuron="PLIF",
              tau=2.0, v_threshold=1.0, encoding="frames"):
    """SEW 7B-Net (DVS-Gesture: 97.92 % with ADD). ``image_size`` must survive ``blocks`` halvings."""
    if image_size >> blocks < 1 or image_size % (1 << blocks):
        fitting_blocks = (image_size & -image_size).bit_length() - 1 if image_size > 0 else 0
        raise ValueError(f"{blocks} max-poolings need image_size to be a multiple of {1 << blocks}, got {image_size}; "
                         f"pass image_size={1 << blocks} (--image-size {1 << blocks}) or at most {fitting_blocks} "
                         f"blocks (--set blocks={fitting_blocks})")
    return SEW7BNet(blocks, int(width), in_channels, num_classes, T, encoding, image_size,
                    make_neuron(neuron, tau, v_threshold), connect)
