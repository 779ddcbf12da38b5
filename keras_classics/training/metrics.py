"""Honest top-k accuracy: the one ranking rule, as a Keras metric for ``model.compile`` and for NumPy arrays.

Keras' ``in_top_k`` (``TopKCategoricalAccuracy``, ``SparseTopKCategoricalAccuracy``)
counts a tie with the true class as a hit: a collapsed model that gives one
class a score and nine others the same zero scores 100% top-5 on ten classes,
since all nine tied classes count as being among the top five.

Here the classes of an image are ranked by **strict order, ties broken the same
way every time**: by score, highest first, and among equal scores the lower class
index first; a NaN score ranks below every number. That is the order
``numpy.argsort(-scores, kind="stable")`` gives, the order ``predict`` lists
classes in and ``argmax`` picks from, so top-1 is the class ``predict`` names.
The true class's position in that order is its rank (:func:`true_class_rank`,
0 for the first); top-k counts it when the rank is below ``k``.

The rule is written once, in array operations that NumPy and ``keras.ops`` share
(:func:`true_class_rank` takes either), and serves:

* :class:`TopKAccuracy`, the metric the training engine compiles (``top1``, ``top5``);
* :func:`top_k_hits` and :func:`top_k_accuracy` on NumPy arrays (``keras-classics evaluate``);
* :func:`ranked_classes`, the order itself.

With that collapsed model on ten balanced classes the predicted class and the
four tied classes of lowest index count: top-5 is 50%, not 100%.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["TIE_RULE", "true_class_rank", "top_k_hits", "top_k_accuracy", "ranked_classes", "TopKAccuracy"]

#: The rule in words, as the docs and reports state it.
TIE_RULE = "strict order; equal scores ranked by class index, lower first; NaN last"


def true_class_rank(labels, scores, xp=np):
    """The position of each image's true class when its classes are ranked by the rule (0: first).

    Args:
        labels: integer class indices ``(N,)``.
        scores: ``(N, C)`` scores (probabilities or logits).
        xp: ``numpy`` or ``keras.ops``: the module whose array operations compute it.

    Returns:
        ``(N,)`` integer ranks, in ``xp``'s array type.
    """
    true = xp.take_along_axis(scores, xp.expand_dims(labels, -1), axis=-1)  # (N, 1)
    before = xp.less(xp.expand_dims(xp.arange(scores.shape[-1]), 0), xp.expand_dims(labels, -1))  # lower index
    nan_scores, nan_true = xp.isnan(scores), xp.isnan(true)
    # A number: the scores above it, and the equal ones of lower index. NaN: every number, and the
    # NaNs of lower index.
    ahead = xp.where(
        nan_true,
        xp.logical_or(xp.logical_not(nan_scores), xp.logical_and(nan_scores, before)),
        xp.logical_or(xp.greater(scores, true), xp.logical_and(xp.equal(scores, true), before)),
    )
    return xp.sum(xp.where(ahead, 1, 0), axis=-1)


def _checked(labels, scores):
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"Expected scores of shape (images, classes); received shape {scores.shape}.")
    if labels.shape != scores.shape[:1]:
        raise ValueError(f"Expected one label per image ({scores.shape[0]}); received labels of shape {labels.shape}.")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0
                        or labels.max() >= scores.shape[1]):
        raise ValueError(f"Labels must be class indices in [0, {scores.shape[1]}); received {labels.dtype} "
                         f"values from {labels.min()} to {labels.max()}.")
    return labels.astype(np.int64), scores


def _checked_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    return int(k)


def top_k_hits(labels, scores, k: int = 5) -> np.ndarray:
    """Whether each image's true class is among its first ``k`` by the rule: bool ``(N,)``."""
    labels, scores = _checked(labels, scores)
    return true_class_rank(labels, scores) < _checked_k(k)


def top_k_accuracy(labels, scores, k: int = 5) -> float:
    """The share of images whose true class is among their first ``k`` by the rule.

    Example:
        >>> collapsed = np.tile([1.0] + [0.0] * 9, (10, 1))   # one class, nine tied zeros
        >>> top_k_accuracy(np.arange(10), collapsed, k=5)
        0.5
    """
    hits = top_k_hits(labels, scores, k)
    if not hits.size:
        raise ValueError("No images: accuracy is undefined.")
    return float(hits.mean())


def ranked_classes(scores) -> np.ndarray:
    """Class indices of each row of ``scores``, ranked by the rule (first: the predicted class)."""
    scores = np.asarray(scores)
    return np.argsort(-scores, axis=-1, kind="stable")  # NaN sorts last; ties keep index order


def _hits(y_true, y_pred, k, one_hot):
    ops = keras.ops
    scores = ops.reshape(y_pred, (-1, ops.shape(y_pred)[-1]))
    labels = ops.argmax(y_true, axis=-1) if one_hot else ops.reshape(y_true, (-1,))
    ranks = true_class_rank(ops.cast(labels, "int32"), scores, xp=ops)
    return ops.cast(ops.less(ranks, k), "float32")


@keras.saving.register_keras_serializable(package="keras_classics")
class TopKAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-k accuracy without free ties (the rule of this module), for ``model.compile``.

    Args:
        k: how many of the first classes count (1: top-1).
        one_hot: labels arrive one-hot or smoothed (their argmax is the class),
            else as class indices.
        name: default ``"top{k}"``.

    Example:
        >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=[TopKAccuracy(1), TopKAccuracy(5)])
    """

    def __init__(self, k: int = 5, one_hot: bool = False, name: str | None = None, dtype=None):
        k = _checked_k(k)
        super().__init__(_hits, name=name or f"top{k}", dtype=dtype, k=k, one_hot=bool(one_hot))
        self.k, self.one_hot = k, bool(one_hot)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k, "one_hot": self.one_hot}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
