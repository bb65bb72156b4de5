"""Save a graph as ``graph.json`` (versioned structure and attributes) plus ``tensors.npz``; load and validate it.

Each tensor is recorded in the JSON with its shape, dtype and SHA-256, and each node with the output it inferred, so
a load rebuilds the graph through the same checks as construction and rejects any file that was edited or swapped.
Nothing is allocated from a size the files declare before it is checked: the JSON's size and nesting are bounded
before it is parsed, and each archive entry's ``.npy`` header is compared with its record before it is decompressed.
"""

import hashlib
import json
import math
import re
import zipfile
import zlib
from dataclasses import fields
from pathlib import Path

import numpy as np

from .. import manifest
from ..errors import GraphError, SerializationError
from ..limits import MAX_TIMESTEPS, require_memory
from .graph import Graph
from .ops import OPS
from .values import TensorInfo

FORMAT = "snncompile-graph"
FORMAT_VERSION = 2  # 2: IntLIF carries current_decay_12bit
GRAPH_FILE = "graph.json"
TENSOR_FILE = "tensors.npz"
TENSOR_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "bool")
MAX_DOCUMENT_BYTES = 256 * 2**20
MAX_NESTING = 64    # a graph document nests about 8 levels deep (metadata of the passes included)
OPENING, CLOSING = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


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
    """Read a graph written by :func:`save`, checking version, structure, tensors and every inferred output. A graph
    inside a compiled artifact is read only after the artifact's manifest verified every file
    (:func:`snncompile.manifest.check_enclosing`)."""
    directory = Path(directory)
    if directory.is_file():
        raise SerializationError(f"{directory}: a file, not a compiled graph; compile it first (`snncompile compile "
                                 f"{directory} --target numpy -o OUT`) and pass the directory OUT")
    graph_path, tensor_path = directory / GRAPH_FILE, directory / TENSOR_FILE
    for path in (graph_path, tensor_path):
        if not path.is_file():
            raise SerializationError(f"{path}: missing; a compiled graph is a directory holding {GRAPH_FILE} and "
                                     f"{TENSOR_FILE} (write one with `snncompile compile`)")
    manifest.check_enclosing(directory)
    document = read_document(graph_path)
    try:
        references = _tensor_references(document)
        _check_metadata(document)
    except (KeyError, TypeError, AttributeError) as err:
        raise SerializationError(f"{graph_path}: malformed graph document ({type(err).__name__}: {err})") from None
    tensors = _read_tensors(tensor_path, references)
    try:
        return _rebuild(document, tensors)
    except (KeyError, TypeError, AttributeError) as err:
        raise SerializationError(f"{graph_path}: malformed graph document ({type(err).__name__}: {err})") from None
    except (GraphError, ValueError) as err:
        raise SerializationError(f"{graph_path}: {err}") from None


def read_document(path: Path) -> dict:
    """The JSON document of ``graph.json``, its size and nesting bounded before it is parsed."""
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise SerializationError(f"{path}: {path.stat().st_size:,} bytes, more than a graph document holds "
                                 f"({MAX_DOCUMENT_BYTES:,}); recompile")
    try:
        text = path.read_text()
        depth = nesting_depth(text)
        if depth > MAX_NESTING:
            raise SerializationError(f"{path}: JSON nested {depth} levels deep, more than a graph document's "
                                     f"{MAX_NESTING}; the file was modified — recompile")
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise SerializationError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SerializationError(f"{path}: not an snncompile graph (no \"format\": \"{FORMAT}\")")
    if document.get("version") != FORMAT_VERSION:
        raise SerializationError(f"{path}: graph format version {document.get('version')!r}, this snncompile "
                                 f"reads version {FORMAT_VERSION}; recompile the model with this version")
    return document


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in the JSON ``text``, counted without parsing it."""
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "", text).encode()
    codes = np.frombuffer(skeleton, np.uint8)
    steps = np.isin(codes, OPENING).astype(np.int64) - np.isin(codes, CLOSING)
    return int(np.cumsum(steps).max(initial=0))


def _refuse_constant(name: str):
    """``json.loads``' ``parse_constant``: a graph document holds no NaN or Infinity."""
    raise ValueError(f"{name} is not a value a graph holds")


def _tensor_references(document: dict) -> dict:
    """``{archive key: (node name, field, recorded reference)}`` of every tensor the document names."""
    references = {}
    for entry in document["nodes"]:
        for field, ref in entry["tensors"].items():
            if ref.get("dtype") not in TENSOR_DTYPES:
                raise SerializationError(f"node {entry['name']!r}: tensor {field!r} has dtype {ref.get('dtype')!r}; "
                                         f"graphs hold {', '.join(TENSOR_DTYPES)} (complex or object values are "
                                         f"refused)")
            references[ref["key"]] = (entry["name"], field, ref)
    return references


def _check_metadata(document: dict) -> None:
    """The time steps of the graph's metadata are a sane whole number, and one sample's values over them fit in
    memory (every node's output at every step)."""
    T = document["metadata"].get("T")
    if T is not None and (type(T) is not int or not 1 <= T <= MAX_TIMESTEPS):
        raise SerializationError(f"metadata T={T!r}: time steps must be a whole number from 1 to {MAX_TIMESTEPS:,}; "
                                 f"the file was modified — recompile")
    values = sum(math.prod(entry["output"]["shape"]) for entry in document["nodes"])
    require_memory(8 * values * (T or 1), f"one sample of graph {document.get('name')!r} over T={T}",
                   "the shapes or T in the file are not what snncompile wrote — recompile", SerializationError)


def _read_tensors(path: Path, references: dict) -> dict:
    """Every tensor of the archive ``path``, each entry checked from its header before it is decompressed: it must be
    referenced by the document, hold the recorded dtype and shape in C order, be exactly as long as they imply, fit
    in memory with the others, and (floats) hold only finite values."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {info.filename: info for info in archive.infolist()}
            stray = sorted(set(entries) - {f"{key}.npy" for key in references})
            if stray:
                raise SerializationError(f"{path}: entry {stray[0]!r} is not referenced by {GRAPH_FILE}; the archive "
                                         f"was modified — recompile")
            present = {key: entries[f"{key}.npy"] for key in references if f"{key}.npy" in entries}
            declared = {key: _declared_size(archive, info, references[key]) for key, info in present.items()}
            require_memory(sum(declared.values()), f"{path}", "the archive declares more than snncompile wrote — "
                           "recompile", SerializationError)
            return {key: _read_entry(archive, info, references[key]) for key, info in present.items()}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise SerializationError(f"{path}: unreadable tensor archive ({type(err).__name__}: {err}); "
                                 f"recompile") from None


def _declared_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, reference: tuple) -> int:
    """The bytes the entry ``info`` holds, after checking its header (read alone) against the recorded tensor."""
    name, field, ref = reference
    with archive.open(info) as stream:
        shape, dtype, header_bytes = _header(stream)
    where = f"node {name!r}: tensor {field!r} in {TENSOR_FILE}"
    if str(dtype) != ref["dtype"] or list(shape) != ref["shape"]:
        raise SerializationError(f"{where} holds {dtype} {list(shape)}, {GRAPH_FILE} records {ref['dtype']} "
                                 f"{ref['shape']}; the files were modified — recompile")
    size = math.prod(shape) * dtype.itemsize
    if info.file_size != header_bytes + size:
        raise SerializationError(f"{where} is {info.file_size:,} bytes long, its header implies "
                                 f"{header_bytes + size:,}; the archive was modified — recompile")
    return size


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, reference: tuple) -> np.ndarray:
    """The array of a checked entry, its floats all finite."""
    name, field, _ = reference
    with archive.open(info) as stream:
        shape, dtype, _ = _header(stream)
        array = np.empty(shape, dtype)
        if stream.readinto(memoryview(array.reshape(-1)).cast("B")) != array.nbytes:
            raise SerializationError(f"node {name!r}: tensor {field!r} in {TENSOR_FILE} is truncated; recompile")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise SerializationError(f"node {name!r}: tensor {field!r} holds NaN or infinite values; recompile from "
                                 f"finite weights")
    return array


def _header(stream) -> tuple:
    """``(shape, dtype, header length in bytes)`` of the ``.npy`` data in ``stream``; C order only, no objects."""
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(stream)
    if fortran_order or dtype.hasobject or str(dtype) not in TENSOR_DTYPES:
        raise ValueError(f"an entry holds {'Fortran-ordered ' if fortran_order else ''}{dtype} data, not what "
                         f"snncompile writes")
    return shape, dtype, stream.tell()


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

