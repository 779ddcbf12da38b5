"""Load any exported model (``.keras``, SavedModel directory, ``.tflite``) and classify images.

>>> from keras_classics import predict
>>> model = predict.load("saved_models/shapes_resnet18")
>>> model.classify(["circle.png"], top=3)
[{'image': 'circle.png', 'predictions': [{'class': 'circle', 'index': 0, 'probability': 0.98}, ...]}]

Every format is read the same way: the image file is read, checked, decoded,
resized and cropped to the model's input (:func:`keras_classics.images.load_image`),
preprocessed by name (:func:`keras_classics.transforms.preprocess`) and
run. Class names, preprocessing and crop (:mod:`keras_classics.metadata`) come
from the model card written next to every export (``model_card.json`` in an
export directory, ``NAME.card.json`` beside a ``NAME.tflite`` file); for a
``.keras`` file from the metadata it carries
(:func:`keras_classics.metadata.save_model`), else from the training run's
``config.json`` in the same directory (:func:`run_metadata`).
A training run directory means its ``best.keras``, else its ``final.keras``
(:func:`keras_classics.runs.resolve_model_file`). A folder of images stands for
its image files, listed as a folder dataset lists them; a file that cannot be
read gets an ``"error"`` entry and the others are classified.

TFLite files run on the LiteRT interpreter (``ai_edge_litert``); the deprecated
``tf.lite.Interpreter`` is used only when LiteRT is not installed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from keras_classics._lazy import lazy_exports
from keras_classics._startup import quiet_native_log
from keras_classics.images import image_files, load_images
from keras_classics.metadata import (
    card_fields,
    default_class_names,
    find_card,
    from_card,
    keep_metadata,
    model_metadata,
    read_json,
    read_keras_metadata,
)
from keras_classics.runs import RUN_MODEL_FILES, is_run_dir, resolve_model_file
from keras_classics.transforms import (
    INTERPOLATIONS,
    check_interpolation,
    eval_crop_fraction,
    is_crop_fraction,
    preprocess,
)

__all__ = [
    "TFLITE_FILENAME",
    "ExportedModel",
    "load",
    "classify",
    "load_keras_model",
    "probability_model",
    "outputs_probabilities",
    "interpreter_class",
    "run_metadata",
]

# The one .keras loader lives with the models (it needs their layers); it is predict's too, loaded on
# first use so that reading a TFLite model starts no Keras.
__getattr__, __dir__ = lazy_exports(__name__, {"keras_classics.models.files": ("load_keras_model",)})

#: Name of the TFLite file inside an export directory.
TFLITE_FILENAME = "model.tflite"


# --------------------------------------------------------------------------- runners


def interpreter_class():
    """The TFLite interpreter class: LiteRT's, or ``tf.lite.Interpreter`` when LiteRT is absent."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteRunner:
    """Runs a ``.tflite`` classifier one image at a time, (de)quantizing int8/uint8 tensors."""

    def __init__(self, path, num_threads=None):
        # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when the tensors are
        # allocated: held back below the command line's log level, like TensorFlow's own lines.
        with quiet_native_log():
            self._start(path, num_threads)

    def _start(self, path, num_threads):
        Interpreter = interpreter_class()
        try:
            self.interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
        except (ValueError, RuntimeError) as e:  # LiteRT's own text: a flatbuffer or an operator it cannot read
            raise ValueError(
                f"{os.fspath(path)!r} is not a valid TFLite model ({_native_cause(e)}): truncated, or another kind "
                f"of file with a .tflite name. Accepted: {_TFLITE_ACCEPTED}."
            ) from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"Expected a classifier with one input and one output; {os.fspath(path)!r} has "
                f"{len(inputs)} inputs and {len(outputs)} outputs."
            )
        self.input, self.output = inputs[0], outputs[0]
        shape = self.input["shape_signature"]
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"Expected an image input (batch, height, width, 3); found {list(shape)}.")
        if shape[0] != 1:
            self.interpreter.resize_tensor_input(self.input["index"], [1, *shape[1:]])
        try:
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(
                f"{os.fspath(path)!r} could not be prepared to run ({_native_cause(e)}). Accepted: {_TFLITE_ACCEPTED}."
            ) from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_size = (int(shape[1]), int(shape[2]))
        self.num_classes = int(self.output["shape"][-1])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        results = []
        for x in np.asarray(batch, np.float32):
            x = _quantize(x[None], self.input)
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            results.append(_dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)[0])
        return np.stack(results).astype(np.float32)


def _quantize(x, detail):
    dtype = detail["dtype"]
    if dtype in (np.int8, np.uint8):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantize(y, detail):
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


# What each loader accepts, for the messages that translate TensorFlow's and LiteRT's errors.
_TFLITE_ACCEPTED = ("a .tflite file written by `keras-classics export --format tflite`, or a TFLite classifier "
                    "with one image input and one output")
_SAVEDMODEL_ACCEPTED = ("a SavedModel directory written by `keras-classics export --format savedmodel` "
                        "(saved_model.pb and its variables/ folder, as written)")


def _native_cause(error: BaseException) -> str:
    """The first meaningful line of a TensorFlow or LiteRT error, for a message that says what the user did."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    cause = lines[0] if lines else type(error).__name__
    return cause[:300] + ("…" if len(cause) > 300 else "")


class SavedModelRunner:
    def __init__(self, path):
        import tensorflow as tf

        path = os.fspath(path)
        variables = os.path.join(path, "variables")
        if not os.path.isfile(os.path.join(variables, "variables.index")):
            raise ValueError(
                f"{path!r} is an incomplete SavedModel: {variables!r} "
                f"{'has no variables.index' if os.path.isdir(variables) else 'is missing'} (the model's weights; "
                f"a copy or a download that stopped early?). Accepted: {_SAVEDMODEL_ACCEPTED}."
            )
        try:
            loaded = tf.saved_model.load(path)
        except Exception as e:  # noqa: BLE001 - TensorFlow raises OpError, IndexError (a short variables file) …
            raise ValueError(
                f"{path!r} could not be loaded as a SavedModel ({_native_cause(e)}). Accepted: {_SAVEDMODEL_ACCEPTED}."
            ) from None
        if "serving_default" not in loaded.signatures:
            raise ValueError(
                f"SavedModel {os.fspath(path)!r} has no 'serving_default' signature; "
                f"it has: {', '.join(loaded.signatures) or 'none'}."
            )
        self.loaded = loaded  # also keeps the variables alive
        self.fn = loaded.signatures["serving_default"]
        specs = self.fn.structured_input_signature[1]
        if len(specs) != 1:
            raise ValueError(f"Expected one image input in 'serving_default'; found {sorted(specs)}.")
        (self.input_name, spec), = specs.items()
        if spec.shape.rank != 4 or spec.shape[-1] != 3 or spec.shape[1] is None:
            raise ValueError(f"Expected an image input (batch, height, width, 3); found {spec.shape}.")
        self.input_size = (int(spec.shape[1]), int(spec.shape[2]))
        outputs = self.fn.structured_outputs
        self.output_name = "probabilities" if "probabilities" in outputs else next(iter(outputs))
        self.num_classes = int(outputs[self.output_name].shape[-1])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        batch = np.asarray(batch, np.float32)
        chunks = []
        for start in range(0, len(batch), 16):
            out = self.fn(**{self.input_name: tf.constant(batch[start : start + 16])})
            chunks.append(out[self.output_name].numpy().astype(np.float32))
        return np.concatenate(chunks)


class _KerasRunner:
    def __init__(self, model):
        self.model = model
        shape = model.inputs[0].shape
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise ValueError(
                f"Expected a model with a fixed image input (batch, height, width, 3); found {tuple(shape)}."
            )
        self.input_size = (int(shape[1]), int(shape[2]))
        self.num_classes = int(model.outputs[0].shape[-1])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(np.asarray(batch, np.float32), batch_size=32, verbose=0), np.float32)


def probability_model(model):
    """``model`` itself when it ends in a softmax, else ``model`` followed by a softmax.

    Models built with ``classifier_activation=None`` output logits; exports
    and predictions always deal in probabilities.
    """
    import keras

    if outputs_probabilities(model):
        return model
    probs = keras.layers.Softmax(name="probabilities", dtype="float32")(model.outputs[0])
    return keep_metadata(model, keras.Model(model.inputs, probs, name=model.name))


def outputs_probabilities(model) -> bool:
    """Whether the last layer of ``model`` applies a softmax (else: logits)."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", str(activation))
    return name == "softmax"


# --------------------------------------------------------------------------- the loaded model


@dataclass
class ExportedModel:
    """A classifier loaded from an export, with what its model card says.

    Attributes:
        path: what was loaded.
        format: ``"keras"``, ``"savedmodel"`` or ``"tflite"``.
        class_names: one name per output.
        preprocessing: preprocessing mode applied before the model.
        input_size: ``(height, width)``.
        crop_fraction: see :func:`keras_classics.images.resize_and_crop`.
        interpolation: the resize's filter (see :func:`keras_classics.images.resize_and_crop`).
        card: the model card (empty when none was found).
    """

    path: str
    format: str
    class_names: list
    preprocessing: str
    input_size: tuple
    crop_fraction: float = 1.0
    interpolation: str = "bilinear"
    card: dict = field(default_factory=dict)
    runner: object = field(default=None, repr=False)

    def predict_preprocessed(self, batch) -> np.ndarray:
        """Probabilities for a batch already in the model's input space."""
        return self.runner(np.asarray(batch, np.float32))

    def predict(self, images) -> np.ndarray:
        """Probabilities ``(N, classes)`` for float RGB images ``(N, h, w, 3)`` in [0, 255] at the input size."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or tuple(images.shape[1:3]) != tuple(self.input_size):
            raise ValueError(
                f"Expected images of shape (N, {self.input_size[0]}, {self.input_size[1]}, 3); "
                f"received {images.shape}."
            )
        return self.predict_preprocessed(np.asarray(preprocess(images, self.preprocessing), np.float32))

    def classify(self, image_paths, top: int = 5) -> list[dict]:
        """Top-``top`` classes of each image file, of each image file in a folder.

        ``image_paths`` is a path or a list of paths; a folder stands for its
        image files, listed recursively as a folder dataset lists them
        (:func:`keras_classics.images.image_files`). A file that cannot be read
        (missing, not an image, truncated, unreadable: see
        :data:`keras_classics.images.UNREADABLE`) gets an ``"error"`` entry
        instead of predictions; the others are classified.

        Returns:
            One entry per image file, in order: ``{"image": path, "predictions":
            [{"class", "index", "probability"}, …]}`` (most probable first), or
            ``{"image": path, "error": reason}`` for a file that could not be read.

        Raises:
            ValueError: no path given, a folder without image files, or ``top`` not a positive integer.
        """
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise ValueError(f"`top` must be a positive integer. Received: top={top!r}")
        if not isinstance(image_paths, (str, os.PathLike)) and not image_paths:
            raise ValueError("No image given.")
        read = load_images(image_files(image_paths), self.input_size, self.crop_fraction,
                           interpolation=self.interpolation)
        images = [image for _, image, _ in read if image is not None]
        probs = iter(self.predict(np.stack(images)) if images else ())
        k = min(top, len(self.class_names))
        results = []
        for path, image, reason in read:
            if image is None:
                results.append({"image": path, "error": reason})
                continue
            p = next(probs)
            order = np.argsort(-p, kind="stable")[:k]
            results.append({
                "image": path,
                "predictions": [
                    {"class": self.class_names[i], "index": int(i), "probability": float(p[i])} for i in order
                ],
            })
        return results


def load(path, num_threads: int | None = None, custom_objects=None, safe_mode: bool = True) -> ExportedModel:
    """Load a ``.keras`` file, a SavedModel directory, a ``.tflite`` file or a TFLite export directory.

    Args:
        path: the export (as written by :mod:`keras_classics.export`), a
            ``.keras`` file, or a training run directory (its model file, see
            :func:`keras_classics.runs.resolve_model_file`).
        num_threads: TFLite interpreter threads (default: the interpreter's choice).
        custom_objects: for ``.keras`` files with custom layers (safe mode stays on).
        safe_mode: ``False`` loads ``.keras`` files with Lambda layers (see :func:`load_keras_model`).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: ``path`` is not a model in one of these formats.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model not found: {path!r}")
    card_path = find_card(path)
    card = read_json(card_path) if card_path else {}
    model_file = None
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            fmt, runner = "savedmodel", SavedModelRunner(path)
        elif os.path.isfile(os.path.join(path, TFLITE_FILENAME)):
            fmt, runner = "tflite", TFLiteRunner(os.path.join(path, TFLITE_FILENAME), num_threads)
        elif is_run_dir(path):
            model_file = resolve_model_file(path)
        else:
            raise ValueError(
                f"{path!r} is a directory but neither a SavedModel (no saved_model.pb), a TFLite "
                f"export (no {TFLITE_FILENAME}) nor a training run directory (no {' or '.join(RUN_MODEL_FILES)})."
            )
    elif path.endswith(".tflite"):
        fmt, runner = "tflite", TFLiteRunner(path, num_threads)
    elif path.endswith(".keras"):
        model_file = path
    elif path.endswith(".h5"):
        raise ValueError(_weights_file_message(path))
    else:
        raise ValueError(
            f"Cannot tell the format of {path!r}. Accepted: a .keras file, a training run directory, "
            "a SavedModel directory, a .tflite file or a TFLite export directory."
        )
    if model_file is not None:
        from keras_classics.models import strip_aux  # deferred: the models import Keras
        from keras_classics.models.files import load_keras_model

        model = probability_model(strip_aux(load_keras_model(model_file, custom_objects, safe_mode)))
        fmt, runner = "keras", _KerasRunner(model)
        if not card:  # a .keras file's metadata (or its run's), in the sections of a card
            card = card_fields(run_metadata(model_file, model.name, runner.num_classes, model_metadata(model)))

    metadata = from_card(card)
    names = metadata.get("class_names")
    if not (isinstance(names, list) and len(names) == runner.num_classes):
        if card:
            warnings.warn(
                f"The model card of {path!r} does not list {runner.num_classes} class names; "
                f"using '0'..'{runner.num_classes - 1}'.",
                stacklevel=2,
            )
        names = default_class_names(runner.num_classes)
    preprocessing = metadata.get("preprocessing")
    if preprocessing is None:
        warnings.warn(f"No model card found for {path!r}: assuming preprocessing 'none'.", stacklevel=2)
        preprocessing = "none"
    return ExportedModel(
        path=path,
        format=fmt,
        class_names=[str(n) for n in names],
        preprocessing=preprocessing,
        input_size=runner.input_size,
        crop_fraction=float(metadata.get("crop_fraction", 1.0)),
        interpolation=check_interpolation(metadata.get("interpolation", "bilinear")),
        card=card,
        runner=runner,
    )


def _weights_file_message(path: str) -> str:
    """Why a weights file is not a model predict can run, and the command that makes one from its source."""
    from keras_classics.weights import read_card  # the conversion card's reader: standard library only

    try:
        card = read_card(path)
    except (OSError, ValueError):
        card = {}
    model, source = card.get("model"), card.get("source_file")
    stem = os.path.basename(path)[: -len(".weights.h5") if path.endswith(".weights.h5") else -len(".h5")]
    if isinstance(model, str) and isinstance(source, str):  # written by `weights convert`: the same command
        how = f"keras-classics weights convert {model} {source} -o {stem}.keras"
        no_top = card.get("options", {}).get("include_top") is False
        top = " (without --no-top: predict needs the classifier)" if no_top else ""
        return (f"{path!r} is a weights file (the arrays only: no architecture, class names or preprocessing), "
                f"converted from {source}. Make a model file that predict reads with `{how}`{top}, then run "
                f"predict on {stem}.keras.")
    return (f"{path!r} is a weights file (the arrays only: no architecture, class names or preprocessing), "
            "which predict cannot run. Make a .keras model file: from a torchvision-layout file with "
            f"`keras-classics weights convert MODEL FILE -o {stem}.keras`, or in Python by building the model "
            f"it was saved from, model.load_weights({os.path.basename(path)!r}) and "
            f"keras_classics.metadata.save_model(model, '{stem}.keras'). Accepted by predict: a .keras file, a "
            "training run directory, a SavedModel directory, a .tflite file or a TFLite export directory.")


def classify(model_path, image_paths, top: int = 5) -> list[dict]:
    """Load ``model_path`` (any format, see :func:`load`) and classify image files.

    Example:
        >>> classify("saved_models/shapes_resnet18.tflite", ["a.png"], top=1)
    """
    return load(model_path).classify(image_paths, top=top)


# --------------------------------------------------------------------------- what is known about a model file


def run_metadata(model_path, model_name: str | None, num_classes: int, embedded: dict | None = None) -> dict:
    """What is known about a ``.keras`` model: its own metadata, else its training run's files.

    The metadata a ``.keras`` file written by this package carries
    (:func:`keras_classics.metadata.save_model`; ``embedded``, read from ``model_path`` when not given)
    comes first; then ``config.json`` (and ``metrics.json``) of the run
    directory holding ``model_path``. Returns a dict with ``class_names``,
    ``preprocessing``, ``preprocessing_source``, ``crop_fraction`` (the
    evaluation crop: :func:`keras_classics.transforms.eval_crop_fraction`),
    ``interpolation`` (the resize's filter), ``policy``, ``registry_name``, ``keras_backend``, ``run_dir``, ``config``
    and ``metrics`` (the last three ``None`` without a run directory).
    Missing fields fall back to class names ``"0" … "N-1"``, the registry's
    preprocessing for a registered model name (else ``"none"``), a crop
    fraction of 1 and bilinear resizing.
    """
    if embedded is None and model_path and os.fspath(model_path).endswith(".keras"):
        embedded = read_keras_metadata(model_path)
    embedded = embedded or {}
    run_dir = os.path.dirname(os.path.abspath(os.fspath(model_path))) if model_path else None
    config = metrics = None
    if run_dir and os.path.isfile(os.path.join(run_dir, "config.json")):
        config = read_json(os.path.join(run_dir, "config.json"))
        if not isinstance(config, dict):
            config = None
    if run_dir and os.path.isfile(os.path.join(run_dir, "metrics.json")):
        metrics = read_json(os.path.join(run_dir, "metrics.json"))
        if not isinstance(metrics, dict):
            metrics = None
    if config is None and metrics is None:
        run_dir = None
    config = config or {}

    names = None
    for where, candidate in (("model file's metadata", embedded.get("class_names")),
                             ("run config", config.get("class_names"))):
        if isinstance(candidate, list) and len(candidate) == num_classes:
            names = candidate
            break
        if candidate is not None:
            warnings.warn(
                f"The {where} lists {len(candidate) if isinstance(candidate, list) else candidate!r} class names "
                f"but the model has {num_classes} outputs; ignoring them.",
                stacklevel=2,
            )
    names = names or default_class_names(num_classes)

    registry_name = None
    for candidate in (embedded.get("registry_name"), config.get("model"), model_name):
        if isinstance(candidate, str) and _registered(candidate):
            registry_name = candidate
            break
    preprocessing, source = embedded.get("preprocessing"), "model file"
    if not isinstance(preprocessing, str):
        preprocessing, source = config.get("preprocessing"), "run config"
    if not isinstance(preprocessing, str):
        if registry_name:
            from keras_classics.models import model_info  # deferred: the families import Keras

            preprocessing, source = model_info(registry_name).preprocessing, f"registry ({registry_name})"
        else:
            preprocessing, source = "none", "default"
            warnings.warn(
                f"No metadata in the model file and no run config.json next to "
                f"{os.fspath(model_path) if model_path else 'the model'}, and {model_name!r} is not a registered "
                "model name: assuming preprocessing 'none'.",
                stacklevel=2,
            )
    policy = embedded.get("policy") if "crop_fraction" in embedded else config.get("policy")
    crop_fraction = embedded.get("crop_fraction")
    if not is_crop_fraction(crop_fraction):
        crop_fraction = 1.0
        if isinstance(config.get("policy"), str) and isinstance(config.get("image_size"), int):
            try:
                crop_fraction = eval_crop_fraction(config["policy"], config["image_size"])
            except ValueError:  # an unknown policy: keep the whole shorter side
                pass
    interpolation = embedded.get("interpolation")
    if interpolation not in INTERPOLATIONS:
        interpolation = "bilinear"
    return {
        "class_names": [str(n) for n in names],
        "preprocessing": preprocessing,
        "crop_fraction": float(crop_fraction),
        "interpolation": interpolation,
        "policy": policy if isinstance(policy, str) else None,
        "preprocessing_source": source,
        "registry_name": registry_name,
        "keras_backend": embedded.get("keras_backend") or config.get("keras_backend"),
        "run_dir": run_dir,
        "config": config or None,
        "metrics": metrics,
    }


def _registered(name: str) -> bool:
    from keras_classics.models import list_models  # deferred: the families import Keras

    try:
        return name in list_models()
    except Exception:  # a family module that fails to import must not break loading
        return False
