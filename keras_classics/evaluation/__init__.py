"""Evaluation: how accurate a model is on labelled images, in any format the package reads.

* :func:`evaluate`: top-1, top-5, loss, per-class accuracy and a confusion
  matrix for one model or several on the same images (``keras-classics evaluate``);
  :class:`Evaluation` and :class:`ModelEvaluation` hold the figures.
* :func:`draw_confusion`, :func:`check_confusion_paths`: the confusion-matrix PNG.

Top-k follows the one rule of :mod:`keras_classics.training.metrics`: a tie is
not a hit for free.

Example:
    >>> from keras_classics.evaluation import evaluate
    >>> print(evaluate(["runs/quickstart", "saved_models/shapes_int8.tflite"]).table())
"""

from keras_classics._lazy import lazy_exports

# The evaluation loads models and images (TensorFlow) and draws (matplotlib): on first use.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.evaluation.measure": ("DEFAULT_BATCH_SIZE", "Evaluation", "ModelEvaluation", "evaluate",
                                          "run_config_of"),
    "keras_classics.evaluation.confusion": ("SOFTWARE", "check_confusion_paths", "draw_confusion",
                                            "is_own_picture"),
})

__all__ = ["evaluate", "Evaluation", "ModelEvaluation", "DEFAULT_BATCH_SIZE", "run_config_of", "SOFTWARE",
           "check_confusion_paths", "draw_confusion", "is_own_picture"]
