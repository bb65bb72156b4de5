"""Shared fixtures: tiny instances of every zoo architecture (8x8 inputs, T=2, width 4)."""

import pytest

from snncompile.models import ARCHS, default_config
from snncompile.models import FAMILIES as ZOO_FAMILIES


def pytest_configure(config):
    config.addinivalue_line("markers", "lava: runs networks in Lava (one OS process per Lava process; select with "
                                       "-m lava, skip with -m 'not lava')")


def tiny_config(name: str, in_channels: int = 1, num_classes: int = 10, T: int = 2, width: int = 4) -> dict:
    """Options for a tiny, fast instance of architecture ``name`` that takes ``[B, in_channels, 8, 8]`` images."""
    options = default_config(name)
    config = dict(in_channels=in_channels, num_classes=num_classes, T=T, width=width, encoding="direct")
    if "image_size" in options:
        config["image_size"] = 8
    if "blocks" in options:
        config["blocks"] = 3
    if "hidden" in options:
        config["hidden"] = 16
    if options.get("stem") == "imagenet":
        config["stem"] = "cifar"
    return config


@pytest.fixture(params=sorted(ARCHS))
def arch(request):
    """Every architecture name in the zoo."""
    return request.param


# The zoo as the backend-equivalence tests run it: one variant per line, every zoo family (models.FAMILIES) and every
# feature the compiler treats apart (MLF levels, neuron models, SEW joins, stems, bottlenecks, event-frame input, max
# pooling over counts). name: (architecture, options beyond tiny_config). SEW LIF with tau=2 fires enough for its AND
# joins to fire.
FAMILIES = {
    "mlf_k1": ("mlf_dsresnet14", dict(levels=1)),
    "mlf_k2": ("mlf_dsresnet14", dict(levels=2)),
    "mlf_k3": ("mlf_dsresnet14", dict(levels=3)),
    "spiking_resnet": ("spiking_resnet14", {}),
    "resnet_snn": ("resnet_snn14", {}),
    "tdbn_resnet19": ("tdbn_resnet19", {}),
    "tdbn_resnet17_frames": ("tdbn_resnet17", dict(in_channels=2, encoding="frames")),
    "sew_add_if": ("sew_resnet18", dict(connect="ADD", neuron="IF")),
    "sew_and_lif": ("sew_resnet18", dict(connect="AND", neuron="LIF", tau=2.0)),
    "sew_iand_plif": ("sew_resnet18", dict(connect="IAND", neuron="PLIF")),
    "sew_imagenet_stem": ("sew_resnet18", dict(stem="imagenet")),
    "sew_bottleneck": ("sew_resnet50", dict(width=2)),
    "7bnet_add_maxpool": ("sew_7bnet", dict(in_channels=2, encoding="frames", connect="ADD")),
    "sbp": ("sbp_resnet18", {}),
}


def zoo_family(arch: str) -> str:
    """The zoo family (a key of :data:`snncompile.models.FAMILIES`) that architecture ``arch`` belongs to."""
    (family,) = [family for family in ZOO_FAMILIES if arch.startswith(family)]
    return family


def family_model(variant: str, *, width: int = 6, T: int = 3, seed: int = 0, dtype=None):
    """A tiny random-weight instance of :data:`FAMILIES` ``variant`` in eval mode, with :func:`lively` BN statistics
    (float64 unless ``dtype`` says otherwise), and its config."""
    import torch

    from snncompile.models import build

    arch, options = FAMILIES[variant]
    config = {**tiny_config(arch, width=width, T=T), **options}
    torch.manual_seed(seed)
    return lively(build(arch, **config), seed).to(dtype or torch.float64).eval(), config


def family_input(config: dict, batch: int = 4, seed: int = 0):
    """Random float64 inputs for a model of ``config``: images in [0, 1), or event frames ``[T, B, C, 8, 8]``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    if config["encoding"] == "frames":
        return (torch.rand(config["T"], batch, config["in_channels"], 8, 8, generator=generator) > 0.6).double()
    return torch.rand(batch, config["in_channels"], 8, 8, generator=generator, dtype=torch.float64)


def lively(model, seed: int = 0, shift: float = 0.0):
    """Give every BN random statistics and affine terms so that random-weight networks fire at moderate rates
    (with PyTorch's default statistics most tiny random networks stay nearly silent); a negative ``shift`` of the BN
    biases makes them fire less."""
    import torch
    from torch import nn

    from snncompile.models.norm import ThresholdDependentBatchNorm

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (ThresholdDependentBatchNorm, nn.modules.batchnorm._BatchNorm)):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) * 0.1 + 0.02)
                if module.weight is not None:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=generator) * 0.3 + 0.3 + shift)
    return model


# One trained digits model per seed family: (arch, options, epochs). Measured held-out accuracies are in the README.
TRAINED = {
    "mlf_dsresnet": ("mlf_dsresnet14", dict(width=8, levels=3), 8),
    "tdbn_resnet": ("tdbn_resnet19", dict(width=16, hidden=64), 8),
    "sew_resnet": ("sew_resnet18", dict(width=8, stem="cifar", connect="ADD"), 8),
    "sbp_resnet": ("sbp_resnet18", dict(width=16), 8),
}


def train_family(family: str, data) -> tuple:
    """``(model, metrics)``: the :data:`TRAINED` model of ``family`` trained on ``data`` (digits, T=2). Its initial
    weights and the training both come from seed 0, so every run (whatever ran before it) gives the same weights."""
    import torch

    from snncompile.models import build
    from snncompile.training import train

    arch, options, epochs = TRAINED[family]
    torch.manual_seed(0)
    model = build(arch, in_channels=data.in_channels, num_classes=data.num_classes, T=2, **options)
    return model, train(model, data, epochs=epochs, seed=0, progress=False)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``trained(family) -> (model, data, metrics)``: the family's model trained on digits at T=2 (once per session),
    saved as a checkpoint and loaded back."""
    from snncompile import checkpoint
    from snncompile.data import load

    cache = {}

    def get(family):
        if family not in cache:
            data = load("digits", encoding="direct", T=2)
            model, metrics = train_family(family, data)
            path = tmp_path_factory.mktemp("trained") / f"{family}.pt"
            checkpoint.save(path, model, metrics)
            loaded, _ = checkpoint.load(path)
            cache[family] = (loaded, data, metrics)
        return cache[family]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny MLF DS-ResNet (K=2, width 4, T=2) for digits with random weights and :func:`lively` BN statistics, saved
    as a checkpoint: what the commands and examples that read a trained one need (its data set, encoding, T and image
    size), in well under a second, with every layer firing. Its accuracy is chance."""
    import torch

    from snncompile import checkpoint
    from snncompile.models import build

    torch.manual_seed(0)
    model = lively(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14"), levels=2)).eval()
    metrics = {"dataset": "digits", "encoding": "direct", "T": 2, "image_size": 8, "epochs": 0}
    path = tmp_path_factory.mktemp("tiny") / "mlf_tiny.pt"
    checkpoint.save(path, model, metrics)
    return path
