"""Load any exported model (``.keras``, SavedModel directory, ``.tflite``) and classify images.

>>> from keras_classics import predict
>>> model = predict.load("saved_models/shapes_resnet18")
>>> model.classify(["circle.png"], top=3)
[{'image': 'circle.png', 'predictions': [{'class': 'circle', 'index': 0, 'probability': 0.98}, ...]}]

Every format is read the same way: the image file is checked (a known format,
at most :data:`MAX_IMAGE_PIXELS` pixels, not truncated), decoded to RGB, its
shorter side resized and the centre cropped to the model's input
(:func:`resize_and_crop`: the training evaluation transform itself),
preprocessed by name (:func:`keras_classics.transforms.preprocess`) and
run. Class names, preprocessing and crop come from the model card written next
to every export (``model_card.json`` in an export directory, ``NAME.card.json``
beside a ``NAME.tflite`` file); for a ``.keras`` file from the metadata it
carries (:func:`save_model`), else from the training run's ``config.json`` in
the same directory. A training run directory means its ``best.keras``, else
its ``final.keras`` (:func:`resolve_model_file`).

TFLite files run on the LiteRT interpreter (``ai_edge_litert``); the deprecated
``tf.lite.Interpreter`` is used only when LiteRT is not installed.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from keras_classics._startup import quiet_native_log
from keras_classics.transforms import crop_shorter_side, eval_crop, is_crop_fraction, preprocess

__all__ = [
    "MAX_IMAGE_PIXELS",
    "IMAGE_FORMATS",
    "CARD_FILENAME",
    "ExportedModel",
    "load",
    "classify",
    "read_image_file",
    "decode_image",
    "resize_and_crop",
    "load_image",
    "load_image_bytes",
    "IMAGE_SUFFIXES",
    "METADATA_ENTRY",
    "resolve_model_file",
    "make_metadata",
    "model_metadata",
    "set_model_metadata",
    "save_model",
    "read_keras_metadata",
    "find_card",
    "interpreter_class",
]

#: Largest image accepted, in pixels (width × height): 40 megapixels, e.g. 8000 × 5000.
#: Larger files are refused before they are decoded.
MAX_IMAGE_PIXELS = 40_000_000

#: Image formats accepted (as Pillow names them). TensorFlow decodes them, except TIFF and
#: the BMP modes it cannot read, which Pillow decodes (see :func:`tensorflow_decodes`); the
#: SavedModel's ``serving_bytes`` signature decodes in the graph, so takes the others only.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "TIFF")

#: File suffixes treated as images wherever a folder is scanned: dataset folders
#: (:func:`keras_classics.data.get_source`), export's parity and calibration folders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")

#: Name of the model card inside an export directory.
CARD_FILENAME = "model_card.json"

#: Name of the TFLite file inside an export directory.
TFLITE_FILENAME = "model.tflite"


# --------------------------------------------------------------------------- images


def tensorflow_decodes(fmt: str | None, mode: str | None) -> bool:
    """Whether ``tf.io.decode_image`` reads an image of this Pillow format and mode (else Pillow does)."""
    if fmt in ("JPEG", "MPO", "PNG", "GIF", "WEBP"):
        return True
    return fmt == "BMP" and mode in ("RGB", "RGBA", "L", "P")


def pil_rgb(data) -> np.ndarray:
    """Pillow's decoding of encoded image bytes (or a path) to uint8 RGB ``(h, w, 3)``."""
    from PIL import Image

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(source) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)


def read_image_file(path, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """The bytes of an image file, after checking that they decode.

    The header is read first (format and size), so an enormous image is
    refused before any pixel is decoded; then the whole image is decoded once
    to catch truncated or corrupt files.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not an image, a format outside :data:`IMAGE_FORMATS`,
            more than ``max_pixels`` pixels, truncated or corrupt data.
    """
    return _read_checked(path, max_pixels)[0]


def _read_checked(path, max_pixels, data=None):
    """``(bytes, Pillow format, Pillow mode)`` of an image file (or of ``data`` named ``path``), checked."""
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    if data is None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"Image not found: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"Expected an image file, received a directory: {path!r}")
        with open(path, "rb") as f:
            data = f.read()
    if not data:
        raise ValueError(f"Image {path!r} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt, mode = image.format, image.mode
            width, height = image.size
            if fmt not in IMAGE_FORMATS:
                raise ValueError(
                    f"Image {path!r} is a {fmt} file. Accepted formats: {', '.join(IMAGE_FORMATS)}."
                )
            if width * height > max_pixels:
                raise ValueError(
                    f"Image {path!r} is {width}x{height} = {width * height:,} pixels, above the limit of "
                    f"{max_pixels:,} pixels. Downscale it first."
                )
            image.load()
    except UnidentifiedImageError:
        raise ValueError(
            f"{path!r} is not an image Pillow can identify. Accepted formats: {', '.join(IMAGE_FORMATS)}."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses it while reading the header: far above this package's own limit.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
        raise ValueError(
            f"Image {path!r} is {size}, above the limit of {max_pixels:,} pixels "
            f"({max_pixels / 1e6:g} megapixels). Downscale it first."
        ) from None
    except (OSError, SyntaxError, EOFError) as e:  # Pillow's truncated / corrupt data errors
        raise ValueError(f"Image {path!r} is corrupt or truncated: {e}") from None
    return data, fmt, mode


def resize_and_crop(image, height: int, width: int, crop_fraction: float = 1.0):
    """Resize the shorter side to ``round(max(height, width) / crop_fraction)``, then centre-crop.

    The training evaluation transform itself
    (:func:`keras_classics.transforms.eval_crop`, the one resize/crop rule and
    resampling of the package): TensorFlow ops only, usable in exported graphs.
    ``image`` is a uint8 or float ``(h, w, 3)`` tensor of any size, the result
    float32 ``(height, width, 3)`` in the input's value range. The aspect ratio
    is kept; bilinear filtering, antialiased where it shrinks; a square image
    already of the target size is returned unchanged (with ``crop_fraction=1``).

    Args:
        crop_fraction: fraction of the resized image's shorter side kept by the
            crop (``0.875``: the ImageNet "resize 256, crop 224" convention;
            ``1.0``: the whole shorter side).
    """
    return eval_crop(image, (int(height), int(width)), crop_fraction)


def decode_image(data, height: int, width: int, crop_fraction: float = 1.0):
    """Encoded image bytes (JPEG, PNG, GIF, BMP, WebP) → float32 RGB ``(height, width, 3)`` in [0, 255].

    TensorFlow ops only: the same function runs inside the SavedModel's
    ``serving_bytes`` signature and in :func:`load_image`. Images over
    :data:`MAX_IMAGE_PIXELS` fail with ``InvalidArgumentError`` (checked after
    decoding, before resizing; :func:`read_image_file` checks the header first).
    """
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    return resize_and_crop(_checked_size(image), height, width, crop_fraction)


def _checked_size(image):
    import tensorflow as tf

    shape = tf.shape(image, out_type=tf.int64)
    check = tf.debugging.assert_less_equal(
        shape[0] * shape[1], tf.constant(MAX_IMAGE_PIXELS, tf.int64),
        message=f"image larger than {MAX_IMAGE_PIXELS:,} pixels",
    )
    with tf.control_dependencies([check]):
        return tf.identity(image)


def load_image(path, size, crop_fraction: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read, check, decode, resize and crop one image file: float32 RGB ``(h, w, 3)`` in [0, 255].

    Args:
        size: ``(height, width)`` of the model input.

    Raises:
        ValueError / FileNotFoundError: see :func:`read_image_file`.
    """
    return _load_checked(path, _read_checked(path, max_pixels), size, crop_fraction)


def load_image_bytes(data: bytes, size, crop_fraction: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS,
                     name: str = "<bytes>") -> np.ndarray:
    """:func:`load_image` of an encoded image file held in memory (``name`` appears in errors)."""
    return _load_checked(name, _read_checked(name, max_pixels, bytes(data)), size, crop_fraction)


def _load_checked(path, checked, size, crop_fraction):
    import tensorflow as tf

    data, fmt, mode = checked
    height, width = int(size[0]), int(size[1])
    if not tensorflow_decodes(fmt, mode):  # TIFF, unusual BMPs: decoded as the dataset folders decode them
        return resize_and_crop(tf.constant(pil_rgb(data)), height, width, crop_fraction).numpy()
    try:
        return decode_image(tf.constant(data), height, width, crop_fraction).numpy()
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(f"Image {os.fspath(path)!r} could not be decoded: {e.message.splitlines()[-1]}") from None


def list_images(directory) -> list[str]:
    """Image files (by suffix) under ``directory``, recursively, in sorted order."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Expected a directory of images, received {directory!r}.")
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return found


# --------------------------------------------------------------------------- model cards and metadata


def find_card(path) -> str | None:
    """The model card of an export at ``path``, or ``None`` when there is none.

    ``DIR/model_card.json`` for an export directory, ``NAME.card.json`` beside
    ``NAME.tflite``. (A ``.keras`` file has none: its run's ``config.json``
    says the same, see :func:`run_metadata`.)
    """
    path = os.fspath(path).rstrip(os.sep)
    if os.path.isdir(path):
        candidate = os.path.join(path, CARD_FILENAME)
    elif path.endswith(".tflite"):
        candidate = path[: -len(".tflite")] + ".card.json"
    else:
        return None
    return candidate if os.path.isfile(candidate) else None


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path!r} is not valid JSON: {e}") from None


def default_class_names(num_classes: int) -> list[str]:
    return [str(i) for i in range(num_classes)]


def run_metadata(model_path, model_name: str | None, num_classes: int, embedded: dict | None = None) -> dict:
    """What is known about a ``.keras`` model: its own metadata, else its training run's files.

    The metadata a ``.keras`` file written by this package carries
    (:func:`save_model`; ``embedded``, read from ``model_path`` when not given)
    comes first; then ``config.json`` (and ``metrics.json``) of the run
    directory holding ``model_path``. Returns a dict with ``class_names``,
    ``preprocessing``, ``preprocessing_source``, ``crop_fraction`` (the
    evaluation crop: :func:`keras_classics.data.augment.eval_crop_fraction`),
    ``policy``, ``registry_name``, ``keras_backend``, ``run_dir``, ``config``
    and ``metrics`` (the last three ``None`` without a run directory).
    Missing fields fall back to class names ``"0" … "N-1"``, the registry's
    preprocessing for a registered model name (else ``"none"``) and a crop
    fraction of 1.
    """
    if embedded is None and model_path and os.fspath(model_path).endswith(".keras"):
        embedded = read_keras_metadata(model_path)
    embedded = embedded or {}
    run_dir = os.path.dirname(os.path.abspath(os.fspath(model_path))) if model_path else None
    config = metrics = None
    if run_dir and os.path.isfile(os.path.join(run_dir, "config.json")):
        config = _read_json(os.path.join(run_dir, "config.json"))
        if not isinstance(config, dict):
            config = None
    if run_dir and os.path.isfile(os.path.join(run_dir, "metrics.json")):
        metrics = _read_json(os.path.join(run_dir, "metrics.json"))
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
            from keras_classics import model_info

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
                from keras_classics.data.augment import eval_crop_fraction

                crop_fraction = eval_crop_fraction(config["policy"], config["image_size"])
            except (ImportError, ValueError):  # an unknown policy: keep the whole shorter side
                pass
    return {
        "class_names": [str(n) for n in names],
        "preprocessing": preprocessing,
        "crop_fraction": float(crop_fraction),
        "policy": policy if isinstance(policy, str) else None,
        "preprocessing_source": source,
        "registry_name": registry_name,
        "keras_backend": embedded.get("keras_backend") or config.get("keras_backend"),
        "run_dir": run_dir,
        "config": config or None,
        "metrics": metrics,
    }


def _registered(name: str) -> bool:
    from keras_classics import list_models

    try:
        return name in list_models()
    except Exception:  # a family module that fails to import must not break loading
        return False


# --------------------------------------------------------------------------- model files and their metadata

#: The entry that ``.keras`` files written by this package carry next to Keras's own
#: (``config.json``, ``metadata.json``, ``model.weights.h5``): the class names, the eval
#: transform, the registry name and the Keras backend. Keras's loader ignores it.
METADATA_ENTRY = "keras_classics.json"

#: The model files a training run directory holds, in the order a run directory is read.
RUN_MODEL_FILES = ("best.keras", "final.keras")


def resolve_model_file(path) -> str:
    """The ``.keras`` file that ``path`` means: the file itself, or a run directory's model.

    One rule for every command that takes a run directory (predict, export,
    summary, visualize, ``--init-from``): its ``best.keras`` (the best
    validation epoch), else its ``final.keras``.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a directory without either file, or a file that is not a ``.keras`` file.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model not found: {path!r}")
    if os.path.isdir(path):
        for name in RUN_MODEL_FILES:
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise ValueError(
            f"{path!r} is a directory without {' or '.join(RUN_MODEL_FILES)}. Expected a .keras file or a "
            "training run directory."
        )
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a .keras model file or a training run directory, received {path!r}.")
    return path


def is_run_dir(path) -> bool:
    """Whether ``path`` is a directory holding a run's model file (see :func:`resolve_model_file`)."""
    path = os.fspath(path)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, n)) for n in RUN_MODEL_FILES)


def make_metadata(class_names, image_size, preprocessing: str, *, policy: str | None = None,
                  crop_fraction: float | None = None, registry_name: str | None = None) -> dict:
    """The metadata a ``.keras`` file carries: class names, eval transform, registry name, backend.

    Args:
        class_names: one name per output.
        image_size: the input side, or ``(height, width)``.
        preprocessing: the preprocessing mode applied after the crop.
        policy: the training policy; its evaluation crop gives ``crop_fraction``
            when that is not given.
        crop_fraction: the centre crop (see :func:`resize_and_crop`); default:
            the policy's, else 1.
        registry_name: the registered model name.
    """
    import keras

    from keras_classics import __version__

    size = (int(image_size), int(image_size)) if isinstance(image_size, (int, np.integer)) else (
        int(image_size[0]), int(image_size[1]))
    if crop_fraction is None:
        from keras_classics.data.augment import eval_crop_fraction

        crop_fraction = eval_crop_fraction(policy, size[0]) if policy and size[0] == size[1] else 1.0
    return {
        "class_names": [str(n) for n in class_names],
        "image_size": list(size),
        "crop_fraction": float(crop_fraction),
        "eval_resize": crop_shorter_side(size, crop_fraction),
        "policy": policy,
        "preprocessing": preprocessing,
        "registry_name": registry_name,
        "keras_backend": keras.backend.backend(),
        "keras_classics_version": __version__,
    }


def model_metadata(model) -> dict | None:
    """The metadata attached to a model in memory (by :func:`load_keras_model` or the training engine)."""
    from keras_classics.models._layers import METADATA_ATTRIBUTE

    return vars(model).get(METADATA_ATTRIBUTE)


def set_model_metadata(model, metadata: dict | None):
    """Attach ``metadata`` (see :func:`make_metadata`) to ``model``; returns ``model``.

    It travels with the model through :func:`keras_classics.strip_aux`,
    export's float32 rebuild and :func:`save_model`.
    """
    from keras_classics.models._layers import METADATA_ATTRIBUTE

    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ValueError(f"Model metadata must be a dict, received {type(metadata).__name__}.")
        metadata = json.loads(json.dumps(metadata))  # a plain, JSON-safe copy (fails early otherwise)
    object.__setattr__(model, METADATA_ATTRIBUTE, metadata)  # untracked by Keras: not a layer attribute
    return model


def keep_metadata(source, target):
    """``target`` with the metadata of ``source`` (a model derived from it); returns ``target``."""
    from keras_classics.models._layers import keep_metadata as keep

    return keep(source, target)


def save_model(model, path, metadata: dict | None = None) -> str:
    """Save ``model`` as a ``.keras`` file that carries its metadata; returns ``path``.

    The file is Keras's own (``keras.saving.load_model`` reads it) with one
    more entry, :data:`METADATA_ENTRY`: class names, eval transform, registry
    name and Keras backend, read back by :func:`load` and
    :func:`load_keras_model`. It is written under a temporary name in the
    same directory and renamed into place.

    Args:
        model: a Keras model.
        path: the ``.keras`` file to write (replaced if it exists, as ``model.save`` does).
        metadata: default: the model's own (:func:`model_metadata`); a model
            without any is saved without the entry.

    Example:
        >>> model = predict.load_keras_model("runs/x/best.keras")
        >>> predict.save_model(keras_classics.strip_aux(model), "deploy.keras")
    """
    import zipfile

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"A model file must end in .keras, received {path!r}.")
    metadata = model_metadata(model) if metadata is None else metadata
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"Model metadata must be a dict, received {type(metadata).__name__}.")
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        if metadata is not None:
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(METADATA_ENTRY, json.dumps(metadata, indent=2))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_keras_metadata(path) -> dict | None:
    """The metadata entry of a ``.keras`` file (see :func:`save_model`), or ``None`` when it has none."""
    import zipfile

    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            if METADATA_ENTRY not in archive.namelist():
                return None
            data = json.loads(archive.read(METADATA_ENTRY))
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        warnings.warn(f"Ignoring the metadata of {os.fspath(path)!r}: {type(e).__name__}: {e}", stacklevel=2)
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- runners


def interpreter_class():
    """The TFLite interpreter class: LiteRT's, or ``tf.lite.Interpreter`` when LiteRT is absent."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class _TFLiteRunner:
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
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)!r} is not a valid TFLite model: {e}") from None
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
        self.interpreter.allocate_tensors()
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


class _SavedModelRunner:
    def __init__(self, path):
        import tensorflow as tf

        loaded = tf.saved_model.load(os.fspath(path))
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


def load_keras_model(path, custom_objects=None, safe_mode: bool = True):
    """Load a ``.keras`` file with safe mode on (unless ``safe_mode=False``), without compiling it.

    Safe mode refuses ``Lambda`` layers, whose Python code is stored in the
    file and runs when it is loaded; ``safe_mode=False`` (CLI:
    ``--unsafe-deserialization``) loads them, for files you trust.

    The metadata the file carries (see :func:`save_model`) is attached to the
    model (:func:`model_metadata`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a ``.keras`` file, unreadable, or using a custom object
            that is not registered (import the module that defines it first).
    """
    import keras

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model not found: {path!r}")
    if not path.endswith(".keras") or not os.path.isfile(path):
        raise ValueError(f"Expected a .keras model file, received {path!r}.")
    import keras_classics.models  # noqa: F401  (registers the package's layers with Keras)

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects)
    except TypeError as e:
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(e))
        registered = re.search(r"'registered_name': '([^']+)'", str(e)[missing.end():]) if missing else None
        if missing:
            name = registered.group(1) if registered else missing.group(1)
            raise ValueError(
                f"{path!r} uses {missing.group(1)!r} ({name}), a layer or function that is not registered "
                "with Keras in this process. Import the module that defines it (decorated with "
                "@keras.saving.register_keras_serializable) or pass custom_objects; safe mode stays on."
            ) from None
        raise ValueError(f"{path!r} could not be loaded as a Keras model: {e}") from None
    except Exception as e:  # zip errors, bad config, Lambda layers refused by safe mode
        if "safe_mode" in str(e):
            raise ValueError(
                f"{path!r} holds a Lambda layer: Python code stored in the file, which runs when it is loaded, "
                "so it is refused by default. Accepted: files without Lambda layers; for a file you trust, "
                "the CLI's --unsafe-deserialization (Python: safe_mode=False)."
            ) from None
        raise ValueError(f"{path!r} could not be loaded as a Keras model: {type(e).__name__}: {e}") from None
    return set_model_metadata(model, read_keras_metadata(path))


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
        crop_fraction: see :func:`resize_and_crop`.
        card: the model card (empty when none was found).
    """

    path: str
    format: str
    class_names: list
    preprocessing: str
    input_size: tuple
    crop_fraction: float = 1.0
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
        """Top-``top`` classes of each image file.

        All files are read and checked before any is run, so one bad file
        fails the call without partial output.

        Returns:
            One ``{"image": path, "predictions": [{"class", "index", "probability"}, …]}``
            per image, most probable first.
        """
        if isinstance(image_paths, (str, os.PathLike)):
            image_paths = [image_paths]
        if not image_paths:
            raise ValueError("No image given.")
        if not isinstance(top, int) or top < 1:
            raise ValueError(f"`top` must be a positive integer. Received: top={top!r}")
        images = np.stack([load_image(p, self.input_size, self.crop_fraction) for p in image_paths])
        probs = self.predict(images)
        k = min(top, probs.shape[-1])
        results = []
        for path, p in zip(image_paths, probs):
            order = np.argsort(-p, kind="stable")[:k]
            results.append({
                "image": os.fspath(path),
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
            :func:`resolve_model_file`).
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
    card = _read_json(card_path) if card_path else {}
    model_file = None
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            fmt, runner = "savedmodel", _SavedModelRunner(path)
        elif os.path.isfile(os.path.join(path, TFLITE_FILENAME)):
            fmt, runner = "tflite", _TFLiteRunner(os.path.join(path, TFLITE_FILENAME), num_threads)
        elif is_run_dir(path):
            model_file = resolve_model_file(path)
        else:
            raise ValueError(
                f"{path!r} is a directory but neither a SavedModel (no saved_model.pb), a TFLite "
                f"export (no {TFLITE_FILENAME}) nor a training run directory (no {' or '.join(RUN_MODEL_FILES)})."
            )
    elif path.endswith(".tflite"):
        fmt, runner = "tflite", _TFLiteRunner(path, num_threads)
    elif path.endswith(".keras"):
        model_file = path
    else:
        raise ValueError(
            f"Cannot tell the format of {path!r}. Accepted: a .keras file, a training run directory, "
            "a SavedModel directory, a .tflite file or a TFLite export directory."
        )
    if model_file is not None:
        from keras_classics.models import strip_aux

        model = probability_model(strip_aux(load_keras_model(model_file, custom_objects, safe_mode)))
        fmt, runner = "keras", _KerasRunner(model)
        if not card:
            meta = run_metadata(model_file, model.name, runner.num_classes, model_metadata(model))
            card = {"class_names": meta["class_names"],
                    "input": {"preprocessing": meta["preprocessing"], "crop_fraction": meta["crop_fraction"]}}

    names = card.get("class_names")
    if not (isinstance(names, list) and len(names) == runner.num_classes):
        if card:
            warnings.warn(
                f"The model card of {path!r} does not list {runner.num_classes} class names; "
                f"using '0'..'{runner.num_classes - 1}'.",
                stacklevel=2,
            )
        names = default_class_names(runner.num_classes)
    spec = card.get("input", {})
    preprocessing = spec.get("preprocessing")
    if preprocessing is None:
        warnings.warn(f"No model card found for {path!r}: assuming preprocessing 'none'.", stacklevel=2)
        preprocessing = "none"
    return ExportedModel(
        path=path,
        format=fmt,
        class_names=[str(n) for n in names],
        preprocessing=preprocessing,
        input_size=runner.input_size,
        crop_fraction=float(spec.get("crop_fraction", 1.0)),
        card=card,
        runner=runner,
    )


def classify(model_path, image_paths, top: int = 5) -> list[dict]:
    """Load ``model_path`` (any format, see :func:`load`) and classify image files.

    Example:
        >>> classify("saved_models/shapes_resnet18.tflite", ["a.png"], top=1)
    """
    return load(model_path).classify(image_paths, top=top)
