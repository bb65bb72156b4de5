"""``--T`` (issue 16): compile for another number of steps than the model records (a NIR file records none) and
simulate or price an artifact at another ``T``, with the range analysis re-run for it: refused, naming the
population, where the chip's integers would overflow."""

import json

import nir
import numpy as np
import pytest

from snncompile.backends import get_backend
from snncompile.backends.nir.export import to_nir
from snncompile.cli.main import main
from snncompile.compiler import load_artifact, read_model
from snncompile.data import load, read_file

from test_data_files import event_file, frames_classifier, frames_nir  # noqa: F401 (fixtures)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def digits(count: int) -> np.ndarray:
    return load("digits").test_x[:count].numpy().astype(np.float64)


@pytest.fixture(scope="module")
def foreign_nir(tmp_path_factory):
    """The frames classifier as another tool writes NIR: no snncompile metadata, so no T."""
    graph = to_nir(frames_classifier())
    graph.metadata = {}
    for node in graph.nodes.values():
        node.metadata = {}
    path = tmp_path_factory.mktemp("foreign") / "foreign.nir"
    nir.write(path, graph)
    return path


@pytest.fixture(scope="module")
def direct_artifact(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("direct") / "model"
    assert main(["compile", str(tiny_checkpoint), "-o", str(out)]) == 0
    return out


def test_compile_T_sets_the_steps_a_checkpoint_runs(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "t4"
    assert main(["compile", str(tiny_checkpoint), "--T", "4", "-o", str(out)]) == 0
    assert "T=4" in capsys.readouterr().out
    graph, float_graph, report = load_artifact(out)
    assert graph.metadata["T"] == float_graph.metadata["T"] == report["T"] == 4
    assert main(["simulate", str(out), "--limit", "3", "--json"]) == 0
    simulated = last_json(capsys)
    expected = get_backend("numpy").run(graph, digits(3), 4)
    assert simulated["T"] == 4 and simulated["predictions"] == expected.output.argmax(1).tolist()
    assert simulated["spikes"] == {name: int(c.sum()) for name, c in expected.spike_counts.items()}


def test_a_nir_file_without_T_needs_one_and_is_range_checked_for_it(foreign_nir, tmp_path, capsys):
    assert main(["compile", str(foreign_nir), "-o", str(tmp_path / "none")]) == 2
    assert "foreign.nir records no T (timesteps per sample): pass --T" in capsys.readouterr().err
    assert read_model(foreign_nir, T=3).metadata["T"] == 3
    readout = {}
    for T in (3, 3000):
        assert main(["compile", str(foreign_nir), "--T", str(T), "-o", str(tmp_path / f"t{T}")]) == 0
        report = load_artifact(tmp_path / f"t{T}")[2]
        readout[T] = next(group for group in report["populations"] if group["populations"] == ["readout"])
    # the readout sums T steps: at T=3 it fits as max-abs scaled, at T=3000 the range analysis shrinks its scale
    assert readout[3]["rescaled_by"] == 1 and readout[3000]["rescaled_by"] < 1
    assert readout[3000]["range_margin"] >= 1 and readout[3]["range_margin"] > 20 * readout[3000]["range_margin"]


def test_simulate_and_energy_run_another_T_as_the_simulator_does_at_it(direct_artifact, tmp_path, capsys):
    assert main(["simulate", str(direct_artifact), "--T", "3", "--limit", "3", "--json"]) == 0
    simulated = last_json(capsys)
    graph = load_artifact(direct_artifact)[0]
    expected = get_backend("numpy").run(graph, digits(3), 3)
    assert simulated["T"] == 3 and simulated["predictions"] == expected.output.argmax(1).tolist()
    assert simulated["spikes"] == {name: int(c.sum()) for name, c in expected.spike_counts.items()}
    assert main(["energy", str(direct_artifact), "--T", "3", "--limit", "3", "--plot", str(tmp_path / "e.png")]) == 0
    assert "on 3 held-out samples, T=3" in capsys.readouterr().out


def test_a_T_where_the_integers_would_overflow_is_refused_naming_the_population(direct_artifact, tmp_path, capsys):
    for command in ("simulate", "energy"):
        assert main([command, str(direct_artifact), "--T", "100000", "--limit", "1",
                     "--plot", str(tmp_path / "e.png")][:None if command == "energy" else -2]) == 1
        err = capsys.readouterr().err
        assert err.startswith("snncompile: error: population 'head.readout': at T=100000") and err.count("\n") == 1
        assert "compile --T 100000" in err
    assert not (tmp_path / "e.png").exists()


def test_event_streams_are_binned_into_the_T_a_frames_artifact_runs(frames_nir, event_file, tmp_path,  # noqa: F811
                                                                    capsys):
    path = event_file[0]
    out = tmp_path / "frames"
    assert main(["compile", str(frames_nir), "--T", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--data", str(path), "--T", "3", "--json"]) == 0
    simulated = last_json(capsys)
    frames = read_file(path, T=3, binary=True).x
    expected = get_backend("numpy").run(load_artifact(out)[0], np.ascontiguousarray(frames.swapaxes(0, 1)), 3)
    assert simulated["T"] == 3 and simulated["predictions"] == expected.output.argmax(1).tolist()
    np.save(tmp_path / "frames.npy", frames)  # 3 frames per sample: runs at --T 3 only
    assert main(["simulate", str(out), "--data", str(tmp_path / "frames.npy")]) == 2
    assert "holds [8, 3, 2, 8, 8]; pass --T 3 to run one step per frame" in capsys.readouterr().err


def test_analog_inputs_beyond_the_range_compiled_for_are_refused_where_they_would_overflow(direct_artifact, tmp_path,
                                                                                           capsys):
    np.save(tmp_path / "bytes.npy", digits(2) * 255)  # 0..255 pixels: the artifact was range-checked for [0, 1]
    np.save(tmp_path / "half.npy", digits(2) * 0.5)
    assert main(["simulate", str(direct_artifact), "--data", str(tmp_path / "bytes.npy")]) == 1
    err = capsys.readouterr().err
    assert "at T=2 with analog inputs from 0 to 255 its worst case is" in err and err.count("\n") == 1
    assert err.strip().endswith("scale the analog inputs into [0, 1], the range it was compiled for")
    assert main(["simulate", str(direct_artifact), "--data", str(tmp_path / "half.npy")]) == 0
