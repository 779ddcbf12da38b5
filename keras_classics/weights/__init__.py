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

from keras_classics._lazy import lazy_exports
from keras_classics.weights._files import (
    OFFLINE_ENV,
    STATE_DICT_SUFFIXES,
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

# The ports import keras: they load on first use, so that the command line's `weights` help stays light.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.weights._keras_applications": (
        "imagenet_sets", "load_imagenet_weights", "load_weights_file", "port_keras_applications"),
})

__all__ = [
    "WeightsUnavailableError",
    "WeightsHashError",
    "TorchRequiredError",
    "OFFLINE_ENV",
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
    from keras_classics.registry import unknown_weights_set

    sets = model_info(model_name).weights
    if set_name not in sets:
        raise unknown_weights_set(model_name, set_name)
    return sets[set_name]


def torch_layout_requires(model_name: str) -> dict:
    """The builder options a torchvision-layout file needs for ``model_name`` (its torchvision sets').

    Raises:
        ValueError: the model has no torchvision counterpart (no torchvision set).
    """
    import keras_classics.models  # noqa: F401  (registers the models; imports keras)
    from keras_classics.registry import torchvision_set

    return dict(torchvision_set(model_name).requires)


def weights_requires(model_name: str, weights) -> dict:
    """The builder options ``weights`` need: a set's, a torchvision-layout file's (the model's torchvision
    layout), or those a converted ``.weights.h5`` was written with (its card); ``{}`` otherwise."""
    from keras_classics.models import model_info

    sets = model_info(model_name).weights
    if isinstance(weights, str) and weights in sets:
        return dict(sets[weights].requires)
    if is_state_dict_path(weights):
        return torch_layout_requires(model_name)
    if isinstance(weights, (str, os.PathLike)):
        return converted_options(weights)
    return {}


def converted_options(path) -> dict:
    """The variant options a file written by :func:`convert` was built with (from its card), or ``{}``."""
    try:
        with open(card_path(path), encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError):
        return {}
    if not _is_conversion_card(card, path):
        return {}
    return {k: v for k, v in card["options"].items() if k != "include_top"}


def _registry_name(model, model_name):
    from keras_classics.models import list_models
    from keras_classics.predict import model_metadata

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
    from keras_classics.models import model_info
    from keras_classics.weights._torchvision import port_state_dict  # keras

    model_name = _registry_name(model, model_name)
    torch_layout_requires(model_name)  # refuses models without a torchvision counterpart
    return port_state_dict(read_state_dict(source), model, model_info(model_name).family)


def to_torchvision_state_dict(model, model_name: str | None = None) -> dict:
    """``model``'s weights in torchvision's layout, ``{key: numpy array}`` (what ``torch.load_state_dict`` takes).

    Raises:
        ValueError: a model of a variant torchvision does not have (its function would change).
    """
    from keras_classics.models import model_info
    from keras_classics.weights._torchvision import export_state_dict  # keras

    model_name = _registry_name(model, model_name)
    torch_layout_requires(model_name)
    return export_state_dict(model, model_info(model_name).family)


def load_pretrained(model, model_name: str, weights, options=None) -> dict | None:
    """Load ``weights`` (a set name or a path) into a freshly built ``model``; the builders call this.

    A named set, or a torchvision-layout file (its set recognised by its
    SHA-256, else the model's first torchvision set), also attaches the set's
    eval transform and the ImageNet class names to the model (see
    :func:`keras_classics.predict.model_metadata`). Returns the porting report, if any.
    """
    from keras_classics.models import model_info
    from keras_classics.weights._keras_applications import load_imagenet_weights, load_weights_file  # keras

    sets = model_info(model_name).weights
    if isinstance(weights, str) and weights in sets:
        weights_set = sets[weights]
        if weights_set.source == "keras.applications":
            report = load_imagenet_weights(model, model_name, **(options or {}))
            _attach_metadata(model, model_name, weights_set, weights_set.file)
        else:
            path = fetch(weights_set)
            report = load_state_dict(model, path, model_name)
            _attach_metadata(model, model_name, weights_set, os.path.basename(path))
        return report
    if is_state_dict_path(weights):
        report = load_state_dict(model, weights, model_name)
        weights_set, recognised = identify_set(model_name, sha256_of(weights))
        _attach_metadata(model, model_name, weights_set, os.path.basename(os.fspath(weights)), recognised)
        return report
    load_weights_file(model, weights)
    return None


def identify_set(model_name: str, digest: str):
    """``(WeightsSet, recognised)``: the torchvision set whose published SHA-256 prefix ``digest`` has,
    else the model's first torchvision set (its eval transform is then an assumption)."""
    from keras_classics.models import model_info
    from keras_classics.registry import torchvision_set

    for s in model_info(model_name).weights.values():
        if s.source == "torchvision" and digest.startswith(s.sha256):
            return s, True
    return torchvision_set(model_name), False


def _attach_metadata(model, model_name, weights_set, file, recognised=True):
    from keras_classics.predict import make_metadata, set_model_metadata

    t = weights_set.eval_transform
    top = any(layer.name == "predictions" for layer in model.layers)
    height, width = tuple(model.inputs[0].shape[1:3])
    size = (height, width) if height and width else t.size  # the crop fraction holds at any input size
    metadata = make_metadata(
        imagenet_class_names() if top else [], size, t.preprocessing, crop_fraction=t.crop_fraction,
        registry_name=model_name,
    )
    metadata["weights"] = {"name": weights_set.name, "source": weights_set.source, "file": file,
                           "recognised": recognised, "options": dict(weights_set.requires)}
    set_model_metadata(model, metadata)


def imagenet_class_names() -> list:
    """The 1000 ImageNet-1k class names, in the order of the classifiers' outputs."""
    from importlib import resources

    text = resources.files("keras_classics.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return text.splitlines()


# ------------------------------------------------------------------ convert


def card_path(output) -> str:
    """The card :func:`convert` writes beside ``output``: ``OUT.keras.card.json``, ``OUT.weights.h5.card.json``."""
    return os.fspath(output) + ".card.json"


def _is_conversion_card(card, output) -> bool:
    return (isinstance(card, dict) and card.get("kind") == CARD_KIND
            and card.get("output") == os.path.abspath(os.fspath(output)))


#: The ``kind`` of a conversion card: what tells an earlier conversion's output from any other file.
CARD_KIND = "keras_classics weights conversion"


def _check_output(output, overwrite):
    """Refuse an output path that cannot be written, or holds anything but an earlier conversion."""
    if not (output.endswith(".weights.h5") or output.endswith(".keras")):
        raise ValueError(f"The output must end in .weights.h5 or .keras. Received: {output!r}")
    folder = os.path.dirname(os.path.abspath(output))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"Cannot write {output!r}: {parent!r} is a file, not a folder. Nothing was written.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"Cannot write {output!r}: the folder {parent!r} is not writable. Nothing was written.")
    card = card_path(output)
    for path in (output, card):
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path!r} is a folder; the output must be a file path. Nothing was written.")
        if not overwrite:
            raise FileExistsError(f"{path!r} exists. Pass --overwrite (overwrite=True) to replace an earlier "
                                  "conversion. Nothing was written.")
    if overwrite and os.path.lexists(output):
        try:
            with open(card, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None
        if not _is_conversion_card(previous, output):
            raise FileExistsError(
                f"{output!r} exists and is not an earlier conversion's output (no conversion card "
                f"{os.path.basename(card)} naming it), so it is not replaced, even with overwrite. Choose another "
                "output path. Nothing was written."
            )
    elif overwrite and os.path.lexists(card):
        raise FileExistsError(f"{card!r} exists without the output it describes; it is not replaced. Nothing was "
                              "written.")


def convert(model_name: str, source, output, *, set_name: str | None = None, include_top: bool = True,
            overwrite: bool = False, **options) -> dict:
    """Port a torchvision-layout file into ``model_name`` and save it, with a card.

    Args:
        model_name: a registered model with a torchvision set.
        source: a ``.safetensors`` or ``.pth`` file (torchvision's layout).
        output: ``OUT.weights.h5`` (weights only) or ``OUT.keras`` (the model,
            with its eval transform and class names). A card ``OUT.….card.json``
            (:func:`card_path`) is written beside it: the source file and its
            SHA-256, the set (recognised by hash, or ``set_name``), the variant
            options used and the porting report. Building a model with
            ``weights=OUT.weights.h5`` then takes the same options.
        set_name: the set the file is (default: the set whose published hash
            the file matches; else the model's first torchvision set's eval
            transform is assumed and the card says so).
        include_top: keep the classifier.
        overwrite: replace an earlier conversion's output (one its card names);
            anything else is never replaced.
        **options: builder options (checked against what the weights need).

    Returns:
        The card as a dict.
    """
    from keras_classics.models import create_model
    from keras_classics.registry import torchvision_set

    output = os.fspath(output)
    _check_output(output, overwrite)
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Weights file not found: {source!r}")
    layout = torchvision_set(model_name)  # refuses models without a torchvision counterpart
    if set_name is not None:
        weights_set = get_weights_set(model_name, set_name)
        if weights_set.source != "torchvision":
            sets = [s.name for _, s in weights_sets(model_name) if s.source == "torchvision"]
            raise ValueError(
                f"Set {set_name!r} of {model_name!r} is published by {weights_set.source}, not as a torchvision "
                f"file. torchvision sets of {model_name!r}: {', '.join(sets)}."
            )
    layout.check_options(model_name, options, what=f"A torchvision-layout file for {model_name!r}")
    builder_options = {**layout.requires, **options}
    model = create_model(model_name, include_top=include_top, **builder_options)
    report = load_state_dict(model, source, model_name)
    digest = sha256_of(source)
    if set_name is None:
        weights_set, recognised = identify_set(model_name, digest)
    else:
        recognised = digest.startswith(weights_set.sha256)
    _attach_metadata(model, model_name, weights_set, os.path.basename(source), recognised)
    card = {
        "kind": CARD_KIND,
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
        "card": os.path.abspath(card_path(output)),
    }
    if not recognised:
        others = [s.name for _, s in weights_sets(model_name) if s.source == "torchvision" and s is not weights_set]
        card["note"] = (
            f"The file's SHA-256 matches no published {model_name} set; the eval transform of "
            f"{weights_set.name!r} is assumed" + (f" (another set? give --set {others[0]})" if others else "") + "."
        )
    _write_output_and_card(model, output, card)
    return card


def _write_output_and_card(model, output, card):
    """Both written to temporary files first, then renamed: the output, then its card."""
    from keras_classics.training.rundir import write_json_atomic

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    folder, base = os.path.split(os.path.abspath(output))
    suffix = ".keras" if output.endswith(".keras") else ".weights.h5"
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.tmp{suffix}")
    try:
        try:
            if suffix == ".keras":
                from keras_classics.predict import save_model

                save_model(model, tmp)
            else:
                model.save_weights(tmp)
        except OSError as e:
            raise OSError(e.errno, f"Cannot write {output!r}: {e.strerror or e}", output) from None
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_json_atomic(card_path(output), card)


def read_card(output) -> dict:
    """The card :func:`convert` wrote beside ``output``."""
    with open(card_path(output), encoding="utf-8") as f:
        return json.load(f)
