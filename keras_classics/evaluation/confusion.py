"""The confusion-matrix picture of an evaluation: where it goes, what may be replaced, drawing it (PNG).

Each model's matrix is ``DIR/LABEL.confusion.png``. The PNG carries a text
entry, ``Software: keras-classics evaluate`` (:data:`SOFTWARE`): a file at that
path is replaced only when it has it, so an evaluation run again refreshes its
own pictures and never writes over anything else. Every path is checked before
any model runs; each picture is written to a temporary file and renamed
(:func:`keras_classics.io.atomic_path`).
"""

from __future__ import annotations

import os
import re

import numpy as np

from keras_classics.io import atomic_path

__all__ = ["SOFTWARE", "DEFAULT_DIR", "confusion_path", "check_confusion_paths", "is_own_picture", "draw_confusion"]

#: The PNG text entry that marks a picture as this module's.
SOFTWARE = "keras-classics evaluate"

#: The command line's default folder for the pictures (in the current directory).
DEFAULT_DIR = "evaluation"

_DPI = 100


def confusion_path(directory, label: str) -> str:
    """``DIRECTORY/LABEL.confusion.png``, the label's characters outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    return os.path.join(os.fspath(directory), re.sub(r"[^A-Za-z0-9._-]", "_", label) + ".confusion.png")


def is_own_picture(path) -> bool:
    """Whether ``path`` is a PNG this module wrote (its ``Software`` text entry is :data:`SOFTWARE`)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get("Software") == SOFTWARE
    except (OSError, ValueError):
        return False


def check_confusion_paths(directory, labels) -> list[str]:
    """The picture path of each label in ``directory``, checked: nothing there that is not ours.

    Raises:
        ValueError: ``directory`` is not a path.
        NotADirectoryError: ``directory`` exists and is not a directory.
        FileExistsError: a path holds something this module did not write.
    """
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise ValueError(f"The confusion-matrix folder must be a path. Received: {directory!r}")
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"{directory!r} is not a directory: the confusion matrices go in a folder.")
    paths = [confusion_path(directory, label) for label in labels]
    for path in paths:
        _check_replaceable(path)
    return paths


def _check_replaceable(path):
    if os.path.lexists(path) and not (os.path.isfile(path) and not os.path.islink(path) and is_own_picture(path)):
        raise FileExistsError(
            f"{path!r} exists and is not a confusion matrix written by keras-classics evaluate: refusing to "
            "replace it. Choose another folder (--confusion-dir) or move the file."
        )


def draw_confusion(result, path, dataset: str) -> str:
    """Draw ``result``'s confusion matrix (a :class:`~keras_classics.evaluation.measure.ModelEvaluation`) to
    ``path``; returns ``path``. Rows are the true classes, columns the predicted ones, each cell the share of
    its row; the folder is created if missing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(result.confusion, np.float64)
    rows, cols = counts.shape
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(max(4.0, 0.45 * cols + 2.5), 16.0)
    fig = Figure(figsize=(side, side * rows / cols + 0.6), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    true_names, predicted_names = result.confusion_labels[:rows], result.confusion_labels
    if cols <= 30:  # names and counts stay readable up to about 30 classes
        ax.set_xticks(range(cols), predicted_names, rotation=90, fontsize=8)
        ax.set_yticks(range(rows), true_names, fontsize=8)
        if cols <= 15:
            for r in range(rows):
                for c in range(cols):
                    if counts[r, c]:
                        ax.text(c, r, int(counts[r, c]), ha="center", va="center", fontsize=7,
                                color="white" if shares[r, c] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top5 = "" if result.top5 is None else f", top-5 {result.top5:.2%}"
    ax.set_title(f"{result.label} ({result.kind}): top-1 {result.top1:.2%}{top5}\n{result.images} images of {dataset}",
                 fontsize=9)
    path = os.fspath(path)
    _check_replaceable(path)  # again: something may have appeared there while the models ran
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": SOFTWARE})
    return path
