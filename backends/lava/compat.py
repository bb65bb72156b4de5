"""Make lava-nc 0.10.0 importable on Python 3.11 without touching its installed files.

lava-nc 0.10.0 declares ``python < 3.11``. One thing breaks on 3.11: in ``lava.magma.compiler.var_model`` the dataclass
``ByteEncoder`` is used as the default value of other dataclasses' fields, and Python 3.11 refuses an unhashable
(mutable) default. Hashing it (``@dataclass(unsafe_hash=True)``) is all it needs.

:func:`install` puts a meta-path finder in front of the import system. When that one module is first imported, and
only if its installed source still declares ``ByteEncoder`` the broken way, the finder loads it from its source with
that single decorator rewritten; the bytecode is compiled in memory and never cached, so nothing on disk changes and a
fixed lava release is imported untouched.
"""

import importlib.abc
import importlib.machinery
import sys

MODULE = "lava.magma.compiler.var_model"
BROKEN = "@dataclass\nclass ByteEncoder:"
FIXED = "@dataclass(unsafe_hash=True)\nclass ByteEncoder:"


class HashableByteEncoderLoader(importlib.machinery.SourceFileLoader):
    """Loads :data:`MODULE` from its source with ``ByteEncoder`` made hashable; writes no bytecode cache."""

    def get_code(self, fullname):
        source = self.get_source(fullname).replace(BROKEN, FIXED, 1)
        return compile(source, self.get_filename(fullname), "exec", dont_inherit=True)


class HashableByteEncoderFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`MODULE` as the path finder would, and swaps in the fixing loader when its source is broken."""

    def find_spec(self, fullname, path, target=None):
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        if BROKEN not in spec.loader.get_source(fullname):
            return spec
        spec.loader = HashableByteEncoderLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once); call before the first ``import lava``."""
    if not any(isinstance(finder, HashableByteEncoderFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, HashableByteEncoderFinder())
