"""Evaluate models on labelled images: top-1, top-5, loss, per-class accuracy and a confusion matrix.

>>> from keras_classics import evaluate
>>> result = evaluate(["runs/quickstart", "saved_models/shapes", "saved_models/shapes_int8.tflite"])
>>> result.models[2].top1, result.models[2].top5
(0.92, 1.0)
>>> print(result.table())

Any model the package reads (:func:`keras_classics.predict.load`: a ``.keras``
file, a training run directory, a SavedModel, a ``.tflite`` file or TFLite
export directory) is run on the same images. The images come from a data
source (:func:`keras_classics.data.get_source`) in one pass: each is decoded
once and put through each model's own eval transform
(:func:`keras_classics.images.resize_and_crop`, then the model's
preprocessing), the image path of ``predict``. Without ``dataset``, the
validation split of the run a model was trained in (its ``config.json``, or the
run configuration its export's model card records), read with the run's own
source arguments (:func:`keras_classics.training.config.source_arguments`).

Ranks follow the package's one rule (:mod:`keras_classics.training.metrics`):
a tie is not a hit for free, so top-1 is the class ``predict`` names first.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from keras_classics import predict as _predict
from keras_classics.metadata import default_class_names, read_json
from keras_classics.runs import is_run_dir, resolve_model_file
from keras_classics.training.config import RecipeConfig, source_arguments
from keras_classics.training.metrics import TIE_RULE, ranked_classes, true_class_rank

__all__ = ["ModelEvaluation", "Evaluation", "evaluate", "run_config_of", "LOSS_EPSILON", "DEFAULT_BATCH_SIZE"]

#: Probabilities are clipped to [LOSS_EPSILON, 1] before the log, as Keras' cross-entropy clips them.
LOSS_EPSILON = 1e-7

DEFAULT_BATCH_SIZE = 32


@dataclass
class ModelEvaluation:
    """The figures of one model on the evaluation images.

    Attributes:
        path: the model, as given.
        label: its column in the table (its file or directory name, made unique).
        format: ``"keras"``, ``"savedmodel"`` or ``"tflite"``; ``quantization`` the card's
            (``"float16"``, ``"int8"``, ``"dynamic"``) or ``None``.
        images: how many images it was run on.
        top1, top5: accuracy (shares, by the rule of :mod:`keras_classics.training.metrics`);
            ``top5`` is ``None`` for a model of five classes or fewer (it would always be 1).
        loss: mean cross-entropy of the true class (probabilities normalised per image and
            clipped at :data:`LOSS_EPSILON`, as Keras computes it; without the weight-decay term a
            run's ``val_loss`` includes), or ``None`` when the model's outputs are not probabilities.
        per_class: top-1 of each dataset class, by name (``None`` for a class without images).
        confusion: counts ``[true class, predicted class]`` over the dataset's classes, plus a
            last column ``"other"`` when the model predicted a class the dataset does not have.
        confusion_labels: the columns' names.
        seconds: time spent running the model (not reading images).
        confusion_png: where its confusion matrix was drawn, if it was.
    """

    path: str
    label: str
    format: str
    quantization: str | None
    images: int
    top1: float
    top5: float | None
    loss: float | None
    per_class: dict
    confusion: np.ndarray = field(repr=False)
    confusion_labels: list = field(repr=False)
    seconds: float = 0.0
    confusion_png: str | None = None

    @property
    def images_per_second(self) -> float | None:
        return self.images / self.seconds if self.seconds > 0 else None

    @property
    def kind(self) -> str:
        """``"tflite int8"``, ``"savedmodel"``, …: the format and quantization, in words."""
        return self.format + (f" {self.quantization}" if self.quantization else "")

    def as_dict(self) -> dict:
        return {
            "path": self.path, "label": self.label, "format": self.format, "quantization": self.quantization,
            "images": self.images, "top1": self.top1, "top5": self.top5, "loss": self.loss,
            "per_class_top1": self.per_class, "confusion": self.confusion.tolist(),
            "confusion_labels": list(self.confusion_labels), "seconds": round(self.seconds, 3),
            "images_per_second": None if self.images_per_second is None else round(self.images_per_second, 1),
            "confusion_png": self.confusion_png,
        }


@dataclass
class Evaluation:
    """Every model's figures on one set of images (what ``keras-classics evaluate`` prints).

    Attributes:
        dataset: where the images came from, in words.
        class_names: the dataset's classes (label ``i`` is ``class_names[i]``).
        images: how many images.
        models: one :class:`ModelEvaluation` per model, in the order given.
        rule: how ties are ranked (:data:`keras_classics.training.metrics.TIE_RULE`).
    """

    dataset: str
    class_names: list
    images: int
    models: list
    rule: str = TIE_RULE

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "class_names": list(self.class_names), "images": self.images,
                "top_k_rule": self.rule, "models": [m.as_dict() for m in self.models]}

    def table(self, max_classes: int = 20) -> str:
        """The side-by-side table: one column per model; per-class rows up to ``max_classes`` classes."""
        rows = [("", [m.label for m in self.models]), ("format", [m.kind for m in self.models]),
                ("images", [str(m.images) for m in self.models]),
                ("top-1", [_pct(m.top1) for m in self.models]),
                ("top-5", [_pct(m.top5) for m in self.models]),
                ("loss", ["—" if m.loss is None else f"{m.loss:.4f}" for m in self.models]),
                ("images/s", ["—" if m.images_per_second is None else f"{m.images_per_second:.1f}"
                              for m in self.models])]
        if len(self.class_names) <= max_classes:
            rows += [(f"top-1 {name}", [_pct(m.per_class.get(name)) for m in self.models])
                     for name in self.class_names]
        widths = [max(len(r[0]) for r in rows)] + [max(len(r[1][i]) for r in rows) for i in range(len(self.models))]
        lines = [f"{self.images} images of {self.dataset}, {len(self.class_names)} classes; top-k ties: {self.rule}."]
        for name, cells in rows:
            lines.append("  ".join([name.ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells, widths[1:]))]).rstrip())
        if len(self.class_names) > max_classes:
            lines.append(f"(per-class top-1 of the {len(self.class_names)} classes: --json)")
        for m in self.models:
            if m.confusion_png:
                lines.append(f"Confusion matrix of {m.label}: {m.confusion_png}")
        return "\n".join(lines)


def _pct(value) -> str:
    return "—" if value is None else f"{value:.2%}"


# --------------------------------------------------------------------------- which images


def run_config_of(loaded) -> dict | None:
    """The training run configuration of a loaded model: its run's ``config.json``, or its card's copy."""
    source = loaded.card.get("source") if isinstance(loaded.card.get("source"), dict) else {}
    if isinstance(source.get("run_config"), dict):
        return source["run_config"]
    if loaded.format == "keras":
        model_file = resolve_model_file(loaded.path) if is_run_dir(loaded.path) else loaded.path
        path = os.path.join(os.path.dirname(os.path.abspath(model_file)), "config.json")
        if os.path.isfile(path):
            config = read_json(path)
            return config if isinstance(config, dict) else None
    return None


def _run_source(loaded_models):
    """The validation split of the first model's run that names a dataset, and its description."""
    from keras_classics.data import get_source  # deferred: the data sources import TensorFlow

    for loaded in loaded_models:
        config = run_config_of(loaded)
        if not (config and isinstance(config.get("dataset"), str)):
            continue
        size = config.get("image_size") if isinstance(config.get("image_size"), int) else loaded.input_size[0]
        try:
            name, options = source_arguments(RecipeConfig.from_dict(config), size)
            source = get_source(name, **{**options, **_light(name), "download": False, "verbose": False})
        except (ValueError, FileNotFoundError) as e:  # a moved folder, an unprepared TFDS set
            raise type(e)(
                f"Could not read the validation images of the run of {loaded.path!r} ({config['dataset']!r}): {e} "
                "Give the images to evaluate on (--dataset SOURCE)."
            ) from None
        if source.validation is None:
            raise ValueError(
                f"The run of {loaded.path!r} trained on {config['dataset']!r} without a validation split: "
                "give the images to evaluate on (--dataset SOURCE)."
            )
        return source, source.validation, source.num_val, f"{source.name} validation split (the run's data)"
    raise ValueError(
        "None of the models names the run it was trained in (a run directory's config.json, or an export's model "
        "card): give the images to evaluate on (--dataset SOURCE: shapes, folder:PATH or tfds:NAME)."
    )


def _light(name: str) -> dict:
    """Options that keep a source from reading more than the evaluation needs."""
    kind = name.partition(":")[0]
    if kind == "shapes":  # the validation split alone is used: one training image, not thousands
        return {"num_train": 1}
    if kind == "folder" or os.path.isdir(os.path.expanduser(name)):
        return {"validate": "header"}
    return {}


def _given_source(dataset, image_size):
    """The images of ``--dataset``: a folder whole, the validation split of shapes and TFDS."""
    from keras_classics.data import get_source  # deferred: the data sources import TensorFlow

    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"`dataset` must be a source name (shapes, folder:PATH, tfds:NAME). Received: {dataset!r}")
    kind = dataset.partition(":")[0]
    if kind == "shapes":
        # The validation split only: one training image is generated, not the default 10,000.
        source = get_source(dataset, image_size=max(int(image_size), 16), num_train=1, verbose=False)
        return source, source.validation, source.num_val, "shapes validation split"
    if kind == "folder" or (":" not in dataset and os.path.isdir(os.path.expanduser(dataset))):
        source = get_source(dataset, val_fraction=0, verbose=False, validate="header")
        return source, source.train, source.num_train, f"{source.name} (every image)"
    source = get_source(dataset, download=False, verbose=False)
    if source.validation is None:
        raise ValueError(f"{dataset!r} has no validation split to evaluate on.")
    return source, source.validation, source.num_val, f"{source.name} validation split"


# --------------------------------------------------------------------------- classes


def _class_map(dataset_names, model_names, what) -> np.ndarray:
    """Model output index of each dataset class: the same names in order, by name, or by position when the
    model has no class names of its own."""
    dataset_names, model_names = list(dataset_names), list(model_names)
    if dataset_names == model_names:
        return np.arange(len(model_names))
    index = {n: i for i, n in enumerate(model_names)}
    if all(n in index for n in dataset_names):
        return np.array([index[n] for n in dataset_names])
    if len(dataset_names) == len(model_names) and model_names == default_class_names(len(model_names)):
        return np.arange(len(model_names))
    missing = [n for n in dataset_names if n not in index]
    raise ValueError(
        f"The dataset's classes are not {what}'s: {len(missing)} of its {len(dataset_names)} classes "
        f"({', '.join(map(repr, missing[:5]))}{', …' if len(missing) > 5 else ''}) are not among the model's "
        f"{len(model_names)} ({', '.join(map(repr, model_names[:5]))}{', …' if len(model_names) > 5 else ''}). "
        "Evaluate on images of the classes the model was trained on."
    )


def _outputs_probabilities(loaded) -> bool:
    """Whether a loaded model's output is a softmax: every model this package exports or loads from Keras."""
    if loaded.format == "keras":
        return True  # predict.load appends a softmax to a model that ends in logits
    output = loaded.card.get("output") if isinstance(loaded.card.get("output"), dict) else {}
    if output.get("name") == "probabilities":
        return True
    return loaded.format == "savedmodel" and getattr(loaded.runner, "output_name", None) == "probabilities"


# --------------------------------------------------------------------------- running


def _quantization(loaded) -> str | None:
    """The card's quantization of a TFLite model (``"int8"``, ``"float16"``, ``"dynamic"``); ``None`` for float32."""
    value = loaded.card.get("quantization") if loaded.format == "tflite" else None
    return value if isinstance(value, str) and value != "none" else None


def _labels_for(paths) -> list:
    labels, seen = [], {}
    for path in paths:
        base = os.path.basename(os.fspath(path).rstrip("/" + os.sep)) or os.fspath(path)
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return labels


def evaluate(models, dataset: str | None = None, *, limit: int | None = None,
             batch_size: int = DEFAULT_BATCH_SIZE, confusion_dir=None, progress: bool = False,
             num_threads: int | None = None) -> Evaluation:
    """Run each model on the same labelled images and measure it.

    Args:
        models: one model or a list: paths of anything
            :func:`keras_classics.predict.load` reads (``.keras``, a run directory, a
            SavedModel, a ``.tflite`` file or TFLite export directory), or models it loaded.
        dataset: where the images come from: ``"shapes"`` (its validation split,
            rendered at the first model's input size), ``"folder:PATH"`` or a
            directory (every image; classes are the sub-folders), ``"tfds:NAME"``
            (its validation split, prepared beforehand). Default: the validation
            split of the run the first model (that names one) was trained in.
        limit: evaluate the first ``limit`` images only.
        batch_size: images per batch.
        confusion_dir: a directory to draw each model's confusion matrix in
            (``LABEL.confusion.png``; created if missing). A file there that this
            function did not write is never replaced: it is refused before any
            model runs. ``None``: no pictures.
        progress: show a progress bar (the command line: when stdout is a terminal).
        num_threads: TFLite interpreter threads.

    Returns:
        An :class:`Evaluation`: ``.models[i].top1`` …, ``.table()``, ``.as_dict()``.

    Raises:
        ValueError: no images, classes the model does not have, bad arguments.
        FileNotFoundError: a model or dataset that is not there.
        FileExistsError: a confusion-matrix path holding a file this function did not write.
    """
    from keras_classics.evaluation.confusion import check_confusion_paths, draw_confusion  # deferred: matplotlib

    given = [models] if isinstance(models, (str, os.PathLike)) or hasattr(models, "runner") else list(models)
    if not given:
        raise ValueError("No model given.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"`limit` must be a positive integer. Received: limit={limit!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    labels = _labels_for([m.path if hasattr(m, "runner") else m for m in given])
    png_paths = check_confusion_paths(confusion_dir, labels) if confusion_dir is not None else [None] * len(given)

    loaded = [m if hasattr(m, "runner") else _predict.load(m, num_threads=num_threads) for m in given]
    if dataset is None:
        source, split, size, description = _run_source(loaded)
    else:
        source, split, size, description = _given_source(dataset, max(loaded[0].input_size))
    class_maps = [_class_map(source.class_names, m.class_names, repr(m.path)) for m in loaded]
    total = min(size, limit) if limit else size

    # Each distinct (input size, crop, resize filter) decodes and crops once per image; each model
    # preprocesses its copy.
    specs = sorted({(tuple(m.input_size), float(m.crop_fraction), m.interpolation) for m in loaded})
    spec_of = [specs.index((tuple(m.input_size), float(m.crop_fraction), m.interpolation)) for m in loaded]
    batches = _batches(split, specs, limit, batch_size)

    bar = None
    if progress:
        import keras  # deferred: the progress bar

        bar = keras.utils.Progbar(total, unit_name="image", verbose=1 if sys.stdout.isatty() else 2)
    all_labels, ranks = [], [[] for _ in loaded]
    predicted, losses = [[] for _ in loaded], [[] for _ in loaded]
    seconds = [0.0] * len(loaded)
    seen = 0
    for crops, y in batches:
        y = np.asarray(y, np.int64)
        all_labels.append(y)
        for i, (model, cmap) in enumerate(zip(loaded, class_maps)):
            start = time.perf_counter()
            probs = model.predict(np.asarray(crops[spec_of[i]], np.float32))
            seconds[i] += time.perf_counter() - start
            truth = cmap[y]
            ranks[i].append(true_class_rank(truth, probs))
            predicted[i].append(ranked_classes(probs)[:, 0])
            total_p = probs.sum(axis=-1, keepdims=True)
            p_true = np.take_along_axis(probs / np.where(total_p > 0, total_p, 1), truth[:, None], -1)[:, 0]
            losses[i].append(-np.log(np.clip(p_true, LOSS_EPSILON, 1.0)))
        seen += len(y)
        if bar is not None:
            bar.update(seen)
    if not seen:
        raise ValueError(f"No images to evaluate in {description}.")
    y = np.concatenate(all_labels)

    results = []
    for i, model in enumerate(loaded):
        rank = np.concatenate(ranks[i])
        hits = rank == 0
        model_to_data = {int(m): d for d, m in enumerate(class_maps[i])}
        pred = np.array([model_to_data.get(int(p), -1) for p in np.concatenate(predicted[i])])
        names = list(source.class_names)
        other = bool((pred < 0).any())
        confusion = np.zeros((len(names), len(names) + other), np.int64)
        np.add.at(confusion, (y, np.where(pred < 0, len(names), pred)), 1)
        per_class = {name: (float(hits[y == c].mean()) if (y == c).any() else None) for c, name in enumerate(names)}
        loss = float(np.concatenate(losses[i]).mean()) if _outputs_probabilities(model) else None
        if loss is not None and not math.isfinite(loss):
            loss = None
        results.append(ModelEvaluation(
            path=os.fspath(model.path), label=labels[i], format=model.format,
            quantization=_quantization(model),
            images=int(seen), top1=float(hits.mean()),
            top5=float((rank < 5).mean()) if len(model.class_names) > 5 else None,
            loss=loss, per_class=per_class, confusion=confusion, confusion_labels=names + (["other"] if other else []),
            seconds=seconds[i],
        ))
    for result, path in zip(results, png_paths):
        if path is not None:
            result.confusion_png = draw_confusion(result, path, description)
    return Evaluation(dataset=description, class_names=list(source.class_names), images=int(seen), models=results)


def _batches(split, specs, limit, batch_size):
    """``(crops, labels)`` batches: ``crops[j]`` the images through the ``j``-th ``(size, crop, filter)`` of
    ``specs``."""
    import tensorflow as tf  # deferred: the image path runs in TensorFlow

    from keras_classics.images import resize_and_crop

    if limit:
        split = split.take(limit)

    def crop(image, label):
        return tuple(resize_and_crop(image, size[0], size[1], fraction, interpolation)
                     for size, fraction, interpolation in specs), label

    return split.map(crop, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(2).as_numpy_iterator()
