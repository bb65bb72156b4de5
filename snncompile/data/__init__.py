"""Data for training and checking compiled networks: the named data sets, and the user's own from files or PyTorch.

- :mod:`.sets`: the named, offline data sets (:data:`DATASETS`) with a stratified train/test split, in one of
  :data:`ENCODINGS` (``load("digits", encoding="frames", T=4)``).
- :mod:`.files`: a test set from a file, ``.npz`` (``x`` and optional labels ``y``) or ``.npy`` arrays, or event
  streams (:mod:`.event_files` defines the file and bins the events into frames with tonic).
- :mod:`.samples`: any of those, tensors, a ``torch.utils.data.Dataset`` or a ``DataLoader`` as :class:`Samples` for
  one compiled graph, checked against its input.

Importing this package imports neither PyTorch nor scikit-learn (the command line lists :data:`DATASETS` in its help
without them); the names below are loaded from their modules on first use.
"""

from importlib import import_module

DATASETS = ("digits",)          # each one a module of this package: snncompile.data.digits
ENCODINGS = ("direct", "frames")

_EXPORTS = {"Dataset": "sets", "load": "sets", "model_input": "sets", "Samples": "samples",
            "samples_for": "samples", "read_file": "files"}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
