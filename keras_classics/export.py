"""Export trained classifiers to SavedModel and TFLite, each with a model card and a parity report.

One path for every model:

1. load the ``.keras`` file with safe mode on (:func:`load_for_export`);
2. strip the auxiliary heads (:func:`keras_classics.strip_aux`);
3. if any layer computes in float16/bfloat16 (a mixed-precision run), rebuild
   the model from its config in float32 and copy the weights
   (:func:`float32_copy`);
4. append a softmax when the model outputs logits;
5. export with Keras 3's :class:`keras.export.ExportArchive` (the SavedModel
   itself, and the SavedModel that the TFLite converter reads);
6. reload the written file and compare it with the Keras model on a fixed set
   of image files (:func:`parity_report`), read through the one image path
   (:func:`keras_classics.images.load_image_bytes`): the Keras model and the
   float signatures get those pixels, ``serving_bytes`` the same files; outside the tolerance of its format
   (:data:`TOLERANCES`) the export fails and nothing is written, unless
   ``allow_parity_failure=True``, which writes it with a warning naming the
   figure;
7. write the model card (JSON) and rename everything into place: an export
   is built under a temporary name beside its destination and renamed at the
   end, so a failed export never leaves a half-written one, and an existing
   destination is replaced only with ``overwrite=True``.

Exports take the model's own input: float32 RGB images of the model's input
size, already preprocessed (the card names the preprocessing). The
SavedModel's second signature, ``serving_bytes``, takes encoded JPEG/PNG/GIF/
BMP/WebP files and does decoding, resizing, centre-cropping and preprocessing
in the graph.

Example:
    >>> from keras_classics import export
    >>> card = export.to_tflite("runs/quickstart/best.keras", "saved_models/shapes_int8.tflite",
    ...                         quantize="int8", representative="shapes")
    >>> card["parity"]["top1_agreement"]
    1.0
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from keras_classics import images as _images
from keras_classics import metadata as _metadata
from keras_classics import predict as _predict
from keras_classics import runs as _runs
from keras_classics._startup import quiet_native_log

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "check_format_options",
    "TOLERANCES",
    "DEFAULT_SAMPLES",
    "ParityError",
    "ExportSource",
    "load_for_export",
    "prepare",
    "float32_copy",
    "export",
    "to_saved_model",
    "to_tflite",
    "image_samples",
    "encoded_samples",
    "parity_report",
]

FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")

#: Parity required of each export, against the float32 Keras model, on probabilities.
TOLERANCES = {
    "none": {"max_abs_diff": 1e-4},  # SavedModel and TFLite float32
    "float16": {"top1_agreement": 0.99},
    "dynamic": {"top1_agreement": 0.95},
    "int8": {"top1_agreement": 0.95},
}

#: Default number of representative (calibration) images and of parity images.
DEFAULT_SAMPLES = 100

_REDUCED_PRECISION = ("float16", "bfloat16")


class ParityError(ValueError):
    """The exported model is further from the Keras model than its format allows."""


# --------------------------------------------------------------------------- loading


@dataclass
class ExportSource:
    """A model ready to export and what is known about it.

    Attributes:
        model: float32, single output, ending in a softmax.
        path: the ``.keras`` file it came from (``None`` for an in-memory model).
        source_policy: dtype policy of the loaded model (``"mixed_float16"`` …)
            when it was rebuilt in float32, else ``None``.
        trained_model: the loaded model (main output) when it was rebuilt, for
            the drift report; else ``None``.
        removed_outputs: names of the auxiliary outputs stripped.
        softmax_added: the model output logits and a softmax was appended.
        class_names, preprocessing, preprocessing_source, registry_name,
        run_dir, run_config, metrics: see
        :func:`keras_classics.runs.run_metadata`.
    """

    model: object
    path: str | None = None
    source_policy: str | None = None
    trained_model: object = None
    removed_outputs: list = field(default_factory=list)
    softmax_added: bool = False
    class_names: list = field(default_factory=list)
    preprocessing: str = "none"
    preprocessing_source: str = "default"
    crop_fraction: float = 1.0
    registry_name: str | None = None
    run_dir: str | None = None
    run_config: dict | None = None
    metrics: dict | None = None
    _reference_cache: dict = field(default_factory=dict, repr=False)
    _samples_cache: dict = field(default_factory=dict, repr=False)
    _saved_model: object = field(default=None, repr=False)  # TemporaryDirectory holding the archive

    def saved_model_dir(self) -> str:
        """A SavedModel of :attr:`model` with both signatures, written once per source."""
        if self._saved_model is None:
            holder = tempfile.TemporaryDirectory(prefix="keras_classics_export_")
            _archive(self.model, os.path.join(holder.name, "saved_model"), bytes_signature={
                "class_names": self.class_names, "preprocessing": self.preprocessing,
                "crop_fraction": self.crop_fraction,
            })
            self._saved_model = holder
        return os.path.join(self._saved_model.name, "saved_model")

    def close(self):
        """Delete the cached SavedModel (done automatically when the source is garbage-collected)."""
        if self._saved_model is not None:
            self._saved_model.cleanup()
            self._saved_model = None

    @property
    def input_size(self):
        shape = self.model.inputs[0].shape
        return int(shape[1]), int(shape[2])

    @property
    def num_classes(self):
        return int(self.model.outputs[0].shape[-1])


def _producer(tensor) -> str:
    history = getattr(tensor, "_keras_history", None)
    return history[0].name if history else str(tensor.name)


def _layer_policies(model):
    for layer in model._flatten_layers(include_self=False, recursive=True):
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None:
            yield layer, policy


def _reduced_precision_policy(model) -> str | None:
    """The name of the first non-float32 floating policy among the layers, if any."""
    for _, policy in _layer_policies(model):
        if policy.compute_dtype in _REDUCED_PRECISION or policy.variable_dtype in _REDUCED_PRECISION:
            return policy.name
    return None


def _float32_config(obj):
    """A serialized config with every float16/bfloat16 (mixed or not) dtype policy set to float32."""
    if isinstance(obj, dict):
        if obj.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(obj.get("config"), dict):
            name = obj["config"].get("name", "")
            if any(p in name for p in _REDUCED_PRECISION):
                return {**obj, "config": {**obj["config"], "name": "float32"}}
            return obj
        return {k: _float32_config(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_float32_config(v) for v in obj]
    return obj


def float32_copy(model):
    """The same model rebuilt from its config in float32, with its weights copied.

    Used for models trained under ``mixed_float16`` / ``mixed_bfloat16``: their
    variables are float32 already, their computation is not, and converters
    fail or lose accuracy on the casts.

    Raises:
        ValueError: the model cannot be rebuilt from its config (a subclassed
            model without ``get_config``) or the weights do not line up.
    """
    import keras

    # Every layer's policy is explicit in the config, so the global policy does not matter.
    try:
        config = _float32_config(keras.saving.serialize_keras_object(model))
        clone = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as e:
        raise ValueError(
            f"Could not rebuild model {model.name!r} in float32 from its config: {type(e).__name__}: {e}"
        ) from None
    source_weights = model.get_weights()
    target = clone.weights
    if len(source_weights) != len(target) or any(
        tuple(w.shape) != tuple(t.shape) for w, t in zip(source_weights, target)
    ):
        raise ValueError(
            f"The float32 rebuild of {model.name!r} has {len(target)} weights; the model has "
            f"{len(source_weights)}. Cannot copy the weights."
        )
    clone.set_weights([np.asarray(w, dtype=np.float32) if np.issubdtype(np.asarray(w).dtype, np.floating)
                       else w for w in source_weights])
    leftover = _reduced_precision_policy(clone)
    if leftover:
        raise ValueError(f"The rebuild of {model.name!r} still has a layer with policy {leftover!r}.")
    return _metadata.keep_metadata(model, clone)


def load_for_export(model_or_path, custom_objects=None):
    """The float32, main-output Keras model that every export starts from.

    Args:
        model_or_path: a Keras model, a ``.keras`` file, or a training run
            directory (its ``best.keras``, else ``final.keras``).
        custom_objects: for ``.keras`` files with custom layers; safe mode
            stays on.

    Returns:
        A functional model with one output of class probabilities, every
        layer in float32: the auxiliary heads are stripped, a mixed-precision
        model is rebuilt in float32 with its weights loaded, and a model that
        outputs logits gets a final softmax.

    Raises:
        FileNotFoundError, ValueError: not a loadable model (see
            :func:`keras_classics.predict.load_keras_model`).
    """
    return prepare(model_or_path, custom_objects=custom_objects).model


def prepare(model_or_path, *, class_names=None, preprocessing=None, crop_fraction=None,
            custom_objects=None, safe_mode: bool = True) -> ExportSource:
    """Load, strip, rebuild in float32, and collect the metadata of a model to export.

    Args:
        model_or_path: see :func:`load_for_export`; an :class:`ExportSource`
            is returned as it is (several exports of one model then load it
            and compute its reference predictions once).
        class_names: overrides the run's class names.
        preprocessing: overrides the run's (or the registry's) preprocessing.
        crop_fraction: overrides the run's evaluation crop (in (0, 1]).
        safe_mode: ``False`` loads ``.keras`` files with Lambda layers (see
            :func:`keras_classics.predict.load_keras_model`).

    Returns:
        An :class:`ExportSource`.
    """
    import keras

    from keras_classics.data.preprocessing import PREPROCESSING_MODES
    from keras_classics.models import strip_aux

    if preprocessing is not None and preprocessing not in PREPROCESSING_MODES:
        raise ValueError(
            f"Unknown preprocessing {preprocessing!r}. Accepted: {', '.join(PREPROCESSING_MODES)}."
        )
    if isinstance(model_or_path, ExportSource):
        if class_names is not None or preprocessing is not None or crop_fraction is not None:
            raise ValueError("class_names, preprocessing and crop_fraction are fixed once an ExportSource is prepared.")
        return model_or_path
    if crop_fraction is not None and not (isinstance(crop_fraction, (int, float)) and 0 < crop_fraction <= 1):
        raise ValueError(f"`crop_fraction` must be in (0, 1]. Received: crop_fraction={crop_fraction!r}")
    path = None
    if isinstance(model_or_path, keras.Model):
        loaded = model_or_path
    else:
        path = _runs.resolve_model_file(model_or_path)
        loaded = _predict.load_keras_model(path, custom_objects, safe_mode)
    if len(loaded.inputs) != 1:
        raise ValueError(f"Expected a model with one image input; {loaded.name!r} has {len(loaded.inputs)}.")
    main = strip_aux(loaded)
    removed = [_producer(t) for t in loaded.outputs if all(t is not o for o in main.outputs)]
    shape = main.inputs[0].shape
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
        raise ValueError(
            f"Export needs a fixed RGB image input (batch, height, width, 3); {main.name!r} takes "
            f"{tuple(shape)}. Rebuild it with input_shape=(height, width, 3) and load its weights."
        )
    if len(main.outputs[0].shape) != 2:
        raise ValueError(
            f"Export needs a classifier (batch, classes) output; {main.name!r} outputs "
            f"{tuple(main.outputs[0].shape)} (a model built with include_top=False?)."
        )

    policy = _reduced_precision_policy(main)
    model = float32_copy(main) if policy else main
    softmax_added = not _predict.outputs_probabilities(model)
    model = _predict.probability_model(model)

    with warnings.catch_warnings():
        if preprocessing is not None:  # given: no warning about guessing it
            warnings.filterwarnings("ignore", message=".*assuming preprocessing")
        meta = _runs.run_metadata(path, loaded.name, int(model.outputs[0].shape[-1]),
                                     _metadata.model_metadata(loaded))
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if len(class_names) != int(model.outputs[0].shape[-1]):
            raise ValueError(
                f"{len(class_names)} class names given for a model with {int(model.outputs[0].shape[-1])} outputs."
            )
        meta["class_names"] = class_names
    if preprocessing is not None:
        meta["preprocessing"], meta["preprocessing_source"] = preprocessing, "argument"
    if crop_fraction is not None:
        meta["crop_fraction"] = float(crop_fraction)
    return ExportSource(
        model=model,
        path=os.path.abspath(path) if path else None,
        source_policy=policy,
        trained_model=_predict.probability_model(main) if policy else None,
        removed_outputs=removed,
        softmax_added=softmax_added,
        class_names=meta["class_names"],
        preprocessing=meta["preprocessing"],
        preprocessing_source=meta["preprocessing_source"],
        crop_fraction=meta["crop_fraction"],
        registry_name=meta["registry_name"],
        run_dir=meta["run_dir"],
        run_config=meta["config"],
        metrics=meta["metrics"],
    )


# --------------------------------------------------------------------------- images for calibration and parity
# Parity and calibration images are encoded image files, read through the one image path
# (keras_classics.images.load_image_bytes: decode, resize the shorter side, centre crop):
# the Keras reference, serving_default and TFLite get the floats, serving_bytes the same files.


@dataclass
class _Samples:
    encoded: list  # encoded image files (bytes)
    images: np.ndarray  # float32 (n, h, w, 3) in [0, 255]: the files through the one image path
    description: str


def encoded_samples(spec, n: int = DEFAULT_SAMPLES, *, size=None, purpose: str = "calibration", seed: int = 0):
    """Up to ``n`` encoded image files (``bytes``) and a description of where they came from.

    Args:
        spec: ``"shapes"`` (the generated dataset,
            :func:`keras_classics.data.shapes.generate_shapes`: its training
            split for calibration, its validation split for parity), a
            directory of image files (sorted; the first ``n`` for calibration,
            the last ``n`` for parity), ``"noise"`` (uniform random pixels,
            seeded), a NumPy array ``(N, h, w, 3)`` or a ``tf.data.Dataset``
            of images or ``(image, label)`` pairs (arrays and datasets: values
            in [0, 255], rounded to uint8).
        size: ``(height, width)`` of generated images (``"shapes"``, ``"noise"``).
        purpose: ``"calibration"`` or ``"parity"``.

    Returns:
        ``(files, description)``: a folder's files as they are on disk (those
        TensorFlow cannot decode, such as TIFF, re-encoded as PNG); generated
        images, arrays and datasets encoded as PNG.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"The number of samples must be a positive integer. Received: {n!r}")
    if purpose not in ("calibration", "parity"):
        raise ValueError(f"purpose must be 'calibration' or 'parity'. Received: {purpose!r}")
    height, width = (64, 64) if size is None else (int(size[0]), int(size[1]))
    if isinstance(spec, np.ndarray):
        arr = np.asarray(spec)
        if arr.ndim != 4 or arr.shape[-1] != 3 or not len(arr):
            raise ValueError(f"Expected an array of RGB images (N, h, w, 3); received shape {arr.shape}.")
        arr = arr[:n] if purpose == "calibration" else arr[-n:]
        return [_png(im) for im in arr], f"array of {len(spec)} images"
    if isinstance(spec, str) and spec == "noise":
        rng = np.random.default_rng(seed + (0 if purpose == "calibration" else 1))
        pixels = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        return [_png(im) for im in pixels], "uniform noise"
    if isinstance(spec, str) and spec == "shapes":
        return _shapes_samples(height, width, n, purpose, seed)
    if isinstance(spec, (str, os.PathLike)):
        directory = os.fspath(spec)
        if not os.path.exists(directory):
            raise FileNotFoundError(
                f"Image source {directory!r} not found. Accepted: 'shapes', 'noise' or a directory of images."
            )
        files = _images.list_images(directory)
        if not files:
            raise ValueError(
                f"No image files ({', '.join(_images.IMAGE_SUFFIXES)}) under {directory!r}."
            )
        chosen = files[:n] if purpose == "calibration" else files[-n:]
        return [_file_bytes(f) for f in chosen], f"folder {os.path.abspath(directory)} ({len(files)} images)"
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        tf = None
    if tf is not None and isinstance(spec, tf.data.Dataset):
        return [_png(im) for im in _dataset_images(spec, n)], "tf.data.Dataset"
    raise ValueError(
        f"Unknown image source {spec!r}. Accepted: 'shapes', 'noise', a directory of images, "
        "a NumPy array or a tf.data.Dataset."
    )


def image_samples(spec, size, n: int = DEFAULT_SAMPLES, *, purpose: str = "calibration", seed: int = 0,
                  crop_fraction: float = 1.0):
    """Up to ``n`` float32 RGB images ``(n, h, w, 3)`` in [0, 255], and a description of where they came from.

    The files of :func:`encoded_samples` read as ``predict`` reads image files
    (:func:`keras_classics.images.load_image_bytes`, with ``crop_fraction``).

    Args:
        spec, purpose, seed: see :func:`encoded_samples`.
        size: ``(height, width)``.

    Returns:
        ``(images, description)``.
    """
    samples = _samples(spec, size, n, purpose, crop_fraction, seed)
    return samples.images, samples.description


def _samples(spec, size, n, purpose, crop_fraction, seed=0) -> _Samples:
    encoded, description = encoded_samples(spec, n, size=size, purpose=purpose, seed=seed)
    return _Samples(encoded, _decode_all(encoded, size, crop_fraction), description)


def _decode_all(encoded, size, crop_fraction):
    return np.stack([
        _images.load_image_bytes(data, size, crop_fraction, name=f"image {i}") for i, data in enumerate(encoded)
    ]).astype(np.float32)


def _png(image) -> bytes:
    """An RGB image (values in [0, 255], rounded to uint8) encoded as PNG."""
    from PIL import Image

    pixels = np.clip(np.round(np.asarray(image, np.float64)), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _file_bytes(path) -> bytes:
    """An image file's bytes, checked; re-encoded as PNG where TensorFlow cannot decode it (TIFF …)."""
    data, fmt, mode = _images.read_checked(path, _images.MAX_IMAGE_PIXELS)
    return data if _images.tensorflow_decodes(fmt, mode) else _png(_images.pil_rgb(data))


def _dataset_images(ds, n):
    spec = ds.element_spec
    if isinstance(spec, tuple):
        ds = ds.map(lambda *xs: xs[0])
        spec = ds.element_spec
    if spec.shape.rank == 4:
        ds = ds.unbatch()
    images = [np.asarray(image) for image in ds.take(n)]
    if not images:
        raise ValueError("The image dataset is empty.")
    return images


def _shapes_samples(height, width, n, purpose, seed):
    try:
        from keras_classics.data.shapes import generate_shapes
    except ImportError as e:  # pragma: no cover - part of the package
        raise ValueError(f"The generated 'shapes' dataset is not available: {e}") from None
    split = "train" if purpose == "calibration" else "validation"
    images, _ = generate_shapes(n, image_size=max(height, width, 16), seed=seed, split=split)
    return [_png(im) for im in images], f"shapes ({split} split, seed {seed})"


def _run_samples(source, n, purpose):
    """``(files, description)`` from the run's own validation split (its training split when it has
    none), or ``None`` when the model has no run ``config.json`` naming its dataset."""
    config = source.run_config or {}
    if not isinstance(config.get("dataset"), str):
        return None
    from keras_classics.training.config import RecipeConfig
    from keras_classics.training.engine import _load_source

    size = config.get("image_size") if isinstance(config.get("image_size"), int) else source.input_size[0]
    try:
        data = _load_source(RecipeConfig.from_dict(config), size, download=False, validate="header",
                            verbose=False)
    except Exception as e:  # noqa: BLE001 - a moved folder, an unprepared TFDS set: say so, use shapes
        warnings.warn(
            f"Could not load the run's dataset {config['dataset']!r} for {purpose} images "
            f"({type(e).__name__}: {e}); using the generated shapes instead. Pass the images explicitly "
            "(CLI: --parity-data / --representative) to choose.",
            stacklevel=3,
        )
        return None
    split, total, name = data.validation, data.num_val, "validation"
    if split is None:
        split, total, name = data.train, data.num_train, "training"
    from keras_classics.data.sources import _Indexed, lazy_form

    k = min(n, int(total))
    start = 0 if purpose == "calibration" else int(total) - k
    lazy = lazy_form(split)
    if isinstance(lazy, _Indexed):  # read just those elements
        images = []
        for i in range(start, start + k):
            try:
                images.append(np.asarray(lazy.fetch(np.int64(i))[0]))
            except Exception:  # noqa: BLE001 - an unreadable file: the training pipeline skips it too
                continue
    else:
        images = [np.asarray(image) for image, _ in split.skip(start).take(k)]
    if not images:
        return None
    return [_png(im) for im in images], f"{data.name} {name} split (the run's data, {int(total)} images)"


def _source_samples(source, spec, n, purpose) -> _Samples:
    """Images for ``source``: from ``spec``, else the run's own data, else the generated shapes."""
    found = _run_samples(source, n, purpose) if spec is None else None
    if found is None:
        encoded, description = encoded_samples("shapes" if spec is None else spec, n, size=source.input_size,
                                               purpose=purpose)
    else:
        encoded, description = found
    return _Samples(encoded, _decode_all(encoded, source.input_size, source.crop_fraction), description)


# --------------------------------------------------------------------------- parity


def parity_report(reference, exported, tolerance: dict | None = None, quantization_step: float | None = None) -> dict:
    """Compare two ``(N, classes)`` probability arrays.

    Args:
        reference, exported: the probabilities.
        tolerance: see :data:`TOLERANCES`.
        quantization_step: the resolution of ``exported`` (an int8 output's
            scale). Where the reference's two most probable classes are no
            more than one step apart, the quantized output may round them to
            one value, and which is "top-1" is then a tie: the top-1 agreement
            counts only the images whose reference margin exceeds the step.

    Returns:
        ``images``, ``max_abs_diff``, ``mean_abs_diff``, ``top1_agreement``
        (fraction of images whose most probable class is the same; ``None``
        when no image's margin exceeds ``quantization_step``), with a
        ``quantization_step``: that step, ``top1_ties`` (the images left out)
        and ``top1_agreement_all_images``; with a ``tolerance``: the tolerance
        and ``passed``.
    """
    reference = np.asarray(reference, np.float64)
    exported = np.asarray(exported, np.float64)
    if reference.shape != exported.shape:
        raise ValueError(f"Shapes differ: reference {reference.shape}, exported {exported.shape}.")
    diff = np.abs(reference - exported)
    report = {
        "images": int(reference.shape[0]),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": float(np.mean(reference.argmax(-1) == exported.argmax(-1))),
    }
    if quantization_step is not None:
        agree = reference.argmax(-1) == exported.argmax(-1)
        top2 = np.sort(reference, axis=-1)[:, -2:] if reference.shape[-1] > 1 else np.zeros((len(reference), 2))
        decided = (top2[:, 1] - top2[:, 0]) > quantization_step
        report["quantization_step"] = float(quantization_step)
        report["top1_ties"] = int((~decided).sum())
        report["top1_agreement_all_images"] = report["top1_agreement"]
        report["top1_agreement"] = float(agree[decided].mean()) if decided.any() else None
    if tolerance:
        report["tolerance"] = dict(tolerance)
        report["passed"] = _within(report, tolerance)
    return report


def _within(report, tolerance) -> bool:
    ok = True
    if "max_abs_diff" in tolerance:
        ok &= report["max_abs_diff"] <= tolerance["max_abs_diff"]
    if "top1_agreement" in tolerance and report["top1_agreement"] is not None:  # None: every image a tie
        ok &= report["top1_agreement"] >= tolerance["top1_agreement"]
    return bool(ok)


def _describe_failure(report, what) -> str:
    tol = report["tolerance"]
    parts = []
    if "max_abs_diff" in tol and report["max_abs_diff"] > tol["max_abs_diff"]:
        parts.append(f"max abs difference of probabilities {report['max_abs_diff']:.3g} > {tol['max_abs_diff']:g}")
    if "top1_agreement" in tol and report["top1_agreement"] is not None and \
            report["top1_agreement"] < tol["top1_agreement"]:
        ties = f" (leaving out {report['top1_ties']} ties)" if report.get("top1_ties") else ""
        parts.append(f"top-1 agreement {report['top1_agreement']:.1%} < {tol['top1_agreement']:.0%}{ties}")
    for key, limit in (("bytes_signature_max_abs_diff", TOLERANCES["none"]["max_abs_diff"]),):
        if key in report and report[key] > limit:
            parts.append(f"the bytes signature differs from the float signature by {report[key]:.3g} > {limit:g}")
    return f"{what}: " + "; ".join(parts) + f" over {report['images']} images ({report.get('image_source', '')})"


def _check_parity(report, what, allow_failure):
    if report["passed"]:
        return
    message = _describe_failure(report, what)
    if not allow_failure:
        raise ParityError(
            f"Parity check failed for {message}. Nothing was written. To keep the export anyway, "
            "pass allow_parity_failure=True (CLI: --allow-parity-failure); the model card records the figures."
        )
    warnings.warn(f"Parity outside tolerance for {message}; exported anyway (allow_parity_failure).",
                  stacklevel=3)


# --------------------------------------------------------------------------- writing


def _scratch_dir(dest) -> str:
    """A temporary directory beside ``dest``, where the export is built before it is renamed into place."""
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise PermissionError(
            f"Cannot write {dest!r}: {parent!r} does not accept new files ({e.strerror or e}). Choose an output "
            "in a writable directory."
        ) from None


def _check_backend():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"Export writes TensorFlow graphs and needs Keras' TensorFlow backend; received KERAS_BACKEND="
            f"{keras.backend.backend()!r}. Run the export with KERAS_BACKEND=tensorflow (a .keras file is the same "
            "on every backend)."
        )


def _read_card(path) -> dict | None:
    """The model card at ``path`` if it is a JSON card written by this package, else ``None``."""
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or "keras_classics" not in (card.get("versions") or {}):
        return None
    return card


def _describe(path) -> str:
    """What ``path`` is, in words, for a refusal."""
    if os.path.islink(path):
        return f"a symbolic link to {os.readlink(path)!r}"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")) or os.path.isdir(os.path.join(path, "checkpoints")):
            return "a training run directory"
        card = _read_card(os.path.join(path, _metadata.CARD_FILENAME))
        if card is not None:
            return f"a {card.get('format')} export directory"
        return f"a directory with {len(os.listdir(path))} entries and no model card"
    if path.endswith(".keras"):
        return "a .keras model file"
    card = _read_card(path)
    if card is not None:
        return f"the model card of a {card.get('format')} export"
    return f"a file of {os.path.getsize(path):,} bytes that is not an export of this package"


def _own_output(path, kind) -> bool:
    """Whether ``path`` is this package's own export of ``kind`` (what ``overwrite`` may replace).

    ``kind``: ``"savedmodel"`` or ``"tflite"`` (export directories, identified by
    their model card), ``"tflite_file"`` (a TFLite flatbuffer whose card lies
    beside it) or ``"card"`` (a TFLite file's ``NAME.card.json``).
    """
    if os.path.islink(path):
        return False
    if kind in ("savedmodel", "tflite"):
        card = _read_card(os.path.join(path, _metadata.CARD_FILENAME)) if os.path.isdir(path) else None
        inner = "saved_model.pb" if kind == "savedmodel" else _predict.TFLITE_FILENAME
        return bool(card) and card.get("format") == kind and os.path.isfile(os.path.join(path, inner))
    if not os.path.isfile(path):
        return False
    if kind == "card":
        return (_read_card(path) or {}).get("format") == "tflite"
    with open(path, "rb") as f:
        magic = f.read(8)[4:]
    card = _read_card(os.path.splitext(path)[0] + ".card.json")
    return magic == b"TFL3" and (card or {}).get("format") == "tflite"


def _check_destination(targets, overwrite):
    """Refuse a destination that cannot be written: ``targets`` is a list of ``(path, kind)``.

    An existing path is replaced only with ``overwrite`` and only when it is this
    package's own export of the same kind: a run directory, a dataset, a model
    file or an export of another format is never replaced.
    """
    for p, kind in targets:
        probe = os.path.dirname(p)
        while probe and not os.path.lexists(probe):
            probe = os.path.dirname(probe) if os.path.dirname(probe) != probe else ""
        if probe and not os.path.isdir(probe):
            raise NotADirectoryError(
                f"Cannot write {p!r}: {probe!r} is a file, not a directory. Choose an output whose parent "
                "folders are directories (or do not exist yet)."
            )
        if not os.path.lexists(p):
            continue
        what = kind.replace("_file", " file").replace("card", "TFLite model card")
        if not _own_output(p, kind):
            raise FileExistsError(
                f"{p!r} already exists and is {_describe(p)}, not a {what} export written by keras_classics. "
                "An export replaces only this package's own exports of the same kind, even with overwrite "
                "(CLI: --overwrite): choose another output."
            )
        if not overwrite:
            raise FileExistsError(f"{p!r} already exists. Choose another output or pass overwrite=True "
                                  "(CLI: --overwrite).")


def _commit(pairs, scratch):
    """Rename each ``(src, dst)`` into place; existing ``dst`` are moved into ``scratch`` first
    and restored if a rename fails."""
    moved, placed = [], []
    try:
        for i, (src, dst) in enumerate(pairs):
            if os.path.lexists(dst):
                aside = os.path.join(scratch, f"previous-{i}")
                os.rename(dst, aside)
                moved.append((aside, dst))
            os.rename(src, dst)
            placed.append(dst)
    except OSError:
        for dst in placed:
            if os.path.isdir(dst):
                shutil.rmtree(dst, ignore_errors=True)
            else:
                os.remove(dst)
        for aside, dst in moved:
            os.rename(aside, dst)
        raise


def _size_on_disk(path) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f != _metadata.CARD_FILENAME)
    return total


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _archive(model, path, *, bytes_signature=None):
    """Write ``model`` as a SavedModel with Keras 3's ExportArchive.

    ``serving_default`` takes float32 images ``(batch, h, w, 3)`` in the model's
    input space and returns ``probabilities``; with ``bytes_signature`` (a dict
    of ``class_names``, ``preprocessing``, ``crop_fraction``) a second
    signature ``serving_bytes`` takes a batch of encoded image files.
    """
    import keras
    import tensorflow as tf

    from keras_classics.data.preprocessing import preprocess

    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    # No archive.track(model): the endpoints track the variables they use, and tracking the model
    # as well would store every weight twice.
    archive = keras.export.ExportArchive()

    def serve(images):
        return {"probabilities": model(images, training=False)}

    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec((None, height, width, 3), tf.float32, name="images")],
    )
    if bytes_signature is not None:
        names = tf.constant(bytes_signature["class_names"])
        mode = bytes_signature["preprocessing"]
        crop = float(bytes_signature["crop_fraction"])

        def serve_bytes(image_bytes):
            images = tf.map_fn(
                lambda b: _images.decode_image(b, height, width, crop),
                image_bytes,
                fn_output_signature=tf.TensorSpec((height, width, 3), tf.float32),
            )
            probs = model(preprocess(images, mode), training=False)
            top = tf.argmax(probs, axis=-1)
            return {"probabilities": probs, "top_class": top, "top_class_name": tf.gather(names, top)}

        archive.add_endpoint(
            "serving_bytes", serve_bytes,
            input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")],
        )
    archive.write_out(path, verbose=False)


def _bytes_check(runner, samples, inputs, count=8) -> float:
    """Max abs difference between ``serving_bytes`` on image files and ``serving_default`` on the same files
    read through the one image path (``inputs``: those images preprocessed)."""
    import tensorflow as tf

    encoded = tf.constant(samples.encoded[:count])
    from_bytes = runner.loaded.signatures["serving_bytes"](image_bytes=encoded)["probabilities"].numpy()
    from_floats = runner(inputs[:count])
    return float(np.abs(from_bytes - from_floats).max())


def _output_step(runner) -> float:
    """The resolution of an int8 model's probabilities: the scale of its int8 output, or (float32
    output) of the int8 tensor that the output is dequantized from."""
    scale = float(runner.output["quantization"][0])
    if scale:
        return scale
    try:
        index = runner.output["index"]
        for op in runner.interpreter._get_ops_details():
            if op["op_name"] == "DEQUANTIZE" and index in list(op["outputs"]):
                source = runner.interpreter._get_tensor_details(int(op["inputs"][0]), 0)
                if source["quantization"][0]:
                    return float(source["quantization"][0])
    except (AttributeError, KeyError, TypeError, ValueError):  # an interpreter without these details
        pass
    return 1 / 256  # TFLite's int8 softmax always outputs in steps of 1/256


def _convert_tflite(saved_model_dir, quantize, representative, int8_io, verbose):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        import keras

        # A log that is not a terminal gets one line when calibration ends, not one per image.
        bar = keras.utils.Progbar(len(representative), unit_name="image",
                                  verbose=1 if sys.stdout.isatty() else 2) if verbose else None

        def representative_dataset():
            for i in range(len(representative)):
                if bar is not None:
                    bar.update(i + 1)
                yield [representative[i : i + 1]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    try:
        with quiet_native_log():  # the quantizer's settings line; all of it if the conversion fails
            return converter.convert()
    except Exception as e:
        raise RuntimeError(f"TFLite conversion ({quantize}) failed: {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- public exporters


def _card(source, fmt, quantize, int8_io):
    import keras
    import tensorflow as tf

    from keras_classics import __version__

    model = source.model
    return {
        "format": fmt,
        "quantization": quantize,
        "model": {
            "name": model.name,
            "registry_name": source.registry_name,
            "variant": (source.run_config or {}).get("model_kwargs"),
            "params": int(model.count_params()),
            "num_classes": source.num_classes,
        },
        "input": {
            "shape": [*source.input_size, 3],
            "dtype": "int8" if int8_io else "float32",
            "description": "RGB images already preprocessed (decode, resize, crop, then preprocessing)",
            "preprocessing": source.preprocessing,
            "preprocessing_source": source.preprocessing_source,
            "resize": "bilinear (antialiased where it shrinks), aspect ratio kept, shorter side to "
                      "round(size / crop_fraction), centre crop",
            "crop_fraction": source.crop_fraction,
        },
        "output": {
            "name": "probabilities",
            "dtype": "int8" if int8_io else "float32",
            "softmax": "appended to the model's logits" if source.softmax_added else "the model's own",
        },
        "class_names": list(source.class_names),
        "source": {
            "path": source.path,
            "run_dir": source.run_dir,
            "run_config": source.run_config,
            "metrics": source.metrics,
            "dtype_policy": source.source_policy or "float32",
            "rebuilt_in_float32": bool(source.source_policy),
            "aux_outputs_removed": source.removed_outputs,
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"keras_classics": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def _has_grouped_conv(layer) -> bool:
    return getattr(layer, "groups", 1) > 1 or any(_has_grouped_conv(inner) for inner in getattr(layer, "layers", ()))


def _run_keras(model, inputs, batch_size=16):
    """Probabilities of a Keras model, batch by batch, in inference mode.

    Eager (no tracing cost), except for a model with grouped convolutions
    (AlexNet): Keras runs an eager grouped convolution through a new XLA function
    at every call, compiled again each time (and TensorFlow warns of the
    retracing), so that model's forward pass is traced once instead.
    """
    import keras

    forward = lambda x: model(x, training=False)  # noqa: E731
    if _has_grouped_conv(model):
        import tensorflow as tf

        forward = tf.function(forward, reduce_retracing=True)
    with warnings.catch_warnings():  # a model saved with its input as a one-element list
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        return np.concatenate([
            keras.ops.convert_to_numpy(forward(inputs[i : i + batch_size])).astype(np.float32)
            for i in range(0, len(inputs), batch_size)
        ])


def _reference(source, images):
    """The Keras model's probabilities, and the model's input for the same images (cached per image set)."""
    import hashlib

    from keras_classics.data.preprocessing import preprocess

    key = hashlib.sha1(np.ascontiguousarray(images, np.float32).tobytes()).hexdigest()
    if key not in source._reference_cache:
        inputs = np.asarray(preprocess(images, source.preprocessing), np.float32)
        source._reference_cache[key] = (_run_keras(source.model, inputs), inputs)
    return source._reference_cache[key]


def _drift_from_trained(source, inputs, reference):
    """Probabilities of the model as trained (reduced precision) against its float32 rebuild."""
    if source.trained_model is None:
        return None
    trained = _run_keras(source.trained_model, inputs)
    report = parity_report(trained, reference)
    report["note"] = f"float32 rebuild vs the model as trained ({source.source_policy}); informative, not checked"
    return report


def _parity_images(source, parity_data, parity_samples, representative) -> _Samples:
    """Parity images: ``parity_data``, else the representative source's held-out part, else the run's own
    validation images, else the generated shapes."""
    return _cached_samples(source, representative if parity_data is None else parity_data, parity_samples, "parity")


def _cached_samples(source, spec, n, purpose) -> _Samples:
    """:func:`_source_samples`, kept per source for named sources (several exports of one model)."""
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        return _source_samples(source, spec, n, purpose)
    key = (None if spec is None else os.fspath(spec), n, purpose)
    if key not in source._samples_cache:
        source._samples_cache[key] = _source_samples(source, spec, n, purpose)
    return source._samples_cache[key]


def _say(verbose, message):
    if verbose:
        print(message, flush=True)


def to_saved_model(
    model,
    output,
    *,
    class_names=None,
    preprocessing=None,
    crop_fraction: float | None = None,
    parity_data=None,
    parity_samples: int = DEFAULT_SAMPLES,
    overwrite: bool = False,
    allow_parity_failure: bool = False,
    custom_objects=None,
    verbose: bool = True,
) -> dict:
    """Export a classifier as a SavedModel directory with a model card.

    Signatures:
        ``serving_default``: ``images`` float32 ``(batch, h, w, 3)``, already
        preprocessed → ``probabilities`` ``(batch, classes)``.
        ``serving_bytes``: ``image_bytes`` string ``(batch,)`` of encoded
        JPEG/PNG/GIF/BMP/WebP files → ``probabilities``, ``top_class``,
        ``top_class_name``; decoding, resizing, centre-cropping and
        preprocessing happen in the graph.

    Args:
        model: a Keras model, a ``.keras`` file, a training run directory or
            an :class:`ExportSource` from :func:`prepare`.
        output: the SavedModel directory to create (``model_card.json`` goes
            inside it). For TF Serving, export to ``BASE/NAME/1``.
        class_names: overrides the run's class names.
        preprocessing: overrides the run's (or the registry's) preprocessing.
        crop_fraction: centre crop used by the ``serving_bytes`` signature and
            by ``predict`` (see :func:`keras_classics.images.resize_and_crop`);
            default: the run's evaluation crop, else 1 (the whole shorter side).
        parity_data: images for the parity report (see :func:`encoded_samples`);
            default: the run's own validation images (from its ``config.json``),
            else ``"shapes"``.
        parity_samples: number of parity images.
        overwrite: replace an existing ``output``.
        allow_parity_failure: write the export with a warning when parity is
            outside :data:`TOLERANCES` (default: raise :class:`ParityError`).
        custom_objects: for ``.keras`` files with custom layers.
        verbose: print progress.

    Returns:
        The model card (also written to ``output/model_card.json``).

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        ParityError: parity outside the tolerance (nothing written).
    """
    _check_backend()
    dest = os.path.abspath(os.fspath(output))
    _check_destination([(dest, "savedmodel")], overwrite)
    source = prepare(model, class_names=class_names, preprocessing=preprocessing, crop_fraction=crop_fraction,
                     custom_objects=custom_objects)
    samples = _parity_images(source, parity_data, parity_samples, None)
    images, image_source = samples.images, samples.description

    scratch = _scratch_dir(dest)
    try:
        work = os.path.join(scratch, "export")
        _say(verbose, f"Writing SavedModel of {source.model.name!r} ({source.input_size[0]}x{source.input_size[1]}, "
                      f"{source.num_classes} classes)")
        shutil.copytree(source.saved_model_dir(), work)
        _say(verbose, f"Parity against the Keras model on {len(images)} images ({image_source})")
        reference, inputs = _reference(source, images)
        runner = _predict._SavedModelRunner(work)
        report = parity_report(reference, runner(inputs), TOLERANCES["none"])
        report["image_source"] = image_source
        report["reference"] = "Keras model, float32"
        report["bytes_signature_max_abs_diff"] = _bytes_check(runner, samples, inputs)
        report["passed"] = report["passed"] and report["bytes_signature_max_abs_diff"] <= TOLERANCES["none"][
            "max_abs_diff"]
        drift = _drift_from_trained(source, inputs, reference)
        card = _card(source, "savedmodel", "none", False)
        card["signatures"] = {
            "serving_default": {"inputs": {"images": "float32 (batch, h, w, 3), preprocessed"},
                                "outputs": ["probabilities"]},
            "serving_bytes": {"inputs": {"image_bytes": "string (batch,), encoded image files"},
                              "outputs": ["probabilities", "top_class", "top_class_name"]},
        }
        card["size_bytes"] = _size_on_disk(work)
        card["parity"] = report
        if drift:
            card["drift_from_trained_model"] = drift
        _check_parity(report, "SavedModel", allow_parity_failure)
        _write_json(os.path.join(work, _metadata.CARD_FILENAME), card)
        _commit([(work, dest)], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if source is not model:  # prepared here: drop its cached SavedModel now
            source.close()
    _say(verbose, _summary(dest, card))
    return card


def _tflite_paths(dest):
    """``(tflite_file, card_file, commit_targets)`` for a ``.tflite`` path or an export directory."""
    if dest.endswith(".tflite"):
        return dest, os.path.splitext(dest)[0] + ".card.json"
    return os.path.join(dest, _predict.TFLITE_FILENAME), os.path.join(dest, _metadata.CARD_FILENAME)


def to_tflite(
    model,
    output,
    *,
    quantize: str = "none",
    representative=None,
    representative_samples: int = DEFAULT_SAMPLES,
    int8_io: bool = False,
    class_names=None,
    preprocessing=None,
    crop_fraction: float | None = None,
    parity_data=None,
    parity_samples: int = DEFAULT_SAMPLES,
    overwrite: bool = False,
    allow_parity_failure: bool = False,
    custom_objects=None,
    num_threads: int | None = None,
    verbose: bool = True,
) -> dict:
    """Export a classifier to TFLite (LiteRT) with a model card.

    Args:
        model: a Keras model, a ``.keras`` file, a training run directory or
            an :class:`ExportSource` from :func:`prepare`.
        output: a path ending in ``.tflite`` (the card is written beside it as
            ``NAME.card.json``) or a directory to create (``model.tflite`` and
            ``model_card.json`` inside).
        quantize: ``"none"`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"``
            (full-integer: weights and activations, calibrated on
            ``representative``).
        representative: calibration images for ``"int8"`` (see
            :func:`encoded_samples`: ``"shapes"``, a directory, an array, a
            dataset); default: the run's own validation images (from its
            ``config.json``). They are read as image files are and
            preprocessed like the model's inputs.
        representative_samples: how many calibration images (default 100).
        int8_io: with ``"int8"``, int8 input and output tensors (quantization
            parameters in the card and in the file); default float32 input
            and output.
        parity_data: images for the parity report; default: the
            representative source's held-out part, else the run's own
            validation images, else ``"shapes"``.
        num_threads: interpreter threads for the parity run.
        Other arguments: see :func:`to_saved_model`.

    Returns:
        The model card.

    Raises:
        ValueError: an unknown ``quantize``, ``int8`` without
            ``representative``, ``int8_io`` without ``int8``.
        FileExistsError: the output exists and ``overwrite`` is False.
        ParityError: parity outside :data:`TOLERANCES` (nothing written).
    """
    check_format_options("tflite", quantize, int8_io)
    _check_backend()
    dest = os.path.abspath(os.fspath(output))
    tflite_dest, card_dest = _tflite_paths(dest)
    targets = [(dest, "tflite_file"), (card_dest, "card")] if dest.endswith(".tflite") else [(dest, "tflite")]
    _check_destination(targets, overwrite)
    source = prepare(model, class_names=class_names, preprocessing=preprocessing, crop_fraction=crop_fraction,
                     custom_objects=custom_objects)
    if quantize == "int8" and representative is None and not isinstance((source.run_config or {}).get("dataset"), str):
        raise ValueError(
            "Full-integer int8 quantization needs representative data to calibrate activation ranges, and "
            f"{source.path or 'this model'!r} has no training run config.json naming its dataset (whose "
            "validation images are the default): pass representative='shapes', a directory of images or an "
            "array (CLI: --representative DIR|shapes). For weights-only int8 use quantize='dynamic'."
        )

    from keras_classics.data.preprocessing import preprocess

    calibration = calibration_source = None
    if quantize == "int8":
        raw = _cached_samples(source, representative, representative_samples, "calibration")
        calibration_source = raw.description
        calibration = np.asarray(preprocess(raw.images, source.preprocessing), np.float32)
    samples = _parity_images(source, parity_data, parity_samples, representative)
    images, image_source = samples.images, samples.description

    scratch = _scratch_dir(dest)
    try:
        saved = source.saved_model_dir()
        what = f"TFLite {'float32' if quantize == 'none' else quantize}"
        _say(verbose, f"Converting {source.model.name!r} to {what}"
                      + (f", calibrating on {len(calibration)} images ({calibration_source})" if quantize == "int8" else ""))
        flatbuffer = _convert_tflite(saved, quantize, calibration, int8_io, verbose)
        work = os.path.join(scratch, "export")
        os.makedirs(work)
        work_file = os.path.join(work, _predict.TFLITE_FILENAME)
        with open(work_file, "wb") as f:
            f.write(flatbuffer)

        _say(verbose, f"Parity against the Keras model on {len(images)} images ({image_source})")
        reference, inputs = _reference(source, images)
        runner = _predict._TFLiteRunner(work_file, num_threads)
        step = _output_step(runner) if quantize == "int8" else None
        report = parity_report(reference, runner(inputs), TOLERANCES[quantize], quantization_step=step)
        report["image_source"] = image_source
        report["reference"] = "Keras model, float32"
        drift = _drift_from_trained(source, inputs, reference)

        card = _card(source, "tflite", quantize, int8_io)
        card["file"] = os.path.basename(tflite_dest)
        card["size_bytes"] = len(flatbuffer)
        card["runtime"] = "LiteRT interpreter (ai_edge_litert)"
        if int8_io:
            card["input"]["quantization"] = {"scale": float(runner.input["quantization"][0]),
                                             "zero_point": int(runner.input["quantization"][1])}
            card["output"]["quantization"] = {"scale": float(runner.output["quantization"][0]),
                                              "zero_point": int(runner.output["quantization"][1])}
        if quantize == "int8":
            card["representative_data"] = {"source": calibration_source, "samples": int(len(calibration))}
        card["parity"] = report
        if drift:
            card["drift_from_trained_model"] = drift
        _check_parity(report, what, allow_parity_failure)

        if dest.endswith(".tflite"):
            card_tmp = os.path.join(scratch, "card.json")
            _write_json(card_tmp, card)
            _commit([(work_file, tflite_dest), (card_tmp, card_dest)], scratch)
        else:
            _write_json(os.path.join(work, _metadata.CARD_FILENAME), card)
            _commit([(work, dest)], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if source is not model:  # prepared here: drop its cached SavedModel now
            source.close()
    _say(verbose, _summary(tflite_dest, card))
    return card


def check_format_options(format: str, quantize: str | None = None, int8_io: bool = False) -> None:
    """Refuse a format and options that do not go together, before any work.

    Raises:
        ValueError: an unknown ``format`` or ``quantize``, quantization or
            int8 input/output asked of a SavedModel, ``int8_io`` without int8.
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}. Accepted: {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}. Accepted: {', '.join(QUANTIZATIONS)}.")
    if format == "savedmodel" and quantize not in (None, "none"):
        raise ValueError(
            f"Quantization applies to TFLite only (format='tflite'; CLI: --format tflite). Received: "
            f"format='savedmodel', quantize={quantize!r} (CLI: --format savedmodel --quantize {quantize})."
        )
    if format == "savedmodel" and int8_io:
        raise ValueError("int8 input/output applies to TFLite only (format='tflite', quantize='int8'; CLI: "
                         "--format tflite --quantize int8 --int8-io). Received: format='savedmodel' (CLI: --format "
                         "savedmodel --int8-io).")
    if int8_io and quantize != "int8":
        raise ValueError(f"int8 input/output needs quantize='int8' (CLI: --quantize int8). Received: "
                         f"quantize={quantize!r}")


def export(model, output, format: str = "savedmodel", **kwargs) -> dict:
    """:func:`to_saved_model` or :func:`to_tflite` by ``format`` (``"savedmodel"`` / ``"tflite"``)."""
    check_format_options(format, kwargs.get("quantize"), kwargs.get("int8_io", False))
    if format == "savedmodel":
        for key in ("quantize", "representative", "representative_samples", "int8_io", "num_threads"):
            kwargs.pop(key, None)
        return to_saved_model(model, output, **kwargs)
    if format == "tflite":
        return to_tflite(model, output, **kwargs)
    raise ValueError(f"Unknown export format {format!r}. Accepted: {', '.join(FORMATS)}.")


def _summary(path, card) -> str:
    p = card["parity"]
    size = card["size_bytes"] / 2**20
    status = "passed" if p["passed"] else "OUTSIDE TOLERANCE"
    agreement = "n/a" if p["top1_agreement"] is None else f"{p['top1_agreement']:.1%}"
    ties = f" ({p['top1_ties']} ties within one quantization step left out)" if p.get("top1_ties") else ""
    return (
        f"Wrote {path} ({size:.2f} MiB, {card['format']} {card['quantization']}). Parity {status} on "
        f"{p['images']} images: max |Δp| {p['max_abs_diff']:.2e}, mean |Δp| {p['mean_abs_diff']:.2e}, "
        f"top-1 agreement {agreement}{ties}."
    )
