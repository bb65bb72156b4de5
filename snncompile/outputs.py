"""Writing outputs safely: a file or a directory appears under its name complete, or not at all; it replaces only a
previous output of the same kind, never other data, the input or the working directory.

:func:`check_output` decides whether a path may be written. :func:`atomic_file` and :func:`atomic_directory` stage
the content in a hidden sibling (same file system, so the final move is one ``os.replace``) that is removed if
writing fails or the process is interrupted (the command line turns SIGTERM and SIGHUP into an exception, so these
``finally`` paths run on them too); a write error (read-only directory, full disk) becomes one :class:`OutputError`.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def check_output(path, option: str, what: str, *, inputs=(), previous=lambda path: False, force=None,
                 directory: bool = True) -> Path:
    """``path`` if writing ``what`` (``"artifact"``, ``"plot"``, ...) there destroys nothing, else one
    :class:`OutputError` naming ``option`` (``"-o"``, ``"--plot"``) and why.

    Writable: a path that does not exist yet under directories; an empty directory (when ``what`` is written as a
    ``directory``, not as a file); a previous output of the same
    kind (``previous(path)`` is true), replaced only with ``force`` unless ``force`` is None (no flag needed).
    Refused: one of ``inputs`` or a directory holding one, the working directory or a directory holding it, a path
    under a file, and anything else that exists."""
    path = Path(path)
    target = path.resolve()

    def refuse(reason: str, remedy: str = "choose a new path") -> OutputError:
        return OutputError(f"{option} {path}: {reason}; nothing was written, {remedy}")

    if target == Path.cwd().resolve() or target in Path.cwd().resolve().parents:
        raise refuse("is the working directory or holds it")
    for source in map(lambda source: Path(source).resolve(), inputs):
        if target == source or target in source.parents:
            raise refuse(f"{'is' if target == source else 'holds'} the input {source}")
    blocking = next((parent for parent in target.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise refuse(f"{blocking} is a file, not a directory")
    if not os.path.lexists(path):
        return path
    if previous(path):
        if force is False:
            raise refuse(f"already holds a snncompile {what}", "pass --force to replace it")
        return path
    if path.is_dir() and not path.is_symlink():
        others = sorted(entry.name for entry in path.iterdir())
        if not others and directory:
            return path
        if not others:
            raise refuse("is a directory, not a file")
        listed = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
        raise refuse(f"is a directory holding other files ({listed}), not a snncompile {what}")
    raise refuse(f"exists and is not a snncompile {what}")


@contextmanager
def atomic_file(path):
    """Yield a temporary sibling path of ``path`` to write; when the block ends without error it is flushed to disk
    and moved onto ``path``. Creates the parent directory."""
    path = Path(path)
    with _write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        staging = Path(staging)
        try:
            yield staging
            with open(staging, "rb") as written:
                os.fsync(written.fileno())
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path):
    """Yield an empty temporary sibling directory of ``path`` to fill; when the block ends without error it takes
    ``path``'s place (an older directory there is removed once the new one is in place). Creates the parent."""
    path = Path(path)
    with _write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            yield staging
            if os.path.lexists(path):
                retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
                os.replace(path, retired / path.name)
                os.replace(staging, path)
                shutil.rmtree(retired)
            else:
                os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def save_figure(figure, path, dpi: int = 100) -> Path:
    """Write a matplotlib ``figure`` to ``path`` as PNG (atomically) and close it, written or not; returns the path."""
    from matplotlib import pyplot

    path = Path(path)
    try:
        with atomic_file(path) as staging:
            figure.savefig(staging, format="png", dpi=dpi)
    finally:
        pyplot.close(figure)
    return path


@contextmanager
def _write_errors(path: Path):
    """Turn an ``OSError`` met while writing ``path`` (read-only directory, full disk, ...) into one
    :class:`OutputError`."""
    try:
        yield
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}; check that its directory is writable and the "
                          f"disk is not full (nothing was written)") from None
