"""The reference model zoo: the four seed families, built by name.

>>> from snncompile.models import build, ARCHS
>>> model = build("mlf_dsresnet20", width="small", levels=3, T=4)

Every model takes ``[B, C, H, W]`` images (``encoding="direct"``: fed identically at each of ``T`` steps) or
``[T, B, C, H, W]`` event frames (``encoding="frames"``) and returns logits ``[B, classes]`` (the readout averaged over
time). ``model.arch`` and ``model.config`` (every option, defaults filled in, plain Python values) rebuild it.
"""

import inspect
from collections.abc import Mapping
from importlib import import_module

from snncompile.errors import ConfigError

DEPTHS = (14, 20, 32, 44, 68)  # the CIFAR ResNets' depths (6n + 2)


class Zoo(Mapping):
    """Architecture name -> builder. A builder's module (and with it PyTorch) is imported when the name is first
    looked up, so the names are known without PyTorch (``--help`` lists them at once)."""

    def __init__(self, sources: dict):
        self._sources = sources  # name -> (module, factory, arguments the factory is called with, or None)
        self._builders = {}

    def __getitem__(self, name: str):
        if name not in self._builders:
            module, factory, arguments = self._sources[name]
            made = getattr(import_module(f"{__name__}.{module}"), factory)
            self._builders[name] = made if arguments is None else made(*arguments)
        return self._builders[name]

    def __contains__(self, name) -> bool:
        return name in self._sources

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


ARCHS = Zoo({
    **{f"mlf_dsresnet{d}": ("cifar_resnets", "builder", ("ds", d)) for d in DEPTHS},
    **{f"spiking_resnet{d}": ("cifar_resnets", "builder", ("spiking", d)) for d in DEPTHS},
    **{f"resnet_snn{d}": ("cifar_resnets", "builder", ("resnet_snn", d)) for d in DEPTHS},
    "tdbn_resnet19": ("tdbn_resnet", "resnet19", None),
    "tdbn_resnet17": ("tdbn_resnet", "resnet17", None),
    "sew_resnet18": ("sew_resnet", "builder", (18,)),
    "sew_resnet34": ("sew_resnet", "builder", (34,)),
    "sew_resnet50": ("sew_resnet", "builder", (50,)),
    "sew_7bnet": ("sew_resnet", "sew_7bnet", None),
    "sbp_resnet18": ("sbp_resnet", "resnet18", None),
})

SMALL_IMAGE = 64  # below this side an ImageNet stem (7x7 stride 2 and a max pool) leaves too few pixels

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
    """Build architecture ``name`` with ``config`` overriding its defaults (see :func:`default_config`).

    ``image_size`` (the input's side in pixels) is an option of the architectures that have one; for any other it
    only chooses the stem (:func:`choose_stem`)."""
    builder = _builder(name)
    options = default_config(name)
    image_size = config.get("image_size") if "image_size" in options else config.pop("image_size", None)
    if image_size is not None:
        choose_stem(name, config, image_size)
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


def choose_stem(name: str, config: dict, image_size: int) -> bool:
    """Give architecture ``name`` the small-image stem (``stem="cifar"``: 3x3 stride 1, no pooling) in ``config`` when
    its default stem is ImageNet's (7x7 stride 2 and a max pool), ``config`` does not choose one, and the images are
    smaller than :data:`SMALL_IMAGE`; returns whether it did."""
    if default_config(name).get("stem") != "imagenet" or "stem" in config or image_size >= SMALL_IMAGE:
        return False
    config["stem"] = "cifar"
    return True


def _builder(name: str):
    try:
        return ARCHS[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHS)}") from None
