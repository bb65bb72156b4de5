"""The manifest of a compiled artifact: every file of the directory with its size and SHA-256, written last.

Whatever a backend emitted (``graph.json``, ``tensors.npz``, ``model.onnx``, ``lava_network.json``, ``network.net``,
``model.nir``, ``float/...``) and ``report.json`` are listed in ``manifest.json``. Loading an artifact verifies the
whole directory against it before any file is used, and refuses an added, missing or changed file by name. The
manifest guards against edits, truncation and swapped files, not against someone who rewrites the manifest too.
"""

import hashlib
import json
import os
from pathlib import Path

from .errors import SerializationError

MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.json"
FORMAT = "snncompile-artifact"
VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20


def write(directory) -> Path:
    """List every file of ``directory`` (but the manifest) with its size and SHA-256 in ``directory/manifest.json``."""
    directory = Path(directory)
    files = {name: _entry(directory / name) for name in _files(directory)}
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
        if (directory / name).stat().st_size != recorded["bytes"] or _entry(directory / name) != recorded:
            raise SerializationError(f"{directory}: {name} was changed after compiling (its SHA-256 differs from "
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
            isinstance(entry, dict) and set(entry) == {"bytes", "sha256"} for entry in files.values())
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
    with open(path, "rb") as stream:
        return {"bytes": path.stat().st_size, "sha256": hashlib.file_digest(stream, "sha256").hexdigest()}
