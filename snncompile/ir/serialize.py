"""Save a graph as ``graph.json`` (versioned structure and attributes) plus ``tensors.npz``; load and validate it.

Each tensor is recorded in the JSON with its shape, dtype and SHA-256, and each node with the output it inferred, so
a load rebuilds the graph through the same checks as construction and rejects any file that was edited or swapped.
"""

import hashlib
import json
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from ..errors import GraphError, SerializationError
from .graph import Graph
from .ops import OPS
from .values import TensorInfo

FORMAT = "snncompile-graph"
FORMAT_VERSION = 2  # 2: IntLIF carries current_decay_12bit
GRAPH_FILE = "graph.json"
TENSOR_FILE = "tensors.npz"


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def json_value(value):
    """``json.dumps``' ``default``: numpy scalars as Python values."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def to_dict(graph: Graph) -> tuple:
    """The JSON document of ``graph`` and its tensors by key."""
    nodes, tensors = [], {}
    for index, node in enumerate(graph):
        refs = {}
        for field, array in node.op.tensors().items():
            key = f"{index}.{field}"
            tensors[key] = array
            refs[field] = {"key": key, "shape": list(array.shape), "dtype": str(array.dtype), "sha256": _digest(array)}
        info = node.info
        nodes.append({"name": node.name, "op": node.op.kind, "inputs": list(node.inputs),
                      "attributes": node.op.attributes(), "tensors": refs,
                      "output": {"shape": list(info.shape), "kind": info.kind, "max_count": info.max_count}})
    document = {"format": FORMAT, "version": FORMAT_VERSION, "name": graph.name, "metadata": graph.metadata,
                "outputs": graph.outputs, "nodes": nodes}
    return document, tensors


def save(graph: Graph, directory) -> Path:
    """Write ``graph`` to ``directory/graph.json`` and ``directory/tensors.npz``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    document, tensors = to_dict(graph)
    with open(directory / TENSOR_FILE, "wb") as stream:
        np.savez(stream, **tensors)
    text = json.dumps(document, indent=1, default=json_value)
    (directory / GRAPH_FILE).write_text(text + "\n")
    return directory


def load(directory) -> Graph:
    """Read a graph written by :func:`save`, checking version, structure, tensors and every inferred output."""
    directory = Path(directory)
    if directory.is_file():
        raise SerializationError(f"{directory}: a file, not a compiled graph; compile it first (`snncompile compile "
                                 f"{directory} --target numpy -o OUT`) and pass the directory OUT")
    graph_path, tensor_path = directory / GRAPH_FILE, directory / TENSOR_FILE
    for path in (graph_path, tensor_path):
        if not path.is_file():
            raise SerializationError(f"{path}: missing; a compiled graph is a directory holding {GRAPH_FILE} and "
                                     f"{TENSOR_FILE} (write one with `snncompile compile`)")
    try:
        document = json.loads(graph_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SerializationError(f"{graph_path}: not valid JSON ({err})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SerializationError(f"{graph_path}: not an snncompile graph (no \"format\": \"{FORMAT}\")")
    if document.get("version") != FORMAT_VERSION:
        raise SerializationError(f"{graph_path}: graph format version {document.get('version')!r}, this snncompile "
                                 f"reads version {FORMAT_VERSION}; recompile the model with this version")
    try:
        with np.load(tensor_path, allow_pickle=False) as archive:
            tensors = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise SerializationError(f"{tensor_path}: unreadable tensor archive ({err})") from None
    try:
        return _rebuild(document, tensors)
    except (KeyError, TypeError) as err:
        raise SerializationError(f"{graph_path}: malformed graph document ({type(err).__name__}: {err})") from None
    except GraphError as err:
        raise SerializationError(f"{graph_path}: {err}") from None


def _rebuild(document: dict, tensors: dict) -> Graph:
    graph = Graph(document["name"])
    graph.metadata = document["metadata"]
    for entry in document["nodes"]:
        name = entry["name"]
        op_type = OPS.get(entry["op"])
        if op_type is None:
            raise SerializationError(f"node {name!r}: unknown op {entry['op']!r}")
        arguments = dict(entry["attributes"])
        for field, ref in entry["tensors"].items():
            array = tensors.get(ref["key"])
            if array is None:
                raise SerializationError(f"node {name!r}: tensor {field!r} is missing from {TENSOR_FILE}")
            if _digest(array) != ref["sha256"] or list(array.shape) != ref["shape"]:
                raise SerializationError(f"node {name!r}: tensor {field!r} does not match its checksum; "
                                         f"the files were modified after saving — recompile")
            arguments[field] = array
        expected = {f.name for f in fields(op_type)}
        if set(arguments) != expected:
            raise SerializationError(f"node {name!r} ({entry['op']}): fields {sorted(arguments)} do not match the "
                                     f"op's fields {sorted(expected)}")
        try:
            op = op_type(**arguments)
        except ValueError as err:
            raise SerializationError(f"node {name!r} ({entry['op']}): {err}; the file was modified — recompile") from None
        graph.add(name, op, entry["inputs"])
        stored = entry["output"]
        if graph[name].info != TensorInfo(stored["shape"], stored["kind"], stored["max_count"]):
            raise SerializationError(f"node {name!r}: stored output {stored} differs from the one its op infers "
                                     f"({graph[name].info}); the file was modified — recompile")
    graph.set_outputs(document["outputs"])
    return graph

