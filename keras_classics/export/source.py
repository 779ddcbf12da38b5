"""What is exported: the model loaded, stripped of its auxiliary heads, in float32, ending in a softmax.

:func:`prepare` also collects what the card and the bytes signature need (class
names, preprocessing, evaluation crop, the run), and its :class:`ExportSource`
holds the one SavedModel that both exporters start from.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from keras_classics import metadata
from keras_classics._interrupts import forget_temporary, register_temporary
from keras_classics import runs
from keras_classics import predict as _predict
from keras_classics.transforms import check_crop_fraction, check_interpolation, preprocessing_mode
from keras_classics.export.savedmodel import write_archive

__all__ = ["ExportSource", "load_for_export", "prepare", "float32_copy"]

_REDUCED_PRECISION = ("float16", "bfloat16")


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
        :func:`keras_classics.predict.run_metadata`.
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
    interpolation: str = "bilinear"
    registry_name: str | None = None
    run_dir: str | None = None
    run_config: dict | None = None
    metrics: dict | None = None
    _cache: dict = field(default_factory=dict, repr=False)  # see cached()
    _saved_model: object = field(default=None, repr=False)  # TemporaryDirectory holding the archive

    def saved_model_dir(self) -> str:
        """A SavedModel of :attr:`model` with both signatures, written once per source."""
        if self._saved_model is None:
            holder = tempfile.TemporaryDirectory(prefix="keras_classics_export_")
            register_temporary(holder.name)  # removed by the interrupt rule if a signal must end the process
            write_archive(self.model, os.path.join(holder.name, "saved_model"), bytes_signature={
                "class_names": self.class_names, "preprocessing": self.preprocessing,
                "crop_fraction": self.crop_fraction, "interpolation": self.interpolation,
            })
            self._saved_model = holder
        return os.path.join(self._saved_model.name, "saved_model")

    def cached(self, key, compute):
        """``compute()``, computed once per ``key`` for this source (its parity images, its reference
        predictions on them), so that several exports of one model share them."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def close(self):
        """Delete the cached SavedModel (done automatically when the source is garbage-collected)."""
        if self._saved_model is not None:
            self._saved_model.cleanup()
            forget_temporary(self._saved_model.name)
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
    import keras  # imported on use: the export package imports without Keras or TensorFlow

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
    return metadata.keep_metadata(model, clone)


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
            :func:`keras_classics.models.files.load_keras_model`).
    """
    return prepare(model_or_path, custom_objects=custom_objects).model


def prepare(model_or_path, *, class_names=None, preprocessing=None, crop_fraction=None, interpolation=None,
            custom_objects=None, safe_mode: bool = True) -> ExportSource:
    """Load, strip, rebuild in float32, and collect the metadata of a model to export.

    Args:
        model_or_path: see :func:`load_for_export`; an :class:`ExportSource`
            is returned as it is (several exports of one model then load it
            and compute its reference predictions once).
        class_names: overrides the run's class names.
        preprocessing: overrides the run's (or the registry's) preprocessing.
        crop_fraction: overrides the run's evaluation crop (in (0, 1]).
        interpolation: overrides the model's resize filter (``"bilinear"`` or
            ``"bicubic"``; default: its metadata's, else bilinear).
        safe_mode: ``False`` loads ``.keras`` files with Lambda layers (see
            :func:`keras_classics.models.files.load_keras_model`).

    Returns:
        An :class:`ExportSource`.
    """
    import keras  # imported on use, as above (keras_classics.models imports Keras)

    from keras_classics.models import strip_aux
    from keras_classics.models.files import load_keras_model

    if preprocessing is not None:
        preprocessing_mode(preprocessing)
    if isinstance(model_or_path, ExportSource):
        if any(v is not None for v in (class_names, preprocessing, crop_fraction, interpolation)):
            raise ValueError("class_names, preprocessing, crop_fraction and interpolation are fixed once an "
                             "ExportSource is prepared.")
        return model_or_path
    if crop_fraction is not None:
        check_crop_fraction(crop_fraction)
    if interpolation is not None:
        check_interpolation(interpolation)
    path = None
    if isinstance(model_or_path, keras.Model):
        loaded = model_or_path
    else:
        path = runs.resolve_model_file(model_or_path)
        loaded = load_keras_model(path, custom_objects, safe_mode)
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
        meta = _predict.run_metadata(path, loaded.name, int(model.outputs[0].shape[-1]),
                                     metadata.model_metadata(loaded))
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
    if interpolation is not None:
        meta["interpolation"] = interpolation
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
        interpolation=meta["interpolation"],
        registry_name=meta["registry_name"],
        run_dir=meta["run_dir"],
        run_config=meta["config"],
        metrics=meta["metrics"],
    )
