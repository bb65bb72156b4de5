"""The reference model zoo: the four seed families, built by name.

>>> from snncompile.models import build, ARCHS
>>> model = build("mlf_dsresnet20", width="small", levels=3, T=4)

Every model takes ``[B, C, H, W]`` images (``encoding="direct"``: fed identically at each of ``T`` steps) or
``[T, B, C, H, W]`` event frames (``encoding="frames"``) and returns logits ``[B, classes]`` (the readout averaged over
time). ``model.arch`` and ``model.config`` (every option, defaults filled in, plain Python values) rebuild it.
"""

import inspect

from snncompile.errors import ConfigError

from . import cifar_resnets, sbp_resnet, sew_resnet, tdbn_resnet

ARCHS = {
    **{f"mlf_dsresnet{d}": cifar_resnets.builder("ds", d) for d in cifar_resnets.DEPTHS},
    **{f"spiking_resnet{d}": cifar_resnets.builder("spiking", d) for d in cifar_resnets.DEPTHS},
    **{f"resnet_snn{d}": cifar_resnets.builder("resnet_snn", d) for d in cifar_resnets.DEPTHS},
    "tdbn_resnet19": tdbn_resnet.resnet19,
    "tdbn_resnet17": tdbn_resnet.resnet17,
    "sew_resnet18": sew_resnet.builder(18),
    "sew_resnet34": sew_resnet.builder(34),
    "sew_resnet50": sew_resnet.builder(50),
    "sew_7bnet": sew_resnet.sew_7bnet,
    "sbp_resnet18": sbp_resnet.resnet18,
}

FAMILIES = {
    "mlf_dsresnet": "MLF + spiking DS-ResNet (Feng et al. 2022)",
    "spiking_resnet": "Spiking ResNet baseline, activation after addition (Feng et al. 2022, Table 2)",
    "resnet_snn": "ResNet-SNN baseline, tdBN on every shortcut (Feng et al. 2022, Table 2)",
    "tdbn_resnet": "STBP-tdBN ResNet (Zheng et al. 2021)",
    "sew_resnet": "SEW ResNet (Fang et al. 2021)",
    "sew_7bnet": "SEW 7B-Net for DVS-Gesture (Fang et al. 2021)",
    "sbp_resnet": "Shortcut back-propagation ResNet (Guo et al. 2024)",
}


def default_config(name: str) -> dict:
    """Every option of architecture ``name`` with its default value."""
    builder = _builder(name)
    return {p.name: p.default for p in inspect.signature(builder).parameters.values()}


def build(name: str, **config):
    """Build architecture ``name`` with ``config`` overriding its defaults (see :func:`default_config`)."""
    builder = _builder(name)
    options = default_config(name)
    unknown = sorted(set(config) - set(options))
    if unknown:
        raise ConfigError(f"architecture {name!r} has no option(s) {', '.join(unknown)}; "
                          f"its options are: {', '.join(options)}")
    options.update(config)
    try:
        model = builder(**options)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"cannot build {name!r} with {config}: {err}") from err
    model.arch = name
    model.config = options
    return model


def _builder(name: str):
    try:
        return ARCHS[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHS)}") from None
