"""Weights files: the Keras cache, hash-checked downloads, and reading state dicts.

A state dict is read from a ``.safetensors`` file with the ``safetensors``
library's NumPy API (no PyTorch needed), from a ``.pth`` file with PyTorch when
it is installed, or taken as a mapping of arrays. Downloads go to a temporary
file in the cache directory and are renamed into place only once their SHA-256
matches the published one.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from keras_classics.io import atomic_path
from keras_classics.models import list_models, model_info

#: Environment variable: when set to 1, weights are never downloaded (the cache or a path only).
OFFLINE_ENV = "KERAS_CLASSICS_OFFLINE"

#: File name endings read as PyTorch/safetensors state dicts.
SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
STATE_DICT_SUFFIXES = SAFETENSORS_SUFFIXES + TORCH_SUFFIXES


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights are neither in the cache nor downloadable (the message says how to proceed)."""


class WeightsHashError(ValueError):
    """A downloaded weights file does not have the published SHA-256."""


def keras_cache_dir() -> str:
    """Where pretrained weights are cached: Keras's own folder, ``$KERAS_HOME/models`` (``~/.keras/models``).

    ``KERAS_HOME`` is read when called (Keras reads it once, at import). Without it, Keras's rule
    (``~/.keras``, or ``/tmp/.keras`` where the home folder is not writable) is applied here when
    Keras is not imported, so that ``keras-classics cache`` does not import it.
    """
    if os.environ.get("KERAS_HOME"):
        return os.path.join(os.path.expanduser(os.environ["KERAS_HOME"]), "models")
    if "keras" not in sys.modules:
        home = os.path.expanduser("~")
        return os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras", "models")
    try:
        from keras.src.backend.config import keras_home

        base = keras_home()
    except ImportError:  # pragma: no cover - other Keras layouts
        base = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return os.path.join(os.path.expanduser(base), "models")


def sha256_of(path, chunk: int = 1 << 20) -> str:
    """The hexadecimal SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_file(weights_set, cache_dir=None) -> str:
    """The path ``weights_set``'s file has (or would have) in the cache."""
    return os.path.join(cache_dir or keras_cache_dir(), weights_set.file)


def safetensors_twin(weights_set, cache_dir=None) -> str:
    """Where a ``.safetensors`` copy of a set's ``.pth`` file is looked for: beside it, same stem.

    Such a copy (timm's ``model.safetensors`` of the same weights, or one
    converted where PyTorch is installed) is read without PyTorch.
    """
    return os.path.splitext(cached_file(weights_set, cache_dir))[0] + ".safetensors"


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class _HashMismatch(Exception):
    """A download whose SHA-256 is not the published one (kept for the next attempt's error message)."""


class TorchRequiredError(ImportError):
    """Reading a ``.pth`` file needs PyTorch, which is not installed (the message names the ways out)."""

    user_facing = True  # the command line prints it as one line


def fetch(weights_set, *, cache_dir=None, progress: bool | None = None) -> str:
    """The local path of a weights set's file: the cached copy, else downloaded and hash-checked.

    Args:
        weights_set: a :class:`~keras_classics.models.WeightsSet` with ``url``,
            ``file`` and ``sha256``.
        cache_dir: default :func:`keras_cache_dir`.
        progress: show a progress bar (default: when stderr is a terminal).

    Raises:
        WeightsUnavailableError: not cached, and the download failed or is
            switched off (``KERAS_CLASSICS_OFFLINE=1``); the message names the
            URL and the path where the file can be put by hand.
        WeightsHashError: two downloads in a row had another SHA-256.
        TorchRequiredError: the set is a ``.pth`` file, PyTorch is not
            installed and no ``.safetensors`` copy is in the cache (checked
            before downloading).
    """
    cache_dir = cache_dir or keras_cache_dir()
    path = cached_file(weights_set, cache_dir)
    twin = safetensors_twin(weights_set, cache_dir)
    pth = path.endswith(TORCH_SUFFIXES)
    if os.path.isfile(path) and not (pth and not torch_available() and os.path.isfile(twin)):
        return path
    if pth and os.path.isfile(twin):
        return twin
    hint = (
        f"To proceed: connect to the network once (the file is then cached), or download {weights_set.url} "
        f"yourself and put it at {path} (its SHA-256 starts with {weights_set.sha256})"
        + (f", or put a .safetensors file of the same weights at {twin} (read without PyTorch)" if pth else "")
        + ", or pass a file's path as weights=."
    )
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise WeightsUnavailableError(
            f"Weights {weights_set.name!r} ({weights_set.file}) are not in the cache ({cache_dir}) and downloads "
            f"are off ({OFFLINE_ENV}={os.environ[OFFLINE_ENV]}). {hint}"
        )
    if pth and not torch_available():  # say so before a download the machine cannot read
        raise TorchRequiredError(
            f"Weights {weights_set.name!r} are published as {weights_set.file}, a PyTorch pickle, and PyTorch is "
            f"not installed. Either install it ({_INSTALL_TORCH}) and build again, or put a .safetensors file of "
            f"the same weights at {twin} ({_SAFETENSORS_SOURCES}). Nothing was downloaded."
        )
    try:
        download(weights_set.url, path, weights_set.sha256, progress=progress)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsUnavailableError(
            f"Could not download weights {weights_set.name!r} from {weights_set.url}: {reason}. {hint}"
        ) from None
    return path


def download(url: str, path, sha256_prefix: str, *, progress: bool | None = None, attempts: int = 2) -> str:
    """Download ``url`` to ``path``, keeping it only if its SHA-256 starts with ``sha256_prefix``.

    The bytes go to a temporary file next to ``path``, renamed into place once
    the hash matches. A mismatch deletes the temporary file and downloads once
    more; a second mismatch raises :class:`WeightsHashError` naming both hashes.
    ``file://`` URLs work too.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    got = None
    for _ in range(attempts):
        try:
            with atomic_path(path, suffix=".part") as tmp:
                with open(tmp, "wb") as out:
                    got = _stream(url, out, progress)
                if not got.startswith(sha256_prefix.lower()):
                    raise _HashMismatch  # the temporary file is removed, nothing replaced
            return path
        except _HashMismatch:
            continue
    raise WeightsHashError(
        f"The file downloaded from {url} has SHA-256 {got}, which does not start with the published "
        f"{sha256_prefix} (downloaded {attempts} times; nothing was kept). The server or a proxy served other "
        "bytes: try again later, or fetch the file another way and pass its path as weights=."
    )


def _stream(url, out, progress):
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        show = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show:
            import keras

            print(f"Downloading {url}", file=sys.stderr)
            bar = keras.utils.Progbar(total, unit_name="byte")
        done = 0
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
            done += len(block)
            if bar is not None:
                bar.update(done)
    return digest.hexdigest()


# ------------------------------------------------------------------ state dicts


def is_state_dict_path(value) -> bool:
    """Whether ``value`` is a path that :func:`read_state_dict` reads (``.safetensors``, ``.pth``, ``.pt``, ``.bin``)."""
    return isinstance(value, (str, os.PathLike)) and os.fspath(value).endswith(STATE_DICT_SUFFIXES)


def read_state_dict(source) -> dict:
    """A state dict as ``{key: numpy array}``, from a file or a mapping.

    Args:
        source: a ``.safetensors`` file (read without PyTorch), a ``.pth`` /
            ``.pt`` / ``.bin`` file written by ``torch.save`` (read with PyTorch,
            ``weights_only=True``), or a mapping of arrays (NumPy, or anything
            with ``.numpy()``, such as CPU torch tensors).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that cannot be read as a state dict (truncated,
            another format), naming the file and the reason.
        TorchRequiredError: a ``.pth`` file without PyTorch installed (an
            ``ImportError``); the message names the two ways out.
    """
    if isinstance(source, Mapping):
        return {str(k): _as_numpy(k, v) for k, v in source.items()}
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "A state dict must be a path to a .safetensors or .pth file, or a dict of arrays. "
            f"Received: {type(source).__name__}"
        )
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}")
    if path.endswith(SAFETENSORS_SUFFIXES):
        return _read_safetensors(path)
    if path.endswith(TORCH_SUFFIXES):
        return _read_torch(path)
    raise ValueError(
        f"Cannot read {path!r} as a state dict: expected a file ending in "
        f"{', '.join(STATE_DICT_SUFFIXES)}."
    )


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise ValueError(
            f"{path!r} is not a readable .safetensors file ({os.path.getsize(path):,} bytes): {e}. "
            "A truncated download? Fetch it again."
        ) from None


_INSTALL_TORCH = "the CPU build is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu"
_SAFETENSORS_SOURCES = (
    "timm publishes torchvision's weights as model.safetensors, e.g. timm/resnet50.tv_in1k on the Hugging Face "
    "Hub; or convert once where PyTorch is installed: "
    "safetensors.torch.save_file(torch.load('file.pth'), 'file.safetensors')"
)


def _read_torch(path):
    if not torch_available():
        raise TorchRequiredError(
            f"Reading {path!r} needs PyTorch: .pth files are Python pickles of torch tensors, and PyTorch is not "
            f"installed. Either install it ({_INSTALL_TORCH}), or use a .safetensors file of the same weights "
            f"({_SAFETENSORS_SOURCES})."
        )
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError… for broken files
        if "Weights only load failed" in str(e):
            raise ValueError(
                f"{path!r} holds pickled Python objects, not only tensors (a whole model saved with "
                "torch.save(model)?), which are not loaded: running a pickle can run any code. Save the state "
                "dict instead: torch.save(model.state_dict(), 'file.pth')."
            ) from None
        raise ValueError(
            f"{path!r} is not a readable PyTorch file ({os.path.getsize(path):,} bytes): "
            f"{type(e).__name__}: {str(e).splitlines()[0].rstrip('.') if str(e) else ''}. A truncated download? Fetch it again."
        ) from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a training checkpoint that wraps the state dict
    if not isinstance(state, Mapping):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict (a dict of tensors).")
    return {str(k): _as_numpy(k, v) for k, v in state.items()}


def _as_numpy(key, value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    try:
        return np.asarray(value)
    except Exception as e:
        raise ValueError(f"State dict entry {key!r} is not an array: {type(value).__name__} ({e})") from None


# ------------------------------------------------------------- the cache as `keras-classics cache` sees it
@dataclass(frozen=True)
class CachedWeightsFile:
    """A weights file of a registered set, found in the cache folder."""

    path: str
    size: int  # bytes
    sets: tuple  # the sets it holds, as "model:set" ("resnet18:torchvision")
    own: bool  # downloaded by the package (fetch); False: keras.applications' file, which Keras manages


# The hidden temporary name of a download in progress, or killed (io.atomic_path in download()).
_PART = re.compile(r"\.(.+)\.\d+-[0-9a-f]{8}\.tmp\.part")


def cached_weights_files(cache_dir=None) -> list[CachedWeightsFile]:
    """The weights files of registered sets in the cache folder (default :func:`keras_cache_dir`), by name.

    A file counts when its name is one a set publishes (``resnet18-f37072fd.pth``; for
    keras.applications sets Keras's file and its ``_notop`` twin) or the temporary name of a
    download of one; it is ``own`` when the package downloads it itself. Symbolic links and every
    other file of the folder (Keras's, the user's) are left out.
    """
    cache_dir = cache_dir or keras_cache_dir()
    known: dict[str, list] = {}
    for name in list_models():
        for s in model_info(name).weights.values():
            if not s.file:
                continue
            names = [s.file]
            if s.source == "keras.applications":
                names.append(s.file.replace(".h5", "_notop.h5"))
            for file in names:
                known.setdefault(file, []).append((f"{name}:{s.name}", s.source != "keras.applications"))
    try:
        entries = sorted(os.scandir(cache_dir), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        part = _PART.fullmatch(entry.name)
        holds = known.get(part.group(1) if part else entry.name)
        if not holds or not entry.is_file(follow_symlinks=False):
            continue
        own = any(o for _, o in holds)
        if part and not own:  # Keras's own download in progress
            continue
        found.append(CachedWeightsFile(entry.path, entry.stat(follow_symlinks=False).st_size,
                                       tuple(s for s, _ in holds), own))
    return found


def clear_weights_cache(cache_dir=None) -> list[CachedWeightsFile]:
    """Remove the weights files the package downloaded (``own`` in :func:`cached_weights_files`); return them.

    keras.applications' files and anything else in the folder stay.
    """
    removed = []
    for f in cached_weights_files(cache_dir):
        if f.own:
            try:
                os.remove(f.path)
            except FileNotFoundError:
                continue
            removed.append(f)
    return removed
