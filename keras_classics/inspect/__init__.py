"""The inspector: the course's arithmetic and pictures, computed from the real models.

* :func:`summary`: one row per layer (shapes, windows, parameters, multiply-adds,
  receptive field, share of the parameters), with totals.
* :func:`compare`: one row per model (parameters, multiply-adds, depth, minimum
  input, the paper's ImageNet error) and the ratios to the first.
* :func:`model_table`: the registry as a table (what ``keras-classics list`` prints).
* :func:`inception_reduction`: the naive Inception module against the one with
  1x1 reductions.
* Pictures (PNG): :func:`plot_filters`, :func:`plot_activations`,
  :func:`plot_receptive_field`, :func:`plot_history`.
* The conv arithmetic of :mod:`keras_classics.arithmetic`, re-exported
  (``conv_output_size``, ``receptive_field``, ``min_input_size``, ``conv_macs``, …).

Example:
    >>> from keras_classics import inspect
    >>> rows = inspect.summary("vgg16")
    >>> rows.totals["macs"] / 1e9          # 15.47
    >>> inspect.conv_output_size(227, 11, stride=4)
    55
"""

from keras_classics._lazy import lazy_exports
from keras_classics.arithmetic import *  # noqa: F401,F403
from keras_classics.arithmetic import __all__ as _arithmetic_all

# The parts that build models import keras (and so a backend) on first use, so that
# `keras-classics --help` and `list`, which import this package, stay light.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.inspect._model": ("inception_block",),
    "keras_classics.inspect.compare": ("Comparison", "compare", "inception_reduction", "model_table"),
    "keras_classics.inspect.pictures": ("load_image", "plot_activations", "plot_filters", "plot_history",
                                        "plot_receptive_field"),
    "keras_classics.inspect.summary": ("MAC_KINDS", "WEIGHT_KINDS", "ModelSummary", "summary"),
})

__all__ = list(_arithmetic_all) + [
    "summary",
    "ModelSummary",
    "MAC_KINDS",
    "WEIGHT_KINDS",
    "compare",
    "Comparison",
    "model_table",
    "inception_reduction",
    "inception_block",
    "plot_filters",
    "plot_activations",
    "plot_receptive_field",
    "plot_history",
    "load_image",
]
