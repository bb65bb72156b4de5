"""The compiler driver: trace -> lower -> quantize -> emit, with one report of what every stage did.

>>> import snncompile
>>> compiled = snncompile.compile("model.pt", target="numpy", bits=8, output="build/model")
>>> compiled.graph            # the integer, chip-ready graph
>>> compiled.report["passes"] # each pass with its time

A compiled artifact is a directory: the integer graph (``graph.json`` + ``tensors.npz``), the lowered float graph it
was quantized from (``float/``, for float-vs-integer comparisons) and ``report.json``. It is written atomically: into a
temporary sibling directory first, renamed into place only once complete, so a failed compile leaves nothing behind.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import ir, manifest
from .backends import get_backend
from .chip import LOIHI2, Chip
from .data.samples import samples_for
from .errors import ConfigError, SerializationError, require_count
from .frontend import is_factory_source, trace, trace_checkpoint, trace_factory
from .ir.summary import summarize
from .manifest import REPORT_FILE
from .outputs import atomic_directory, check_output
from .passes import PassManager, pipeline_for
from .steps import with_steps

FLOAT_DIR = "float"


@dataclass
class Compiled:
    """The result of :func:`compile`: the integer graph, the lowered float graph, the report, the artifact path."""

    graph: ir.Graph
    float_graph: ir.Graph
    report: dict
    artifact: Path | None = None


def lower_and_quantize(graph: ir.Graph, *, chip: Chip = LOIHI2, bits: int = 8, calibration=None, dump_dir=None,
                       dump_after=()) -> Compiled:
    """Run the pipeline for ``chip`` (:func:`snncompile.passes.pipeline_for`: the lowering passes, then the
    quantizer) on a traced float ``graph``; the lowered float graph is the graph the quantizer received.

    ``calibration``: sample inputs (as the simulator takes them) on which to choose the quantizer's clip ratio;
    without them every scale is max-abs."""
    manager = PassManager(pipeline_for(chip, bits, calibration=calibration), dump_dir, dump_after)
    lowered, lowering_report = manager.run(graph, stop=-1)
    quantized, quantize_report = manager.run(lowered, start=-1)
    quantization = quantized.metadata["passes"]["quantize"]
    before, after = summarize(graph)["totals"], summarize(quantized)["totals"]
    report = {
        "source": graph.metadata.get("source"), "arch": graph.metadata.get("arch"), "bits": bits,
        "T": graph.metadata.get("T"), "encoding": graph.metadata.get("encoding"),
        "stripped": graph.metadata.get("stripped", []),
        "passes": lowering_report + quantize_report,
        "clip_ratio": quantization["clip_ratio"],
        "calibration": quantization["calibration"],
        "populations": quantization["groups"],
        "before_lowering": {k: before[k] for k in ("nodes", "neurons", "synapses", "params")},
        "after_lowering": {k: after[k] for k in ("nodes", "neurons", "synapses", "params")},
    }
    return Compiled(quantized, lowered, report)


def compile(model, example_input=None, *, target: str = "numpy", bits: int = 8, calibrate=0, calibrate_data=None,
            binning=None, T=None, dt=None, output=None, image_size=None, weights=None, input_shape=None,
            dump_dir=None, dump_after=(), force: bool = False) -> Compiled:
    """Compile ``model`` — a file :func:`read_model` reads, or an ``nn.Module`` with its ``example_input`` — for
    ``target``. A NIR file snncompile wrote from a compiled graph and a lava-dl netx network are already integer: they
    are only checked and emitted.

    ``T``: the steps per sample the graph runs and is range-checked for (default: the model's own; NIR files and
    netx files without ``tSample`` carry none, and then it must be given). ``calibrate``: choose the quantizer's clip
    ratio on that many samples (0: max-abs scales) of ``calibrate_data`` (anything
    :func:`~snncompile.data.samples.samples_for` takes: a file, tensors, a torch ``Dataset`` or ``DataLoader``; event
    files binned by ``binning``, its ``frame_time`` / ``frame_events``), or of the checkpoint's training data when
    there is none; ``calibrate`` may also be the data itself (all of it is used). With ``output`` the artifact is
    written there (atomically) by the target's backend; an existing artifact there is replaced only with ``force``,
    anything else there is refused before compiling."""
    backend = get_backend(target)
    sources = [model] if isinstance(model, (str, os.PathLike)) and not is_factory_source(model) else []
    sources += [weights] if weights is not None else []
    if output is not None:
        check_artifact_output(output, sources=sources, force=force)
    if isinstance(model, (str, os.PathLike)):
        graph = read_model(model, image_size, T=T, dt=dt, weights=weights, input_shape=input_shape)
    else:
        if example_input is None:
            raise TypeError("compiling an nn.Module needs an example_input")
        graph = with_steps(trace(model, example_input, T=T), T, type(model).__name__)
    samples = calibration_samples(graph, calibrate, calibrate_data, binning or {})
    if graph.metadata.get("integer"):  # snncompile's own NIR file of a compiled graph, or a netx file: chip-ready
        compiled = Compiled(graph, None, compiled_report(graph))
    else:
        compiled = lower_and_quantize(graph, chip=backend.chip, bits=bits, calibration=samples, dump_dir=dump_dir,
                                      dump_after=dump_after)
    backend.check(compiled.graph)
    compiled.report["target"] = target
    if output is not None:
        compiled.artifact = write_artifact(Path(output), compiled, backend, sources=sources, force=force)
    return compiled


def read_model(path, image_size=None, *, T=None, dt=None, weights=None, input_shape=None,
               need_steps: bool = True) -> ir.Graph:
    """The IR graph of the model file at ``path``: a NIR graph (``.nir``), a lava-dl netx network (``.net``, or any
    HDF5 file of netx's ``layer`` groups, as slayer's ``export_hdf5`` writes them), or a checkpoint (traced).
    ``image_size`` applies to checkpoints; ``T`` replaces the steps per sample the file records (NIR files record
    none); ``dt`` is the time step a NIR file's network runs at (default 1e-4, :mod:`snncompile.backends.nir.euler`);
    ``need_steps=False`` reads a file that does not record its steps per sample (compiling needs them).
    ``path/to/net.py:factory`` is a model defined in code (:func:`~snncompile.frontend.trace_factory`: it needs
    ``input_shape`` and ``T``; ``weights``, a state_dict file, fills it)."""
    from .backends.netx.importer import is_network_file  # h5py only: a checkpoint is not read twice

    steps = {} if T is None else {"T": T}
    if is_factory_source(path):
        return trace_factory(str(path), input_shape=input_shape, T=T, weights=weights)
    if weights is not None or input_shape is not None:
        raise ConfigError(f"{path}: --weights and --input-shape are for models defined in code "
                          f"(path/to/net.py:factory); a checkpoint or graph file holds its weights and shapes")
    if Path(path).suffix == ".nir":
        from .backends.nir.importer import read as read_nir  # imports nir: only for NIR files

        graph = read_nir(path, **steps, dt=dt)  # a NIR file skips tracing
    elif Path(path).suffix == ".net" or is_network_file(path):
        from .backends.netx.importer import read as read_netx

        graph = read_netx(path, need_steps=need_steps and T is None)
    else:
        graph = trace_checkpoint(path, image_size)
    return with_steps(graph, T, path) if need_steps or T is not None else graph


def calibration_samples(graph: ir.Graph, calibrate, data, binning: dict):
    """The calibration inputs of ``graph`` as the simulator takes them (``None``: max-abs scales), from
    :func:`compile`'s ``calibrate``, ``calibrate_data`` and ``binning``."""
    if data is None and not isinstance(calibrate, int):  # calibrate=<the data>
        data, calibrate = calibrate, None
    count = None if calibrate is None else require_count(
        calibrate, "--calibrate (training samples; 0 for max-abs scales)", minimum=0)
    if data is None:
        if not count:
            return None
        if not graph.metadata.get("metrics"):
            raise ConfigError("--calibrate needs data: pass --calibrate-data FILE (calibrate_data= in the Python "
                              "API), or compile a checkpoint trained by `snncompile train` (it names its data set)")
        data = graph.metadata["metrics"].get("dataset", "digits")
    samples = samples_for(graph, data, part="train", limit=count or None, **binning)
    if count and count > len(samples):
        raise ConfigError(f"--calibrate {count}: {samples.source} holds {len(samples):,} samples; calibrate on at "
                          f"most that many")
    return samples.batch(0, len(samples))


def compiled_report(graph: ir.Graph) -> dict:
    """The report of an integer graph compiled earlier (read back from a file): its quantization, no passes run. A
    netx network was never quantized by snncompile: no clip ratio or scale groups, its weights' own width."""
    quantization = graph.metadata.get("passes", {}).get("quantize", {})
    totals = {k: summarize(graph)["totals"][k] for k in ("nodes", "neurons", "synapses", "params")}
    return {"source": graph.metadata.get("source"), "arch": graph.metadata.get("arch"),
            "bits": quantization.get("bits", graph.metadata.get("bits")),
            "T": graph.metadata.get("T"), "encoding": graph.metadata.get("encoding"),
            "stripped": graph.metadata.get("stripped", []), "passes": [], "clip_ratio": quantization.get("clip_ratio"),
            "calibration": None, "populations": quantization.get("groups", []), "before_lowering": totals,
            "after_lowering": totals}


def write_artifact(output: Path, compiled: Compiled, backend, *, sources=(), force: bool = True) -> Path:
    """Emit into a temporary sibling of ``output``, add the report and the manifest (last), then move it into place.

    ``output`` must be new, an empty directory, or a previous artifact (replaced only with ``force``); never one of
    ``sources`` (the files compiled) or anything else that exists (:func:`check_artifact_output`)."""
    check_artifact_output(output, sources=sources, force=force)
    with atomic_directory(output) as staging:
        if compiled.float_graph is not None:  # first: the nir backend also writes it as model.nir
            ir.save(compiled.float_graph, staging / FLOAT_DIR)
        backend.emit(compiled.graph, staging)
        (staging / REPORT_FILE).write_text(json.dumps(compiled.report, indent=1, default=str) + "\n")
        manifest.write(staging)
    return output


def check_artifact_output(output, *, sources=(), force: bool = False) -> Path:
    """``output`` if an artifact may be written there (:func:`snncompile.outputs.check_output`: a previous artifact
    is replaced only with ``force``), else one :class:`~snncompile.errors.OutputError`."""
    return check_output(output, "-o", "artifact", inputs=sources, previous=manifest.describes, force=force)


def load_artifact(path) -> tuple:
    """``(integer graph, lowered float graph, report)`` of a compiled artifact directory, every file verified against
    its manifest first."""
    path = Path(path)
    graph = ir.load(path)  # verifies the artifact against its manifest before reading it
    if not (path / manifest.MANIFEST_FILE).is_file():
        raise SerializationError(f"{path}: no {manifest.MANIFEST_FILE}, so its files cannot be verified; recompile it")
    report = read_report(path / REPORT_FILE)
    float_graph = ir.load(path / FLOAT_DIR) if (path / FLOAT_DIR).is_dir() else None
    return graph, float_graph, report


def read_report(path: Path) -> dict:
    """The report of an artifact, refused in one line unless it is a JSON object."""
    try:
        report = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise SerializationError(f"{path}: not valid JSON ({type(err).__name__}); recompile the artifact") from None
    if not isinstance(report, dict):
        raise SerializationError(f"{path}: not a report (a JSON object); recompile the artifact")
    return report
