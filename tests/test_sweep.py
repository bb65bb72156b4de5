"""``snncompile sweep``: a grid of bits x T on digits runs on a local Dask cluster, writes its table, JSON and Pareto
plot, and resumes after being killed without recomputing the points it had finished."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from snncompile.backends import get_backend
from snncompile.cluster import connect
from snncompile.cli.main import main
from snncompile.compiler import load_artifact
from snncompile.data.samples import samples_for
from snncompile.energy import chip_fit, estimate, measure
from snncompile.errors import ConfigError, OutputError
from snncompile.sweep import SweepDirectory, grid, mark_pareto, run_sweep, table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = ["--bits", "4,6,8", "--T", "2,4", "--limit", "48", "--batch-size", "24"]
KEYS = {f"numpy-b{bits}-T{T}-c0" for bits in (4, 6, 8) for T in (2, 4)}


@pytest.fixture(scope="module")
def client():
    """A local cluster of 2 worker processes, for the sweeps of this module."""
    with connect(workers=2) as client:
        yield client


def test_sweep_help_imports_no_heavy_library():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "snncompile", "sweep", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: snncompile sweep" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "snncompile" in imported and not imported & {"torch", "sklearn", "matplotlib", "dask", "distributed"}


def test_the_pareto_front_holds_the_points_no_other_point_beats():
    rows = [{"accuracy": a, "energy_pj": e} for a, e in [(0.9, 10.0), (0.8, 5.0), (0.8, 6.0), (0.95, 20.0),
                                                         (0.9, 12.0), (0.9, 10.0)]]
    mark_pareto(rows)
    assert [row["pareto"] for row in rows] == [True, True, False, True, False, True]


def test_a_grid_refuses_what_a_target_cannot_compile():
    assert len(grid(["numpy", "onnx"], [4, 8, 8], [2, 4], [0])) == 8
    with pytest.raises(ConfigError, match="--bits 12: target 'numpy' takes 2 to 9 bits"):
        grid(["numpy"], [12], [2], [0])
    with pytest.raises(ConfigError, match="unknown backend 'loihi3'"):
        grid(["loihi3"], [8], [2], [0])
    with pytest.raises(ConfigError, match="--T must be an integer"):
        grid(["numpy"], [8], [0], [0])


def test_a_sweep_directory_of_other_options_is_refused(tmp_path):
    SweepDirectory.open(tmp_path / "sweep", {"data": "digits", "limit": 48})
    with pytest.raises(ConfigError, match=r"holds a sweep with limit=48, this run has limit=96"):
        SweepDirectory.open(tmp_path / "sweep", {"data": "digits", "limit": 96})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holding other files"):
        SweepDirectory.open(tmp_path / "other", {"data": "digits"})


def finished_points(directory) -> dict:
    """key -> (inode, modification time, content) of every point file of the sweep in ``directory``."""
    points = directory / "points"
    return {path.stem: (path.stat().st_ino, path.stat().st_mtime_ns, path.read_text())
            for path in points.glob("*.json")} if points.is_dir() else {}


def test_a_killed_sweep_resumes_without_recomputing_its_finished_points(client, tiny_checkpoint, tmp_path, capsys):
    output = tmp_path / "sweep"
    options = [*GRID, "--scheduler", client.scheduler.address, "-o", str(output)]
    command = [sys.executable, "-m", "snncompile", "sweep", str(tiny_checkpoint), *options]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not finished_points(output) and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert killed.poll() is None, "the sweep ended before it could be killed"
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.wait()
    before = finished_points(output)
    assert 1 <= len(before) < len(KEYS) and set(before) <= KEYS
    for _, _, content in before.values():
        assert json.loads(content)["samples"] == 48  # every point file is whole

    assert main(["sweep", str(tiny_checkpoint), *options, "--json"]) == 0
    captured = capsys.readouterr()
    assert f"{len(before)} of 6 points already done, {6 - len(before)} to run" in captured.err
    progress = [line for line in captured.err.splitlines() if line.startswith("point ")]  # one line per point
    assert len(progress) == 6 - len(before) and progress[-1].endswith("samples/s")
    assert f"{6 - len(before)}/{6 - len(before)} points, {48 * (6 - len(before))}/" in progress[-1]
    after = finished_points(output)
    assert set(after) == KEYS and {key: after[key] for key in before} == before  # not recomputed
    rows = json.loads(captured.out.splitlines()[-1])["points"]
    assert [row["key"] for row in rows] == [f"numpy-b{bits}-T{T}-c0" for bits in (4, 6, 8) for T in (2, 4)]
    table = captured.out.splitlines()
    for row in rows:
        assert sum(line.startswith(row["key"] + " ") for line in table) == 1
    assert any(row["pareto"] for row in rows)
    assert (output / "pareto.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not [path for path in (output / "artifacts").iterdir() if path.name.startswith(".")]

    # a point is its artifact's design, and what measuring that artifact in one process gives
    graph, _, _ = load_artifact(output / "artifacts" / "numpy-b4-T4-c0")
    assert (graph.metadata["T"], graph.metadata["bits"]) == (4, 4)
    evaluation, activity = measure(graph, get_backend("numpy"), samples_for(graph, "digits", limit=48),
                                   progress=False)
    totals = estimate(graph, activity).totals
    point = next(row for row in rows if row["key"] == "numpy-b4-T4-c0")
    assert (point["accuracy"], point["energy_pj"], point["sops"]) == (evaluation.accuracy, totals["energy_pj"],
                                                                      totals["sops"])
    assert point["cores"] == chip_fit(graph).totals["cores"]
    T2 = next(row for row in rows if row["key"] == "numpy-b4-T2-c0")
    assert point["energy_pj"] > T2["energy_pj"]  # twice the steps, more spikes


def test_a_point_the_compiler_refuses_is_a_result_not_a_failure(client, tiny_checkpoint, tmp_path):
    points = grid(["numpy"], [2, 3], [2], [0])
    rows, failures = run_sweep(client, tiny_checkpoint, points, tmp_path / "sweep", limit=16, progress=False)
    assert failures == []  # refused once, not retried
    assert rows[0]["refused"].startswith("QuantizationRangeError: population ") and not rows[0]["pareto"]
    assert "refused" not in rows[1] and rows[1]["pareto"] and rows[1]["samples"] == 16
    assert table(rows).splitlines()[-1].startswith("numpy-b2-T2-c0: refused by the compiler (QuantizationRangeError")
    lines = []
    assert run_sweep(client, tiny_checkpoint, points, tmp_path / "sweep", limit=16, write=lines.append)[0] == rows
    assert lines == [f"{tmp_path / 'sweep'}: 2 of 2 points already done, 0 to run"]
