"""Loading weights into a built model: the dispatch behind ``weights=`` in every builder.

A builder asks for its weights through one hook (:class:`keras_classics.models.weights_hook.WeightsHook`,
registered when this package is imported): the options the weights need
(:func:`keras_classics.weights.weights_requires`), a check of a weights file
path or Hub handle (:func:`check_weights_file`), then :func:`load_pretrained`
once the model is built. A named set, a Hub handle (``hf://timm/NAME``) or a
torchvision-layout file also attaches the set's eval transform and the
ImageNet class names to the model (:mod:`keras_classics.metadata`).
"""

from __future__ import annotations

import os

from keras_classics.metadata import make_metadata, model_metadata, set_model_metadata
from keras_classics.models import list_models, model_info
from keras_classics.models import weights_hook as _weights_hook
from keras_classics.registry import torchvision_set, unknown_weights_set
from keras_classics.weights._cards import converted_options
from keras_classics.weights._files import (
    STATE_DICT_SUFFIXES,
    Remote,
    fetch,
    hub_cache_dir,
    is_state_dict_path,
    obtain,
    prefetch_command,
    read_state_dict,
    sha256_of,
)
from keras_classics.weights._hub import HUB_WEIGHTS_FILE, hub_config, hub_weights_set, is_hub_handle, parse_hub_handle
from keras_classics.weights._keras_applications import load_imagenet_weights, load_weights_file
from keras_classics.weights._sets import identify_set, imagenet_class_names, torch_layout_requires, weights_requires
from keras_classics.weights._torchvision import export_state_dict, port_state_dict

__all__ = ["load_pretrained", "load_state_dict", "load_hub", "to_torchvision_state_dict", "check_weights_file",
           "attach_metadata"]

_WEIGHTS_FILES = "a path to a .weights.h5, .safetensors or .pth file, or a Hub handle 'hf://timm/NAME'"


def _registry_name(model, model_name):
    name = model_name or (model_metadata(model) or {}).get("registry_name") or model.name
    if name not in list_models():
        raise ValueError(
            f"Model {model.name!r} is not a registered model name; pass model_name= (the registry name it was "
            f"built as, e.g. model_name='resnet18'). Registered: {', '.join(list_models())}."
        )
    return name


def load_state_dict(model, source, model_name: str | None = None) -> dict:
    """Load a torchvision-layout state dict into ``model``, exactly; all or nothing.

    Args:
        model: one of our models, built with the options the weights need
            (:func:`torch_layout_requires`; the builders set them). A model of
            another variant (ResNet v1 strides, Inception v3's TensorFlow pools)
            is refused: the shapes would fit, the function would not.
        source: a ``.safetensors`` or ``.pth`` file, or a dict of arrays, with
            torchvision's keys (``model.state_dict()``) or timm's.
        model_name: the registry name (default: the model's metadata, else its ``name``).

    Returns:
        ``{"loaded": n_arrays, "values": n_values, "ignored": [keys]}``.

    Raises:
        ValueError: the state dict does not fit (missing or unexpected keys,
            shapes, variant), naming them; the model is unchanged.

    Example:
        >>> model = resnet18()
        >>> load_state_dict(model, "resnet18-f37072fd.safetensors")["loaded"]
        102
    """
    model_name = _registry_name(model, model_name)
    torch_layout_requires(model_name)  # refuses models without a torchvision counterpart
    return port_state_dict(read_state_dict(source), model, model_info(model_name).family)


def to_torchvision_state_dict(model, model_name: str | None = None) -> dict:
    """``model``'s weights in torchvision's layout, ``{key: numpy array}`` (what ``torch.load_state_dict`` takes).

    Raises:
        ValueError: a model of a variant torchvision does not have (its function would change).
    """
    model_name = _registry_name(model, model_name)
    torch_layout_requires(model_name)
    return export_state_dict(model, model_info(model_name).family)


def check_weights_file(model_name: str, weights, options: dict) -> None:
    """Refuse ``weights`` (not a set name of ``model_name``) unless it is a weights file the model can load.

    Accepted: an existing ``.weights.h5`` file (one written by :func:`convert`
    keeps the variant options it was converted for), or a torchvision-layout
    ``.safetensors`` / ``.pth`` file of a model with a torchvision counterpart,
    with ``options`` that fit its layout.

    Raises:
        ValueError: naming what was received and what is accepted.
    """
    names = ", ".join(repr(s) for s in model_info(model_name).weights) or "none"
    if is_hub_handle(weights):  # timm's layout is torchvision's: the same options
        parse_hub_handle(weights)
        torchvision_set(model_name).check_options(
            model_name, options, what=f"A timm checkpoint for {model_name!r} ({weights})")
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"`weights` must be None, a weights set of {model_name!r} ({names}) or {_WEIGHTS_FILES}. "
            f"Received: weights={weights!r}"
        )
    path = os.fspath(weights)
    if not path.endswith((".h5",) + STATE_DICT_SUFFIXES):
        if os.sep not in path and "." not in path:  # a set name, not a path
            raise unknown_weights_set(model_name, path)
        raise ValueError(
            f"`weights` must be None, a weights set of {model_name!r} ({names}) or {_WEIGHTS_FILES}. "
            f"Received: {path!r}"
        )
    if not os.path.isfile(path):
        raise ValueError(f"`weights` file not found: {path!r}")
    if path.endswith(STATE_DICT_SUFFIXES):
        torchvision_set(model_name).check_options(
            model_name, options, what=f"A torchvision-layout file for {model_name!r} ({os.path.basename(path)})")
    else:
        for key, needed in converted_options(path).items():  # a converted file remembers its variant
            if key in options and options[key] != needed:
                raise ValueError(
                    f"{path!r} was converted from torchvision weights for {key}={needed!r}. Received: "
                    f"{key}={options[key]!r}. Leave {key} out (the builder sets it) or use weights=None."
                )


def load_pretrained(model, model_name: str, weights, options=None) -> dict | None:
    """Load ``weights`` (a set name or a path) into a freshly built ``model``; the builders call this.

    A named set, or a torchvision-layout file (its set recognised by its
    SHA-256, else the model's first torchvision set), also attaches the set's
    eval transform and the ImageNet class names to the model (see
    :func:`keras_classics.metadata.model_metadata`). Returns the porting report, if any.
    """
    sets = model_info(model_name).weights
    if isinstance(weights, str) and weights in sets:
        weights_set = sets[weights]
        if weights_set.source == "keras.applications":
            report = load_imagenet_weights(model, model_name, **(options or {}))
            attach_metadata(model, model_name, weights_set, weights_set.file)
        else:
            path = fetch(weights_set, model=model_name)
            report = load_state_dict(model, path, model_name)
            from_hub = os.path.abspath(path).startswith(os.path.abspath(hub_cache_dir()) + os.sep)
            attach_metadata(model, model_name, weights_set, os.path.basename(path),
                            hub=weights_set.hub if from_hub else None)
        return report
    if is_hub_handle(weights):
        return load_hub(model, model_name, weights)
    if is_state_dict_path(weights):
        report = load_state_dict(model, weights, model_name)
        weights_set, recognised = identify_set(model_name, sha256_of(weights))
        attach_metadata(model, model_name, weights_set, os.path.basename(os.fspath(weights)), recognised)
        return report
    load_weights_file(model, weights)
    return None


def load_hub(model, model_name: str, handle: str) -> dict:
    """Load the timm checkpoint ``handle`` (``"hf://timm/resnet50.a1_in1k"``) into ``model``; all or nothing.

    Its ``config.json`` is read first (the architecture must be ``model_name``;
    its ``pretrained_cfg`` gives the eval transform attached to the model),
    then ``model.safetensors``, both through the one download function
    (huggingface_hub's cache; offline, a miss names the prefetch command).

    Returns:
        The porting report of :func:`load_state_dict`.
    """
    repo, revision = parse_hub_handle(handle)
    config = hub_config(handle, model_name)
    path = obtain(Remote(f"the weights of {handle}", prefetch_command(model_name, handle), repo=repo,
                         filename=HUB_WEIGHTS_FILE, revision=revision))
    report = load_state_dict(model, path, model_name)
    registered = next((s for s in model_info(model_name).weights.values() if s.hub == repo), None)
    attach_metadata(model, model_name, hub_weights_set(handle, config, registered), HUB_WEIGHTS_FILE, hub=repo)
    return report


def attach_metadata(model, model_name, weights_set, file, recognised=True, hub=None):
    """Attach the metadata of ``weights_set`` (its eval transform, the ImageNet class names, the file and,
    when it was read from the Hub, the ``hub`` repository) to ``model``."""
    t = weights_set.eval_transform
    top = any(layer.name == "predictions" for layer in model.layers)
    height, width = tuple(model.inputs[0].shape[1:3])
    size = (height, width) if height and width else t.size  # the crop fraction holds at any input size
    metadata = make_metadata(
        imagenet_class_names() if top else [], size, t.preprocessing, crop_fraction=t.crop_fraction,
        registry_name=model_name, interpolation=t.interpolation,
    )
    metadata["weights"] = {"name": weights_set.name, "source": weights_set.source, "file": file,
                           "recognised": recognised, "options": dict(weights_set.requires)}
    if hub:
        metadata["weights"]["hub"] = hub
    set_model_metadata(model, metadata)


# What every builder calls for its weights (keras_classics.models never imports this package).
_weights_hook.register_weights_hook(
    _weights_hook.WeightsHook(requires=weights_requires, check_file=check_weights_file, load=load_pretrained))
