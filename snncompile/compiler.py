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

from . import ir
from .backends import get_backend
from .chip import LOIHI2, Chip
from .errors import ConfigError, require_count
from .evaluation import batch_inputs, dataset_for
from .frontend import trace, trace_checkpoint
from .ir.summary import summarize
from .outputs import atomic_directory
from .passes import PassManager, pipeline_for

REPORT_FILE = "report.json"
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


def compile(model, example_input=None, *, target: str = "numpy", bits: int = 8, calibrate: int = 0, output=None,
            image_size=None, dump_dir=None, dump_after=()) -> Compiled:
    """Compile ``model`` — a checkpoint path, a NIR file (``.nir``), or an ``nn.Module`` with its
    ``example_input`` — for ``target``. A NIR file snncompile wrote from a compiled graph is already integer: it is
    only checked and emitted.

    ``calibrate``: choose the quantizer's clip ratio on that many training samples of the checkpoint's data set
    (0: max-abs scales). With ``output`` the artifact is written there (atomically) by the target's backend."""
    backend = get_backend(target)
    if isinstance(model, (str, os.PathLike)) and Path(model).suffix == ".nir":
        from .backends.nir.importer import read as read_nir  # imports nir and h5py: only for NIR files

        graph = read_nir(model)  # a NIR file skips tracing
    elif isinstance(model, (str, os.PathLike)):
        graph = trace_checkpoint(model, image_size)
    else:
        if example_input is None:
            raise TypeError("compiling an nn.Module needs an example_input")
        graph = trace(model, example_input)
    samples = None
    if require_count(calibrate, "--calibrate (training samples; 0 for max-abs scales)", minimum=0):
        if not graph.metadata.get("metrics"):
            raise ConfigError("--calibrate needs a checkpoint trained by `snncompile train` (it names its data set)")
        data = dataset_for(graph, graph.metadata["metrics"].get("dataset", "digits"))
        samples = batch_inputs(data, 0, calibrate, part="train")
    if graph.metadata.get("integer"):  # a NIR file snncompile wrote from a compiled graph: already chip-ready
        compiled = Compiled(graph, None, compiled_report(graph))
    else:
        compiled = lower_and_quantize(graph, chip=backend.chip, bits=bits, calibration=samples, dump_dir=dump_dir,
                                      dump_after=dump_after)
    backend.check(compiled.graph)
    compiled.report["target"] = target
    if output is not None:
        compiled.artifact = write_artifact(Path(output), compiled, backend)
    return compiled


def compiled_report(graph: ir.Graph) -> dict:
    """The report of an integer graph compiled earlier (read back from a file): its quantization, no passes run."""
    quantization = graph.metadata["passes"]["quantize"]
    totals = {k: summarize(graph)["totals"][k] for k in ("nodes", "neurons", "synapses", "params")}
    return {"source": graph.metadata.get("source"), "arch": graph.metadata.get("arch"), "bits": quantization["bits"],
            "T": graph.metadata.get("T"), "encoding": graph.metadata.get("encoding"),
            "stripped": graph.metadata.get("stripped", []), "passes": [], "clip_ratio": quantization["clip_ratio"],
            "calibration": None, "populations": quantization["groups"], "before_lowering": totals,
            "after_lowering": totals}


def write_artifact(output: Path, compiled: Compiled, backend) -> Path:
    """Emit into a temporary sibling of ``output``, then move it into place (replacing an older artifact)."""
    with atomic_directory(output) as staging:
        backend.emit(compiled.graph, staging)
        if compiled.float_graph is not None:
            ir.save(compiled.float_graph, staging / FLOAT_DIR)
        (staging / REPORT_FILE).write_text(json.dumps(compiled.report, indent=1, default=str) + "\n")
    return output


def load_artifact(path) -> tuple:
    """``(integer graph, lowered float graph, report)`` of a compiled artifact directory."""
    path = Path(path)
    report_path = path / REPORT_FILE
    graph = ir.load(path)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    float_graph = ir.load(path / FLOAT_DIR) if (path / FLOAT_DIR).is_dir() else None
    return graph, float_graph, report
