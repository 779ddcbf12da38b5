"""Looking up weights sets: a model's sets, one set by name, the set a file is, what a set needs, and
whether (and where) it is cached, with the prefetch that fills the cache.

Every fact comes from the model's registry entry (``ModelInfo.weights``): the
sets, their files, hashes and Hub repositories, the builder options they need
and their eval transforms.
"""

from __future__ import annotations

import glob
import os
from importlib import resources

from keras_classics.models import list_models, model_info
from keras_classics.registry import torchvision_set, unknown_weights_set
from keras_classics.weights._cards import converted_options
from keras_classics.weights._files import (
    HUB_SCHEME,
    Remote,
    cached_file,
    fetch,
    hub_cache_dir,
    is_state_dict_path,
    obtain,
    prefetch_command,
    safetensors_twin,
)
from keras_classics.weights._hub import HUB_WEIGHTS_FILE, parse_hub_handle

__all__ = ["weights_sets", "get_weights_set", "torch_layout_requires", "weights_requires", "identify_set",
           "imagenet_class_names", "is_cached", "prefetch"]


def weights_sets(model_name: str | None = None) -> list:
    """``[(model name, WeightsSet), …]`` of every registered set (of one model), in registry order."""
    names = [model_name] if model_name is not None else list_models()
    return [(n, s) for n in names for s in model_info(n).weights.values()]


def get_weights_set(model_name: str, set_name: str):
    """The :class:`WeightsSet` ``set_name`` of ``model_name``; unknown names list the sets that exist."""
    sets = model_info(model_name).weights
    if set_name not in sets:
        raise unknown_weights_set(model_name, set_name)
    return sets[set_name]


def torch_layout_requires(model_name: str) -> dict:
    """The builder options a torchvision-layout file needs for ``model_name`` (its torchvision sets').

    Raises:
        ValueError: the model has no torchvision counterpart (no torchvision set).
    """
    return dict(torchvision_set(model_name).requires)


def weights_requires(model_name: str, weights) -> dict:
    """The builder options ``weights`` need: a set's, a torchvision-layout file's (the model's torchvision
    layout), or those a converted ``.weights.h5`` was written with (its card); ``{}`` otherwise."""
    sets = model_info(model_name).weights
    if isinstance(weights, str) and weights in sets:
        return dict(sets[weights].requires)
    if is_state_dict_path(weights) or (isinstance(weights, str) and weights.startswith(HUB_SCHEME)):
        return torch_layout_requires(model_name)  # timm's layout (hf://timm/…) is torchvision's
    if isinstance(weights, (str, os.PathLike)):
        return converted_options(weights)
    return {}


def identify_set(model_name: str, digest: str):
    """``(WeightsSet, recognised)``: the torchvision set whose published SHA-256 prefix ``digest`` has,
    else the model's first torchvision set (its eval transform is then an assumption)."""
    for s in model_info(model_name).weights.values():
        if s.source == "torchvision" and digest.startswith(s.sha256):
            return s, True
    return torchvision_set(model_name), False


def imagenet_class_names() -> list:
    """The 1000 ImageNet-1k class names, in the order of the classifiers' outputs."""
    text = resources.files("keras_classics.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return text.splitlines()


def _hub_cached(repo: str, filename: str = HUB_WEIGHTS_FILE) -> bool:
    # huggingface_hub's cache layout (models--OWNER--NAME/snapshots/REVISION/FILE), looked at without
    # importing huggingface_hub: `weights list` stays light.
    folder = os.path.join(hub_cache_dir(), "models--" + repo.replace("/", "--"), "snapshots")
    return bool(glob.glob(os.path.join(glob.escape(folder), "*", filename)))


def is_cached(weights_set) -> str:
    """Where ``weights_set``'s file is cached: ``"yes"`` (its own file), ``"safetensors"`` (a copy beside
    a ``.pth``), ``"hub"`` (timm's copy of torchvision's weights in the Hub cache) or ``"no"``."""
    if weights_set.source == "timm":
        return "yes" if _hub_cached(weights_set.hub) else "no"
    if os.path.isfile(cached_file(weights_set)):
        return "yes"
    if weights_set.source == "torchvision" and os.path.isfile(safetensors_twin(weights_set)):
        return "safetensors"
    if weights_set.hub and _hub_cached(weights_set.hub):
        return "hub"
    return "no"


def prefetch(name: str, set_names=(), *, include_top: bool = True, progress: bool | None = None) -> list:
    """Fill the caches with weights, for later offline use (``keras-classics weights download``).

    Args:
        name: a registered model (its sets) or a Hub handle ``"hf://OWNER/NAME"``
            (its ``config.json`` and ``model.safetensors``).
        set_names: the model's sets to fetch (default: all of them).
        include_top: keras.applications sets: the file with the classifier
            (``False``: the ``_notop`` file that ``include_top=False`` reads).
        progress: show progress bars (default: when stderr is a terminal).

    Returns:
        ``[(what, local path), …]``: what this machine reads when building
        offline (a torchvision set without PyTorch: timm's Hub copy).

    Raises:
        ValueError: an unknown model or set (naming those that exist).
        WeightsUnavailableError: a download failed (or downloads are off).
    """
    if name.startswith(HUB_SCHEME):
        if set_names:
            raise ValueError(f"A Hub handle names one checkpoint; no set names after it. Received: {list(set_names)}")
        repo, revision = parse_hub_handle(name)
        prefetch_cmd = prefetch_command("", name)
        return [(f"{name} {f}", obtain(Remote(f"{f} of {name}", prefetch_cmd, repo=repo, filename=f,
                                              revision=revision), progress=progress))
                for f in ("config.json", HUB_WEIGHTS_FILE)]
    sets = model_info(name).weights
    if not sets:
        having = [n for n in list_models() if model_info(n).weights]
        raise ValueError(f"{name!r} has no pretrained weights sets. Models with sets: {', '.join(having)}.")
    chosen = [get_weights_set(name, s) for s in set_names] if set_names else list(sets.values())
    done = []
    for s in chosen:
        path = fetch(s, model=name, include_top=include_top, progress=progress)
        if s.source == "timm":
            obtain(Remote(f"the config of {s.hub}", prefetch_command(name, s.name), repo=s.hub,
                          filename="config.json"), progress=progress)
        done.append((f"{name} {s.name}", path))
    return done
