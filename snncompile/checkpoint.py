"""Checkpoints: a trained zoo model and its metrics in one file.

A checkpoint is a ``torch.save``d dict::

    {"format_version": 1, "arch": str, "config": dict, "state_dict": {name: tensor}, "metrics": dict}

holding only tensors and plain Python values, so :func:`load` reads it with ``torch.load(weights_only=True)``: opening
a checkpoint never runs code from the file. ``arch`` and ``config`` rebuild the model through
:func:`snncompile.models.build`; ``state_dict`` then fills it exactly (``strict=True``).
"""

import pickle
import warnings
import zipfile
import zlib
from pathlib import Path

import torch
from torch import nn

from snncompile.errors import CheckpointError, ConfigError
from snncompile.limits import MAX_TIMESTEPS, require_memory
from snncompile.models import build
from snncompile.outputs import atomic_file

FORMAT_VERSION = 1
KEYS = ("format_version", "arch", "config", "state_dict", "metrics")
_REMEDY = "re-create it with `snncompile train ... -o {path}`"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"   # the first bytes of every HDF5 file (NIR graphs, netx networks)


def save(path, model: nn.Module, metrics: dict) -> None:
    """Write ``model`` (built by :func:`snncompile.models.build`) and ``metrics`` (plain Python values) to ``path``.

    The file appears complete or not at all: it is written to a temporary file in the same directory, then renamed
    over ``path``. Missing parent directories are created.
    """
    path = Path(path)
    if not isinstance(getattr(model, "arch", None), str) or not isinstance(getattr(model, "config", None), dict):
        raise CheckpointError(f"cannot save {path}: the model has no `arch` and `config`; build it with "
                              f"snncompile.models.build(name, **config) so that it can be rebuilt from the file")
    for part, values in (("config", model.config), ("metrics", metrics)):
        for key, value in values.items():
            if not _is_plain(value):
                raise CheckpointError(f"cannot save {path}: {part}[{key!r}] is a {type(value).__name__}; "
                                      f"a checkpoint holds plain Python values (use float(), int(), str(), list)")
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "config": dict(model.config),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "metrics": dict(metrics),
    }
    try:
        with atomic_file(path) as staging, open(staging, "wb") as file:
            torch.save(checkpoint, file)
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint {path}: {err.strerror or err}; "
                              f"check that its directory is writable and the disk is not full") from None


def load(path) -> tuple[nn.Module, dict]:
    """Rebuild the model saved in ``path``: returns ``(model in eval mode, checkpoint dict)``.

    Raises one :class:`CheckpointError` naming the file if it is missing, unreadable, truncated, not an snncompile
    checkpoint, of another format version, for an unknown architecture, or if its weights do not fit the architecture.
    """
    path = Path(path)
    checkpoint = _read(path)
    _validate(path, checkpoint)
    _check_values(path, checkpoint["state_dict"])
    _check_state_dict(path, _build(path, checkpoint, torch.device("meta")), checkpoint["state_dict"])
    model = _build(path, checkpoint, torch.device("cpu"))
    try:
        model.load_state_dict(checkpoint["state_dict"], strict=True)
    except RuntimeError as err:
        first_line = str(err).strip().splitlines()[0]
        raise CheckpointError(f"the weights in {path} do not fit architecture {checkpoint['arch']!r} "
                              f"({first_line}); {_REMEDY.format(path=path)}") from None
    model.eval()
    return model, checkpoint


def is_checkpoint(path) -> bool:
    """Whether ``path`` is a file ``torch.save`` wrote (a zip archive with a pickled record), which a new checkpoint
    may replace; its content is not read."""
    path = Path(path)
    if not path.is_file() or path.is_symlink() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _read(path: Path, what: str = "checkpoint", remedy: str = _REMEDY) -> object:
    """What a safe ``torch.load`` finds in ``path``, or a :class:`CheckpointError` saying why there is nothing
    (``what`` the file is to the user, ``remedy`` what to do about a file that is not one)."""
    if not path.exists():
        hint = (f"train a model with `snncompile train --arch NAME --data digits --epochs E -o {path}`"
                if what == "checkpoint" else "save one with torch.save(model.state_dict(), path)")
        raise CheckpointError(f"{what} {path} does not exist; check the path, or {hint}")
    if not path.is_file():
        raise CheckpointError(f"{what} {path} is not a file; pass the .pt file torch.save wrote")
    try:
        file = open(path, "rb")
    except OSError as err:
        raise CheckpointError(f"cannot read {what} {path}: {err.strerror or err}") from None
    if zipfile.is_zipfile(path):  # torch.save's format; older pickle-only files are left to torch.load
        _check_archive(path, remedy)
    if file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
        file.close()
        raise CheckpointError(f"{path} is an HDF5 file, not a {what} (a torch.save'd .pt): snncompile reads HDF5 "
                              f"files that are NIR graphs named *.nir, or lava-dl netx networks (groups layer/0, "
                              f"layer/1, ...); rename a NIR graph to .nir, or pass a {what}")
    file.seek(0)
    try:
        with file, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickle protocols before it fails on them
            return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} is not an snncompile {what}: it holds Python objects other than tensors "
                              f"and plain values, which a safe load refuses; {remedy.format(path=path)}") from None
    except Exception:  # on a damaged or foreign file torch.load fails with whatever its reader meets first
        raise CheckpointError(f"{path} is not a readable {what}: the file is truncated, corrupted or was not "
                              f"written by torch.save; {remedy.format(path=path)}") from None


def _check_archive(path: Path, remedy: str = _REMEDY) -> None:
    """The zip archive ``torch.save`` wrote, intact: what it declares fits in memory and every entry matches its CRC
    (torch's reader does not check them, so a flipped byte would otherwise load as a changed weight)."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
            require_memory(declared, f"file {path}", f"the archive declares more than it holds; "
                           f"{remedy.format(path=path)}", CheckpointError)
            damaged = archive.testzip()
    except (OSError, EOFError, ValueError, NotImplementedError, zipfile.BadZipFile, zlib.error):
        raise CheckpointError(f"{path} is not a readable file of torch.save: it is truncated or corrupted; "
                              f"{remedy.format(path=path)}") from None
    if damaged is not None:
        raise CheckpointError(f"{path} is corrupted: its entry {damaged} does not match its checksum; "
                              f"{remedy.format(path=path)}")


def _validate(path: Path, checkpoint: object) -> None:
    """Check the layout of a checkpoint dict: version, keys and the type of each value."""
    if _tensors_in(checkpoint):
        raise CheckpointError(f"{path} holds weights only (a state_dict), not an snncompile checkpoint: pass the code "
                              f"that builds the model with them: `snncompile compile path/to/net.py:factory "
                              f"--weights {path} --input-shape C,H,W --T N -o OUT` (factory() returns the nn.Module)")
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not an snncompile checkpoint: it holds a {type(checkpoint).__name__}, "
                              f"not a dict with keys {', '.join(KEYS)}; {_REMEDY.format(path=path)}")
    version = checkpoint.get("format_version", FORMAT_VERSION)
    if type(version) is not int or version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {checkpoint['format_version']!r}, but this "
                              f"snncompile reads version {FORMAT_VERSION}; use the snncompile that wrote it, "
                              f"or {_REMEDY.format(path=path)}")
    mismatch = _differences(missing=[key for key in KEYS if key not in checkpoint],
                            unexpected=[str(key) for key in checkpoint if key not in KEYS])
    if mismatch:
        raise CheckpointError(f"{path} is not an snncompile checkpoint: its keys should be {', '.join(KEYS)} "
                              f"({mismatch}); {_REMEDY.format(path=path)}")
    expected_types = {"arch": str, "config": dict, "state_dict": dict, "metrics": dict}
    for key, kind in expected_types.items():
        if not isinstance(checkpoint[key], kind):
            raise CheckpointError(f"{path} is malformed: {key!r} is a {type(checkpoint[key]).__name__}, not a "
                                  f"{kind.__name__}; {_REMEDY.format(path=path)}")
    if not all(isinstance(key, str) for key in checkpoint["config"]):
        raise CheckpointError(f"{path} is malformed: 'config' has non-string keys; {_REMEDY.format(path=path)}")
    T = checkpoint["config"].get("T")
    if T is not None and (type(T) is not int or not 1 <= T <= MAX_TIMESTEPS):
        raise CheckpointError(f"{path} is malformed: config T={T!r}, time steps are a whole number from 1 to "
                              f"{MAX_TIMESTEPS:,}; {_REMEDY.format(path=path)}")
    bad = [str(name) for name, value in checkpoint["state_dict"].items()
           if not isinstance(name, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path} is malformed: 'state_dict' entries {', '.join(bad[:5])} are not named tensors; "
                              f"{_REMEDY.format(path=path)}")


_WEIGHTS_REMEDY = "save the weights with torch.save(model.state_dict(), {path})"
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "params")


def load_weights(model: nn.Module, path) -> None:
    """Fill ``model`` from the weights saved in ``path`` (``strict=True``), read with ``weights_only=True``: a plain
    ``state_dict``, or one nested in a dict (under ``state_dict``, ``model``, ``net``, ...: the first of
    :data:`STATE_DICT_KEYS` present, or the only dict of tensors there is), with a ``module.`` prefix that
    ``DataParallel`` adds taken off when the model has none. One :class:`CheckpointError` names the file and the
    tensors that do not fit."""
    path = Path(path)
    state_dict = _nested_state_dict(path, _read(path, "weights file", _WEIGHTS_REMEDY))
    _check_values(path, state_dict)
    expected = model.state_dict()
    if not any(name in expected for name in state_dict) and all(k.startswith("module.") for k in state_dict):
        state_dict = {name[len("module."):]: tensor for name, tensor in state_dict.items()}
    mismatch = _state_dict_mismatch(expected, state_dict)
    if mismatch:
        raise CheckpointError(f"the weights in {path} do not fit {type(model).__name__} ({mismatch}); save "
                              f"model.state_dict() of the same model the factory builds")
    model.load_state_dict(state_dict, strict=True)


def _nested_state_dict(path: Path, content) -> dict:
    """The ``{name: tensor}`` dict in what ``torch.load`` read from ``path`` (see :func:`load_weights`)."""
    if _tensors_in(content):
        return content
    if isinstance(content, dict):
        for key in STATE_DICT_KEYS:
            if _tensors_in(content.get(key)):
                return content[key]
        found = [key for key, value in content.items() if _tensors_in(value)]
        if len(found) == 1:
            return content[found[0]]
        raise CheckpointError(f"{path} holds no single state_dict: " + (
            f"several dicts of tensors ({', '.join(map(str, found))}); save the one of the model alone"
            if found else f"its keys {', '.join(map(str, list(content)[:6]))} hold no dict of tensors; "
                          f"{_WEIGHTS_REMEDY.format(path=path)}"))
    raise CheckpointError(f"{path} holds a {type(content).__name__}, not a state_dict; "
                          f"{_WEIGHTS_REMEDY.format(path=path)}")


def _tensors_in(value) -> bool:
    """Whether ``value`` is a non-empty dict of named tensors (a state_dict)."""
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _build(path: Path, checkpoint: dict, device: torch.device) -> nn.Module:
    """The checkpoint's architecture built from its config on ``device``: first on ``meta`` (shapes only, no memory),
    which :func:`_check_state_dict` compares with the saved weights, so that the real build allocates only what the
    file holds."""
    try:
        with device:
            return build(checkpoint["arch"], **checkpoint["config"])
    except ConfigError as err:
        raise CheckpointError(f"{path} cannot be rebuilt: {err}; it was written by another version of snncompile "
                              f"or edited: {_REMEDY.format(path=path)}") from None
    except (RuntimeError, OverflowError, MemoryError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} cannot be rebuilt: its config describes a model too large to build "
                              f"({first_line}); {_REMEDY.format(path=path)}") from None


def _check_values(path: Path, state_dict: dict) -> None:
    """Every saved tensor holds real, finite numbers (checked before anything is built from them)."""
    found = unusable_tensor(state_dict)
    if found:
        raise CheckpointError(f"the weights in {path}: tensor {found[0]!r} holds {found[1]}; a checkpoint holds real "
                              f"finite weights: {_REMEDY.format(path=path)}")


def unusable_tensor(tensors: dict) -> tuple | None:
    """``(name, "complex values" or "NaN or infinite values")`` of the first of the named ``tensors`` that is not
    real and finite, or None."""
    for name, tensor in tensors.items():
        if tensor.is_complex():
            return name, "complex values"
        if tensor.dtype.is_floating_point and not bool(torch.isfinite(tensor).all()):
            return name, "NaN or infinite values"
    return None


def _is_plain(value) -> bool:
    """Whether ``value`` is made of ``None``, bool, int, float, str, list, tuple and str-keyed dict only."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return value is None or type(value) in (bool, int, float, str)


def _state_dict_mismatch(expected: dict, state_dict: dict) -> str:
    """How ``state_dict`` differs from a model's ``expected`` one (missing and unexpected names, other shapes), or ''."""
    missing = [name for name in expected if name not in state_dict]
    unexpected = [name for name in state_dict if name not in expected]
    reshaped = [f"{name} {tuple(state_dict[name].shape)} instead of {tuple(tensor.shape)}"
                for name, tensor in expected.items() if name in state_dict and state_dict[name].shape != tensor.shape]
    return _differences(missing=missing, unexpected=unexpected, wrong_shape=reshaped)


def _check_state_dict(path: Path, model: nn.Module, state_dict: dict) -> None:
    """Compare the saved weights with the rebuilt model: names and shapes, reported in one message."""
    mismatch = _state_dict_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointError(f"the weights in {path} do not fit architecture {model.arch!r} with its saved config "
                              f"({mismatch}); {_REMEDY.format(path=path)}")


def _differences(**names_by_problem: list[str]) -> str:
    """``"missing a, b; unexpected c"``: the first few names of each non-empty problem, for one line of error."""
    return "; ".join(f"{problem.replace('_', ' ')} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                     for problem, names in names_by_problem.items() if names)
