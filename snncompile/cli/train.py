"""``snncompile train``: train a zoo architecture on real offline data and save it as a checkpoint.

The data decides the model's input channels, number of classes and (for architectures that have the option) image
size; the encoding defaults to the architecture's own. The held-out test accuracy and the training time are printed
and stored in the checkpoint's metrics. PyTorch, the zoo and the data are imported when the command runs (or its help
is printed), not when the parser is built.
"""

import argparse
import ast

from snncompile.errors import ConfigError, require_count
from snncompile.limits import MAX_TIMESTEPS, require_image_size, require_memory
from snncompile.outputs import check_output

WIDTH_NAMES = ("small", "middle", "large")
SET_BY_OPTION = {"in_channels": "the data", "num_classes": "the data", "image_size": "--image-size",
                 "encoding": "--encoding", "T": "--T", "width": "--width", "levels": "--levels"}

EXAMPLES = """examples:
  snncompile train --arch mlf_dsresnet14 --width 8 --levels 3 --T 4 --data digits --epochs 12 -o build/model.pt
  snncompile train --arch sew_7bnet --width 8 --image-size 16 --set blocks=3 --epochs 10 -o build/sew.pt
"""


def add_parser(subparsers) -> None:
    """Register ``train`` and its options."""
    parser = subparsers.add_parser(
        "train", help="train a zoo architecture on real offline data",
        description="Train a zoo architecture on real offline data and save it as a checkpoint.\n"
                    "The data decides the model's input channels, classes and image size; the held-out test\n"
                    "accuracy and the training time are printed and stored in the checkpoint's metrics.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True, metavar="NAME", help="zoo architecture (listed below)")
    data_option = parser.add_argument("--data", default="digits", metavar="NAME", help="data set (default: digits)")
    parser.add_argument("--epochs", required=True, type=int, metavar="E", help="passes over the training set")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="checkpoint file to write (.pt): a new path")
    parser.add_argument("--force", action="store_true",
                        help="replace a previous checkpoint at FILE (anything else there is never replaced)")
    parser.add_argument("--T", type=int, default=4, help="timesteps per sample (default: 4)")
    parser.add_argument("--width", type=_width, metavar="W",
                        help=f"channels of the first stage: an integer or one of {', '.join(WIDTH_NAMES)} "
                             f"where the architecture names its widths (default: the architecture's)")
    parser.add_argument("--levels", type=int, metavar="K",
                        help="firing levels of multi-level (MLF) neurons, for architectures with a levels option")
    parser.add_argument("--image-size", type=int, default=8, metavar="S",
                        help="side of the square input in pixels; larger than the data's own is upsampled "
                             "(default: 8, the digits' size)")
    encoding_option = parser.add_argument("--encoding", metavar="KIND",
                                          help="input encoding (default: the architecture's)")
    batch_size_option = parser.add_argument("--batch-size", type=int, metavar="B", help="samples per update")
    lr_option = parser.add_argument("--lr", type=float,
                                    help="initial learning rate of Adam, decayed to 0 by a cosine")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initial weights and of the sample order (default: 0); "
                             "the train/test split is fixed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other architecture option, e.g. --set decay=0.5 --set connect=IAND "
                             "(VALUE is read as a Python literal, else as a string); repeatable")
    parser.set_defaults(run=run)

    def complete_help(parser) -> None:
        from snncompile.data import DATASETS, ENCODINGS
        from snncompile.training_defaults import BATCH_SIZE, LEARNING_RATE

        data_option.help = f"data set, one of: {', '.join(DATASETS)} (default: digits)"
        encoding_option.help = (f"input encoding, one of: {', '.join(ENCODINGS)} (default: the architecture's own: "
                                f"frames for the event-camera models, direct for the others)")
        batch_size_option.help = f"samples per update (default: {BATCH_SIZE})"
        lr_option.help = f"initial learning rate of Adam, decayed to 0 by a cosine (default: {LEARNING_RATE})"
        parser.epilog = EXAMPLES + "\n" + _zoo_listing()

    parser.complete_help = complete_help


def run(args: argparse.Namespace) -> int:
    """Train, save, and print the held-out accuracy and training time."""
    import torch

    from snncompile import checkpoint
    from snncompile.data import load
    from snncompile.models import build, choose_stem, default_config
    from snncompile.training import train

    check_output(args.output, "-o", "checkpoint", previous=checkpoint.is_checkpoint, force=args.force,
                 directory=False)
    defaults = default_config(args.arch)
    data = load(args.data, encoding=args.encoding or defaults["encoding"],
                image_size=require_image_size(args.image_size), T=require_count(args.T, "--T", maximum=MAX_TIMESTEPS))
    config = _model_config(args, defaults, data)
    if choose_stem(args.arch, config, data.image_size):
        print(f"{args.arch}: stem=cifar (3x3 stride 1, no pooling) for {data.image_size}-pixel images; "
              f"--set stem=imagenet keeps the ImageNet stem")
    _require_trainable(args.arch, config)
    torch.manual_seed(args.seed)
    model = build(args.arch, **config)
    chosen = {option: value for option, value in (("batch_size", args.batch_size), ("lr", args.lr))
              if value is not None}
    metrics = train(model, data, epochs=args.epochs, seed=args.seed, **chosen)
    checkpoint.save(args.output, model, metrics)
    print(f"{args.arch} on {data.name} ({data.encoding}, T={data.T}): test accuracy {metrics['test_accuracy']:.2%} "
          f"on {metrics['num_test']} held-out samples, train accuracy {metrics['train_accuracy']:.2%}")
    epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
    print(f"trained {epochs} in {metrics['train_seconds']:.1f} s; saved {args.output}")
    return 0


def _model_config(args: argparse.Namespace, defaults: dict, data) -> dict:
    """The options of the model: the data's shape, the dedicated command-line options, then ``--set``."""
    from snncompile.models import ARCHS, default_config

    config = {"in_channels": data.in_channels, "num_classes": data.num_classes, "T": args.T,
              "encoding": data.encoding}
    if "image_size" in defaults:
        config["image_size"] = data.image_size
    if args.width is not None:
        config["width"] = args.width
    if args.levels is not None:
        if "levels" not in defaults:
            with_levels = [name for name in ARCHS if "levels" in default_config(name)]
            raise ConfigError(f"architecture {args.arch!r} has no --levels option; "
                              f"these have: {', '.join(with_levels)}")
        config["levels"] = args.levels
    for item in args.set:
        key, value = _setting(item)
        if key in SET_BY_OPTION:
            raise ConfigError(f"--set {item}: {key} comes from {SET_BY_OPTION[key]}, not from --set")
        config[key] = value
    return config


def _require_trainable(arch: str, config: dict) -> None:
    """Refuse a model whose parameters, with their gradients and Adam's two moments, would not fit in memory: its
    shapes are built on the ``meta`` device first, which allocates nothing."""
    import torch

    from snncompile.models import build

    try:
        with torch.device("meta"):
            parameters = sum(p.numel() for p in build(arch, **config).parameters())
    except (RuntimeError, OverflowError) as err:
        raise ConfigError(f"{arch} with this configuration is too large to build ({str(err).splitlines()[0]}); "
                          f"choose a smaller --width") from None
    require_memory(4 * 4 * parameters, f"training {arch} ({parameters:,} parameters)", "choose a smaller --width")


def _setting(item: str) -> tuple[str, object]:
    """``"key=value"`` -> ``(key, value)``, the value a Python literal if it reads as one, else the text."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ConfigError(f"--set expects KEY=VALUE with KEY an option name, got {item!r}")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def _width(text: str):
    """``--width``: an integer number of channels, or a named width passed on as text."""
    try:
        return int(text)
    except ValueError:
        return text


def _zoo_listing() -> str:
    """The ``--arch`` names grouped by family, for the help epilog."""
    from snncompile.models import ARCHS, FAMILIES

    lines = ["architectures (--arch):"]
    for family, title in FAMILIES.items():
        names = [name for name in ARCHS if name.startswith(family)]
        lines.append(f"  {', '.join(names)}\n      {title}")
    return "\n".join(lines)
