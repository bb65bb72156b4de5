"""Design sweeps: one checkpoint compiled and evaluated at every point of a grid of targets, weight bits, steps T and
calibration sizes, on a Dask cluster (:mod:`snncompile.cluster`); accuracy against energy per inference, the Pareto
front, and the chip fit of every point.

>>> with connect(workers=2) as client:
...     rows = run_sweep(client, "build/model.pt", grid(["numpy"], [4, 6, 8], [2, 4], [0]), "build/model.pt.sweep")
>>> print(table(rows)); plot(rows, "build/model.pt.sweep/pareto.png")

Each point is three kinds of task: compile (on a worker, into the sweep's directory), simulate its shards of the data
(recording the activity the energy needs), and summarize (merge the shards, price them, fit the chip). Points run side
by side; the client writes each finished point to its own file at once.

The sweep's directory holds everything, every file written atomically::

    sweep.json        what every point shares: the checkpoint (path and SHA-256), data, limit, profile, memory traffic
    points/KEY.json   one finished point (KEY: target-bBITS-TSTEPS-cCALIBRATE)
    artifacts/KEY/    its compiled artifact
    results.json      the table, with the Pareto front; pareto.png the plot (written by the command line)

A run skips every point whose file exists: an interrupted sweep resumes where it stopped, and a sweep grows by running
it again with more values. A directory of another checkpoint, data set, limit or profile is refused.
"""

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path

from .cluster import (RETRIES, Failures, data_source, failure, job_key, loaded, merge, reported, run_shard, say,
                      shard_bounds, shard_count, worker_count)
from .errors import (ConfigError, DataError, QuantizationRangeError, SerializationError, UnsupportedNodeError,
                     require_count)
from .limits import MAX_TIMESTEPS
from .outputs import atomic_file, check_output, save_figure

CONTEXT_FILE = "sweep.json"
POINTS_DIR = "points"
ARTIFACTS_DIR = "artifacts"
RESULTS_FILE = "results.json"
PLOT_FILE = "pareto.png"
FORMAT_VERSION = 1
PJ_PER_NJ = 1000.0
DESIGN_ERRORS = (QuantizationRangeError, UnsupportedNodeError, ConfigError)  # a point's answer, not a failure


@dataclass(frozen=True)
class Point:
    """One design: compiled for ``target`` with ``bits``-bit weights, run for ``T`` steps, its clipping calibrated on
    ``calibrate`` training samples (0: max-abs scales)."""

    target: str
    bits: int
    T: int
    calibrate: int

    @property
    def key(self) -> str:
        return f"{self.target}-b{self.bits}-T{self.T}-c{self.calibrate}"


def grid(targets, bits, steps, calibrations) -> list:
    """Every combination of the values given, each value checked (a target's registered backend and its chip's weight
    widths, T from 1 to :data:`~snncompile.limits.MAX_TIMESTEPS`, calibration sizes from 0), repeats dropped."""
    from .backends import get_backend

    for target in targets:
        widest = get_backend(target).chip.weight_bits
        for width in bits:
            if not 2 <= require_count(width, "--bits") <= widest:
                raise ConfigError(f"--bits {width}: target {target!r} takes 2 to {widest} bits")
    for T in steps:
        require_count(T, "--T", maximum=MAX_TIMESTEPS)
    for count in calibrations:
        require_count(count, "--calibrate (training samples; 0 for max-abs scales)", minimum=0)
    return list(dict.fromkeys(Point(*values) for values in product(targets, bits, steps, calibrations)))


class SweepDirectory:
    """The directory of one sweep (module docstring): its context, its finished points and their artifacts."""

    def __init__(self, path):
        self.path = Path(path)
        self.points, self.artifacts = self.path / POINTS_DIR, self.path / ARTIFACTS_DIR

    @staticmethod
    def describes(path) -> bool:
        """Whether ``path`` is a sweep's directory (which a run resumes)."""
        return (Path(path) / CONTEXT_FILE).is_file()

    @classmethod
    def open(cls, path, context: dict, *, inputs=()) -> "SweepDirectory":
        """The sweep at ``path`` for ``context``: a new one (``path`` new or an empty directory), or the one there
        when its context is the same; anything else is refused (nothing is written). Staging directories that an
        interrupted compile left in it are removed."""
        check_output(path, "-o", "sweep", inputs=inputs, previous=cls.describes)
        sweep = cls(path)
        context = {"format_version": FORMAT_VERSION, **context}
        if cls.describes(path):
            recorded = sweep.read(sweep.path / CONTEXT_FILE)
            changed = [key for key in sorted(set(recorded) | set(context)) if recorded.get(key) != context.get(key)]
            if changed:
                key = changed[0]
                raise ConfigError(f"-o {path}: holds a sweep with {key}={recorded.get(key)!r}, this run has "
                                  f"{key}={context.get(key)!r}; pass the same options to resume it, or a new -o")
            for leftover in sweep.artifacts.glob(".*") if sweep.artifacts.is_dir() else ():
                shutil.rmtree(leftover, ignore_errors=True)
        else:
            sweep.write(sweep.path / CONTEXT_FILE, context)
        return sweep

    def artifact(self, point: Point) -> Path:
        return self.artifacts / point.key

    def finished(self) -> dict:
        """key -> row of every point already done."""
        if not self.points.is_dir():
            return {}
        return {path.stem: self.read(path) for path in sorted(self.points.glob("*.json"))}

    def store(self, row: dict) -> None:
        self.write(self.points / f"{row['key']}.json", row)

    @staticmethod
    def read(path: Path) -> dict:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise SerializationError(f"{path}: unreadable ({type(err).__name__}); delete it to run that part of the "
                                     f"sweep again") from None
        if not isinstance(value, dict):
            raise SerializationError(f"{path}: not a JSON object; delete it to run that part of the sweep again")
        return value

    @staticmethod
    def write(path: Path, value) -> None:
        with atomic_file(path) as staging:
            staging.write_text(json.dumps(value, indent=1) + "\n")


def file_digest(path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@dataclass(frozen=True)
class Refused:
    """A point the compiler refuses (``reason``: its error): an answer of the sweep, stored like any point, not a
    failure to retry."""

    reason: str


def compile_point(checkpoint: str, point: Point, artifact: str):
    """On a worker: compile ``checkpoint`` at ``point`` into ``artifact`` (replacing what an interrupted run left
    there); returns the artifact's path, or :class:`Refused` when the compiler refuses the design
    (:data:`DESIGN_ERRORS`: its integers do not fit the chip at those bits, the target cannot run a node, a
    calibration larger than the training set). Any other error (a file that cannot be read or written) propagates."""
    from .compiler import compile

    with reported(f"compiling {point.key}"):
        try:
            compile(checkpoint, target=point.target, bits=point.bits, calibrate=point.calibrate, T=point.T,
                    output=artifact, force=True)
        except DESIGN_ERRORS as error:
            return Refused(f"{type(error).__name__}: {error}")
    return artifact


def simulate_shard(compiled, point: Point, data: str, limit, start: int, stop: int, batch_size: int):
    """On a worker: :func:`~snncompile.cluster.run_shard` of samples ``start:stop`` on the artifact ``compiled`` at
    ``point``, recording the activity; None when the compiler refused the point."""
    if isinstance(compiled, Refused):
        return None
    return run_shard(compiled, point.T, data, {"limit": limit}, start, stop, point.target, batch_size,
                     activity=True)


def summarize_point(compiled, point: Point, shards: list, data: str, limit, profile: str, memory: bool) -> dict:
    """On a worker: the row of ``point`` from the ``shards`` of its simulation on ``data``: accuracy, energy per
    inference under ``profile``, events, and the cores and chips of the chip fit; or, for a point the compiler
    refused, why."""
    from .energy import chip_fit, estimate

    if isinstance(compiled, Refused):
        return {"key": point.key, **asdict(point), "refused": compiled.reason}
    artifact = compiled
    with reported(f"summarizing {point.key}"):
        graph, _, samples = loaded(artifact, point.T, data, limit=limit)
        evaluation, activity = merge(shards, samples.y)
        totals = estimate(graph, activity, profile, memory=memory).totals
        fit = chip_fit(graph).as_json()
    return {"key": point.key, **asdict(point), "accuracy": evaluation.accuracy, "samples": evaluation.samples,
            "energy_pj": totals["energy_pj"], "ann_energy_pj": totals["ann_energy_pj"], "sops": totals["sops"],
            "macs": totals["macs"], "spikes": totals["spikes"], "cores": fit["totals"].get("cores"),
            "chips": fit["totals"].get("chips"), "fits_one_chip": fit.get("fits_one_chip"),
            "simulated_seconds": evaluation.seconds, "artifact": str(Path(ARTIFACTS_DIR) / point.key)}


def point_samples(checkpoint, data: str, T: int, limit):
    """The first ``limit`` (default: all) labelled samples of ``data`` as the checkpoint's model takes them at ``T``
    steps (:func:`~snncompile.data.samples.samples_for`). Unlabelled data is refused: a sweep compares accuracies."""
    from .compiler import read_model
    from .data.samples import samples_for

    if limit is not None:
        require_count(limit, "--limit")
    samples = samples_for(read_model(checkpoint, T=T), data, limit=limit)
    if samples.y is None:
        raise DataError(f"{samples.source}: no labels; a sweep compares accuracies, so its data needs labels")
    return samples


def submit_point(client, checkpoint: str, point: Point, artifact: str, data: str, limit, bounds: list,
                 batch_size: int, profile: str, memory: bool) -> tuple:
    """Submit the tasks of ``point``: compile into ``artifact``, simulate each shard ``(start, stop)`` of ``bounds``,
    summarize; returns ``(compile future, {shard future: samples}, summary future)``."""
    compiled = client.submit(compile_point, checkpoint, point, artifact, retries=RETRIES,
                             key=job_key("compile", point.key))
    shards = {client.submit(simulate_shard, compiled, point, data, limit, start, stop, batch_size, retries=RETRIES,
                            key=job_key("simulate", point.key, start, stop)): stop - start for start, stop in bounds}
    summary = client.submit(summarize_point, compiled, point, list(shards), data, limit, profile, memory,
                            retries=RETRIES, key=job_key("summarize", point.key))
    return compiled, shards, summary


class SweepProgress:
    """The progress of a sweep's run: a bar over its samples (with their throughput) showing the points done, and
    when stderr is not a terminal (a batch job's log), one line per point done through ``write``."""

    def __init__(self, samples: int, points: int, workers: int, shown: bool, write):
        from tqdm import tqdm

        self.bar = tqdm(total=samples, unit="sample", desc=f"sweep on {workers} workers",
                        disable=None if shown else True)
        self.lines = shown and self.bar.disable
        self.points, self.finished, self.samples, self.write = points, 0, 0, write
        self.started = time.monotonic()
        self.bar.set_postfix_str(f"points 0/{points}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def samples_done(self, count: int) -> None:
        self.samples += count
        self.bar.update(count)

    def point_done(self, point: Point) -> None:
        self.finished += 1
        self.bar.set_postfix_str(f"points {self.finished}/{self.points}")
        if self.lines:
            rate = self.samples / (time.monotonic() - self.started)
            self.write(f"point {point.key} done: {self.finished}/{self.points} points, {self.samples:,}/"
                       f"{self.bar.total:,} samples, {rate:,.1f} samples/s")


def run_sweep(client, checkpoint, points: list, output, *, data: str = "digits", limit=None, batch_size: int = 64,
              profile: str = "cmos45", memory: bool = False, progress: bool = True, write=None) -> tuple:
    """Run every point of ``points`` not yet finished in the sweep directory ``output`` on ``client``'s workers; returns
    ``(rows, failures)``: one row per point in the order of ``points`` (:func:`summarize_point`), and the failures
    that were retried. ``write`` prints a line (default: :func:`~snncompile.cluster.say`). A point that fails on
    every attempt stops the run with its error; the points finished before it stay stored."""
    from distributed import as_completed

    from .energy import profile as profile_named

    checkpoint, data = Path(checkpoint).resolve(), data_source(data)
    profile_named(profile)  # an unknown profile is refused before anything runs
    require_count(batch_size, "--batch-size")
    sweep = SweepDirectory.open(output, {"checkpoint": str(checkpoint), "sha256": file_digest(checkpoint),
                                         "data": data, "limit": limit, "profile": profile, "memory": memory},
                                inputs=[checkpoint])
    done = sweep.finished()
    pending = [point for point in points if point.key not in done]
    write = write or say
    if done:
        write(f"{sweep.path}: {len(points) - len(pending)} of {len(points)} points already done, "
              f"{len(pending)} to run")
    failures = []
    if pending:
        total = len(point_samples(checkpoint, data, pending[0].T, limit))  # checked here, before any worker starts
        workers = worker_count(client)
        bounds = shard_bounds(total, shard_count(total, batch_size, workers, len(pending)))
        with Failures(client, write) as failed, \
                SweepProgress(total * len(pending), len(pending), workers, progress, write) as shown:
            shards, summaries = {}, {}
            for point in pending:
                compiled, runs, summary = submit_point(client, str(checkpoint), point,
                                                       str(sweep.artifact(point).resolve()), data, limit, bounds,
                                                       batch_size, profile, memory)
                shards.update({run: (point, count) for run, count in runs.items()})
                summaries[summary] = point
                failed.watch([compiled, *runs, summary])
            futures = [*shards, *summaries]
            for future in as_completed(futures):
                point = shards[future][0] if future in shards else summaries[future]
                if future.status != "finished":
                    error = failure(future, f"sweep point {point.key}")
                    client.cancel(futures)
                    raise error from None
                if future in shards:
                    shown.samples_done(shards[future][1])
                    continue
                done[point.key] = future.result()
                sweep.store(done[point.key])
                shown.point_done(point)
        failures = failed.lines
    rows = [done[point.key] for point in points]
    mark_pareto(rows)
    sweep.write(sweep.path / RESULTS_FILE, {"points": rows, "failures": failures})
    return rows, failures


def mark_pareto(rows: list) -> None:
    """Set ``pareto`` on every row: True when no other row is at least as accurate at no more energy and better in
    one of them (never for a refused point)."""
    compiled = [row for row in rows if "refused" not in row]
    for row in rows:
        row["pareto"] = "refused" not in row and not any(
            other["accuracy"] >= row["accuracy"] and other["energy_pj"] <= row["energy_pj"]
            and (other["accuracy"] > row["accuracy"] or other["energy_pj"] < row["energy_pj"]) for other in compiled)


def table(rows: list) -> str:
    """One line per point, least energy first: its design, accuracy, energy and events per inference, the chip fit,
    and ``*`` on the Pareto front; then one line per point the compiler refused, with why."""
    from .text_table import text_table

    header = ("point", "target", "bits", "T", "calibrate", "accuracy", "energy nJ", "SOPs", "cores", "chips", "pareto")
    lines = [header]
    compiled = [row for row in rows if "refused" not in row]
    for row in sorted(compiled, key=lambda row: (row["energy_pj"], -row["accuracy"])):
        lines.append((row["key"], row["target"], str(row["bits"]), str(row["T"]), str(row["calibrate"]),
                      f"{row['accuracy']:.2%}", f"{row['energy_pj'] / PJ_PER_NJ:,.1f}", f"{row['sops']:,.0f}",
                      "" if row["cores"] is None else f"{row['cores']:,}", "" if row["chips"] is None else
                      str(row["chips"]), "*" if row["pareto"] else ""))
    refused = [f"{row['key']}: refused by the compiler ({row['refused']})" for row in rows if "refused" in row]
    return "\n".join([text_table(lines, "<<>>>>>>>><"), *refused])


def plot(rows: list, path, *, title: str = "") -> Path:
    """A PNG of accuracy against energy per inference, one labelled dot per point (refused points left out), the
    Pareto front joined, written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = [row for row in rows if "refused" not in row]
    figure, axes = pyplot.subplots(figsize=(8.0, 5.5), constrained_layout=True)
    energy = [row["energy_pj"] / PJ_PER_NJ for row in rows]
    accuracy = [row["accuracy"] * 100 for row in rows]
    axes.scatter(energy, accuracy, color="tab:gray", label="design point")
    front = sorted((row for row in rows if row["pareto"]), key=lambda row: row["energy_pj"])
    axes.plot([row["energy_pj"] / PJ_PER_NJ for row in front], [row["accuracy"] * 100 for row in front], "o-",
              color="tab:orange", label="Pareto front")
    for index, (row, x, y) in enumerate(sorted(zip(rows, energy, accuracy), key=lambda point: point[1])):
        fit = f", {row['cores']} cores" if row["cores"] is not None else ""
        axes.annotate(f"{row['target']} {row['bits']}b T{row['T']} c{row['calibrate']}{fit}", (x, y), fontsize=7,
                      xytext=(4, 4 if index % 2 else -10), textcoords="offset points")  # neighbours on both sides
    axes.set_xlabel("energy per inference (nJ)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title or "accuracy vs energy per inference")
    axes.legend(loc="lower right")
    return save_figure(figure, path)
