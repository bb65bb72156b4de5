"""Make lava-nc 0.10.0 and lava-dl 0.6.0 importable on Python 3.11, without touching their installed files.

Both declare ``python < 3.11``; two things break, and :func:`install` mends each in memory with a meta-path finder put
in front of the import system:

- **lava-nc**: in ``lava.magma.compiler.var_model`` the dataclass ``ByteEncoder`` is used as the default value of other
  dataclasses' fields, and Python 3.11 refuses an unhashable (mutable) default. When that one module is first
  imported, and only if its installed source still declares ``ByteEncoder`` the broken way, it is loaded from its
  source with that single decorator made ``@dataclass(unsafe_hash=True)``; the bytecode is compiled in memory and never
  cached, so a fixed release is imported untouched.
- **lava-dl**: ``lava.lib.dl.netx`` imports slayer, whose package imports its object-detection subpackage, which needs
  ``torchvision`` (there is no CPU torchvision wheel here, and netx uses none of it). When torchvision is not
  installed, that subpackage is replaced by an empty module whose attributes raise ``ImportError`` saying why; with
  torchvision installed nothing changes.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

VAR_MODEL = "lava.magma.compiler.var_model"
BROKEN = "@dataclass\nclass ByteEncoder:"
FIXED = "@dataclass(unsafe_hash=True)\nclass ByteEncoder:"
OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"


class HashableByteEncoderLoader(importlib.machinery.SourceFileLoader):
    """Loads :data:`VAR_MODEL` from its source with ``ByteEncoder`` made hashable; writes no bytecode cache."""

    def get_code(self, fullname):
        source = self.get_source(fullname).replace(BROKEN, FIXED, 1)
        return compile(source, self.get_filename(fullname), "exec", dont_inherit=True)


class UnavailableModule(types.ModuleType):
    """A module that exists so that its parent package imports, and raises ``ImportError`` when anything in it is
    used."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"{self.__name__}.{name} needs torchvision, which is not installed (snncompile imports "
                          f"lava-dl without it: netx and slayer's neurons and blocks need none of it)")


class UnavailableLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return UnavailableModule(spec.name)

    def exec_module(self, module):
        pass


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`VAR_MODEL` as the path finder would, swapping in the fixing loader when its source is broken; and
    :data:`OBJECT_DETECTION` as an :class:`UnavailableModule` when torchvision is missing."""

    def find_spec(self, fullname, path, target=None):
        if fullname == OBJECT_DETECTION and importlib.util.find_spec("torchvision") is None:
            return importlib.machinery.ModuleSpec(fullname, UnavailableLoader())
        if fullname != VAR_MODEL:
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
    if not any(isinstance(finder, LavaCompatFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())
