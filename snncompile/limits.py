"""Bounds checked before anything large is allocated: the memory that a size read from a file or an option implies,
against the memory this machine has available, so that an absurd size is one clear error instead of a crash.
"""

import os

from .errors import ConfigError, require_count

MAX_TIMESTEPS = 1_000_000   # far beyond any directly coded SNN (2 to a few hundred steps); a sanity bound on files
MAX_IMAGE_SIZE = 4096       # input side in pixels


def available_memory() -> int:
    """Bytes of memory this machine can give without swapping (``MemAvailable``), or its free physical pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def require_memory(nbytes: int, what: str, remedy: str, error: type = ConfigError) -> None:
    """Raise ``error`` when ``what`` would need more than the available memory (``nbytes``)."""
    available = available_memory()
    if nbytes > available:
        raise error(f"{what} needs {_size(nbytes)} of memory, only {_size(available)} are available; {remedy}")


def require_image_size(size, what: str = "--image-size") -> int:
    """``size`` as an ``int`` when it is a whole number of pixels from 1 to :data:`MAX_IMAGE_SIZE`."""
    return require_count(size, what, maximum=MAX_IMAGE_SIZE)


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.1f} MiB"
