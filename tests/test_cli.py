"""The ``snncompile`` command: train writes a loadable checkpoint; expected errors are one line, never a traceback."""

import re
import subprocess
import sys
from importlib import metadata

import pytest

from snncompile import checkpoint, training
from snncompile.cli import train as train_command
from snncompile.cli.main import main
from snncompile.models import ARCHS, build, choose_stem

TINY = ["--width", "4", "--T", "2", "--epochs", "1"]


def snncompile(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m snncompile ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "snncompile", *args], capture_output=True, text=True,
                          timeout=120)


def test_train_writes_a_checkpoint_with_its_test_accuracy(tmp_path, capsys):
    output = tmp_path / "out" / "model.pt"
    assert main(["train", "--arch", "mlf_dsresnet14", "--levels", "2", "--set", "decay=0.5", *TINY,
                 "-o", str(output)]) == 0
    model, saved = checkpoint.load(output)
    chosen = {"width": 4, "levels": 2, "decay": 0.5, "T": 2, "in_channels": 1, "encoding": "direct"}
    assert {key: model.config[key] for key in chosen} == chosen
    metrics = saved["metrics"]
    assert metrics["dataset"] == "digits" and metrics["epochs"] == 1 and 0 <= metrics["test_accuracy"] <= 1
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in capsys.readouterr().out


def test_train_takes_the_architectures_own_encoding(tmp_path):
    output = tmp_path / "sew.pt"
    assert main(["train", "--arch", "sew_7bnet", "--image-size", "16", "--set", "blocks=3", *TINY,
                 "-o", str(output)]) == 0
    model, saved = checkpoint.load(output)
    assert (model.config["encoding"], model.config["in_channels"], model.config["image_size"]) == ("frames", 2, 16)
    assert saved["metrics"]["encoding"] == "frames"


def test_python_m_snncompile_trains_in_a_fresh_process(tmp_path):
    output = tmp_path / "model.pt"
    result = snncompile("train", "--arch", "spiking_resnet14", *TINY, "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    checkpoint.load(output)


def test_an_unknown_arch_is_one_line_on_stderr_and_exit_2(tmp_path):
    result = snncompile("train", "--arch", "no_such_net", *TINY, "-o", str(tmp_path / "x.pt"))
    assert result.returncode == 2
    assert result.stderr.startswith("snncompile: error: unknown architecture 'no_such_net'")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["--arch", "sew_resnet18", "--levels", "3"], "has no --levels option"),
    (["--arch", "mlf_dsresnet14", "--set", "T=3"], "T comes from --T"),
    (["--arch", "mlf_dsresnet14", "--set", "bad"], "--set expects KEY=VALUE"),
    (["--arch", "mlf_dsresnet14", "--data", "mnist"], "unknown data set 'mnist'"),
    (["--arch", "mlf_dsresnet14", "--encoding", "rate"], "unknown encoding 'rate'"),
    (["--arch", "sew_7bnet"], "need image_size to be a multiple of 128, got 8; pass image_size=128 "
                              "(--image-size 128) or at most 3 blocks (--set blocks=3)"),
])
def test_bad_options_exit_2_with_one_line(args, message, tmp_path, capsys):
    assert main(["train", *args, *TINY, "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and message in err and err.count("\n") == 1


def test_interrupt_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "train", interrupted)
    assert main(["train", "--arch", "mlf_dsresnet14", *TINY, "-o", str(tmp_path / "x.pt")]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_set_values_are_python_literals_or_text():
    assert train_command._setting("decay=0.5") == ("decay", 0.5)
    assert train_command._setting("connect=IAND") == ("connect", "IAND")
    assert train_command._setting("input_bn=True") == ("input_bn", True)


def test_help_teaches_every_option_with_an_example(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--arch", "--data", "--epochs", "--T", "--width", "--levels", "--image-size", "--encoding",
                   "--batch-size", "--lr", "--seed", "--set", "--output"):
        assert option in text
    assert "examples:" in text and all(name in text for name in ARCHS)
    result = snncompile("--help")
    assert result.returncode == 0 and "train" in result.stdout and "example:" in result.stdout


HEAVY_LIBRARIES = ("torch", "onnx", "onnxruntime", "sklearn", "lava", "matplotlib")


@pytest.mark.parametrize("command", [(), ("train",), ("compile",), ("inspect",), ("simulate",), ("energy",), ("fit",),
                                     ("sweep",)])
def test_help_imports_no_heavy_library(command):
    """``snncompile --help`` (and the help of commands whose text needs no zoo or data set) answers without importing
    PyTorch, ONNX, scikit-learn, Lava or matplotlib: ``-X importtime`` lists every module the process imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "snncompile", *command, "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: snncompile" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "snncompile" in imported and not imported & set(HEAVY_LIBRARIES)


def test_building_the_parser_imports_no_heavy_library():
    script = ("import sys; from snncompile.cli.main import build_parser; "
              "build_parser().parse_args(['simulate', 'build/model.numpy']); "
              f"print(sorted(name for name in {HEAVY_LIBRARIES!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_of_every_command_lists_what_heavy_modules_know(capsys):
    assert main(["simulate", "--help"]) == 0
    assert "one of: digits" in capsys.readouterr().out
    assert main(["energy", "--help"]) == 0
    assert "one of: cmos45, " in capsys.readouterr().out


def test_version_prints_the_installed_version():
    result = snncompile("--version")
    assert result.returncode == 0
    assert result.stdout == f"snncompile {metadata.version('snncompile')}\n"


def test_training_prints_one_line_per_epoch_when_piped(tmp_path):
    result = snncompile("train", "--arch", "mlf_dsresnet14", "--width", "4", "--T", "2", "--epochs", "2",
                        "-o", str(tmp_path / "model.pt"))
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2
    for number, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"epoch {number}/2: loss \d+\.\d{{3}}, train accuracy \d+\.\d%, \d+\.\d s", line)


def test_small_images_get_the_small_image_stem(tmp_path, capsys):
    output = tmp_path / "sew.pt"
    assert main(["train", "--arch", "sew_resnet18", *TINY, "-o", str(output)]) == 0
    model, _ = checkpoint.load(output)
    assert model.config["stem"] == "cifar"
    assert "sew_resnet18: stem=cifar (3x3 stride 1, no pooling) for 8-pixel images" in capsys.readouterr().out


@pytest.mark.parametrize("config, image_size, chosen, stem", [
    ({}, 8, True, "cifar"),
    ({}, 64, False, None),                            # large enough: the architecture's own (ImageNet) stem
    ({"stem": "imagenet"}, 8, False, "imagenet"),     # --set stem=... is never overridden
])
def test_the_stem_is_chosen_only_for_small_images_and_never_over_the_user(config, image_size, chosen, stem):
    assert choose_stem("sew_resnet18", config, image_size) is chosen
    assert config.get("stem") == stem
    model = build("sew_resnet18", **config, image_size=image_size, width=4)  # the Python API chooses alike
    assert model.config["stem"] == (stem or "imagenet") and "image_size" not in model.config
