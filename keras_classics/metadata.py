"""Model metadata: its one schema, on a model in memory, in a ``.keras`` file and in a model card.

What a classifier needs to be used on images is stated once, as a flat dict
(:func:`make_metadata`):

* ``class_names``: one name per output;
* ``image_size``: ``[height, width]`` of the input;
* ``crop_fraction``: the evaluation centre crop (the shorter side is resized to
  ``eval_resize = round(max(image_size) / crop_fraction)``, then cropped:
  :func:`keras_classics.transforms.crop_shorter_side`);
* ``eval_resize``: that shorter side;
* ``interpolation``: the resize's filter, ``"bilinear"`` or ``"bicubic"``
  (:data:`keras_classics.transforms.INTERPOLATIONS`);
* ``policy``: the training policy the crop came from, if any;
* ``preprocessing``: the mode applied after the crop;
* ``registry_name``: the registered model name;
* ``keras_backend``, ``keras_classics_version``: what wrote it;
* ``weights`` (pretrained models only): the set, its source and file.

It travels with a model in memory (:func:`set_model_metadata`,
:func:`model_metadata`, :func:`keep_metadata`); a ``.keras`` file carries it
as one more entry, :data:`METADATA_ENTRY` (:func:`save_model`,
:func:`read_keras_metadata`); an export's model card carries the same fields
in its own sections (:func:`card_fields` writes them, :func:`from_card` reads
any card back into this schema).

Only the standard library is imported at module level; ``keras`` when a model
is saved or the metadata made.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
import zipfile

from keras_classics.io import atomic_path
from keras_classics.transforms import check_interpolation, crop_shorter_side, eval_crop_fraction

__all__ = [
    "METADATA_ATTRIBUTE",
    "METADATA_ENTRY",
    "CARD_FILENAME",
    "make_metadata",
    "model_metadata",
    "set_model_metadata",
    "keep_metadata",
    "save_model",
    "read_keras_metadata",
    "default_class_names",
    "card_fields",
    "from_card",
    "find_card",
    "read_json",
]

#: Attribute holding a model's metadata in memory (see :func:`make_metadata`). It is set with
#: ``object.__setattr__``, so Keras does not track it as a layer attribute.
METADATA_ATTRIBUTE = "_keras_classics_metadata"

#: The entry that ``.keras`` files written by this package carry next to Keras's own
#: (``config.json``, ``metadata.json``, ``model.weights.h5``): the metadata, as JSON.
#: Keras's loader ignores it.
METADATA_ENTRY = "keras_classics.json"

#: Name of the model card inside an export directory (``NAME.card.json`` beside ``NAME.tflite``).
CARD_FILENAME = "model_card.json"


# --------------------------------------------------------------------------- the schema


def make_metadata(class_names, image_size, preprocessing: str, *, policy: str | None = None,
                  crop_fraction: float | None = None, registry_name: str | None = None,
                  interpolation: str = "bilinear") -> dict:
    """The metadata of a classifier (the schema of the module docstring).

    Args:
        class_names: one name per output.
        image_size: the input side, or ``(height, width)``.
        preprocessing: the preprocessing mode applied after the crop.
        policy: the training policy; its evaluation crop gives ``crop_fraction``
            when that is not given.
        crop_fraction: the centre crop (see :func:`keras_classics.images.resize_and_crop`);
            default: the policy's, else 1.
        registry_name: the registered model name.
        interpolation: the resize's filter (a weights set's, e.g. timm's ``"bicubic"``).
    """
    import keras  # deferred: the backend's name only, and importing keras starts its backend

    from keras_classics import __version__

    if isinstance(image_size, numbers.Integral):  # NumPy's integers too
        size = (int(image_size), int(image_size))
    else:
        size = (int(image_size[0]), int(image_size[1]))
    if crop_fraction is None:
        crop_fraction = eval_crop_fraction(policy, size[0]) if policy and size[0] == size[1] else 1.0
    return {
        "class_names": [str(n) for n in class_names],
        "image_size": list(size),
        "crop_fraction": float(crop_fraction),
        "eval_resize": crop_shorter_side(size, crop_fraction),
        "interpolation": check_interpolation(interpolation),
        "policy": policy,
        "preprocessing": preprocessing,
        "registry_name": registry_name,
        "keras_backend": keras.backend.backend(),
        "keras_classics_version": __version__,
    }


def default_class_names(num_classes: int) -> list[str]:
    """``["0", …, "N-1"]``: the class names of a model whose metadata has none."""
    return [str(i) for i in range(num_classes)]


def card_fields(metadata: dict) -> dict:
    """The sections of a model card that hold the metadata: ``class_names`` and ``input``.

    ``{"class_names": […], "input": {"shape": [h, w, 3], "preprocessing": …, "crop_fraction": …}}``
    (``shape`` only when ``image_size`` is known, ``interpolation`` only when it is not bilinear);
    :func:`from_card` reads them back.
    """
    spec = {"preprocessing": metadata.get("preprocessing"), "crop_fraction": metadata.get("crop_fraction", 1.0)}
    if metadata.get("interpolation", "bilinear") != "bilinear":
        spec["interpolation"] = metadata["interpolation"]
    if metadata.get("image_size"):
        spec = {"shape": [*map(int, metadata["image_size"]), 3], **spec}
    return {"class_names": list(metadata.get("class_names") or []), "input": spec}


def from_card(card: dict) -> dict:
    """The metadata a model card holds, in this module's schema (fields the card lacks are left out).

    Reads ``class_names``, ``input.shape``, ``input.preprocessing``,
    ``input.crop_fraction``, ``input.interpolation`` and ``model.registry_name``:
    every card this package has written.
    """
    spec = card.get("input") if isinstance(card.get("input"), dict) else {}
    model = card.get("model") if isinstance(card.get("model"), dict) else {}
    metadata = {}
    if "class_names" in card:
        metadata["class_names"] = card["class_names"]
    shape = spec.get("shape")
    if isinstance(shape, list) and len(shape) >= 2:
        metadata["image_size"] = list(shape[:2])
    for key in ("preprocessing", "crop_fraction", "interpolation"):
        if key in spec:
            metadata[key] = spec[key]
    if "registry_name" in model:
        metadata["registry_name"] = model["registry_name"]
    return metadata


# --------------------------------------------------------------------------- on a model in memory


def model_metadata(model) -> dict | None:
    """The metadata attached to a model in memory (loaded with it, or set by the training engine)."""
    return vars(model).get(METADATA_ATTRIBUTE)


def set_model_metadata(model, metadata: dict | None):
    """Attach ``metadata`` (see :func:`make_metadata`) to ``model``; returns ``model``.

    It travels with the model through :func:`keras_classics.strip_aux`,
    export's float32 rebuild and :func:`save_model`.
    """
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ValueError(f"Model metadata must be a dict, received {type(metadata).__name__}.")
        metadata = json.loads(json.dumps(metadata))  # a plain, JSON-safe copy (fails early otherwise)
    object.__setattr__(model, METADATA_ATTRIBUTE, metadata)  # untracked by Keras: not a layer attribute
    return model


def keep_metadata(source, target):
    """``target``, given the metadata of ``source`` (a model derived from it keeps it); returns ``target``."""
    metadata = vars(source).get(METADATA_ATTRIBUTE)
    if metadata is not None and target is not source:
        object.__setattr__(target, METADATA_ATTRIBUTE, metadata)  # untracked by Keras
    return target


# --------------------------------------------------------------------------- in a .keras file


def save_model(model, path, metadata: dict | None = None) -> str:
    """Save ``model`` as a ``.keras`` file that carries its metadata; returns ``path``.

    The file is Keras's own (``keras.saving.load_model`` reads it) with one
    more entry, :data:`METADATA_ENTRY`, read back by
    :func:`read_keras_metadata` (and with the model by
    :func:`keras_classics.models.files.load_keras_model`). It is written under a
    temporary name in the same directory and renamed into place
    (:func:`keras_classics.io.atomic_path`).

    Args:
        model: a Keras model.
        path: the ``.keras`` file to write (replaced if it exists, as ``model.save`` does).
        metadata: default: the model's own (:func:`model_metadata`); a model
            without any is saved without the entry.

    Example:
        >>> model = predict.load_keras_model("runs/x/best.keras")
        >>> metadata.save_model(keras_classics.strip_aux(model), "deploy.keras")
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"A model file must end in .keras, received {path!r}.")
    metadata = model_metadata(model) if metadata is None else metadata
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"Model metadata must be a dict, received {type(metadata).__name__}.")
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        if metadata is not None:
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(METADATA_ENTRY, json.dumps(metadata, indent=2))
    return path


def read_keras_metadata(path) -> dict | None:
    """The metadata entry of a ``.keras`` file (see :func:`save_model`), or ``None`` when it has none."""
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            if METADATA_ENTRY not in archive.namelist():
                return None
            data = json.loads(archive.read(METADATA_ENTRY))
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        warnings.warn(f"Ignoring the metadata of {os.fspath(path)!r}: {type(e).__name__}: {e}", stacklevel=2)
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- in a model card


def find_card(path) -> str | None:
    """The model card of an export at ``path``, or ``None`` when there is none.

    ``DIR/model_card.json`` for an export directory, ``NAME.card.json`` beside
    ``NAME.tflite``. (A ``.keras`` file has none: it carries its metadata
    itself, and its run's ``config.json`` says the rest, see
    :func:`keras_classics.predict.run_metadata`.)
    """
    path = os.fspath(path).rstrip(os.sep)
    if os.path.isdir(path):
        candidate = os.path.join(path, CARD_FILENAME)
    elif path.endswith(".tflite"):
        candidate = path[: -len(".tflite")] + ".card.json"
    else:
        return None
    return candidate if os.path.isfile(candidate) else None


def read_json(path):
    """The JSON document in ``path``; a file that is not JSON raises ``ValueError`` naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path!r} is not valid JSON: {e}") from None
