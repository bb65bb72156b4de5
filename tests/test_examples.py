"""The scripts in ``examples/`` run as a user runs them (a fresh Python process on a checkpoint) and print what they
promise."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args) -> str:
    """The output of ``python examples/NAME ARGS``, which must succeed."""
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def number(text: str) -> float:
    return float(text.replace(",", ""))


def test_compile_for_chip_writes_a_lava_artifact_that_fits(tiny_checkpoint, tmp_path):
    out = tmp_path / "model.lava"
    printed = run_example("compile_for_chip.py", tiny_checkpoint, "-o", out)
    assert "mlf_dsresnet14 for lava: 8-bit weights, T=2" in printed
    assert re.search(r"Loihi 2 fit: \d+ populations, [\d,]+ neurons, .* -> \d+ cores, 1 chip \(fits one chip\)", printed)
    assert f"wrote {out}" in printed and (out / "graph.json").is_file()


def test_simulate_events_prints_spikes_per_population(tiny_checkpoint):
    printed = run_example("simulate_events.py", tiny_checkpoint, "--samples", "8")
    assert re.search(r"mlf_dsresnet14: accuracy [\d.]+% on 8 held-out digits, T=2", printed)
    rows = re.findall(r"^(\S+\.level[12]) +256 +([\d,.]+) +([\d.]+) ([\d.]+)$", printed, flags=re.M)
    assert [name for name, *_ in rows][:2] == ["stem.2.level1", "stem.2.level2"]
    for name, total, *per_step in rows:  # each figure rounded to 0.1
        assert number(total) == pytest.approx(sum(map(number, per_step)), abs=0.15), name
    assert sum(number(total) for _, total, *_ in rows) > 0
    assert re.search(r"synaptic layer steps: \d+ event-driven, \d+ dense", printed)


def test_estimate_energy_prints_the_energy_per_inference(tiny_checkpoint):
    printed = run_example("estimate_energy.py", tiny_checkpoint, "--samples", "8", "--profile", "cmos45-int8")
    assert "accuracy" in printed and "on 8 digits; profile cmos45-int8" in printed
    assert re.search(r"^  stem\.0 +Conv2d +SOPs +0\.0 +MACs +3,872 ", printed, flags=re.M)
    total = re.search(r"per inference: ([\d,.]+) SOPs, 3,872 MACs \(every step; 1,936 once per input\), "
                      r"([\d,.]+) nJ; equivalent ANN ([\d,.]+) nJ", printed)
    assert total and number(total[1]) > 0 and number(total[2]) > 0 and number(total[3]) > 0


def test_custom_neuron_registers_a_converter_and_compiles_exactly():
    printed = run_example("custom_neuron.py", "--T", "3", "--samples", "8")
    assert re.search(r"traced: input \(Input\), conv1 \(Conv2d\), sn1 \(LIF\), conv2 \(Conv2d\), sn2 \(LIF\), ",
                     printed)
    assert re.search(r"float simulation vs PyTorch: the same spikes at every step \([\d,]+ spikes\)", printed)
    assert "integer network, numpy vs onnx: identical spikes and logits" in printed
    agreement = re.search(r"integer vs float: ([\d.]+)% of predictions and ([\d.]+)% of spikes agree", printed)
    assert agreement and number(agreement[2]) > 90
