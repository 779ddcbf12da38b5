"""Weights files: the caches, the one download function (offline-aware), and reading state dicts.

Every download goes through :func:`obtain`: a URL into the Keras cache
(``~/.keras/models``; a temporary file renamed into place only once its SHA-256
matches the published one), or a Hugging Face Hub file into huggingface_hub's
cache. ``KERAS_CLASSICS_OFFLINE=1`` (and ``HF_HUB_OFFLINE=1`` for the Hub)
turns downloads off; a file that is not cached is then an error naming it and
the prefetch command, ``keras-classics weights download``.

A state dict is read from a ``.safetensors`` file with the ``safetensors``
library's NumPy API (no PyTorch needed), from a ``.pth`` file with PyTorch when
it is installed, or taken as a mapping of arrays.
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
#: huggingface_hub's own switch, honoured for Hub files.
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
#: The prefix of a Hugging Face Hub handle as a ``weights=`` value (``"hf://timm/resnet50.a1_in1k"``).
HUB_SCHEME = "hf://"

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


def offline() -> bool:
    """Whether downloads are off: ``KERAS_CLASSICS_OFFLINE=1`` (every source) or ``HF_HUB_OFFLINE=1`` (the Hub's).

    Read when called, so that a test or a script may switch it on at any time.
    """
    return _truthy(os.environ.get(OFFLINE_ENV))


def hub_offline() -> bool:
    """Whether Hub downloads are off: :func:`offline`, or huggingface_hub's own ``HF_HUB_OFFLINE=1``."""
    return offline() or _truthy(os.environ.get(HF_OFFLINE_ENV))


def _truthy(value) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def hub_cache_dir() -> str:
    """huggingface_hub's cache, shared with timm and keras-hub: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``,
    else ``$XDG_CACHE_HOME/huggingface/hub`` (``~/.cache/huggingface/hub``); read when called."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.join(os.path.expanduser(xdg), "huggingface", "hub")


def prefetch_command(model: str, set_name: str) -> str:
    """The command that fills the cache with ``set_name`` of ``model`` (a set name or an ``hf://`` handle)."""
    if set_name.startswith(HUB_SCHEME):
        return f"keras-classics weights download {set_name}"
    return f"keras-classics weights download {model} {set_name}"


@dataclass(frozen=True)
class Remote:
    """One file weights are read from, and where it is cached.

    Either a URL (``url``, cached at ``path``, kept only when its SHA-256 starts
    with ``sha256``) or a file of a Hugging Face Hub repository (``repo``,
    ``filename``, ``revision``; huggingface_hub's cache).

    Attributes:
        what: how error messages name it (``"weights 'a1_in1k' of resnet50"``).
        prefetch: the command that fills the cache (:func:`prefetch_command`).
    """

    what: str
    prefetch: str
    url: str = ""
    path: str = ""
    sha256: str = ""
    repo: str = ""
    filename: str = ""
    revision: str | None = None
    also: str = ""  # one more way out, for the messages

    @property
    def where(self) -> str:
        """The source in words: the URL, or ``file of the Hub repository OWNER/NAME``."""
        if self.repo:
            return f"{self.filename} of the Hugging Face Hub repository {self.repo}" + (
                f" (revision {self.revision})" if self.revision else "")
        return self.url


def obtain(remote: Remote, *, progress: bool | None = None) -> str:
    """The local path of ``remote``: the cached copy, else downloaded into the cache.

    Every download of the package goes through here (torchvision's files,
    keras.applications' files, Hub repositories), so that offline mode holds
    everywhere: with ``KERAS_CLASSICS_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1`` for
    the Hub) nothing is downloaded, and a file that is not cached is an error
    naming it and the command that fetches it (:attr:`Remote.prefetch`).

    Hub files go through huggingface_hub's ``hf_hub_download``: its cache
    (:func:`hub_cache_dir`, shared with timm and keras-hub), its tokens
    (``HF_TOKEN``) and mirrors (``HF_ENDPOINT``).

    Raises:
        WeightsUnavailableError: not cached, and downloads are off or failed.
        WeightsHashError: two downloads from a URL in a row had another SHA-256.
    """
    if remote.repo:
        return _obtain_hub(remote)
    if os.path.isfile(remote.path):
        return remote.path
    if offline():
        raise WeightsUnavailableError(
            f"{_capital(remote.what)} are not in the cache: {remote.path} is missing, and downloads are off "
            f"({OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)}). Fill the cache where the network is reachable: "
            f"{remote.prefetch} (or download {remote.url} and put it at {remote.path}{remote.also}), then run again."
        )
    try:
        download(remote.url, remote.path, remote.sha256, progress=progress)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsUnavailableError(
            f"Could not download {remote.what} from {remote.url}: {reason}. Connect to the network once and run "
            f"{remote.prefetch}, or download the file yourself and put it at {remote.path}{remote.also}, or pass a "
            "file's path as weights=."
        ) from None
    return remote.path


def _capital(text):
    return text[:1].upper() + text[1:]


def _obtain_hub(remote):
    # deferred: huggingface_hub is needed only when a Hub file is read
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = hub_cache_dir()
    try:
        return hf_hub_download(remote.repo, remote.filename, revision=remote.revision, cache_dir=cache,
                               local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    except (OSError, ValueError) as e:  # a damaged cache entry
        raise WeightsUnavailableError(f"Could not read {remote.where} from the cache ({cache}): {e}") from None
    if hub_offline():
        switch = OFFLINE_ENV if offline() else HF_OFFLINE_ENV
        raise WeightsUnavailableError(
            f"{_capital(remote.what)} are not in the cache: {remote.where} is not in huggingface_hub's cache "
            f"({cache}; set by HF_HOME or HF_HUB_CACHE), and downloads are off ({switch}="
            f"{os.environ.get(switch)}). Fill the cache where the network is reachable: {remote.prefetch} "
            "(or copy a cache that has it), then run again."
        )
    try:
        return hf_hub_download(remote.repo, remote.filename, revision=remote.revision, cache_dir=cache)
    except Exception as e:  # huggingface_hub raises its HTTP, repository and entry errors, all named here
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsUnavailableError(
            f"Could not download {remote.where} ({remote.what}): {type(e).__name__}: {reason}. Check the "
            "repository's name (https://huggingface.co/" + remote.repo + "), the network, or a token "
            f"(HF_TOKEN) for a private repository; once reachable, {remote.prefetch} fills the cache."
        ) from None


def fetch(weights_set, *, cache_dir=None, progress: bool | None = None, model: str = "",
          include_top: bool = True) -> str:
    """The local path of a weights set's file: the cached copy, else downloaded (:func:`obtain`).

    * timm's sets: the repository's ``model.safetensors`` (huggingface_hub's cache);
    * torchvision's: the ``.pth`` file (hash-checked, the Keras cache), or,
      without PyTorch, a ``.safetensors`` copy beside it, else timm's copy of
      the same weights on the Hub (``WeightsSet.hub``);
    * keras.applications': its ``.h5`` file (``_notop.h5`` without the top), in the Keras cache.

    Args:
        weights_set: a :class:`~keras_classics.models.WeightsSet`.
        cache_dir: the Keras cache, default :func:`keras_cache_dir`.
        progress: show a progress bar (default: when stderr is a terminal).
        model: the model's registry name (the prefetch command in messages).
        include_top: keras.applications sets: the file with the classifier.

    Raises:
        WeightsUnavailableError: not cached, and the download failed or is
            switched off (``KERAS_CLASSICS_OFFLINE=1``, ``HF_HUB_OFFLINE=1``);
            the message names the URL or repository and the prefetch command.
        WeightsHashError: two downloads in a row had another SHA-256.
        TorchRequiredError: a ``.pth`` set without a Hub copy, PyTorch is not
            installed and no ``.safetensors`` copy is in the cache (checked
            before downloading).
    """
    cache_dir = cache_dir or keras_cache_dir()
    what = f"weights {weights_set.name!r}" + (f" of {model}" if model else "")
    prefetch = prefetch_command(model or "MODEL", weights_set.name)
    if weights_set.source == "timm":
        return obtain(Remote(what, prefetch, repo=weights_set.hub, filename=weights_set.file), progress=progress)
    file, url = weights_set.file, weights_set.url
    if weights_set.source == "keras.applications" and not include_top:
        file, url = (v.replace(".h5", "_notop.h5") for v in (file, url))
    path = os.path.join(cache_dir, file)
    twin = safetensors_twin(weights_set, cache_dir)
    pth = path.endswith(TORCH_SUFFIXES)
    if os.path.isfile(path) and not (pth and not torch_available() and os.path.isfile(twin)):
        return path
    if pth and os.path.isfile(twin):
        return twin
    if pth and not torch_available():
        if weights_set.hub:  # timm's safetensors copy of the same weights, read without PyTorch
            return obtain(Remote(what, prefetch, repo=weights_set.hub, filename="model.safetensors"),
                          progress=progress)
        if not offline():  # say so before a download the machine cannot read
            raise TorchRequiredError(
                f"Weights {weights_set.name!r} are published as {weights_set.file}, a PyTorch pickle, and PyTorch "
                f"is not installed. Either install it ({_INSTALL_TORCH}) and build again, or put a .safetensors "
                f"file of the same weights at {twin} ({_SAFETENSORS_SOURCES}). Nothing was downloaded."
            )
    also = f", or put a .safetensors file of the same weights at {twin} (read without PyTorch)" if pth else ""
    return obtain(Remote(what, prefetch, url=url, path=path, sha256=weights_set.sha256, also=also),
                  progress=progress)


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
