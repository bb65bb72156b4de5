"""Writing outputs atomically: a file or a directory appears under its name complete, or not at all, and an older
one is replaced only by a complete new one. Both stage their content in a hidden sibling (same file system, so the
final move is one ``os.replace``) that is removed if writing fails."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path):
    """Yield a temporary sibling path of ``path`` to write; when the block ends without error it is flushed to disk
    and moved onto ``path``. Creates the parent directory."""
    path = Path(path)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
