"""Looking up weights sets: a model's sets, one set by name, the set a file is, and what a set needs.

Every fact comes from the model's registry entry (``ModelInfo.weights``): the
sets, their files and hashes, the builder options they need and their eval
transforms.
"""

from __future__ import annotations

import os
from importlib import resources

from keras_classics.models import list_models, model_info
from keras_classics.registry import torchvision_set, unknown_weights_set
from keras_classics.weights._cards import converted_options
from keras_classics.weights._files import is_state_dict_path

__all__ = ["weights_sets", "get_weights_set", "torch_layout_requires", "weights_requires", "identify_set",
           "imagenet_class_names"]


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
    if is_state_dict_path(weights):
        return torch_layout_requires(model_name)
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
