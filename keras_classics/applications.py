"""keras.applications' two helpers for our models: ``preprocess_input`` by weights set, ``decode_predictions``.

>>> model = resnet50(weights="torchvision")
>>> x = preprocess_input(["cat.jpg"], model)               # decode, resize 256, crop 224, "torch" mode
>>> decode_predictions(model.predict(x), top=3)            # [[(281, 'tabby', 0.52), …]]

The right preprocessing depends on the weights set, not on the architecture
(``resnet50`` takes ``"caffe"`` inputs with ``weights="imagenet"`` and
``"torch"`` inputs with ``weights="torchvision"``), so :func:`preprocess_input`
is told the model: a built model (its metadata,
:func:`keras_classics.metadata.model_metadata`, names the set's eval transform),
a loaded export (:func:`keras_classics.predict.load`), or a registered name with
``weights=`` naming the set (its registry entry's ``eval_transform``). The
modes themselves are the one table of :mod:`keras_classics.transforms`.

:func:`decode_predictions` ranks classes by the package's one rule (ties by class
index, :mod:`keras_classics.training.metrics`) and names them from the model's
own class names, or ImageNet's 1000 (``keras_classics/data/imagenet_classes.txt``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from keras_classics.images import load_image
from keras_classics.metadata import model_metadata
from keras_classics.transforms import check_interpolation, eval_crop_fraction, preprocess

__all__ = ["InputSpec", "input_spec", "preprocess_input", "decode_predictions"]


@dataclass(frozen=True)
class InputSpec:
    """What a model's images go through: the eval transform of its weights (or of its run).

    Attributes:
        preprocessing: the mode (:data:`keras_classics.transforms.PREPROCESSING`).
        size: ``(height, width)`` of the input, or ``None`` when the model does not fix one.
        crop_fraction: the centre crop of :func:`keras_classics.transforms.eval_crop`.
        source: where it was read from, for messages (``"weights set 'torchvision' of 'resnet50'"``).
        interpolation: the resize's filter (``"bilinear"``, or a timm set's ``"bicubic"``).
    """

    preprocessing: str
    size: tuple | None
    crop_fraction: float
    source: str
    interpolation: str = "bilinear"


def _registry_spec(name: str, weights) -> InputSpec:
    from keras_classics.models import model_info  # deferred: the families (which register the names) import Keras

    info = model_info(name)
    if weights is None:
        if info.weights:
            raise ValueError(
                f"{name!r} takes different preprocessing for each of its weights sets "
                f"({', '.join(f'{s!r}: {w.eval_transform.preprocessing}' for s, w in info.weights.items())}): "
                f"name the set, e.g. preprocess_input(images, {name!r}, weights={next(iter(info.weights))!r}), "
                "or pass the model itself."
            )
        policy = info.recipe.get("policy", "none")
        return InputSpec(info.preprocessing, (info.default_size,) * 2,
                         eval_crop_fraction(policy, info.default_size), f"the registry entry of {name!r}")
    if not isinstance(weights, str) or weights not in info.weights:
        sets = ", ".join(repr(s) for s in info.weights) or "none"
        raise ValueError(
            f"Unknown weights set {weights!r} for {name!r}. Sets of {name!r}: {sets}. For weights loaded from a "
            "file, pass the built model instead of its name: it carries its preprocessing."
        )
    t = info.weights[weights].eval_transform
    return InputSpec(t.preprocessing, (t.size, t.size), t.crop_fraction, f"weights set {weights!r} of {name!r}",
                     t.interpolation)


def input_spec(model, weights=None) -> InputSpec:
    """The preprocessing, input size and crop of ``model`` (see :func:`preprocess_input` for ``model``).

    Raises:
        ValueError: a model that carries no preprocessing, an unknown name or set,
            or ``weights=`` that contradicts the model's own.
    """
    if isinstance(model, str):
        return _registry_spec(model, weights)
    exported = all(hasattr(model, a) for a in ("preprocessing", "input_size", "crop_fraction", "class_names"))
    if exported:  # a loaded export (keras_classics.predict.ExportedModel)
        if weights is not None:
            raise ValueError(f"`weights=` applies to a model name; a loaded model carries its preprocessing "
                             f"({model.preprocessing!r}). Received: weights={weights!r}")
        return InputSpec(model.preprocessing, tuple(model.input_size), float(model.crop_fraction),
                         f"the model card of {model.path!r}", model.interpolation)
    if not hasattr(model, "layers"):
        raise ValueError(
            "`model` must be a registered model name (with weights=NAME), a Keras model built or loaded by "
            f"keras_classics, or a model loaded with keras_classics.predict.load. Received: {type(model).__name__}"
        )
    metadata = model_metadata(model)
    if not metadata or not isinstance(metadata.get("preprocessing"), str):
        name = getattr(model, "name", None)
        if isinstance(name, str):
            from keras_classics.models import list_models  # deferred: importing the families imports Keras

            if name in list_models():  # built by name without weights: the registry's entry
                return _registry_spec(name, weights)
        raise ValueError(
            f"Model {name!r} carries no preprocessing (it was neither built with weights= nor loaded by "
            "keras_classics). Pass its registered name and weights set instead: "
            "preprocess_input(images, 'resnet50', weights='imagenet')."
        )
    own = (metadata.get("weights") or {}).get("name")
    if weights is not None and weights != own:
        raise ValueError(f"The model was built with weights={own!r}; received weights={weights!r}. Leave weights= "
                         "out: the model carries its preprocessing.")
    size = metadata.get("image_size")
    crop = metadata.get("crop_fraction", 1.0)
    what = f"weights set {own!r}" if own else "its metadata"
    return InputSpec(metadata["preprocessing"], tuple(int(s) for s in size) if size else None, float(crop),
                     f"{what} of model {model.name!r}", check_interpolation(metadata.get("interpolation", "bilinear")))


def _is_paths(images) -> bool:
    if isinstance(images, (str, os.PathLike)):
        return True
    return isinstance(images, (list, tuple)) and bool(images) and all(isinstance(i, (str, os.PathLike))
                                                                    for i in images)


def preprocess_input(images, model, weights=None):
    """Prepare images for ``model`` as its weights were trained: keras.applications' ``preprocess_input``.

    Args:
        images: RGB pixels in [0, 255], channels last (``(N, h, w, 3)`` or
            ``(h, w, 3)``; a NumPy array, a list, or a TensorFlow tensor), which are
            only preprocessed, as keras.applications does; or image files (a path
            or a list of paths), which go through the whole eval transform: decoded,
            the shorter side resized and the centre cropped to the model's input
            (:func:`keras_classics.images.load_image`), then preprocessed.
        model: a registered name (``"resnet50"``) with ``weights=`` naming the
            set; a Keras model built with ``weights=`` or loaded by the package
            (its metadata names the set); or a model loaded with
            :func:`keras_classics.predict.load` (its card).
        weights: the set, with a model name (``"imagenet"``, ``"torchvision"``, …).
            A name without ``weights=`` is refused when the model has sets (their
            preprocessing differs); a model without sets takes its registry entry's.

    Returns:
        float32 images in the model's input space (a NumPy array, or a tensor for a tensor).

    Raises:
        ValueError: unknown names or sets, pixels outside [0, 255], images that are not RGB.

    Example:
        >>> preprocess_input(pixels, "resnet50", weights="imagenet")        # "caffe": BGR minus the mean
        >>> preprocess_input(["a.jpg", "b.png"], resnet18(weights="torchvision"))
    """
    spec = input_spec(model, weights)
    if _is_paths(images):
        paths = [images] if isinstance(images, (str, os.PathLike)) else list(images)
        if spec.size is None:
            raise ValueError(f"The input size of the model ({spec.source}) is not fixed: resize the images "
                             "yourself and pass the pixels.")
        pixels = np.stack([load_image(p, spec.size, spec.crop_fraction, interpolation=spec.interpolation)
                           for p in paths])
        return np.asarray(preprocess(pixels, spec.preprocessing), np.float32)
    if isinstance(images, (np.ndarray, list, tuple)) or np.isscalar(images):
        pixels = np.asarray(images, dtype=np.float32)
        if pixels.ndim not in (3, 4) or pixels.shape[-1] != 3:
            raise ValueError(f"Expected RGB images (N, height, width, 3) or one (height, width, 3); received "
                             f"shape {pixels.shape}.")
        if pixels.size and (not np.all(np.isfinite(pixels)) or pixels.min() < 0 or pixels.max() > 255):
            raise ValueError(
                f"Expected pixel values in [0, 255] (RGB, before preprocessing); received values from "
                f"{np.nanmin(pixels):g} to {np.nanmax(pixels):g}"
                + (" and non-finite values" if not np.all(np.isfinite(pixels)) else "")
                + ". Were they preprocessed already?"
            )
        return np.asarray(preprocess(pixels, spec.preprocessing), np.float32)
    import keras  # deferred: a tensor needs its backend's cast

    return preprocess(keras.ops.cast(images, "float32"), spec.preprocessing)


def _class_names(model, class_names, num_classes: int) -> list:
    if class_names is not None and model is not None:
        raise ValueError("Give `model` or `class_names`, not both.")
    if class_names is not None:
        names, where = [str(n) for n in class_names], "`class_names`"
    elif model is None:
        if num_classes != 1000:
            raise ValueError(
                f"Without `model` or `class_names` the predictions are read as ImageNet's 1000 classes; received "
                f"{num_classes} scores per image. Pass model= (a model that carries its class names) or "
                "class_names=."
            )
        from keras_classics.weights import imagenet_class_names  # deferred: the weights package imports Keras

        return imagenet_class_names()
    elif hasattr(model, "class_names"):  # a loaded export
        names, where = list(model.class_names), f"the model card of {model.path!r}"
    elif hasattr(model, "layers"):
        names = (model_metadata(model) or {}).get("class_names")
        where = f"model {model.name!r}"
        if not names:
            raise ValueError(f"Model {model.name!r} carries no class names (it was neither built with weights= "
                             "nor trained or loaded by keras_classics): pass class_names=.")
    else:
        raise ValueError(f"`model` must be a Keras model or a model loaded with keras_classics.predict.load. "
                         f"Received: {type(model).__name__}")
    if len(names) != num_classes:
        raise ValueError(f"{where} names {len(names)} classes; the predictions have {num_classes} scores per image.")
    return names


def decode_predictions(preds, top: int = 5, model=None, *, class_names=None) -> list:
    """The ``top`` most probable classes of each image: keras.applications' ``decode_predictions``.

    Args:
        preds: scores ``(N, classes)`` (probabilities or logits).
        top: how many classes per image.
        model: whose class names: a Keras model that carries them (built with
            ``weights=``, trained or loaded by the package) or a model loaded
            with :func:`keras_classics.predict.load`. Default: ImageNet's 1000
            classes (``preds`` must then have 1000 columns).
        class_names: the names themselves, instead of ``model``.

    Returns:
        One list per image of ``(class_id, name, score)`` tuples, highest score
        first; ``class_id`` is the class index (equal scores: the lower index
        first, the rule of :mod:`keras_classics.training.metrics`).

    Example:
        >>> decode_predictions(model.predict(x), top=3)
        [[(281, 'tabby', 0.52), (282, 'tiger cat', 0.31), (285, 'Egyptian cat', 0.12)]]
    """
    from keras_classics.training.metrics import ranked_classes  # deferred: the metric module imports Keras

    if not isinstance(preds, np.ndarray):
        import keras  # deferred: a tensor's values

        preds = keras.ops.convert_to_numpy(preds)
    preds = np.asarray(preds)
    if preds.ndim != 2:
        raise ValueError(f"`decode_predictions` expects a batch of predictions (images, classes); received shape "
                         f"{preds.shape}.")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"`top` must be a positive integer. Received: top={top!r}")
    names = _class_names(model, class_names, preds.shape[1])
    order = ranked_classes(preds)[:, : int(top)]
    return [[(int(i), names[i], float(p[i])) for i in row] for p, row in zip(preds, order)]

