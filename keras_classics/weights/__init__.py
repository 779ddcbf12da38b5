"""Pretrained weights: named sets from the registry, weights files, and the converters.

A model's registry entry lists the sets it can load (``ModelInfo.weights``):

* ``"imagenet"``: keras.applications' ImageNet weights, ported layer by layer
  (:func:`port_keras_applications`; ResNet-50/101/152 v1, VGG16/19, Inception v3);
* ``"torchvision"`` and ``"torchvision-v2"``: torchvision's ImageNet state
  dicts, downloaded into the Keras cache (``~/.keras/models``), hash-checked, and
  ported exactly (:func:`load_state_dict`; AlexNet, VGG and VGG-BN, GoogLeNet,
  Inception v3, ResNet-18 to 152). Without PyTorch, timm's safetensors copy of
  the same weights is read from the Hugging Face Hub instead (``WeightsSet.hub``);
* timm's sets (``"a1_in1k"``, ``"gluon_in1k"``, …; ResNet-18 to 152, Inception
  v3): ``model.safetensors`` of a Hub repository, in timm's layout.

``weights=`` in a builder also takes a path: a ``.weights.h5`` file saved from
the same architecture, or a torchvision-layout ``.safetensors`` / ``.pth`` file;
or a Hub handle, ``"hf://timm/resnet50.a1_in1k"`` (:func:`load_hub`: its
``config.json`` gives the eval transform).

Every download goes through one function, :func:`obtain`, which honours
``KERAS_CLASSICS_OFFLINE=1`` and ``HF_HUB_OFFLINE=1``: a file that is not
cached is then an error naming it and the prefetch command
(``keras-classics weights download``, :func:`prefetch`).
With a named set or a torchvision file the builder sets the options the
weights need (``variant="owt"`` for AlexNet, ``stride_in="3x3"`` for ResNet-50+,
…) and refuses others, and the model carries the set's eval transform, used by
predict, export and the inspector.

The package, by job: :mod:`._sets` (looking sets up, prefetching), :mod:`._load`
(loading into a built model: the hook every builder calls), :mod:`._convert` and
:mod:`._cards` (conversion and its card), :mod:`._files` (the caches, the one
download function and state-dict files), :mod:`._hub` (Hub handles, timm's
``config.json``), :mod:`._torchvision` and :mod:`._keras_applications` (the
ports). :mod:`._load` registers the builders' weights hook
(:mod:`keras_classics.models.weights_hook`). The modules that import Keras load
on first use, so that the command line's ``weights`` help stays light.

Only ``keras`` (and NumPy, safetensors) is imported: this works on every backend.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_exports
from keras_classics.weights._cards import converted_options, read_card
from keras_classics.weights._files import CachedWeightsFile, cached_weights_files, clear_weights_cache
from keras_classics.weights._files import (
    HF_OFFLINE_ENV,
    HUB_SCHEME,
    OFFLINE_ENV,
    STATE_DICT_SUFFIXES,
    Remote,
    TorchRequiredError,
    WeightsHashError,
    WeightsUnavailableError,
    cached_file,
    download,
    fetch,
    hub_cache_dir,
    keras_cache_dir,
    obtain,
    prefetch_command,
    read_state_dict,
    safetensors_twin,
    sha256_of,
)

# The lookups, loaders, converter and ports import Keras (through the models): they load on first use.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.weights._convert": ("convert",),
    "keras_classics.weights._keras_applications": (
        "imagenet_sets", "load_imagenet_weights", "load_weights_file", "port_keras_applications"),
    "keras_classics.weights._load": (
        "attach_metadata", "check_weights_file", "load_hub", "load_pretrained", "load_state_dict",
        "to_torchvision_state_dict"),
    "keras_classics.weights._sets": (
        "get_weights_set", "identify_set", "imagenet_class_names", "is_cached", "prefetch", "torch_layout_requires",
        "weights_requires", "weights_sets"),
    "keras_classics.weights._hub": ("eval_transform_from_config", "hub_config", "parse_hub_handle"),
    "keras_classics.weights._torchvision": ("export_state_dict", "port_state_dict"),
})

__all__ = [
    "WeightsUnavailableError",
    "WeightsHashError",
    "TorchRequiredError",
    "OFFLINE_ENV",
    "HF_OFFLINE_ENV",
    "HUB_SCHEME",
    "STATE_DICT_SUFFIXES",
    "weights_sets",
    "weights_requires",
    "converted_options",
    "get_weights_set",
    "load_pretrained",
    "load_state_dict",
    "to_torchvision_state_dict",
    "torch_layout_requires",
    "convert",
    "load_weights_file",
    "load_imagenet_weights",
    "port_keras_applications",
    "imagenet_sets",
    "fetch",
    "obtain",
    "Remote",
    "prefetch",
    "prefetch_command",
    "is_cached",
    "load_hub",
    "parse_hub_handle",
    "hub_config",
    "eval_transform_from_config",
    "hub_cache_dir",
    "download",
    "cached_file",
    "cached_weights_files",
    "clear_weights_cache",
    "CachedWeightsFile",
    "keras_cache_dir",
    "read_state_dict",
    "sha256_of",
]
