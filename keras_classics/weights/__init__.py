"""Pretrained weights: named sets from the registry, weights files, and the converters.

A model's registry entry lists the sets it can load (``ModelInfo.weights``):

* ``"imagenet"``: keras.applications' ImageNet weights, ported layer by layer
  (:func:`port_keras_applications`; ResNet-50/101/152 v1, VGG16/19, Inception v3);
* ``"torchvision"`` and ``"torchvision-v2"``: torchvision's ImageNet state
  dicts, downloaded into the Keras cache (``~/.keras/models``), hash-checked, and
  ported exactly (:func:`load_state_dict`; AlexNet, VGG and VGG-BN, GoogLeNet,
  Inception v3, ResNet-18 to 152).

``weights=`` in a builder also takes a path: a ``.weights.h5`` file saved from
the same architecture, or a torchvision-layout ``.safetensors`` / ``.pth`` file.
With a named set or a torchvision file the builder sets the options the
weights need (``variant="owt"`` for AlexNet, ``stride_in="3x3"`` for ResNet-50+,
…) and refuses others, and the model carries the set's eval transform, used by
predict, export and the inspector.

Only ``keras`` (and NumPy, safetensors) is imported: this works on every backend.
"""

from __future__ import annotations

import json
import os

from keras_classics.weights._files import (
    OFFLINE_ENV,
    TorchRequiredError,
    WeightsHashError,
    WeightsUnavailableError,
    cached_file,
    download,
    fetch,
    is_state_dict_path,
    keras_cache_dir,
    read_state_dict,
    safetensors_twin,
    sha256_of,
)
from keras_classics.weights._keras_applications import (
    imagenet_sets,
    load_imagenet_weights,
    load_weights_file,
    port_keras_applications,
)
from keras_classics.weights._torchvision import FAMILIES as TORCHVISION_FAMILIES
from keras_classics.weights._torchvision import export_state_dict, port_state_dict

__all__ = [
    "WeightsUnavailableError",
    "WeightsHashError",
    "TorchRequiredError",
    "OFFLINE_ENV",
    "weights_sets",
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
    "download",
    "cached_file",
    "keras_cache_dir",
    "read_state_dict",
    "sha256_of",
]


def weights_sets(model_name: str | None = None) -> list:
    """``[(model name, WeightsSet), …]`` of every registered set (of one model), in registry order."""
    from keras_classics.models import list_models, model_info

    names = [model_name] if model_name is not None else list_models()
    return [(n, s) for n in names for s in model_info(n).weights.values()]


def get_weights_set(model_name: str, set_name: str):
    """The :class:`WeightsSet` ``set_name`` of ``model_name``; unknown names list the sets that exist."""
    from keras_classics.models import model_info

    sets = model_info(model_name).weights
    if set_name not in sets:
        raise ValueError(_unknown_set_message(model_name, set_name))
    return sets[set_name]


def _unknown_set_message(model_name, set_name):
    from keras_classics.models import model_info

    sets = model_info(model_name).weights
    having = sorted({n for n, _ in weights_sets()})
    own = ", ".join(repr(s) for s in sets) if sets else "none"
    return (
        f"Unknown weights set {set_name!r} for {model_name!r}. Sets of {model_name!r}: {own} (all sets: "
        f"{', '.join(map(repr, having))}; see keras-classics weights list). Or give a path to a .weights.h5, "
        ".safetensors or .pth file, or weights=None."
    )


def torch_layout_requires(model_name: str) -> dict:
    """The builder options a torchvision-layout file needs for ``model_name`` (its torchvision sets').

    Raises:
        ValueError: the model has no torchvision layout (no torchvision set).
    """
    from keras_classics.models import list_models, model_info

    for s in model_info(model_name).weights.values():
        if s.source == "torchvision":
            return dict(s.requires)
    having = [n for n in list_models() if any(s.source == "torchvision" for s in model_info(n).weights.values())]
    raise ValueError(
        f"{model_name!r} has no torchvision counterpart, so a .pth/.safetensors state dict cannot be ported into "
        f"it. Models with one: {', '.join(having)}."
    )


def load_state_dict(model, source, model_name: str | None = None) -> dict:
    """Load a torchvision-layout state dict into ``model``, exactly; all or nothing.

    Args:
        model: one of our models, built with the options the weights need
            (:func:`torch_layout_requires`; the builders set them).
        source: a ``.safetensors`` or ``.pth`` file, or a dict of arrays, with
            torchvision's keys (``model.state_dict()``) or timm's.
        model_name: the registry name (default: the model's ``name``).

    Returns:
        ``{"loaded": n_arrays, "values": n_values, "ignored": [keys]}``.

    Raises:
        ValueError: the state dict does not fit (missing or unexpected keys,
            shapes), naming them; the model is unchanged.

    Example:
        >>> model = resnet18()
        >>> load_state_dict(model, "resnet18-f37072fd.safetensors")["loaded"]
        102
    """
    from keras_classics.models import model_info

    model_name = model_name or model.name
    torch_layout_requires(model_name)  # refuses models without a torchvision counterpart
    return port_state_dict(read_state_dict(source), model, model_info(model_name).family)


def to_torchvision_state_dict(model, model_name: str | None = None) -> dict:
    """``model``'s weights in torchvision's layout, ``{key: numpy array}`` (what ``torch.load_state_dict`` takes)."""
    from keras_classics.models import model_info

    model_name = model_name or model.name
    torch_layout_requires(model_name)
    return export_state_dict(model, model_info(model_name).family)


def load_pretrained(model, model_name: str, weights, options=None) -> dict | None:
    """Load ``weights`` (a set name or a path) into a freshly built ``model``; the builders call this.

    A named set also attaches the set's eval transform and the ImageNet class
    names to the model (see :func:`keras_classics.predict.model_metadata`).
    Returns the porting report, if any.
    """
    from keras_classics.models import model_info

    sets = model_info(model_name).weights
    if isinstance(weights, str) and weights in sets:
        weights_set = sets[weights]
        if weights_set.source == "keras.applications":
            report = load_imagenet_weights(model, model_name, **(options or {}))
        else:
            report = load_state_dict(model, fetch(weights_set), model_name)
        _attach_metadata(model, model_name, weights_set)
        return report
    if is_state_dict_path(weights):
        return load_state_dict(model, weights, model_name)
    load_weights_file(model, weights)
    return None


def _attach_metadata(model, model_name, weights_set):
    from keras_classics.predict import make_metadata, set_model_metadata

    t = weights_set.eval_transform
    top = any(layer.name == "predictions" for layer in model.layers)
    height, width = tuple(model.inputs[0].shape[1:3])
    size = (height, width) if height and width else t.size  # the crop fraction holds at any input size
    metadata = make_metadata(
        imagenet_class_names() if top else [], size, t.preprocessing, crop_fraction=t.crop_fraction,
        registry_name=model_name,
    )
    metadata["weights"] = {"name": weights_set.name, "source": weights_set.source, "file": weights_set.file}
    set_model_metadata(model, metadata)


def imagenet_class_names() -> list:
    """The 1000 ImageNet-1k class names, in the order of the classifiers' outputs."""
    from importlib import resources

    text = resources.files("keras_classics.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return text.splitlines()


def convert(model_name: str, source, output, *, set_name: str | None = None, include_top: bool = True,
            overwrite: bool = False, **options) -> dict:
    """Port a torchvision-layout file into ``model_name`` and save it, with a card.

    Args:
        model_name: a registered model with a torchvision set.
        source: a ``.safetensors`` or ``.pth`` file (torchvision's layout).
        output: ``OUT.weights.h5`` (weights only) or ``OUT.keras`` (the model,
            with its eval transform and class names). A card ``OUT.card.json``
            is written beside it: the source file and its SHA-256, the set
            (recognised by hash, or ``set_name``), the variant options used and
            the porting report.
        set_name: the set the file is (default: the set whose published hash
            the file matches; else the model's first torchvision set's eval
            transform is assumed and the card says so).
        include_top: keep the classifier.
        overwrite: replace an existing output written by this function (one
            with a card); anything else is never replaced.
        **options: builder options (checked against what the weights need).

    Returns:
        The card as a dict.
    """
    from keras_classics.models import create_model, model_info
    from keras_classics.training.rundir import write_json_atomic

    output = os.fspath(output)
    if not (output.endswith(".weights.h5") or output.endswith(".keras")):
        raise ValueError(f"The output must end in .weights.h5 or .keras. Received: {output!r}")
    card_path = _card_path(output)
    if os.path.lexists(output):
        if os.path.isdir(output):
            raise FileExistsError(f"{output!r} is a directory; the output must be a file path. Nothing was written.")
        if not overwrite:
            raise FileExistsError(f"{output!r} exists. Pass --overwrite (overwrite=True) to replace it.")
        if not os.path.isfile(card_path):
            raise FileExistsError(
                f"{output!r} exists and was not written by a weights conversion (no {os.path.basename(card_path)} "
                "beside it), so it is not replaced, even with overwrite. Choose another output path."
            )
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Weights file not found: {source!r}")
    digest = sha256_of(source)
    torchvision_sets = [s for s in model_info(model_name).weights.values() if s.source == "torchvision"]
    torch_layout_requires(model_name)
    if set_name is not None:
        weights_set = get_weights_set(model_name, set_name)
        if weights_set.source != "torchvision":
            raise ValueError(
                f"Set {set_name!r} of {model_name!r} is published by {weights_set.source}, not as a torchvision "
                f"file. torchvision sets of {model_name!r}: {', '.join(s.name for s in torchvision_sets)}."
            )
        recognised = digest.startswith(weights_set.sha256)
    else:
        matches = [s for s in torchvision_sets if digest.startswith(s.sha256)]
        weights_set = matches[0] if matches else torchvision_sets[0]
        recognised = bool(matches)
    builder_options = {**weights_set.requires, **options}
    weights_set.check_options(model_name, options)
    model = create_model(model_name, include_top=include_top, **builder_options)
    report = load_state_dict(model, source, model_name)
    _attach_metadata(model, model_name, weights_set)
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    if output.endswith(".keras"):
        from keras_classics.predict import save_model

        save_model(model, output)
    else:
        _save_weights_atomic(model, output)
    card = {
        "model": model_name,
        "options": {"include_top": include_top, **builder_options},
        "weights_set": weights_set.name,
        "set_recognised_by_hash": recognised,
        "source_file": os.path.abspath(source),
        "source_sha256": digest,
        "published_sha256_prefix": weights_set.sha256,
        "published_url": weights_set.url,
        "eval_transform": {"size": weights_set.eval_transform.size,
                           "resize": weights_set.eval_transform.resize,
                           "crop_fraction": weights_set.eval_transform.crop_fraction,
                           "preprocessing": weights_set.eval_transform.preprocessing},
        "loaded_arrays": report["loaded"],
        "loaded_values": report["values"],
        "ignored_keys": report["ignored"],
        "output": os.path.abspath(output),
    }
    if not recognised:
        card["note"] = (
            f"The file's SHA-256 matches no published {model_name} set; the eval transform of "
            f"{weights_set.name!r} is assumed."
        )
    write_json_atomic(card_path, card)
    return card


def _card_path(output):
    stem = output[: -len(".weights.h5")] if output.endswith(".weights.h5") else output[: -len(".keras")]
    return stem + ".card.json"


def _save_weights_atomic(model, output):
    folder, base = os.path.split(os.path.abspath(output))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.tmp.weights.h5")
    try:
        model.save_weights(tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_card(output) -> dict:
    """The card :func:`convert` wrote beside ``output``."""
    with open(_card_path(os.fspath(output)), encoding="utf-8") as f:
        return json.load(f)
