"""The manifest of a compiled artifact: every file of the directory with its size and SHA-256, written last.

Whatever a backend emitted (``graph.json``, ``tensors.npz``, ``model.onnx``, ``lava_network.json``, ``network.net``,
``model.nir``, ``float/...``) and ``report.json`` are listed in ``manifest.json``. Loading an artifact verifies the
whole directory against it before any file is used, and refuses an added, missing or changed file by name. For a
graph document (``graph.json``) the manifest also keeps a digest of every field (each node's op, inputs, attributes,
tensor records and output; the graph's name, outputs and metadata), so an edit is refused naming the node and field.
The manifest guards against edits, truncation and swapped files, not against someone who rewrites the manifest too.
"""

import hashlib
import json
import os
from pathlib import Path

from .errors import SerializationError

MANIFEST_FILE = "manifest.json"
GRAPH_FILE = "graph.json"
REPORT_FILE = "report.json"
FORMAT = "snncompile-artifact"
VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20


def write(directory) -> Path:
    """List every file of ``directory`` (but the manifest) with its size and SHA-256 in ``directory/manifest.json``."""
    directory = Path(directory)
    files = {name: _entry(directory / name) for name in _files(directory)}
    for name, entry in files.items():
        if Path(name).name == GRAPH_FILE:
            entry["fields"] = graph_fields(json.loads((directory / name).read_text()))
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "files": files}, indent=1) + "\n")
    return path


def verify(directory) -> None:
    """Raise one :class:`SerializationError` naming the first file of the artifact ``directory`` that was added,
    removed or changed since its manifest was written."""
    directory = Path(directory)
    listed = _read(directory)
    present = _files(directory)
    added = sorted(set(present) - set(listed))
    if added:
        raise SerializationError(f"{directory}: {added[0]} is not part of the artifact (not in {MANIFEST_FILE}); "
                                 f"it was added after compiling: remove it or recompile")
    for name, recorded in sorted(listed.items()):
        if name not in present:
            raise SerializationError(f"{directory}: {name} is missing (listed in {MANIFEST_FILE}); recompile")
        if (directory / name).stat().st_size != recorded["bytes"] or \
                _entry(directory / name)["sha256"] != recorded["sha256"]:
            change = changed_field(directory / name, recorded.get("fields")) or "its SHA-256 differs"
            raise SerializationError(f"{directory}: {name} was changed after compiling ({change}, by "
                                     f"{MANIFEST_FILE}); recompile")


def check_enclosing(directory) -> None:
    """Verify the artifact a graph ``directory`` belongs to (itself, or its parent for ``float/``) before it is read;
    refuse an artifact whose manifest is missing."""
    directory = Path(directory)
    for root in (directory, directory.parent):
        if (root / MANIFEST_FILE).is_file():
            verify(root)
            return
        if (root / REPORT_FILE).is_file():
            raise SerializationError(f"{root}: an artifact without {MANIFEST_FILE} (written by an older snncompile, "
                                     f"or its manifest was removed), so its files cannot be verified; recompile it")


def describes(directory) -> bool:
    """Whether ``directory`` is exactly a snncompile artifact: a readable manifest listing all of its files. Content
    is not hashed: this decides whether a directory may be replaced, not whether it may be used."""
    directory = Path(directory)
    if not directory.is_dir() or directory.is_symlink() or not (directory / MANIFEST_FILE).is_file():
        return False
    try:
        return set(_read(directory)) == set(_files(directory))
    except SerializationError:
        return False


def graph_fields(document: dict) -> dict:
    """``{field path: digest}`` of a graph document: ``graph.outputs``, ``graph.metadata.T``, ``node 'x' op``,
    ``node 'x' attributes.threshold``, ``node 'x' tensors.weight`` (its shape, dtype and SHA-256), ..."""
    fields = {f"graph {key}": document.get(key) for key in ("name", "outputs")}
    fields.update({f"graph metadata.{key}": value for key, value in (document.get("metadata") or {}).items()})
    for node in document.get("nodes") or []:
        label = f"node {node.get('name')!r}"
        for key, value in node.items():
            if isinstance(value, dict) and key in ("attributes", "tensors"):
                fields.update({f"{label} {key}.{field}": item for field, item in value.items()})
            elif key != "name":
                fields[f"{label} {key}"] = value
    return {path: _digest(value) for path, value in fields.items()}


def changed_field(path: Path, recorded: dict | None) -> str:
    """``"node 'lif' attributes.threshold differs"`` for the first field of the graph document at ``path`` that
    differs from its ``recorded`` digests, or ``""`` when the file is no readable graph document or none is
    recorded."""
    from .ir.serialize import read_document  # the size- and nesting-bounded reader (it imports this module)

    if not recorded:
        return ""
    try:
        now = graph_fields(read_document(path))
    except (SerializationError, AttributeError, TypeError):
        return ""
    for field in sorted(recorded.keys() | now.keys()):
        if field not in now:
            return f"{field} was removed"
        if field not in recorded:
            return f"{field} was added"
        if now[field] != recorded[field]:
            return f"{field} differs"
    return ""


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read(directory: Path) -> dict:
    """The files listed in ``directory``'s manifest: ``{relative path: {"bytes", "sha256"}}``."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise SerializationError(f"{path}: missing; recompile the artifact")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise SerializationError(f"{path}: larger than {MAX_MANIFEST_BYTES:,} bytes, not a manifest; recompile")
    try:
        document = json.loads(path.read_text())
        files = document["files"] if document.get("format") == FORMAT and document.get("version") == VERSION else None
        valid = isinstance(files, dict) and all(
            isinstance(entry, dict) and {"bytes", "sha256"} <= set(entry) <= {"bytes", "sha256", "fields"}
            and isinstance(entry.get("fields", {}), dict) for entry in files.values())
    except (ValueError, UnicodeDecodeError, RecursionError, AttributeError, KeyError, TypeError):
        valid = False
    if not valid:
        raise SerializationError(f"{path}: not a snncompile artifact manifest (format {FORMAT} version {VERSION}); "
                                 f"recompile")
    return files


def _files(directory: Path) -> list:
    """Relative POSIX paths of the regular files under ``directory`` but the manifest; a link or special file there is
    an error (it could point anywhere)."""
    names = []
    for root, subdirectories, filenames in os.walk(directory):
        for name in subdirectories + filenames:
            path = Path(root) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise SerializationError(f"{directory}: {path.relative_to(directory)} is a link or a special file; an "
                                         f"artifact holds regular files only: recompile")
        names += [(Path(root) / name).relative_to(directory).as_posix() for name in filenames]
    return sorted(name for name in names if name != MANIFEST_FILE)


def _entry(path: Path) -> dict:
    """``{"bytes", "sha256"}`` of the file at ``path``."""
    with open(path, "rb") as stream:
        return {"bytes": path.stat().st_size, "sha256": hashlib.file_digest(stream, "sha256").hexdigest()}
